"""The PDF's own text layer as OCR output: exact text, confidence 100, about 10 ms a page.

PDFium gives characters with boxes in PDF user space (origin bottom-left, unrotated); this module
groups them into words at whitespace and into lines at line breaks, and maps boxes to the page as
it is displayed (crop box, ``/Rotate``), so they line up with the rendered image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from docfields.documents import Document, PdfDocument
from docfields.errors import OcrError
from docfields.ocr.base import OcrOptions, PageOcrEngine
from docfields.textract import NormBox, OcrLine, OcrPage, OcrWord

if TYPE_CHECKING:
    from pypdfium2 import PdfPage

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # PDF user space: left, bottom, right, top


class PdfTextOptions(OcrOptions):
    """Options of the ``pdftext`` engine (and of ``auto``'s text-layer test)."""

    min_chars: int = Field(20, ge=1, description="Fewer visible characters: the page has no usable text layer.")
    scan_min_chars: int = Field(
        200, ge=1, description="On a page mostly covered by images, fewer characters than this means a scan."
    )
    max_bad_char_ratio: float = Field(
        0.1, ge=0, le=1, description="Share of characters without a Unicode mapping above which text is garbage."
    )


@dataclass(frozen=True)
class TextLayerStats:
    """What a page's text layer holds, and whether it can replace OCR."""

    chars: int
    bad_chars: int
    image_coverage: float
    usable: bool
    reason: str


class _PageFrame:
    """Maps PDF user-space points to 0..1 boxes of the page as displayed."""

    def __init__(self, page: PdfPage) -> None:
        self.left, self.bottom, self.right, self.top = page.get_cropbox()
        self.rotation = page.get_rotation() % 360

    def to_box(self, left: float, bottom: float, right: float, top: float) -> tuple[float, float, float, float]:
        """User-space box to (left, top, right, bottom) in 0..1 of the page as displayed."""
        width, height = self.right - self.left, self.top - self.bottom
        x0, x1 = (left - self.left) / width, (right - self.left) / width
        y0, y1 = (self.top - top) / height, (self.top - bottom) / height
        if self.rotation == 90:
            x0, y0, x1, y1 = 1 - y1, x0, 1 - y0, x1
        elif self.rotation == 180:
            x0, y0, x1, y1 = 1 - x1, 1 - y1, 1 - x0, 1 - y0
        elif self.rotation == 270:
            x0, y0, x1, y1 = y0, 1 - x1, y1, 1 - x0
        return (max(0.0, x0), max(0.0, y0), min(1.0, x1), min(1.0, y1))


def _page_chars(page: PdfPage) -> tuple[list[tuple[str, Box | None]], int]:
    """Characters with their boxes in PDF user space (None for spaces and line breaks), and how
    many visible ones have no Unicode mapping (garbage text).

    Raw PDFium calls into reused ctypes doubles: the wrapper's per-call allocations cost more
    than PDFium itself on a dense page.
    """
    import ctypes

    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        raw, left, right, bottom, top = textpage.raw, *(ctypes.c_double() for _ in range(4))
        get_box, map_error = pdfium_c.FPDFText_GetCharBox, pdfium_c.FPDFText_HasUnicodeMapError
        count = textpage.count_chars()
        text = textpage.get_text_range()
        if len(text) != count:  # characters outside the BMP: fall back to one call per character
            text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, index)) for index in range(count))
        chars: list[tuple[str, Box | None]] = []
        bad = 0
        for index, char in enumerate(text):
            if char.isspace():
                chars.append((char, None))
                continue
            get_box(raw, index, left, right, bottom, top)
            chars.append((char, (left.value, bottom.value, right.value, top.value)))
            bad += map_error(raw, index) == 1
        return chars, bad
    finally:
        textpage.close()


def _word(chars: list[tuple[str, Box]], frame: _PageFrame) -> OcrWord:
    """A word from its characters: text joined, box = union in user space, mapped to the page once."""
    text = "".join(c for c, _ in chars)
    left, top, right, bottom = frame.to_box(
        min(b[0] for _, b in chars),
        min(b[1] for _, b in chars),
        max(b[2] for _, b in chars),
        max(b[3] for _, b in chars),
    )
    return OcrWord(text=text, confidence=100.0, box=NormBox(left, top, max(0.0, right - left), max(0.0, bottom - top)))


def _starts_new_line(line: list[OcrWord], word: OcrWord) -> bool:
    """PDFium usually marks line breaks; a word whose middle is below the last word's box is a new line too."""
    if not line:
        return False
    last = line[-1].box
    middle = word.box.top + word.box.height / 2
    return not (last.top - last.height / 2 <= middle <= last.top + 1.5 * last.height)


def lines_from_chars(chars: list[tuple[str, Box | None]], frame: _PageFrame) -> list[OcrLine]:
    """Group characters into words at whitespace and into lines at line breaks."""
    lines: list[OcrLine] = []
    line: list[OcrWord] = []
    word: list[tuple[str, Box]] = []

    def end_word() -> None:
        if word:
            built = _word(word, frame)
            if _starts_new_line(line, built):
                end_line()
            line.append(built)
            word.clear()

    def end_line() -> None:
        if line:
            lines.append(OcrLine(words=tuple(line)))
            line.clear()

    for char, box in chars:
        if box is None or char.isspace():
            end_word()
            if char in "\r\n":
                end_line()
        else:
            word.append((char, box))
    end_word()
    end_line()
    return lines


def read_text_layer(
    document: PdfDocument, page_number: int, options: PdfTextOptions | None = None
) -> tuple[TextLayerStats, list[OcrLine]]:
    """A page's text-layer lines and the verdict on whether they can replace OCR, in one pass."""
    options = options or PdfTextOptions()
    page = document.pdfium_page(page_number)
    try:
        chars, bad = _page_chars(page)
        visible = sum(1 for _, box in chars if box is not None)
        # Image coverage only matters for sparse text; counting page objects costs on dense pages.
        coverage = _image_coverage(page) if options.min_chars <= visible < options.scan_min_chars else 0.0
        return _judge(visible, bad, coverage, options), lines_from_chars(chars, _PageFrame(page))
    finally:
        page.close()


def text_layer_stats(document: PdfDocument, page_number: int, options: PdfTextOptions | None = None) -> TextLayerStats:
    """Whether a page's text layer can replace OCR, and why."""
    return read_text_layer(document, page_number, options)[0]


def _image_coverage(page: PdfPage) -> float:
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    area = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        area += max(0.0, right - left) * max(0.0, top - bottom)
    return min(1.0, area / (width * height)) if width and height else 0.0


def _judge(chars: int, bad: int, coverage: float, options: PdfTextOptions) -> TextLayerStats:
    if chars < options.min_chars:
        return TextLayerStats(chars, bad, coverage, False, f"{chars} characters in the text layer")
    if bad / chars > options.max_bad_char_ratio:
        return TextLayerStats(chars, bad, coverage, False, f"{bad} of {chars} characters have no Unicode mapping")
    if coverage >= 0.5 and chars < options.scan_min_chars:
        reason = f"images cover {coverage:.0%} of the page and the text layer has only {chars} characters"
        return TextLayerStats(chars, bad, coverage, False, reason)
    return TextLayerStats(chars, bad, coverage, True, f"{chars} characters in the text layer")


class PdfTextEngine(PageOcrEngine):
    """Reads words from a PDF's text layer instead of its pixels."""

    name: ClassVar[str] = "pdftext"
    options_class: ClassVar[type[OcrOptions]] = PdfTextOptions

    def __init__(self, options: PdfTextOptions | None = None) -> None:
        self.options: PdfTextOptions = options or PdfTextOptions()

    @property
    def version(self) -> str:
        """The PDFium build that extracts the text."""
        import pypdfium2

        return f"pdfium{pypdfium2.PDFIUM_INFO.build}"

    def read_page(self, document: Document, page_number: int) -> OcrPage:
        """Words and lines of one page's text layer (an empty page when it has none)."""
        if not isinstance(document, PdfDocument):
            raise OcrError(f"{document.source}: pdftext reads a PDF's text layer; this is a {document.format} image")
        _, lines = read_text_layer(document, page_number, self.options)
        if not lines:
            logger.warning("%s (page %d): no text layer; use an OCR engine", document.source, page_number)
        return OcrPage(lines=tuple(lines), engine=self.name)
