"""Word confidences that mean the same thing whichever engine read the page.

Tesseract's 90 and RapidOCR's 90 are different promises: each engine scores words on its own
scale. A logistic curve per engine, fitted on words whose truth is known, turns an engine's raw
score (0..100) into the chance (0..100) that the word is exactly right, so ``auto`` can compare
engines, re-run a page whose words are probably wrong, and later stages can trust the number.
The curves are fitted by ``bench/ocr_bench.py --fit-calibration`` on degraded renderings of our
own documents (truth from their text layer) and checked on real receipt scans (SROIE).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from docfields.textract import OcrLine


@dataclass(frozen=True)
class Calibration:
    """P(word right) = 1 / (1 + exp(-(slope * raw / 100 + intercept))), raw in 0..100."""

    slope: float
    intercept: float
    fitted_on: str

    def probability(self, raw: float) -> float:
        """The chance (0..1) that a word the engine scored ``raw`` is exactly right."""
        z = self.slope * raw / 100.0 + self.intercept
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


# Fitted by `bench/ocr_bench.py --sets sroie,degraded --fit-calibration` (degraded pages + even SROIE
# receipts; checked on the odd receipts: Brier 0.198 raw -> 0.188). RapidOCR has no curve: its words
# are right 84% of the time on receipts and about half on dense born-digital pages at the same raw
# scores, so one curve made its receipt confidences worse (Brier 0.153 raw -> 0.203).
CALIBRATIONS: dict[str, Calibration] = {
    "tesseract": Calibration(slope=9.727, intercept=-6.373, fitted_on="degraded pages and SROIE receipts"),
}


def fit_calibration(raw: Sequence[float], right: Sequence[bool], fitted_on: str, iterations: int = 50) -> Calibration:
    """Fit the logistic curve by Newton's method on (raw score, word was right) pairs.

    A small ridge term keeps the fit finite when one class is rare or the scores separate it.
    """
    import numpy as np

    if len(raw) != len(right) or not raw:
        raise ValueError("fit_calibration needs as many outcomes as scores, and at least one")
    x = np.column_stack([np.asarray(raw, dtype=float) / 100.0, np.ones(len(raw))])
    y = np.asarray(right, dtype=float)
    weights = np.zeros(2)
    ridge = 1e-3 * np.eye(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - y) + ridge @ weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x + ridge
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(slope=float(weights[0]), intercept=float(weights[1]), fitted_on=fitted_on)


def calibrate_lines(engine: str, lines: Iterable[OcrLine]) -> list[OcrLine]:
    """Lines with each word's confidence replaced by the engine's calibrated one (unchanged without a curve)."""
    calibration = CALIBRATIONS.get(engine)
    if calibration is None:
        return list(lines)
    return [
        replace(
            line,
            words=tuple(replace(w, confidence=100.0 * calibration.probability(w.confidence)) for w in line.words),
        )
        for line in lines
    ]


def expected_correct_words(lines: Iterable[OcrLine]) -> float:
    """How many words are expected to be right: the sum of calibrated word confidences (0..100) / 100."""
    return sum(word.confidence for line in lines for word in line.words) / 100.0
