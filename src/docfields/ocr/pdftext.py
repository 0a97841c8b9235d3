"""The PDF's own text layer as OCR output: exact text, confidence 100, about 10 ms a page.

PDFium gives characters with boxes in PDF user space (origin bottom-left, unrotated); this module
groups them into words at whitespace and into lines at line breaks, and maps boxes to the page as
it is displayed (crop box, ``/Rotate``), so they line up with the rendered image.
"""

from __future__ import annotations

import ctypes
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pypdfium2.raw as pdfium_c
from pydantic import Field

from docfields.documents import Document, PdfDocument, placed_images
from docfields.errors import OcrError
from docfields.ocr.base import OcrOptions, PageOcrEngine
from docfields.textract import NormBox, OcrLine, OcrPage, OcrWord

if TYPE_CHECKING:
    from pypdfium2 import PdfPage

logger = logging.getLogger(__name__)

MAP_ERROR_SAMPLES = 256  # characters checked for a Unicode mapping: enough to estimate a 10% share
_WORD = re.compile(r"\S+")


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
    """Maps PDF user-space boxes to 0..1 boxes of the page as displayed."""

    def __init__(self, page: PdfPage) -> None:
        self.left, self.bottom, self.right, self.top = page.get_cropbox()
        self.rotation = page.get_rotation() % 360

    def to_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) user-space (left, bottom, right, top) to (left, top, right, bottom) in 0..1 as displayed."""
        width, height = self.right - self.left, self.top - self.bottom
        x0, x1 = (boxes[:, 0] - self.left) / width, (boxes[:, 2] - self.left) / width
        y0, y1 = (self.top - boxes[:, 3]) / height, (self.top - boxes[:, 1]) / height
        if self.rotation == 90:
            x0, y0, x1, y1 = 1 - y1, x0, 1 - y0, x1
        elif self.rotation == 180:
            x0, y0, x1, y1 = 1 - x1, 1 - y1, 1 - x0, 1 - y0
        elif self.rotation == 270:
            x0, y0, x1, y1 = y0, 1 - x1, y1, 1 - x0
        return np.clip(np.stack([x0, y0, x1, y1], axis=1), 0.0, 1.0)


@dataclass(frozen=True)
class _Characters:
    """A page's text and a (N, 4) user-space box per character (NaN for whitespace)."""

    text: str
    boxes: np.ndarray
    visible: int
    bad: int


def _page_chars(page: PdfPage) -> _Characters:
    """Text and character boxes in one pass of raw PDFium calls into reused ctypes doubles.

    The per-call allocations of pypdfium2's wrappers cost more than PDFium itself on a dense page;
    whether glyphs map to Unicode is checked on a sample, which is enough to judge garbage text.
    """
    textpage = page.get_textpage()
    try:
        raw, left, right, bottom, top = textpage.raw, *(ctypes.c_double() for _ in range(4))
        get_box = pdfium_c.FPDFText_GetCharBox
        count = textpage.count_chars()
        text = textpage.get_text_range()
        if len(text) != count:  # characters outside the BMP: fall back to one call per character
            text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, index)) for index in range(count))
        indices = [m.start() + i for m in _WORD.finditer(text) for i in range(m.end() - m.start())]
        values: list[float] = []
        for index in indices:
            get_box(raw, index, left, right, bottom, top)
            values += (left.value, bottom.value, right.value, top.value)
        boxes = np.full((count, 4), np.nan)
        if indices:
            boxes[indices] = np.asarray(values).reshape(-1, 4)
        sample = indices[:: max(1, len(indices) // MAP_ERROR_SAMPLES)]
        bad_share = sum(pdfium_c.FPDFText_HasUnicodeMapError(raw, i) == 1 for i in sample) / max(1, len(sample))
        return _Characters(text, boxes, len(indices), round(bad_share * len(indices)))
    finally:
        textpage.close()


def _line_breaks(text: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each word, whether a line break (CR or LF) stands between it and the word before."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    breaks = np.concatenate([[0], np.cumsum((codes == 10) | (codes == 13))])
    before = np.zeros(len(starts), dtype=bool)
    before[1:] = breaks[starts[1:]] > breaks[ends[:-1]]
    return before


def _starts_new_line(last: NormBox, word: NormBox) -> bool:
    """A word whose middle is outside the previous word's vertical band starts a new line."""
    middle = word.top + word.height / 2
    return not (last.top - last.height / 2 <= middle <= last.top + 1.5 * last.height)


def lines_from_chars(chars: _Characters, frame: _PageFrame) -> list[OcrLine]:
    """Words at whitespace, boxes = union of their characters; lines at PDFium's line breaks."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(chars.text)]
    if not spans:
        return []
    starts, ends = (np.array(column) for column in zip(*spans, strict=True))
    low = np.fmin.reduceat(chars.boxes[:, :2], starts, axis=0)
    high = np.fmax.reduceat(chars.boxes[:, 2:], starts, axis=0)
    edges = frame.to_boxes(np.concatenate([low, high], axis=1)).tolist()
    lines: list[OcrLine] = []
    line: list[OcrWord] = []
    for (start, end), (x0, y0, x1, y1), new_line in zip(
        spans, edges, _line_breaks(chars.text, starts, ends), strict=True
    ):
        box = NormBox(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))
        if line and (new_line or _starts_new_line(line[-1].box, box)):
            lines.append(OcrLine(words=tuple(line)))
            line = []
        line.append(OcrWord(text=chars.text[start:end], confidence=100.0, box=box))
    lines.append(OcrLine(words=tuple(line)))
    return lines


def read_text_layer(
    document: PdfDocument, page_number: int, options: PdfTextOptions | None = None
) -> tuple[TextLayerStats, list[OcrLine]]:
    """A page's text-layer lines and the verdict on whether they can replace OCR, in one pass."""
    options = options or PdfTextOptions()
    page = document.pdfium_page(page_number)
    try:
        chars = _page_chars(page)
        # Image coverage only matters for sparse text; counting page objects costs on dense pages.
        sparse = options.min_chars <= chars.visible < options.scan_min_chars
        coverage = _image_coverage(page) if sparse else 0.0
        return _judge(chars.visible, chars.bad, coverage, options), lines_from_chars(chars, _PageFrame(page))
    finally:
        page.close()


def text_layer_stats(document: PdfDocument, page_number: int, options: PdfTextOptions | None = None) -> TextLayerStats:
    """Whether a page's text layer can replace OCR, and why."""
    return read_text_layer(document, page_number, options)[0]


def _image_coverage(page: PdfPage) -> float:
    width, height = page.get_size()
    area = sum(image.area for image in placed_images(page))
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
