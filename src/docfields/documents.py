"""Open any document by its content, count its pages without rendering, render one page at a time.

Two kinds of documents reach docfields: PDFs (rendered by PDFium through pypdfium2) and images
(decoded by Pillow). Both sit behind one ``Document`` interface with 1-based page numbers, so the
OCR engines, the thumbnailer and the services never branch on the file type.

The type comes from the first bytes of the file (``sniff_format``), never from its name: a PNG
called ``scan.pdf`` is a PNG. Limits (``DocumentLimits``) are checked before work is spent: the
size before the file is read, the page count at open, and the pixels of a page before it is
rendered, so a decompression bomb fails fast with a message instead of exhausting memory.
Every failure raises ``DocumentError`` (or ``DocumentLimitError``) naming the file and page.

Threads: PDFium is not thread-safe, not even across documents. docfields' own PDFium calls
hold ``PDFIUM_LOCK``; code that calls PDFium itself (``PdfDocument.pdfium``) from several
threads must hold it too. Use one ``Document`` from one thread; for parallel work, processes.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import pypdfium2
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from docfields import storage
from docfields.errors import DocumentError, DocumentLimitError

logger = logging.getLogger(__name__)

PDFIUM_LOCK = threading.RLock()
DEFAULT_DPI = 300.0
SNIFF_BYTES = 1024
_IMAGE_FORMATS = ("png", "jpeg", "tiff", "bmp", "webp", "gif")
MIME_TYPES = {"pdf": "application/pdf"} | {name: f"image/{name}" for name in _IMAGE_FORMATS}
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
_LOOKALIKES = (
    (b"PK\x03\x04", "a ZIP archive? Office and OpenDocument files are ZIP archives too"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.doc, .xls)?"),
    (b"\x1f\x8b", "a gzip archive?"),
    (b"Rar!", "a RAR archive?"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive?"),
    (b"%!PS", "a PostScript file?"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image?"),
    (b"<!doctype html", "an HTML page?"),
    (b"<html", "an HTML page?"),
    (b"<", "an XML or HTML file?"),
    (b"{", "a JSON file?"),
)
_ORIENTATION_TAG = 0x0112
_SWAPPED_ORIENTATIONS = {5, 6, 7, 8}
_PIL_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, struct.error)


class DocumentLimits(BaseModel):
    """Limits a document must stay within: services take documents from strangers, and a huge
    file, a 100,000-page PDF or a decompression bomb must fail clearly, not exhaust the machine."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(
        100 * 2**20, gt=0, description="Largest file accepted, in bytes; checked before reading."
    )
    max_pages: int = Field(5000, gt=0, description="Most pages (PDF pages or TIFF frames).")
    max_pixels: int = Field(
        200_000_000,
        gt=0,
        description="Most pixels per page: a decoded image, or a PDF page at the requested scale.",
    )


@dataclass(frozen=True)
class PageSize:
    """Size of one page as displayed: PDF pages in points (1/72 inch), images in pixels."""

    width: float
    height: float
    unit: Literal["pt", "px"]


@dataclass(frozen=True)
class PlacedImage:
    """An image object drawn on a PDF page: its own pixel size and the area it covers, in square points."""

    pixel_width: int
    pixel_height: int
    area: float


def placed_images(page: pypdfium2.PdfPage) -> list[PlacedImage]:
    """The image objects drawn on a PDF page (in form XObjects too): pixel size and drawn area.

    Walks every page object: costly on dense vector pages. An image PDFium cannot size is left
    out, as it would be left out of a rendering.
    """
    images: list[PlacedImage] = []
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        try:
            left, bottom, right, top = obj.get_bounds()
            width, height = obj.get_px_size()
        except pypdfium2.PdfiumError:
            continue
        images.append(PlacedImage(width, height, max(0.0, right - left) * max(0.0, top - bottom)))
    return images


class Document:
    """One opened document: its type, its page count, and pages rendered one at a time.

    Use it as a context manager (or call ``close``); one thread at a time (see module docs)."""

    source: str
    format: str
    mime_type: str
    page_count: int

    def __init__(self, source: str, format: str, page_count: int, limits: DocumentLimits) -> None:
        self.source = source
        self.format = format
        self.mime_type = MIME_TYPES[format]
        self.page_count = page_count
        self.limits = limits
        self._closed = False

    def page_size(self, page_number: int) -> PageSize:
        """Size of page ``page_number`` (1-based) as displayed, without rendering it."""
        self._check_page(page_number)
        return self._page_size(page_number)

    def render(
        self,
        page_number: int,
        dpi: float | None = None,
        size: tuple[int, int] | None = None,
        grayscale: bool = False,
    ) -> Image.Image:
        """Render page ``page_number`` (1-based) to an RGB image (L when ``grayscale``).

        Args:
            page_number: 1-based page number.
            dpi: PDF resolution (default 300). Images are already pixels: they keep their native
                resolution and ``dpi`` is ignored.
            size: Fit the page inside this (width, height), keeping its aspect ratio. PDFs are
                rendered directly at that scale, JPEGs decoded at a reduced scale when they can.
            grayscale: Return a one-channel ``L`` image (faster to render and to encode).
        """
        self._check_page(page_number)
        if dpi is not None and size is not None:
            raise ValueError("pass dpi or size, not both")
        if dpi is not None and not dpi > 0:
            raise ValueError(f"dpi must be positive, got {dpi}")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"size must be two positive integers, got {size}")
        logger.debug("rendering %s page %d (dpi=%s, size=%s)", self.source, page_number, dpi, size)
        return self._render(page_number, dpi, size, grayscale)

    def close(self) -> None:
        """Release the document; later calls raise ``ValueError``."""
        self._closed = True

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_page(self, page_number: int) -> None:
        if self._closed:
            raise ValueError(f"{self.source}: document is closed")
        if isinstance(page_number, bool) or not 1 <= page_number <= self.page_count:
            raise DocumentError(
                self.source, f"no page {page_number}: pages run from 1 to {self.page_count}"
            )

    def _check_pixels(self, width: int, height: int, page_number: int, how: str) -> None:
        pixels = width * height
        if pixels > self.limits.max_pixels:
            raise DocumentLimitError(
                self.source,
                f"too many pixels: {width} x {height} = {pixels:,} pixels{how}, "
                f"over the limit of {self.limits.max_pixels:,} (max_pixels)",
                page=page_number,
            )

    def _page_size(self, page_number: int) -> PageSize:
        raise NotImplementedError

    def _render(
        self, page_number: int, dpi: float | None, size: tuple[int, int] | None, grayscale: bool
    ) -> Image.Image:
        raise NotImplementedError


class PdfDocument(Document):
    """A PDF opened with PDFium; pages are rendered directly at the requested scale.

    ``pdfium`` is exposed because the text-layer OCR engine reads characters from it.
    """

    pdfium: pypdfium2.PdfDocument

    def __init__(self, pdfium: pypdfium2.PdfDocument, source: str, limits: DocumentLimits) -> None:
        self.pdfium = pdfium
        with PDFIUM_LOCK:
            super().__init__(source, "pdf", len(pdfium), limits)

    def pdfium_page(self, page_number: int) -> pypdfium2.PdfPage:
        """Load one PDFium page (1-based); the caller closes it (holding ``PDFIUM_LOCK``)."""
        self._check_page(page_number)
        try:
            with PDFIUM_LOCK:
                return self.pdfium[page_number - 1]
        except pypdfium2.PdfiumError as exc:
            raise DocumentError(self.source, f"corrupt page: {exc}", page=page_number) from exc

    def text_char_count(self, page_number: int) -> int:
        """Characters in the page's text layer (invisible ones too), without reading their boxes."""
        with PDFIUM_LOCK:
            page = self.pdfium_page(page_number)
            try:
                textpage = page.get_textpage()
                try:
                    return textpage.count_chars()
                finally:
                    textpage.close()
            except pypdfium2.PdfiumError as exc:
                raise DocumentError(self.source, f"corrupt page: {exc}", page=page_number) from exc
            finally:
                page.close()

    def page_images(self, page_number: int) -> list[PlacedImage]:
        """The page's image objects (``placed_images``), from which a scan's native resolution follows."""
        with PDFIUM_LOCK:
            page = self.pdfium_page(page_number)
            try:
                return placed_images(page)
            finally:
                page.close()

    def close(self) -> None:
        """Close the PDFium document."""
        if not self._closed:
            with PDFIUM_LOCK:
                self.pdfium.close()
        super().close()

    def _page_size(self, page_number: int) -> PageSize:
        try:
            with PDFIUM_LOCK:
                width, height = self.pdfium.get_page_size(page_number - 1)
        except pypdfium2.PdfiumError as exc:
            raise DocumentError(self.source, f"corrupt page: {exc}", page=page_number) from exc
        return PageSize(width, height, "pt")

    def _render(
        self, page_number: int, dpi: float | None, size: tuple[int, int] | None, grayscale: bool
    ) -> Image.Image:
        page_size = self._page_size(page_number)
        if size is not None:
            scale = min(size[0] / page_size.width, size[1] / page_size.height)
            scale *= 1 - 1e-9  # PDFium rounds up: keep 224.0000001 from becoming 225 pixels
            how = f" to fit {size[0]} x {size[1]}"
        else:
            scale = (dpi or DEFAULT_DPI) / 72
            how = f" at {dpi or DEFAULT_DPI:g} dpi"
        width = max(1, math.ceil(page_size.width * scale))
        height = max(1, math.ceil(page_size.height * scale))
        self._check_pixels(width, height, page_number, how)
        with PDFIUM_LOCK:
            page = self.pdfium_page(page_number)
            try:
                bitmap = page.render(scale=scale, grayscale=grayscale, rev_byteorder=True)
                image = bitmap.to_pil()  # RGB: a copy; L: shares the bitmap's Python buffer
                bitmap.close()
            except pypdfium2.PdfiumError as exc:
                reason = f"cannot render: {exc}"
                raise DocumentError(self.source, reason, page=page_number) from exc
            finally:
                page.close()
        mode = "L" if grayscale else "RGB"
        return image if image.mode == mode else image.convert(mode)


class ImageDocument(Document):
    """An image opened with Pillow: one page, or one page per frame for TIFF.

    Each render decodes the kept bytes afresh, so one JPEG can be decoded at a reduced scale
    (``Image.draft``) for a thumbnail and at full scale for OCR.
    """

    def __init__(self, data: bytes, source: str, format: str, limits: DocumentLimits) -> None:
        self._data = data
        super().__init__(source, format, 1, limits)
        image = self._open_image(count_frames=format == "tiff")  # fails here on a bad header
        self.page_count = image.n_frames if format == "tiff" else 1

    def close(self) -> None:
        """Drop the image bytes."""
        self._data = b""
        super().close()

    def _open_image(self, page_number: int = 1, count_frames: bool = False) -> Image.Image:
        label = self.format.upper()
        try:
            with pillow_warnings(self.source, page_number):
                image = self._decode_header(page_number, count_frames)
        except Image.DecompressionBombError as exc:
            reason = f"too many pixels for Pillow's decompression-bomb guard: {exc}"
            raise DocumentLimitError(self.source, reason) from exc
        except UnidentifiedImageError as exc:
            reason = f"corrupt or truncated {label} file: Pillow cannot read its header"
            raise DocumentError(self.source, reason) from exc
        except _PIL_DECODE_ERRORS as exc:
            reason = f"corrupt or truncated {label} file: {exc}"
            page = page_number if page_number > 1 else None
            raise DocumentError(self.source, reason, page=page) from exc
        return image

    def _decode_header(self, page_number: int, count_frames: bool) -> Image.Image:
        image = Image.open(io.BytesIO(self._data), formats=[self.format.upper()])
        if page_number > 1:
            image.seek(page_number - 1)
        if count_frames:
            image.n_frames  # noqa: B018 walks the TIFF's frame chain: fail here if corrupt
        return image

    def declared_dpi(self, page_number: int) -> float | None:
        """The resolution the image's header declares (JFIF, EXIF, PNG pHYs, TIFF tags), or None.

        Many writers put a default there (72, 96) rather than a measurement: see ``ocr.resolution``.
        Non-square pixels (fax, 204 x 98) give the mean of the two."""
        self._check_page(page_number)
        dpi = self._open_image(page_number).info.get("dpi")
        if not isinstance(dpi, tuple) or len(dpi) != 2:
            return None
        x_dpi, y_dpi = float(dpi[0]), float(dpi[1])  # TIFF gives IFDRationals, 0/0 as NaN
        return (x_dpi + y_dpi) / 2 if x_dpi > 0 and y_dpi > 0 else None

    def _page_size(self, page_number: int) -> PageSize:
        image = self._open_image(page_number)
        width, height = image.size
        with pillow_warnings(self.source, page_number):
            orientation = _orientation(image)
        if orientation in _SWAPPED_ORIENTATIONS:
            width, height = height, width
        return PageSize(width, height, "px")

    def _render(
        self, page_number: int, dpi: float | None, size: tuple[int, int] | None, grayscale: bool
    ) -> Image.Image:
        image = self._open_image(page_number)
        self._check_pixels(*image.size, page_number, f" in a {self.format.upper()} image")
        try:
            with pillow_warnings(self.source, page_number):
                image = _decode_pixels(image, size, grayscale, self.format)
        except Image.DecompressionBombError as exc:
            raise DocumentLimitError(self.source, f"too many pixels: {exc}") from exc
        except _PIL_DECODE_ERRORS as exc:
            raise DocumentError(self.source, _decode_reason(exc), page=page_number) from exc
        if size is not None:
            target = fit_size(image.size, size)
            if target != image.size:
                image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
        return image


def _decode_pixels(image: Image.Image, size: tuple[int, int] | None, grayscale: bool, format: str) -> Image.Image:
    """Decode ``image`` upright in RGB or L; a JPEG bound for ``size`` is decoded at a reduced scale."""
    if size is not None and format == "jpeg":
        swapped = _orientation(image) in _SWAPPED_ORIENTATIONS
        stored_box = (size[1], size[0]) if swapped else size
        image.draft("L" if grayscale else None, fit_size(image.size, stored_box))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    return _flatten(image, "L" if grayscale else "RGB")


@contextmanager
def pillow_warnings(source: str, page: int) -> Iterator[None]:
    """Log Pillow's warnings (corrupt metadata, decompression-bomb size) naming the file, not print them.

    Pillow decodes past such faults, so they are degraded input, not errors; the pixel limit
    (``max_pixels``) is what refuses big images. ``catch_warnings`` is process-wide state: one
    ``Document`` per thread, as the module says.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                logger.warning("%s (page %d): %s: %s", source, page, warning.category.__name__, warning.message)


def fit_size(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """Largest (width, height) with the aspect ratio of ``size`` that fits inside ``box``."""
    scale = min(box[0] / size[0], box[1] / size[1])
    width = min(box[0], max(1, round(size[0] * scale)))
    height = min(box[1], max(1, round(size[1] * scale)))
    return width, height


def sniff_format(head: bytes) -> str | None:
    """Name the format of a file from its first bytes (magic numbers), or None if unknown.

    Content decides, never the name: uploads and mail attachments lie about extensions. A PDF
    header may follow some junk, as PDF readers accept it within the first 1 KiB."""
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if b"%PDF-" in head[:SNIFF_BYTES]:
        return "pdf"
    return None


def open_document(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    password: str | None = None,
    limits: DocumentLimits | None = None,
) -> Document:
    """Open a PDF or image from a path, an fsspec URL or bytes, by its content.

    Args:
        source: A local path, an fsspec URL (``file://``, ``s3://``, ``memory://`` ...) or the
            file's bytes.
        name: What error messages call the document (default: the path, or ``"<bytes>"``).
        password: Password of an encrypted PDF.
        limits: Size, page and pixel limits (default ``DocumentLimits()``).

    >>> with open_document("scan.tif") as document:  # doctest: +SKIP
    ...     print(document.format, document.page_count)
    tiff 3
    """
    limits = limits or DocumentLimits()
    label, data = _read_source(source, name, limits)
    if not data:
        raise DocumentError(label, "empty file (0 bytes)")
    format = sniff_format(data[:SNIFF_BYTES])
    if format is None:
        raise DocumentError(label, _describe_unknown(data))
    if format == "pdf":
        document: Document = _open_pdf(data, label, password, limits)
    else:
        document = ImageDocument(data, label, format, limits)
    if document.page_count > limits.max_pages:
        count = document.page_count
        document.close()
        raise DocumentLimitError(
            label, f"too many pages: {count}, over the limit of {limits.max_pages} (max_pages)"
        )
    logger.debug("opened %s: %s, %d pages", label, format, document.page_count)
    return document


def _read_source(
    source: str | os.PathLike[str] | bytes, name: str | None, limits: DocumentLimits
) -> tuple[str, bytes]:
    """Return (label, bytes), checking the size limit before reading a file."""
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or "<bytes>"
        _check_bytes(label, len(source), limits)
        return label, bytes(source)
    url = os.fspath(source)
    label = name or url
    with file_errors(label):
        _check_bytes(label, _size_or_zero(url), limits)
        data = storage.read_bytes(url)
    _check_bytes(label, len(data), limits)
    return label, data


@contextmanager
def file_errors(label: str) -> Iterator[None]:
    """Turn the OS's errors on reading a document file into one ``DocumentError`` naming it."""
    try:
        yield
    except FileNotFoundError as exc:
        raise DocumentError(label, "file not found") from exc
    except IsADirectoryError as exc:
        raise DocumentError(label, "is a folder, not a file") from exc
    except PermissionError as exc:
        raise DocumentError(label, "permission denied") from exc
    except OSError as exc:
        raise DocumentError(label, f"cannot read the file: {exc}") from exc


def _size_or_zero(url: str) -> int:
    """File size, or 0 where a store cannot tell (some HTTP servers): checked after reading."""
    try:
        return storage.size(url)
    except (TypeError, ValueError):
        return 0


def _check_bytes(label: str, size: int, limits: DocumentLimits) -> None:
    if size > limits.max_bytes:
        raise DocumentLimitError(
            label,
            f"file too large: {size:,} bytes, over the limit of {limits.max_bytes:,} bytes "
            f"({limits.max_bytes / 2**20:.1f} MiB, max_bytes)",
        )


def _open_pdf(data: bytes, label: str, password: str | None, limits: DocumentLimits) -> PdfDocument:
    """Open PDF bytes with PDFium, translating its error codes into reasons a user understands."""
    with PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(data, password=password or None)
        except pypdfium2.PdfiumError as exc:
            raise DocumentError(label, _pdfium_reason(exc, data, password)) from exc
        try:
            pdf.init_forms()  # before any page is loaded, so filled-in form fields are rendered
            document = PdfDocument(pdf, label, limits)
        except pypdfium2.PdfiumError as exc:
            pdf.close()
            raise DocumentError(label, f"corrupt PDF: {exc}") from exc
    if document.page_count == 0:
        document.close()
        raise DocumentError(label, "PDF has no pages")
    return document


def _pdfium_reason(exc: pypdfium2.PdfiumError, data: bytes, password: str | None) -> str:
    code = getattr(exc, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return "wrong password" if password else "encrypted PDF: pass a password"
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return "encrypted PDF with an unsupported security handler"
    if code == pdfium_c.FPDF_ERR_SUCCESS:  # PDFium refuses a document without pages, with no error code
        return "PDF has no pages (its page tree is empty or missing)"
    if b"%%EOF" not in data[-SNIFF_BYTES:]:
        return f"truncated or corrupt PDF: no %%EOF marker at its end, cut short? ({exc})"
    return f"corrupt PDF: {exc}"


def _describe_unknown(data: bytes) -> str:
    """A reason for an unsupported file that says what the file looks like."""
    head = data[:SNIFF_BYTES]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    guesses = (
        what for magic, what in _LOOKALIKES if head.startswith(magic) or text.startswith(magic)
    )
    what = next(guesses, None)
    if what is None and data[4:8] == b"ftyp":
        what = "an ISO media file (HEIC/AVIF image or MP4 video)?"
    if what is None:  # as git decides: binary files have NUL bytes near the start, text none
        what = "unknown binary data" if b"\x00" in head else "a text file?"
    return (
        f"unsupported file type (starts with {data[:8]!r}, {what}); "
        "docfields reads PDF, PNG, JPEG, TIFF, BMP, WebP and GIF"
    )


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_ORIENTATION_TAG, 1))
    except (*_PIL_DECODE_ERRORS, TypeError):
        return 1


def _decode_reason(exc: Exception) -> str:
    text = str(exc)
    if "truncated" in text.lower():
        return f"truncated image file, cut short? ({text})"
    return f"corrupt image data: {text or type(exc).__name__}"


def _flatten(image: Image.Image, mode: str) -> Image.Image:
    """Convert to ``mode``, putting transparent areas on white like a page (not black)."""
    if image.mode == mode:
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        page = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        page.alpha_composite(rgba)
        image = page
    return image.convert(mode)
