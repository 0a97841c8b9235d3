"""``auto``: each page from its text layer when it has a usable one, else from an OCR engine.

Born-digital PDFs then cost milliseconds a page and carry exact text; scans and images still
get OCR. Each PAGE block records which engine read it (key ``Engine``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import Field

from docfields.documents import Document, PdfDocument
from docfields.ocr.base import OcrEngine, OcrOptions, PageOcrEngine
from docfields.ocr.pdftext import PdfTextEngine, PdfTextOptions, read_text_layer
from docfields.textract import OcrPage

logger = logging.getLogger(__name__)


class AutoOptions(OcrOptions):
    """Options of the ``auto`` engine."""

    fallback: str = Field("tesseract", description="Engine for pages without a usable text layer.")
    fallback_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the fallback engine, e.g. {'languages': ['eng', 'tha']}."
    )
    text_layer: PdfTextOptions = Field(default_factory=PdfTextOptions, description="When a text layer is usable.")


class AutoEngine(PageOcrEngine):
    """Text layer first, OCR where there is none; the fallback engine loads on first use."""

    name: ClassVar[str] = "auto"
    options_class: ClassVar[type[OcrOptions]] = AutoOptions

    def __init__(self, options: AutoOptions | None = None) -> None:
        from docfields.ocr.registry import engine_class

        self.options: AutoOptions = options or AutoOptions()
        fallback_class = engine_class(self.options.fallback)
        self._fallback_options = fallback_class.options_class(**self.options.fallback_options)
        self._fallback_class = fallback_class
        self._fallback: OcrEngine | None = None

    @property
    def version(self) -> str:
        """docfields' version plus the fallback engine's name and version."""
        from docfields import __version__

        return f"{__version__}+{self.fallback.name}.{self.fallback.version}"

    @property
    def fallback(self) -> PageOcrEngine:
        """The OCR engine for pages without text, built on first use."""
        if self._fallback is None:
            self._fallback = self._fallback_class(self._fallback_options)
        if not isinstance(self._fallback, PageOcrEngine):
            raise TypeError(f"auto needs a page engine as fallback, not {self.options.fallback}")
        return self._fallback

    def read_page(self, document: Document, page_number: int) -> OcrPage:
        """Use the text layer when it is usable, and say why when it is not."""
        if isinstance(document, PdfDocument):
            stats, lines = read_text_layer(document, page_number, self.options.text_layer)
            if stats.usable:
                logger.debug("%s (page %d): text layer (%s)", document.source, page_number, stats.reason)
                return OcrPage(lines=tuple(lines), engine=PdfTextEngine.name)
            logger.info("%s (page %d): %s; using %s", document.source, page_number, stats.reason, self.options.fallback)
        return self.fallback.read_page(document, page_number)

    def close(self) -> None:
        """Close the fallback engine if it was loaded."""
        if self._fallback is not None:
            self._fallback.close()
