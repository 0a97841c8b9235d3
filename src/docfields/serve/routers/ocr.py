"""``/ocr``: Amazon-Textract-compatible JSON of a posted document, from any registered engine.

Engines load lazily through the model cache (RapidOCR's models, Tesseract's API object) and are
closed after the idle time, like the taggers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from docfields.pipeline import Pipeline
from docfields.serve.calls import ModelBackend, ocr_spec, run_ocr
from docfields.serve.dependencies import (
    DOCUMENT_REQUEST_BODY,
    DocumentBody,
    document_body,
    get_models,
    get_pipeline,
    get_settings,
)
from docfields.serve.settings import ServeSettings

router = APIRouter(prefix="/ocr", tags=["ocr"])


@router.post(
    "",
    summary="OCR a document into Textract JSON",
    openapi_extra=DOCUMENT_REQUEST_BODY,
    responses={
        200: {"description": "Textract JSON: DocumentMetadata, Blocks (PAGE, LINE, WORD)"},
        422: {"description": "Unreadable document, or an unknown engine (the known ones are listed)"},
    },
)
def ocr(
    body: Annotated[DocumentBody, Depends(document_body)],
    settings: Annotated[ServeSettings, Depends(get_settings)],
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
    models: Annotated[ModelBackend, Depends(get_models)],
    engine: Annotated[
        str | None, Query(description="OCR engine (default: the pipeline's current one, see /config/pipeline).")
    ] = None,
) -> dict[str, Any]:
    """Run OCR on every page; the engine is loaded on first use and kept until idle."""
    spec = ocr_spec(engine or pipeline.settings.engine, pipeline.settings)
    return models.call(spec, run_ocr, body.data, body.name, settings.document_limits)
