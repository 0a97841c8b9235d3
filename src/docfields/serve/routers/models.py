"""``/models/{name}/invocations``: the enrichment endpoint of the original (upstream 4.9).

JSON in, JSON out: a Textract JSON as the body, ``{"Content": <Textract JSON>, ...options}`` or
``{"S3Input": ...}``; options ``TargetPageNum`` and ``TargetPageOnly``. The answer is the same
JSON with every classified WORD carrying ``ClassificationProbabilities``, ``PredictedClass``
and ``PredictedClassConfidence``. Models are named by the service (``--model NAME=DIR``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from docfields.serve.calls import ModelBackend, ModelSpec, run_tagger
from docfields.serve.dependencies import get_models, get_settings, json_body, json_request_body, load_json
from docfields.serve.settings import ServeSettings

router = APIRouter(prefix="/models", tags=["models"])

_REQUEST = json_request_body(
    {"type": "object", "description": "Textract JSON, or {Content: ...} / {S3Input: ...} with TargetPageNum, "
     "TargetPageOnly"},
    "The original enrichment endpoint's request forms (upstream 4.9).",
)  # fmt: skip


@router.get("", summary="Named models this service can load")
def list_models(settings: Annotated[ServeSettings, Depends(get_settings)]) -> dict[str, list[str]]:
    """The names accepted by /models/{name}/invocations."""
    return {"models": sorted(settings.models)}


@router.post(
    "/{name}/invocations",
    summary="Classify every word of a Textract JSON",
    openapi_extra=_REQUEST,
    responses={
        200: {"description": "The Textract JSON with enriched WORD blocks"},
        404: {"description": "No model of that name (the known ones are listed)"},
        415: {"description": "Not application/json"},
        422: {"description": "Not a Textract JSON, or bad options"},
    },
)
def invoke_model(
    name: str,
    body: Annotated[bytes, Depends(json_body)],
    settings: Annotated[ServeSettings, Depends(get_settings)],
    models: Annotated[ModelBackend, Depends(get_models)],
) -> dict[str, Any]:
    """Run the named tagger over the posted document (loaded on first use, unloaded when idle)."""
    directory = settings.models.get(name)
    if directory is None:
        known = ", ".join(sorted(settings.models)) or "none (start the service with --model NAME=DIR)"
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no model named {name!r}; known models: {known}")
    request = load_json(body)
    if not isinstance(request, dict):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"request body must be a JSON object (a Textract JSON or {{'Content': ...}}), "
            f"not {type(request).__name__}",
        )
    return models.call(ModelSpec("tagger", name, directory), run_tagger, request)
