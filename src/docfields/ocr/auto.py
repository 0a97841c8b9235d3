"""``auto``: each page from its text layer when it has a usable one, else from the OCR engine its quality asks for.

Born-digital PDFs then cost milliseconds a page and carry exact text; scans and images get OCR:

- ``fast``: Tesseract (``fallback``) on every page;
- ``balanced``: Tesseract first, and the stronger engine (``strong``, RapidOCR) again on a page whose
  words are probably wrong (expected word accuracy from calibrated confidences below ``rerun_below``);
  the reading with more words expected right is kept;
- ``best``: the stronger engine on every page.

Each PAGE block records which engine read it (``Engine``) and why (``OcrDetails``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import Field

from docfields.documents import Document, PdfDocument
from docfields.ocr.base import OcrEngine, OcrOptions, PageOcrEngine
from docfields.ocr.confidence import expected_correct_words
from docfields.ocr.pdftext import PdfTextEngine, PdfTextOptions, read_text_layer
from docfields.textract import OcrPage

logger = logging.getLogger(__name__)

Quality = Literal["fast", "balanced", "best"]


class AutoOptions(OcrOptions):
    """Options of the ``auto`` engine."""

    quality: Quality = Field(
        "fast", description="fast: Tesseract; balanced: re-run doubtful pages; best: strong engine."
    )
    fallback: str = Field("tesseract", description="Engine for pages without a usable text layer.")
    fallback_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the fallback engine, e.g. {'languages': ['eng', 'tha']}."
    )
    strong: str = Field("rapidocr", description="The stronger, slower engine of the balanced and best qualities.")
    strong_options: dict[str, Any] = Field(default_factory=dict, description="Options of the strong engine.")
    rerun_below: float = Field(
        0.85, ge=0, le=1, description="balanced: re-run a page whose expected word accuracy is below this."
    )
    text_layer: PdfTextOptions = Field(default_factory=PdfTextOptions, description="When a text layer is usable.")


class _LazyEngine:
    """An engine named in auto's options, validated at once and built at first use."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        from docfields.ocr.registry import engine_class

        self.name = name
        self.engine_class = engine_class(name)
        self._options = self.engine_class.options_class(**options)
        self._engine: OcrEngine | None = None

    def get(self) -> PageOcrEngine:
        if self._engine is None:
            self._engine = self.engine_class(self._options)
        if not isinstance(self._engine, PageOcrEngine):
            raise TypeError(f"auto needs page engines, and {self.name} is not one")
        return self._engine

    def reads(self, languages: tuple[str, ...]) -> bool:
        """Whether the engine reads every one of these languages (engines without a fixed list read any)."""
        fixed = getattr(self.engine_class, "languages_read", None)
        return fixed is None or set(languages) <= set(fixed)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class AutoEngine(PageOcrEngine):
    """Text layer first, then OCR by quality; engines load on first use."""

    name: ClassVar[str] = "auto"
    options_class: ClassVar[type[OcrOptions]] = AutoOptions

    def __init__(self, options: AutoOptions | None = None) -> None:
        self.options: AutoOptions = options or AutoOptions()
        self._fallback = _LazyEngine(self.options.fallback, self.options.fallback_options)
        self._strong = _LazyEngine(self.options.strong, self.options.strong_options)
        languages = tuple(self.options.fallback_options.get("languages", ("eng",)))
        self._quality, self._quality_note = self.options.quality, ""
        if self._quality != "fast" and not self._strong.reads(languages):
            self._quality, self._quality_note = "fast", f"; {self.options.strong} does not read {'+'.join(languages)}"

    @property
    def version(self) -> str:
        """docfields' version, the quality, and the name and version of each engine it may use."""
        from docfields import __version__

        engines = [self.fallback] if self._quality == "fast" else [self.fallback, self.strong]
        return "+".join([__version__, self.options.quality, *(f"{e.name}.{e.version}" for e in engines)])

    @property
    def fallback(self) -> PageOcrEngine:
        """The OCR engine for pages without text (Tesseract), built on first use."""
        return self._fallback.get()

    @property
    def strong(self) -> PageOcrEngine:
        """The stronger engine of the balanced and best qualities (RapidOCR), built on first use."""
        return self._strong.get()

    def read_page(self, document: Document, page_number: int) -> OcrPage:
        """Use the text layer when it is usable, else OCR as the quality says, and record why."""
        why = f"a {document.format.upper()} image"
        if isinstance(document, PdfDocument):
            stats, lines = read_text_layer(document, page_number, self.options.text_layer)
            if stats.usable:
                logger.debug("%s (page %d): text layer (%s)", document.source, page_number, stats.reason)
                return OcrPage(
                    lines=tuple(lines), engine=PdfTextEngine.name, details={"Reason": f"text layer: {stats.reason}"}
                )
            why = f"no usable text layer ({stats.reason})"
        page = self._ocr_page(document, page_number, why)
        logger.info("%s (page %d): %s", document.source, page_number, page.details.get("Reason"))
        return page

    def _ocr_page(self, document: Document, page_number: int, why: str) -> OcrPage:
        quality, why = self._quality, why + self._quality_note
        if quality == "best":
            return _with_reason(self.strong.read_page(document, page_number), f"{why}; quality best")
        first = self.fallback.read_page(document, page_number)
        if quality == "fast":
            return _with_reason(first, f"{why}; quality fast")
        return self._second_opinion(document, page_number, first, why)

    def _second_opinion(self, document: Document, page_number: int, first: OcrPage, why: str) -> OcrPage:
        """balanced: keep a confident first reading; else read again with the strong engine and keep the better."""
        words = sum(len(line.words) for line in first.lines)
        expected = expected_correct_words(first.lines)
        accuracy = expected / words if words else 0.0
        if words and accuracy >= self.options.rerun_below:
            return _with_reason(first, f"{why}; {first.engine} expects {accuracy:.2f} of its words right")
        second = self.strong.read_page(document, page_number)
        second_expected = expected_correct_words(second.lines)
        kept = second if second_expected > expected else first
        doubt = f"{first.engine} expects {accuracy:.2f} of {words} words right (< {self.options.rerun_below:g})"
        tried = {first.engine: round(expected, 1), second.engine: round(second_expected, 1)}
        page = _with_reason(kept, f"{why}; {doubt}: read again with {second.engine}, kept {kept.engine}")
        page.details["ExpectedCorrectWords"] = tried
        return page

    def close(self) -> None:
        """Close the engines that were loaded."""
        self._fallback.close()
        self._strong.close()


def _with_reason(page: OcrPage, reason: str) -> OcrPage:
    return OcrPage(lines=page.lines, engine=page.engine, details={**page.details, "Reason": reason})
