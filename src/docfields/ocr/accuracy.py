"""How close OCR text is to a reference: word accuracy, character error rate, and box-matched scores.

The first two are edit distances (rapidfuzz), so an inserted, dropped or misread word costs one
each, and word order matters, as it does for everything downstream. ``match_boxes`` scores text
at its place: predictions and truth paired by box overlap, as docTR's end-to-end metric does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from docfields.textract import NormBox


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


@dataclass(frozen=True)
class MatchScore:
    """Boxes matched one to one by IoU (the docTR end-to-end protocol): recall, precision, and the
    character error rate of the matched pairs (what a matched line still gets wrong)."""

    truth: int
    predicted: int
    located: int
    exact: int
    matched_cer: float

    @property
    def recall(self) -> float:
        """Truth items found at their place with exactly their text."""
        return self.exact / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        """Predicted items at a true place with exactly its text."""
        return self.exact / self.predicted if self.predicted else 1.0


def box_iou(a: NormBox, b: NormBox) -> float:
    """Intersection over union of two boxes."""
    width = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    height = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    inter = max(0.0, width) * max(0.0, height)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def match_boxes(
    predicted: Sequence[tuple[NormBox, str]], truth: Sequence[tuple[NormBox, str]], min_iou: float = 0.5
) -> MatchScore:
    """Pair predictions with truth one to one, best IoU first (at least ``min_iou``), and count the pairs
    whose texts are equal (whitespace runs as one space).

    >>> box = NormBox(0.1, 0.1, 0.3, 0.05)
    >>> match_boxes([(box, "TOTAL 9.00")], [(box, "TOTAL 9.00"), (NormBox(0.1, 0.5, 0.3, 0.05), "CASH")]).recall
    0.5
    """
    pairs = sorted(
        ((box_iou(p_box, t_box), p, t) for p, (p_box, _) in enumerate(predicted) for t, (t_box, _) in enumerate(truth)),
        reverse=True,
    )
    used_p: set[int] = set()
    used_t: set[int] = set()
    matched: list[tuple[str, str]] = []
    for iou, p, t in pairs:
        if iou < min_iou:
            break
        if p in used_p or t in used_t:
            continue
        used_p.add(p)
        used_t.add(t)
        matched.append((" ".join(predicted[p][1].split()), " ".join(truth[t][1].split())))
    exact = sum(p_text == t_text for p_text, t_text in matched)
    chars = sum(len(t_text) for _, t_text in matched)
    edits = sum(character_error_rate(p_text, t_text) * len(t_text) for p_text, t_text in matched)
    return MatchScore(len(truth), len(predicted), len(matched), exact, edits / chars if chars else 0.0)
