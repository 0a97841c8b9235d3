"""The OCR engine protocol: every engine turns a Document into Textract-compatible JSON.

Three levels, so that each engine writes only what is specific to it:

- ``OcrEngine.process(document, pages)`` is the one method callers use for a result in memory;
  ``process_to(document, url)`` writes it to a file. The ``textract`` engine implements
  ``process`` directly, since Amazon Textract already answers in blocks.
- ``PageOcrEngine.read_page`` reads one page into an ``OcrPage``; ``process`` builds the blocks,
  and ``process_to`` streams them to the file page by page, so a 5,000-page document costs the
  memory of one page. ``pdftext`` and ``auto`` work at this level: they need the PDF page.
- ``ImageOcrEngine.read_image`` reads pixels; the page is rendered at the engine's DPI first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from docfields.documents import Document
from docfields.errors import DocumentError, OcrError
from docfields.textract import (
    OcrLine,
    OcrPage,
    TextractDocument,
    build_document,
    iter_pages,
    write_textract,
    write_textract_pages,
)


class OcrOptions(BaseModel):
    """Base of every engine's options: unknown options are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageOcrOptions(OcrOptions):
    """Options shared by engines that read rendered pixels: how a page image is prepared before OCR."""

    dpi: int = Field(300, ge=50, le=1200, description="Resolution born-digital PDF pages are rendered at.")
    normalize_resolution: bool = Field(
        True, description="Resample each page to the engine's resolution (target_dpi), from its estimated resolution."
    )
    target_dpi: int | None = Field(
        None, ge=72, le=1200, description="Resolution pages are resampled to; default: the engine's (Tesseract 300)."
    )
    max_pixels: int = Field(
        40_000_000, ge=1_000_000, description="Upper bound on a prepared page's pixels (native scans, resampling)."
    )
    remove_borders: bool = Field(
        True, description="Crop dark scanner borders along the page edges before OCR (SROIE: +1.3 points recall)."
    )
    deskew: bool = Field(False, description="Straighten pages skewed by up to 5 degrees (the angle is recorded).")
    binarize: Literal["none", "contrast", "sauvola"] = Field(
        "none", description="Grey-level clean-up: contrast stretching, or Sauvola adaptive thresholding."
    )


class OcrEngine(ABC):
    """An OCR engine; one instance is reused for many documents (it may hold a loaded model).

    Each engine's ``__init__`` takes its own options object (``options_class``), or None for the
    defaults, and fails there, with an install hint, when its library or data is missing.
    """

    name: ClassVar[str]
    options_class: ClassVar[type[OcrOptions]] = OcrOptions

    def __init__(self, options: OcrOptions | None = None) -> None:
        self.options = options or self.options_class()

    @property
    @abstractmethod
    def version(self) -> str:
        """Version of the engine's library or service, recorded in the output JSON."""

    @property
    def model_version(self) -> str:
        """Value of ``DetectDocumentTextModelVersion``: ``docfields-<engine>-<version>``."""
        return f"docfields-{self.name}-{self.version}"

    @abstractmethod
    def process(self, document: Document, pages: Sequence[int] | None = None) -> TextractDocument:
        """OCR the given 1-based pages (all by default) into one Textract document."""

    def process_to(self, document: Document, url: str) -> dict[str, int]:
        """OCR every page into Textract JSON written atomically at ``url``; pages read per engine.

        This default holds the whole result first (an engine that answers for a whole document);
        page engines stream instead.
        """
        result = self.process(document)
        write_textract(result, url)
        return dict(Counter(str(getattr(page, "Engine", None) or self.name) for page in iter_pages(result)))

    def close(self) -> None:
        """Release what the engine holds (models, API handles). Engines are usable until then."""
        return None


class PageOcrEngine(OcrEngine):
    """An engine that reads one page at a time."""

    @abstractmethod
    def read_page(self, document: Document, page_number: int) -> OcrPage:
        """Read one 1-based page."""

    def process(self, document: Document, pages: Sequence[int] | None = None) -> TextractDocument:
        """OCR pages one by one, so memory holds one rendered page at a time."""
        numbers = list(pages) if pages is not None else list(range(1, document.page_count + 1))
        return build_document([self._read_checked(document, n) for n in numbers], self.model_version)

    def process_to(self, document: Document, url: str) -> dict[str, int]:
        """OCR page by page straight into the file: each page is written and dropped before the next."""
        numbers = range(1, document.page_count + 1)
        pages = (self._read_checked(document, n) for n in numbers)
        return dict(write_textract_pages(pages, document.page_count, self.model_version, url))

    def _read_checked(self, document: Document, page_number: int) -> OcrPage:
        try:
            return self.read_page(document, page_number)
        except (DocumentError, OcrError):
            raise
        except Exception as exc:  # a library failure on one page: name the file and page
            raise OcrError(
                f"{document.source} (page {page_number}): {self.name} failed: {type(exc).__name__}: {exc}"
            ) from exc


class ImageOcrEngine(PageOcrEngine):
    """An engine that reads pixels: each page is prepared (rendered, resampled, cleaned) and its boxes mapped back."""

    options_class: ClassVar[type[OcrOptions]] = ImageOcrOptions
    target_dpi: ClassVar[int] = 300
    """The resolution the engine reads best at; pages are resampled to it unless options say otherwise."""

    def read_page(self, document: Document, page_number: int) -> OcrPage:
        """Prepare the page (``preprocess.prepare_page``), read it, and give boxes of the original page with
        calibrated word confidences (``confidence.CALIBRATIONS``)."""
        from docfields.ocr.confidence import CALIBRATIONS, calibrate_lines
        from docfields.ocr.preprocess import prepare_page

        options = self.options if isinstance(self.options, ImageOcrOptions) else ImageOcrOptions()
        prepared = prepare_page(document, page_number, options, self.target_dpi)
        lines = calibrate_lines(self.name, prepared.lines_on_page(self.read_image(prepared.image)))
        details = dict(prepared.details)
        if self.name in CALIBRATIONS:
            details["Confidence"] = f"calibrated: chance the word is right ({CALIBRATIONS[self.name].fitted_on})"
        return OcrPage(lines=tuple(lines), engine=self.name, details=details)

    @abstractmethod
    def read_image(self, image: Image.Image) -> list[OcrLine]:
        """Read an RGB image into lines of words with boxes in 0..1 of the image."""
