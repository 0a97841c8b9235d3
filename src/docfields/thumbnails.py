"""Page thumbnails for image-aware models and for reviewers, in the original's formats.

Each page is rendered directly near thumbnail scale (PDFium draws a 448-pixel page; a JPEG is
decoded at a reduced scale) and shrunk once, never rendered at 300 dpi: that is where the
original spent its time. The formats are the original pipeline's contract (DESIGN.md "Thumbnails"):
``application/x-npz`` with ``images`` = an array of PNG bytes, one per page, or, for a one-page
document, ``image`` = H x W x 3 uint8 pixels; ``image/png`` for one page.

Memory is bounded by design: pages are rendered and PNG-encoded one at a time (a document's
pixels are never held together), a side is at most ``MAX_THUMBNAIL_SIDE`` pixels, and one npz
holds at most ``MAX_THUMBNAIL_PIXELS`` (pages x width x height): a tiny PDF can name one page
thousands of times, and at 4096 x 4096 forty such pages took 3.8 GB and 74 s.

>>> write_thumbnails("invoice.pdf", "out/invoice.npz")  # doctest: +SKIP
['out/invoice.npz']
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from docfields import storage
from docfields.documents import Document, PageSize, fit_size, open_document
from docfields.errors import DocumentError, DocumentLimitError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

PNG_COMPRESS_LEVEL = 1  # zlib level 1: about 3x faster than Pillow's default 6, no bigger here
# Render at twice the thumbnail size, then shrink: PDFium draws hairlines at least one pixel
# wide, so a page drawn at 224 px directly has forms and tables twice as dark as the original's
# (300 dpi, then bicubic). At 2x the mean difference to the original halves, for ~40% more time.
SUPERSAMPLE = 2
_MAX_COVER = 4  # stretch renders at most 4x the render box along the squashed side
_NPZ_SOURCE = "<npz bytes>"
# Largest width or height, for the CLI and the service alike (ServeSettings.max_thumbnail_side
# may only lower it): a 4096 x 4096 thumbnail is rendered at 8192 x 8192 first, 200 MB of pixels.
MAX_THUMBNAIL_SIDE = 4096
# Most pixels in one npz (pages x width x height): 5,000 pages (the page limit) at the default
# 224 x 224 fit; at 4096 x 4096 that is 16 pages. Bounds the CPU and the PNG bytes held.
MAX_THUMBNAIL_PIXELS = 2**28

Channel = Annotated[int, Field(ge=0, le=255)]


class ThumbnailOptions(BaseModel):
    """Size and fitting of page thumbnails; the defaults are the original's (224 x 224, stretch)."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(224, gt=0, description="Thumbnail width in pixels.")
    height: int = Field(224, gt=0, description="Thumbnail height in pixels.")
    fit: Literal["stretch", "letterbox"] = Field(
        "stretch",
        description="stretch: fill width x height, ignoring the aspect ratio (the original's "
        "default); letterbox: keep the aspect ratio and pad with letterbox_color.",
    )
    letterbox_color: tuple[Channel, Channel, Channel] = Field(
        (128, 128, 128), description="RGB colour of the letterbox bars."
    )

    @field_validator("width", "height")
    @classmethod
    def _check_side(cls, pixels: int, info: ValidationInfo) -> int:
        """A side over ``MAX_THUMBNAIL_SIDE`` is refused: 100000 x 100000 once grew to 23 GB."""
        if pixels > MAX_THUMBNAIL_SIDE:
            raise ValueError(
                f"thumbnail {info.field_name} {pixels} is over the limit of {MAX_THUMBNAIL_SIDE} pixels a side "
                "(--size WIDTHxHEIGHT on the command line, width and height in the service)"
            )
        return pixels


def make_thumbnail(
    document: Document, page_number: int, options: ThumbnailOptions | None = None
) -> Image.Image:
    """Render one page (1-based) as an RGB thumbnail of exactly options.width x options.height.

    Stretch renders the page (at ``SUPERSAMPLE`` times the size) just large enough to cover
    the thumbnail, then shrinks it to exactly width x height: it looks like the original's
    300-dpi-then-shrink at a fraction of the work. Letterbox fits the page inside and centres
    it on a canvas of the bar colour.
    """
    options = options or ThumbnailOptions()
    box = (options.width, options.height)
    render_box = (box[0] * SUPERSAMPLE, box[1] * SUPERSAMPLE)
    if options.fit == "letterbox":
        page = document.render(page_number, size=render_box)
        page = page.resize(fit_size(page.size, box), Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", box, options.letterbox_color)
        canvas.paste(page, ((box[0] - page.width) // 2, (box[1] - page.height) // 2))
        return canvas
    cover = _cover_box(document.page_size(page_number), render_box)
    return document.render(page_number, size=cover).resize(box, Image.Resampling.BICUBIC)


def make_thumbnails(
    document: Document, options: ThumbnailOptions | None = None
) -> Iterator[Image.Image]:
    """Thumbnails of every page, in page order, each rendered only when it is asked for.

    An iterator, so that ``thumbnails_to_npz(make_thumbnails(document))`` holds one page's
    pixels at a time. Raises ``DocumentLimitError`` before rendering anything when the document
    would need more than ``MAX_THUMBNAIL_PIXELS`` (pages x width x height).
    """
    options = options or ThumbnailOptions()
    check_thumbnail_pixels(document, options)
    return (make_thumbnail(document, n, options) for n in range(1, document.page_count + 1))


def check_thumbnail_pixels(document: Document, options: ThumbnailOptions) -> None:
    """Refuse thumbnails of a whole document over ``MAX_THUMBNAIL_PIXELS``, naming the parameters."""
    pixels = document.page_count * options.width * options.height
    if pixels > MAX_THUMBNAIL_PIXELS:
        raise DocumentLimitError(
            document.source,
            f"thumbnails too large: {document.page_count} pages x width {options.width} x height "
            f"{options.height} = {pixels:,} pixels, over the limit of {MAX_THUMBNAIL_PIXELS:,} per "
            "document (MAX_THUMBNAIL_PIXELS); ask for a smaller width and height",
        )


def image_to_png(image: Image.Image) -> bytes:
    """Encode an image as PNG, with a fast zlib level (PNG encoding dominates thumbnail time)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def thumbnails_to_npz(images: Iterable[Image.Image]) -> bytes:
    """Pack thumbnails in the original's ``application/x-npz`` format.

    Several pages give ``images``, a numpy bytes array of PNG files in page order; exactly one
    page gives ``image``, its H x W x 3 uint8 pixels (what the original's consumers expect).
    Each image is PNG-encoded as it arrives and dropped, so an iterator (``make_thumbnails``)
    costs one page of pixels, not a document's.
    """
    pages = iter(images)
    first, second = next(pages, None), next(pages, None)
    if first is None:
        raise ValueError("no thumbnails to pack: a document has at least one page")
    if second is None:
        return _pixels_to_npz(first)
    pngs = [image_to_png(first), image_to_png(second)]
    del first, second
    pngs += (image_to_png(image) for image in pages)
    return _pngs_to_npz(pngs)


def thumbnails_from_npz(data: bytes) -> list[Image.Image]:
    """Read thumbnails from either npz form (or a bare ``.npy`` array of the same content).

    Loads with ``allow_pickle=False``: an npz from elsewhere cannot run code.
    """
    import numpy as np

    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DocumentError(_NPZ_SOURCE, f"not a thumbnails npz file: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        return _array_to_images(loaded)
    with loaded:
        for key in ("images", "image"):
            if key in loaded.files:
                return _array_to_images(loaded[key])
        found = ", ".join(loaded.files) or "nothing"
    raise DocumentError(_NPZ_SOURCE, f"no 'images' or 'image' array in the npz (found {found})")


def write_thumbnails(
    source: str,
    out: str,
    options: ThumbnailOptions | None = None,
    password: str | None = None,
) -> list[str]:
    """Write a document's thumbnails and return the written paths or URLs.

    ``out`` ending in ``.npz`` gives one npz file; ``.png`` gives the PNG of a one-page
    document; anything else is a folder of ``<stem>-<page:04d>.png`` files. Writes are atomic,
    so a killed batch never leaves half a file that a rerun would take for finished work.

    >>> write_thumbnails("scan.tif", "thumbs/")  # doctest: +SKIP
    ['thumbs/scan-0001.png', 'thumbs/scan-0002.png']
    """
    options = options or ThumbnailOptions()
    suffix = PurePath(out.rsplit("/", 1)[-1]).suffix.lower()
    if suffix not in (".png", ".npz"):
        storage.check_output_folder(out)  # a file in the folder's place fails before any rendering
    with open_document(source, password=password) as document:
        if suffix == ".png":
            _check_one_page(document, out)
            storage.write_bytes_atomic(out, image_to_png(make_thumbnail(document, 1, options)))
            return [out]
        if suffix == ".npz":
            storage.write_bytes_atomic(out, thumbnails_to_npz(make_thumbnails(document, options)))
            return [out]
        return _write_folder(document, out, options)


def _write_folder(document: Document, out: str, options: ThumbnailOptions) -> list[str]:
    """One PNG per page, rendered and written one at a time (memory stays flat)."""
    stem = PurePath(document.source.rstrip("/").rsplit("/", 1)[-1]).stem
    written = []
    for number in range(1, document.page_count + 1):
        path = storage.join(out, f"{stem}-{number:04d}.png")
        storage.write_bytes_atomic(path, image_to_png(make_thumbnail(document, number, options)))
        logger.debug("wrote %s", path)
        written.append(path)
    return written


def _check_one_page(document: Document, out: str) -> None:
    if document.page_count != 1:
        raise DocumentError(
            document.source,
            f"cannot write {out}: a PNG holds one page and the document has "
            f"{document.page_count}; write a .npz file or a folder instead",
        )


def _cover_box(page: PageSize, box: tuple[int, int]) -> tuple[int, int]:
    """Smallest box with the page's aspect ratio that covers ``box`` (capped at 4x a side)."""
    scale = max(box[0] / page.width, box[1] / page.height)
    width = min(max(box[0], math.ceil(page.width * scale)), _MAX_COVER * box[0])
    height = min(max(box[1], math.ceil(page.height * scale)), _MAX_COVER * box[1])
    return width, height


def _pixels_to_npz(image: Image.Image) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, image=np.asarray(image.convert("RGB"), dtype=np.uint8))
    return buffer.getvalue()


def _pngs_to_npz(pngs: list[bytes]) -> bytes:
    """What ``np.savez_compressed(images=np.array(pngs, dtype=np.bytes_))`` writes, item by item.

    A fixed-width bytes array ("S" dtype) loads without pickle, but pads every PNG to the
    longest: as an array it takes pages x the largest PNG, twice over. Here each padded item
    goes straight into the deflate stream. numpy drops trailing NUL bytes on reading, which is
    harmless: a PNG always ends with its IEND chunk's non-zero CRC.
    """
    from numpy.lib.format import write_array_header_1_0

    width = max(len(png) for png in pngs)
    header = {"descr": f"|S{width}", "fortran_order": False, "shape": (len(pngs),)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            write_array_header_1_0(member, header)
            for png in pngs:
                member.write(png.ljust(width, b"\0"))
    return buffer.getvalue()


def _array_to_images(array: np.ndarray) -> list[Image.Image]:
    if array.dtype.kind == "S" and array.ndim == 1:
        return [_png_to_image(bytes(item), number) for number, item in enumerate(array, 1)]
    if array.dtype.kind == "S" and array.ndim == 0:
        return [_png_to_image(bytes(array[()]), 1)]
    if array.dtype.name == "uint8" and array.ndim == 3 and array.shape[2] == 3:
        return [Image.fromarray(array)]
    if array.dtype.name == "uint8" and array.ndim == 4 and array.shape[3] == 3:
        return [Image.fromarray(pixels) for pixels in array]
    raise DocumentError(
        _NPZ_SOURCE,
        f"unexpected array {array.dtype} {array.shape}: want PNG bytes or H x W x 3 uint8 pixels",
    )


def _png_to_image(data: bytes, number: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(_NPZ_SOURCE, f"thumbnail is not a PNG: {exc}", page=number) from exc
    return image
