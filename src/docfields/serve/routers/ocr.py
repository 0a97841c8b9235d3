"""``/ocr``: Amazon-Textract-compatible JSON of a posted document, from any registered engine.

Engines load lazily through the model cache (RapidOCR's models, Tesseract's API object) and are
closed after the idle time, like the taggers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from docfields.serve.calls import ModelBackend, ModelSpec, run_ocr
from docfields.serve.dependencies import DOCUMENT_REQUEST_BODY, DocumentBody, document_body, get_models, get_settings
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
    models: Annotated[ModelBackend, Depends(get_models)],
    engine: Annotated[str | None, Query(description="OCR engine (default: the service's, usually auto).")] = None,
) -> dict[str, Any]:
    """Run OCR on every page; the engine is loaded on first use and kept until idle."""
    name = engine or settings.pipeline.engine
    options = settings.pipeline.engine_options if name == settings.pipeline.engine else {}  # --languages, --dpi
    return models.call(ModelSpec("ocr", name, options=options), run_ocr, body.data, body.name, settings.document_limits)
