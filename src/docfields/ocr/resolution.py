"""A page image's effective resolution, and resampling it to the resolution an engine reads best at.

Tesseract is tuned for ~300 DPI text, but a page image's pixels say nothing of its physical size. The
estimate, most trusted first: a PDF scan's image pixels over the inches of the page it covers; an
image's DPI tag, unless it is a writer's default (72, 96) or the text disagrees with it; the height
of its text lines, taken to be body text (about 0.105 inch of ink: see ``TEXT_LINE_INCHES``). A
born-digital PDF page is rendered at a resolution we choose, so it is known exactly.

The text height is read from row profiles: the page is binarised (Otsu) and cut into vertical
strips; in each strip, runs of rows holding ink are text lines. Strips keep a skewed line from
smearing across its neighbours; the row threshold leaves out the sparse rows of ascenders and
descenders, so a run is about a capital's height whatever the case. It costs a few milliseconds.

Resampling scales the whole image uniformly, so boxes in 0..1 of the image stay valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from docfields.documents import Document, ImageDocument, PdfDocument
from docfields.ocr.pdftext import PdfTextOptions

TEXT_LINE_INCHES = 0.105
"""Height of a text line as measured here (about cap height, 0.7 em) for 10.5 pt body text: 0.10-0.115 in
rendered in Vera, DejaVu Sans Mono and Liberation Serif."""
PLACEHOLDER_DPI = {1: "a placeholder", 72: "a common default", 96: "a screen default"}
PLAUSIBLE_DPI = (50.0, 2400.0)
MAX_DISAGREEMENT = 2.0  # a declared DPI this many times off the text height's is a lie
TOLERANCE = 0.15  # within this share of the target DPI, resampling costs more than it gains
SCAN_COVERAGE = 0.5  # an image covering this share of a PDF page, with little text, is a scan
SCAN_MAX_CHARS = PdfTextOptions().scan_min_chars  # the text-layer engine's own idea of "little text"
MEASURE_PIXELS = 1_500_000  # larger images are reduced (by a whole factor) before measuring
MIN_CONTRAST = 40  # grey levels below its paper a pixel must be to count as ink
PAPER_BLOCK = 8  # pixels: the paper's brightness is judged in blocks of this size
MIN_RUN = 3  # rows: shorter runs are specks, rules and dotted separators
MIN_LINES = 6  # line runs (over all strips) needed for a measure
MIN_AGREEMENT = 0.35  # share of text rows in lines of about the median height needed to trust it
STRIP_WIDTH = 96  # pixels of the measured image per strip, short enough to keep a 2-degree skew sharp


@dataclass(frozen=True)
class ResolutionEstimate:
    """The effective resolution of a page image, where it came from, and why.

    ``source``: "declared" (the image's DPI tag, trusted), "page-size" (PDF scan: image pixels per
    page inch), "text-height" (from the height of text lines), "rendered" (a born-digital PDF page
    rendered at a DPI we chose), "unknown" (no usable tag, no measurable text; ``dpi`` is 0 and the
    image is left as it is).
    """

    dpi: float
    source: str
    reason: str

    def as_details(self) -> dict[str, Any]:
        """The estimate as the PAGE block's ``OcrDetails`` records it (``Dpi`` null when unknown)."""
        return {"Dpi": round(self.dpi) if self.dpi > 0 else None, "Source": self.source, "Reason": self.reason}


def render_for_ocr(
    document: Document, page_number: int, dpi: int, max_pixels: int
) -> tuple[Image.Image, ResolutionEstimate]:
    """Render a page for OCR with the estimate of its resolution.

    A PDF page holding a scan (one image covering most of it, little text layer) is rendered at the
    scan's native resolution, so its pixels are the scan's, neither blurred up nor thrown away; other
    PDF pages at ``dpi``; both at most ``max_pixels``. Images are returned as they are.
    """
    if not isinstance(document, PdfDocument):
        image = document.render(page_number)
        declared = document.declared_dpi(page_number) if isinstance(document, ImageDocument) else None
        return image, estimate_resolution(image, declared)
    size = document.page_size(page_number)
    cap = 72 * math.sqrt(max_pixels / (size.width * size.height))
    capped = " (capped by max_pixels)"
    native = _scan_dpi(document, page_number, size.width * size.height)
    if native is None:
        render_dpi = min(float(dpi), cap)
        reason = f"born-digital page rendered at {render_dpi:.0f} dpi" + (capped if render_dpi < dpi else "")
        return document.render(page_number, dpi=render_dpi), ResolutionEstimate(render_dpi, "rendered", reason)
    render_dpi = min(native, cap)
    image = document.render(page_number, dpi=render_dpi)
    what = f"scan of {native:.0f} dpi by the page size" + (capped if render_dpi < native else "")
    return image, _estimate(image, render_dpi, what, "page-size")


def estimate_resolution(image: Image.Image, declared_dpi: float | None) -> ResolutionEstimate:
    """The effective resolution of a page image whose header declares ``declared_dpi`` (None: no tag).

    The tag is trusted unless it is a known default (72, 96, 1), implausible, or more than
    ``MAX_DISAGREEMENT`` times off what the text height says; else the text height decides, and a
    page without measurable text (blank, photo) is "unknown".
    """
    what = f"DPI tag {declared_dpi:.0f}" if declared_dpi else "no DPI tag"
    return _estimate(image, declared_dpi, what, "declared")


def resample(
    image: Image.Image, estimate: ResolutionEstimate, target_dpi: int, max_pixels: int
) -> tuple[Image.Image, float]:
    """Scale the image to ``target_dpi`` (never above ``max_pixels``); the image and its DPI after.

    Left alone within ``TOLERANCE`` of the target, or when the resolution is unknown (but still
    brought under ``max_pixels``). Lanczos to shrink, bicubic to enlarge (no ringing on strokes).
    """
    scale = 1.0
    if estimate.dpi > 0 and abs(target_dpi / estimate.dpi - 1) > TOLERANCE:
        scale = target_dpi / estimate.dpi
    width, height = image.size
    if width * height * scale * scale > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    else:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image, estimate.dpi
    shrink = size[0] < width
    method = Image.Resampling.LANCZOS if shrink else Image.Resampling.BICUBIC
    resized = image.resize(size, method, reducing_gap=3.0 if shrink else None)
    return resized, estimate.dpi * size[0] / width


def text_line_height(image: Image.Image) -> float | None:
    """Typical height in pixels of the page's text lines (the text-row-weighted median of the line
    runs of all strips), or None when the page shows no text lines (blank, photo, one line)."""
    gray = image if image.mode == "L" else image.convert("L")  # before reducing: a third of the work
    factor = max(1, round(math.sqrt(gray.width * gray.height / MEASURE_PIXELS)))
    ink = _ink(gray.reduce(factor) if factor > 1 else gray)
    if ink is None:
        return None
    runs = _line_runs(ink)
    runs = np.sort(runs[(runs >= MIN_RUN) & (runs <= ink.shape[0] / 8)])
    if len(runs) < MIN_LINES:
        return None
    rows = np.cumsum(runs)
    median = float(runs[np.searchsorted(rows, rows[-1] / 2)])
    agreeing = runs[(runs >= median / 1.5) & (runs <= median * 1.5)].sum()
    return median * factor if agreeing >= MIN_AGREEMENT * rows[-1] else None


def _estimate(image: Image.Image, claimed: float | None, what: str, source: str) -> ResolutionEstimate:
    """Trust ``claimed`` (described by ``what``, as ``source``) unless the text height refutes it."""
    height = text_line_height(image)
    measured = height / TEXT_LINE_INCHES if height else None
    text = f"text lines {height:.0f} px high" if height else "no measurable text lines"
    doubt = _doubt(claimed)
    if claimed and doubt is None:
        if measured is None or max(claimed / measured, measured / claimed) <= MAX_DISAGREEMENT:
            agreement = f"consistent with {text}" if measured else text
            return ResolutionEstimate(claimed, source, f"{what}, {agreement}")
        doubt = f"{measured:.0f} dpi by the text"
    reason = f"{what} ignored ({doubt}); {text}" if claimed else f"{what}; {text}"
    if measured is None:
        return ResolutionEstimate(0.0, "unknown", reason)
    return ResolutionEstimate(measured, "text-height", reason)


def _doubt(dpi: float | None) -> str | None:
    """Why a declared resolution is not to be trusted on its face, or None."""
    if not dpi:
        return None
    if round(dpi) in PLACEHOLDER_DPI and abs(dpi - round(dpi)) < 0.1:
        return PLACEHOLDER_DPI[round(dpi)]
    if not PLAUSIBLE_DPI[0] <= dpi <= PLAUSIBLE_DPI[1]:
        return "implausible"
    return None


def _scan_dpi(document: PdfDocument, page_number: int, page_area: float) -> float | None:
    """Native resolution of the scan a PDF page holds, or None when it is not a scan.

    Pixels per inch over the area the largest image covers, so a scan placed rotated counts the same.
    """
    if document.text_char_count(page_number) >= SCAN_MAX_CHARS:
        return None  # checked first: walking a dense vector page's objects costs
    images = [image for image in document.page_images(page_number) if image.area > 0]
    if not images:
        return None
    largest = max(images, key=lambda image: image.area)
    if largest.area < SCAN_COVERAGE * page_area:
        return None
    return 72 * math.sqrt(largest.pixel_width * largest.pixel_height / largest.area)


def _ink(gray: Image.Image) -> np.ndarray | None:
    """Ink mask of a grey page, or None when nothing is darker than its paper by ``MIN_CONTRAST``.

    Ink is what is darker than the paper around it (``paper_level``), not than one global threshold: a
    receipt photographed on a dark table would otherwise be all "paper" against a black "ink".
    Columns inked along most of the page (table rules, scanner borders) are dropped: they would
    join every line of their strip into one.
    """
    darkness = np.asarray(ImageChops.subtract(paper_level(gray), gray))
    ink = darkness > max(MIN_CONTRAST, otsu_threshold(darkness[::2, ::2]))
    sampled = ink[::4]
    ink[:, np.count_nonzero(sampled, axis=0) > 0.3 * len(sampled)] = False
    return ink if ink.any() else None


def paper_level(gray: Image.Image) -> Image.Image:
    """Local paper brightness: the brightest mean of 8 x 8 blocks within two blocks, smoothly enlarged."""
    blocks = gray.reduce(PAPER_BLOCK).filter(ImageFilter.MaxFilter(5))
    return blocks.resize(gray.size, Image.Resampling.BILINEAR)


def otsu_threshold(pixels: np.ndarray) -> int:
    """Otsu's threshold of 8-bit values: the level that best splits them into two classes."""
    histogram = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(histogram)
    mass = np.cumsum(histogram * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = weight * (weight[-1] - weight) * (mass / weight - (mass[-1] - mass) / (weight[-1] - weight)) ** 2
    return int(np.argmax(np.nan_to_num(spread, nan=-1.0)))


def _line_runs(ink: np.ndarray) -> np.ndarray:
    """Heights of the runs of text rows in each vertical strip of an ink mask.

    A row of a strip is text when it holds some ink (1% of the strip, at least two pixels) but is
    not a rule (over 80% inked).
    """
    height, width = ink.shape
    strips = max(1, width // STRIP_WIDTH)
    strip_width = width // strips
    counts = np.count_nonzero(ink[:, : strips * strip_width].reshape(height, strips, strip_width), axis=2)
    rows = (counts >= max(2, strip_width // 100)) & (counts <= 0.8 * strip_width)
    edge = np.zeros((strips, 1), dtype=np.int8)
    steps = np.diff(np.concatenate([edge, rows.T.astype(np.int8), edge], axis=1), axis=1)
    return np.nonzero(steps == -1)[1] - np.nonzero(steps == 1)[1]
