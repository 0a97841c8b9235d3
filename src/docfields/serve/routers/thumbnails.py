"""``/thumbnails``: page thumbnails of a posted document, in the original thumbnailer's formats.

``Accept: application/x-npz`` (the default, and what ``*/*`` gets): ``images`` = PNG bytes per
page, or ``image`` = H x W x 3 pixels for a one-page document. ``image/png`` or ``image/jpeg``:
one image, for one-page documents only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status

from docfields.serve.calls import NPZ, THUMBNAILS, ModelBackend, render_thumbnails
from docfields.serve.dependencies import DOCUMENT_REQUEST_BODY, DocumentBody, document_body, get_models, get_settings
from docfields.serve.settings import ServeSettings
from docfields.thumbnails import ThumbnailOptions

router = APIRouter(prefix="/thumbnails", tags=["thumbnails"])

SINGLE_IMAGE_TYPES = ("image/png", "image/jpeg")
THUMBNAIL_TYPES = (NPZ, *SINGLE_IMAGE_TYPES)
_ALIASES = {"image/jpg": "image/jpeg", "*/*": NPZ, "application/*": NPZ, "image/*": "image/png"}


def choose_media_type(accept: str | None) -> str:
    """The first type of the Accept header we can produce (no header: npz); 406 if none.

    Quality values are not weighed: the original's clients send one type.
    """
    if not accept or not accept.strip():
        return NPZ
    for item in accept.split(","):
        kind = item.split(";", 1)[0].strip().lower()
        kind = _ALIASES.get(kind, kind)
        if kind in THUMBNAIL_TYPES:
            return kind
    raise HTTPException(
        status.HTTP_406_NOT_ACCEPTABLE,
        detail=f"cannot answer Accept: {accept}; thumbnails come as {', '.join(THUMBNAIL_TYPES)}",
    )


def check_thumbnail_size(width: int | None, height: int | None, settings: ServeSettings) -> None:
    """422 when a side asked for is over the service's ``max_thumbnail_side`` (None: not asked)."""
    if max(width or 0, height or 0) > settings.max_thumbnail_side:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"thumbnail {width} x {height} too large: at most {settings.max_thumbnail_side} pixels a side",
        )


@router.post(
    "",
    summary="Thumbnails of every page",
    openapi_extra=DOCUMENT_REQUEST_BODY,
    response_class=Response,
    responses={
        200: {"content": {kind: {} for kind in THUMBNAIL_TYPES}, "description": "npz, or one page's image"},
        406: {"description": "Accept names no thumbnail type"},
        413: {"description": "Pages x width x height over MAX_THUMBNAIL_PIXELS, or the document over a limit"},
        422: {"description": "Unreadable document, or an image asked for a multi-page document"},
    },
)
def thumbnails(
    body: Annotated[DocumentBody, Depends(document_body)],
    settings: Annotated[ServeSettings, Depends(get_settings)],
    models: Annotated[ModelBackend, Depends(get_models)],
    accept: Annotated[str | None, Header(description=f"One of {', '.join(THUMBNAIL_TYPES)}")] = None,
    width: Annotated[int, Query(gt=0, description="Thumbnail width in pixels.")] = 224,
    height: Annotated[int, Query(gt=0, description="Thumbnail height in pixels.")] = 224,
    fit: Annotated[Literal["stretch", "letterbox"], Query(description="stretch (the original's) or letterbox")] = (
        "stretch"
    ),
) -> Response:
    """Render the posted document's pages at thumbnail size (default 224 x 224, stretched).

    Pages are rendered and encoded one at a time; a request for more than
    ``MAX_THUMBNAIL_PIXELS`` (pages x width x height) is answered 413 before any rendering.
    """
    kind = choose_media_type(accept)
    check_thumbnail_size(width, height, settings)
    options = ThumbnailOptions(width=width, height=height, fit=fit)
    content = models.call(THUMBNAILS, render_thumbnails, body.data, body.name, settings.document_limits, options, kind)
    return Response(content, media_type=kind)
