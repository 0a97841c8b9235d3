"""``/documents``: upload a document into the pipeline, follow it, fetch its result.

An upload is checked (type from its content, readable, within limits) before it is queued, so
a corrupt file is refused with 422 and its reason at once instead of failing later in a worker.
Uploads are idempotent per content and settings: the same file uploaded again (or N times at
once) gets the document of the first upload, answered with 200 and ``reused: true`` instead of
202. Errors never show server paths.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from docfields.documents import open_document
from docfields.errors import UnknownDocumentError
from docfields.pipeline import DocumentStatus, Pipeline
from docfields.pipeline.settings import DocState
from docfields.serve.dependencies import (
    DOCUMENT_REQUEST_BODY,
    DocumentBody,
    document_body,
    get_pipeline,
    get_settings,
)
from docfields.serve.settings import ServeSettings

router = APIRouter(prefix="/documents", tags=["documents"])


class Submitted(BaseModel):
    """A document accepted into the pipeline."""

    id: str = Field(description="Document id: poll /documents/{id}, then fetch /documents/{id}/result.")
    status: str = Field(description="Its status now (queued).", examples=["queued"])
    reused: bool = Field(False, description="The same content was uploaded before with the same settings: "
                         "this is that document (answered with 200 instead of 202).")  # fmt: skip


class NotFinished(BaseModel):
    """Why a result is not there yet: the document's status."""

    detail: str
    status: str


@router.post(
    "",
    summary="Upload a document for processing",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Submitted,
    openapi_extra=DOCUMENT_REQUEST_BODY,
    responses={
        200: {"model": Submitted, "description": "Uploaded before with the same settings: that document (reused)"},
        415: {"description": "Not a document media type"},
        422: {"description": "Unreadable document"},
    },
)
def submit_document(
    response: Response,
    body: Annotated[DocumentBody, Depends(document_body)],
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
    settings: Annotated[ServeSettings, Depends(get_settings)],
) -> Submitted:
    """Store the document and queue it (once per content and settings); workers OCR, tag and extract its fields."""
    with open_document(body.data, name=body.name, limits=settings.document_limits):
        pass  # opening checks type, pages and corruption; DocumentError becomes 422 with its reason
    submission = pipeline.submit_bytes_once(body.data, body.name)
    response.headers["Location"] = f"{router.prefix}/{submission.id}"
    if submission.reused:
        response.status_code = status.HTTP_200_OK
    return Submitted(id=submission.id, status=pipeline.status(submission.id).status, reused=submission.reused)


@router.get("", summary="List documents", response_model=list[DocumentStatus])
def list_documents(
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
    status_filter: Annotated[
        str | None, Query(alias="status", pattern=f"^({'|'.join(DocState)})$", description="Only this status.")
    ] = None,
) -> list[DocumentStatus]:
    """Every document in the store, or those with one status."""
    return pipeline.list(status_filter)


@router.get(
    "/{doc_id}", summary="Status of a document", response_model=DocumentStatus,
    responses={404: {"description": "Unknown id"}},
)  # fmt: skip
def document_status(doc_id: str, pipeline: Annotated[Pipeline, Depends(get_pipeline)]) -> DocumentStatus:
    """Status, stage states and timings, and the error of a failed document."""
    return _status(pipeline, doc_id)


@router.get(
    "/{doc_id}/result",
    summary="Result of a document",
    response_model=None,
    responses={
        200: {"description": "The Result JSON: Confidence, Fields, and Review once reviewed (DESIGN.md)."},
        404: {"description": "Unknown id"},
        409: {"model": NotFinished, "description": "Not done yet: queued, running, in review or failed"},
    },
)
def document_result(doc_id: str, pipeline: Annotated[Pipeline, Depends(get_pipeline)]) -> dict[str, Any] | JSONResponse:
    """The Result JSON of a done document; any other status answers 409 with that status."""
    current = _status(pipeline, doc_id)
    result = pipeline.result(doc_id) if current.status == DocState.DONE else None
    if result is not None:
        return result
    reason = f": {current.error}" if current.error else ""
    not_finished = NotFinished(detail=f"document {doc_id} has no result: it is {current.status}{reason}",
                               status=current.status)  # fmt: skip
    return JSONResponse(not_finished.model_dump(), status_code=status.HTTP_409_CONFLICT)


def _status(pipeline: Pipeline, doc_id: str) -> DocumentStatus:
    try:
        return pipeline.status(doc_id)
    except UnknownDocumentError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
