"""What the routers ask FastAPI for: settings, pipeline, model backend, and request bodies.

Everything shared lives on ``app.state`` (set once by ``create_app``) and reaches endpoints
through these functions, so a test swaps any of them with ``app.dependency_overrides``.
Bodies are read here, in async code, and parsed by the (plain ``def``) endpoints in a worker
thread: a 100 MiB upload never blocks the event loop while it is decoded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import HTTPException, Query, Request, status
from starlette.datastructures import UploadFile

from docfields.documents import MIME_TYPES, SNIFF_BYTES, sniff_format
from docfields.serve.settings import ServeSettings

if TYPE_CHECKING:
    from docfields.pipeline import Pipeline
    from docfields.serve.calls import ModelBackend
    from docfields.serve.metrics import ServeMetrics

MULTIPART = "multipart/form-data"
UPLOAD_FIELD = "file"
DOCUMENT_TYPES = (*sorted(set(MIME_TYPES.values())), "application/octet-stream")
_BINARY = {"type": "string", "format": "binary"}
DOCUMENT_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The document's bytes (its type is read from its content), or a form with a "
        f"'{UPLOAD_FIELD}' part.",
        "content": {
            **{media_type: {"schema": _BINARY} for media_type in DOCUMENT_TYPES},
            MULTIPART: {
                "schema": {"type": "object", "properties": {UPLOAD_FIELD: _BINARY}, "required": [UPLOAD_FIELD]}
            },
        },
    }
}


def json_request_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """OpenAPI ``requestBody`` of an endpoint that reads its JSON body itself."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}  # fmt: skip


def get_settings(request: Request) -> ServeSettings:
    """The app's settings."""
    return request.app.state.settings


def get_pipeline(request: Request) -> Pipeline:
    """The app's pipeline (its durable store and queue)."""
    return request.app.state.pipeline


def get_models(request: Request) -> ModelBackend:
    """Where the app's model calls run (this process, or Ray Serve deployments)."""
    return request.app.state.models


def get_metrics(request: Request) -> ServeMetrics:
    """The app's Prometheus metrics."""
    return request.app.state.metrics


@dataclass(frozen=True)
class DocumentBody:
    """An uploaded document: its bytes and the name its errors and storage use."""

    data: bytes
    name: str


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def document_body(
    request: Request,
    name: Annotated[str | None, Query(description="File name to store (default: the form's, or upload.<type>)")] = None,
) -> DocumentBody:
    """Read an uploaded document: raw bytes with a document media type, or a multipart form.

    Raises:
        HTTPException: 415 for any other media type (naming the accepted ones), 422 when the
            form has no file part or the body is empty.
    """
    kind = media_type(request)
    if kind == MULTIPART:
        data, filename = await _form_file(request)
    elif kind in DOCUMENT_TYPES:
        data, filename = await request.body(), None
    else:
        raise not_a_document_type(kind)
    if not data:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="empty request body: no document")
    return DocumentBody(data, safe_name(name or filename, data))


def not_a_document_type(kind: str) -> HTTPException:
    """The 415 of a document upload with another media type, naming the accepted ones."""
    return HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        detail=f"unsupported Content-Type {kind or '(none)'!r}: send a document as "
        f"{', '.join(DOCUMENT_TYPES)}, or as {MULTIPART} with a '{UPLOAD_FIELD}' part",
    )


async def _form_file(request: Request) -> tuple[bytes, str | None]:
    async with form_upload(request) as upload:
        return await upload.read(), upload.filename


@asynccontextmanager
async def form_upload(request: Request) -> AsyncIterator[UploadFile]:
    """The form's file part (spooled to disk past 1 MiB by the parser), closed at the end of the block.

    Raises:
        HTTPException: 422 when the form has no file part named ``file``.
    """
    form = await request.form(max_files=1, max_fields=16)
    try:
        upload = form.get(UPLOAD_FIELD)
        if not isinstance(upload, UploadFile):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"the form has no file part named '{UPLOAD_FIELD}'"
            )
        yield upload
    finally:
        await form.close()


def safe_name(name: str | None, data: bytes) -> str:
    """The last path component of a client's file name (never a path), or upload.<type> (``data``: its first bytes)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    if base and base not in (".", ".."):
        return base
    return f"upload.{sniff_format(data[:SNIFF_BYTES]) or 'bin'}"


async def json_body(request: Request) -> bytes:
    """The raw body of a JSON request (415 for any other media type); parse it with ``load_json``."""
    require_json(request)
    return await request.body()


def require_json(request: Request) -> None:
    """415 unless the request is JSON (for endpoints whose body FastAPI parses)."""
    kind = media_type(request)
    if kind != "application/json" and not kind.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"unsupported Content-Type {kind or '(none)'!r}: this endpoint takes application/json",
        )


def load_json(body: bytes) -> Any:
    """Parse a JSON body; 422 naming the position of a syntax error."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"request body is not JSON: {exc}") from exc
