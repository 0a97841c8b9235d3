"""How close OCR text is to a reference: word accuracy and character error rate.

Both are edit distances (rapidfuzz), so an inserted, dropped or misread word costs one each,
and word order matters, as it does for everything downstream.
"""

from __future__ import annotations

from collections.abc import Sequence


def word_accuracy(predicted: Sequence[str], reference: Sequence[str]) -> float:
    """1 - word error rate, floored at 0: the share of reference words read right, in order."""
    from rapidfuzz.distance import Levenshtein

    if not reference:
        return 1.0 if not predicted else 0.0
    return max(0.0, 1.0 - Levenshtein.distance(list(predicted), list(reference)) / len(reference))


def character_error_rate(predicted: str, reference: str) -> float:
    """Character edits needed per reference character, whitespace runs counted as one space."""
    from rapidfuzz.distance import Levenshtein

    predicted, reference = " ".join(predicted.split()), " ".join(reference.split())
    if not reference:
        return 0.0 if not predicted else 1.0
    return Levenshtein.distance(predicted, reference) / len(reference)
