"""Tesseract OCR in-process through tesserocr (pytesseract only when tesserocr is missing).

Tesseract's TSV output is parsed the same way for both bindings: a LINE is one (block,
paragraph, line) triple, its confidence is the mean of its words (Tesseract gives lines -1),
and its box is the union of its words. Whitespace-only words are dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from PIL import Image
from pydantic import Field

from docfields.errors import EngineUnavailableError
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


class TesseractOptions(ImageOcrOptions):
    """Options of the ``tesseract`` engine."""

    languages: tuple[str, ...] = Field(("eng",), description="Tesseract language codes, e.g. eng, tha.")
    psm: int = Field(3, ge=0, le=13, description="Tesseract page segmentation mode (3 = automatic).")
    tessdata: str | None = Field(None, description="tessdata folder; default: TESSDATA_PREFIX or the system's.")


def find_tessdata(explicit: str | None = None) -> str:
    """Locate the tessdata folder: the explicit one, TESSDATA_PREFIX, then the usual system places."""
    for candidate in (explicit, os.environ.get("TESSDATA_PREFIX"), *TESSDATA_CANDIDATES):
        if candidate and Path(candidate).is_dir() and any(Path(candidate).glob("*.traineddata")):
            return candidate.rstrip("/") + "/"
    raise EngineUnavailableError(f"tesseract: no tessdata folder with language data found; {INSTALL_HINT}")


def check_languages(tessdata: str, languages: Iterable[str]) -> str:
    """Join languages for Tesseract after checking each one's data file exists."""
    missing = [lang for lang in languages if not Path(tessdata, f"{lang}.traineddata").exists()]
    if missing:
        raise EngineUnavailableError(
            f"tesseract: no language data for {', '.join(missing)} in {tessdata} "
            f"(Debian: apt-get install {' '.join('tesseract-ocr-' + m for m in missing)})"
        )
    return "+".join(languages)


def lines_from_tsv_rows(rows: Iterable[list[str]], width: int, height: int) -> list[OcrLine]:
    """Group Tesseract TSV word rows (level 5) into lines keyed by (block, paragraph, line)."""
    grouped: dict[tuple[str, str, str], list[OcrWord]] = {}
    for row in rows:
        if len(row) < 12 or row[0] != "5" or not row[11].strip():
            continue
        left, top, w, h = (int(v) for v in row[6:10])
        box = NormBox(left / width, top / height, w / width, h / height)
        word = OcrWord(text=row[11].strip(), confidence=max(0.0, float(row[10])), box=box)
        grouped.setdefault((row[2], row[3], row[4]), []).append(word)
    return [OcrLine(words=tuple(words)) for words in grouped.values()]


class TesseractEngine(ImageOcrEngine):
    """Tesseract through one tesserocr API object, reused for every page this engine reads."""

    name: ClassVar[str] = "tesseract"
    options_class: ClassVar[type[OcrOptions]] = TesseractOptions

    def __init__(self, options: TesseractOptions | None = None) -> None:
        self.options: TesseractOptions = options or TesseractOptions()
        self._tessdata = find_tessdata(self.options.tessdata)
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

    @property
    def version(self) -> str:
        """Tesseract's own version, e.g. ``5.5.4``."""
        return self._version

    def read_image(self, image: Image.Image) -> list[OcrLine]:
        """OCR pixels with Tesseract and group its words into lines."""
        tsv = self._tsv_tesserocr(image) if self._binding == "tesserocr" else self._tsv_pytesseract(image)
        rows = [line.split("\t") for line in tsv.splitlines()]
        return lines_from_tsv_rows(rows, image.width, image.height)

    def close(self) -> None:
        """Free the Tesseract API object."""
        if self._api is not None:
            self._api.End()
            self._api = None

    def _tsv_tesserocr(self, image: Image.Image) -> str:
        if self._api is None:
            import tesserocr

            self._api = tesserocr.PyTessBaseAPI(path=self._tessdata, lang=self._lang, psm=self.options.psm)
        self._api.SetImage(image)
        return self._api.GetTSVText(0)

    def _tsv_pytesseract(self, image: Image.Image) -> str:
        import pytesseract

        config = f"--psm {self.options.psm} --tessdata-dir {self._tessdata}"
        return "\n".join(pytesseract.image_to_data(image, lang=self._lang, config=config).splitlines()[1:])


def _pytesseract_version() -> str:
    try:
        import pytesseract

        return str(pytesseract.get_tesseract_version())
    except Exception as exc:
        raise EngineUnavailableError(
            "tesseract: neither tesserocr nor a tesseract binary for pytesseract is usable "
            f"({exc}); pip install tesserocr, and {INSTALL_HINT}"
        ) from exc
