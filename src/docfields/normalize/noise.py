"""OCR noise for synthetic dates and amounts, modelled on Tesseract's measured misreadings.

``ocr_confusions.json`` (package data, written by ``bench/ocr_confusions.py`` from real scans) counts,
for every character that occurs in dates and amounts, how often Tesseract saw it and what it made of
it: another character (``O`` for ``0``), nothing (a dropped separator), or the character followed by
an inserted one (its own copy: a doubled separator; a space: a split token). ``add_ocr_noise``
applies those misreadings to a text at the measured relative frequencies, scaled so that about
``rate`` of its characters change: the measured table decides *which* characters go wrong and *how*,
``rate`` decides *how often*, so training data can be as noisy as the documents it is meant for.

>>> import random
>>> add_ocr_noise("12/31/2000", random.Random(0), 0.0)
'12/31/2000'
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docfields.normalize.patterns import MONTHS, WEEKDAYS

if TYPE_CHECKING:
    import numpy as np

# Characters of dates and amounts: digits, the letters of month and weekday names, ordinal suffixes
# and AM/PM (either case: receipts print "DEC"), separators, currency and percent signs, space.
_LETTERS = {c for word in (*MONTHS, *WEEKDAYS, "stndrdth", "AMPM") for c in word}
DATE_AMOUNT_CHARS = (
    frozenset(string.digits + "/-.,:$%€£ ") | {c.lower() for c in _LETTERS} | {c.upper() for c in _LETTERS}
)


@dataclass(frozen=True)
class CharNoise:
    """What OCR makes of one character: each misreading (the text that replaces the character: another
    character, nothing, or the character and an inserted one) with its measured probability."""

    seen: int
    outcomes: tuple[tuple[str, float], ...]

    @property
    def error(self) -> float:
        """Probability that OCR misreads this character at all."""
        return sum(p for _, p in self.outcomes)


@dataclass(frozen=True)
class OcrNoise:
    """The measured misreadings of every character (characters never measured are never changed)."""

    chars: dict[str, CharNoise]

    @classmethod
    def from_counts(cls, table: dict[str, Any]) -> OcrNoise:
        """Probabilities from the counts of ``ocr_confusions.json``: each count over times seen."""
        chars = {}
        for char, row in table["chars"].items():
            seen = int(row["seen"])
            counts = [(new, n) for new, n in row["sub"].items()] + [("", row["dropped"])]
            counts += [(char + new, n) for new, n in row["inserted"].items()]
            chars[char] = CharNoise(seen, tuple((text, n / seen) for text, n in counts if n > 0))
        return cls(chars)

    def sources(self) -> dict[str, dict[str, float]]:
        """Each single character OCR put in place of another -> {the character it stood for: times seen}:
        the table read backwards, for the repairs and checks that ask what a misread mark may be."""
        found: dict[str, dict[str, float]] = {}
        for truth, noise in self.chars.items():
            for read, share in noise.outcomes:
                if len(read) == 1:
                    found.setdefault(read, {})[truth] = share * noise.seen
        return found

    @property
    def measured_rate(self) -> float:
        """Misreadings per character over the measured text: the ``rate`` that matches the scans measured."""
        seen = sum(c.seen for c in self.chars.values())
        return sum(c.error * c.seen for c in self.chars.values()) / seen if seen else 0.0

    def apply(self, text: str, rng: np.random.Generator | random.Random, rate: float) -> str:
        """``text`` with about ``rate`` of its characters misread (see ``add_ocr_noise``)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"OCR noise rate {rate} is not between 0 and 1")
        errors = [self.chars[c].error if c in self.chars else 0.0 for c in text]
        expected = sum(errors)
        if rate == 0.0 or expected == 0.0:
            return text
        scale = rate * len(text) / expected
        out = []
        for char, error in zip(text, errors, strict=True):
            if not error or rng.random() >= error * scale:
                out.append(char)
                continue
            out.append(_pick(self.chars[char].outcomes, rng.random() * error))
        return "".join(out)


def _pick(outcomes: tuple[tuple[str, float], ...], point: float) -> str:
    """The outcome whose share of the cumulative probabilities holds ``point`` (the last one for rounding)."""
    for replacement, probability in outcomes:
        point -= probability
        if point < 0:
            return replacement
    return outcomes[-1][0]


def load_ocr_noise(path: str | Path | None = None) -> OcrNoise:
    """Read a confusion table; None reads the shipped one (``ocr_confusions.json``)."""
    if path is None:
        return _shipped()
    return OcrNoise.from_counts(json.loads(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _shipped() -> OcrNoise:
    text = resources.files("docfields.normalize").joinpath("ocr_confusions.json").read_text(encoding="utf-8")
    return OcrNoise.from_counts(json.loads(text))


def add_ocr_noise(
    text: str, rng: np.random.Generator | random.Random, rate: float, noise: OcrNoise | None = None
) -> str:
    """``text`` as OCR might misread it: about ``rate`` of its characters changed (substituted, dropped,
    doubled or followed by a split), at the relative frequencies Tesseract showed on real scans.

    Each character is misread with its measured probability times a factor that makes the expected
    number of misreadings ``rate * len(text)`` (capped at certain for the characters that carry it all),
    so ``rate`` means the same for ``12/31/2000`` as for ``Sunday, December 31st 2000``. A text with no
    measured character comes back unchanged. The same generator state gives the same result: one draw
    per character, and one more per misreading (numpy ``Generator`` and ``random.Random`` alike).

    Raises:
        ValueError: when ``rate`` is not between 0 and 1.
    """
    return (noise or _shipped()).apply(text, rng, rate)
