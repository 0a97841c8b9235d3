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


def split_line(box: NormBox, text: str) -> list[tuple[NormBox, str]]:
    """A line's words with boxes cut from the line box in proportion to character counts (a space is
    one character wide): word-level truth from line-level truth, as for SROIE's line boxes.

    >>> [(round(b.left, 2), round(b.width, 2), w) for b, w in split_line(NormBox(0.0, 0.1, 0.9, 0.05), "AB CDE")]
    [(0.0, 0.3, 'AB'), (0.45, 0.45, 'CDE')]
    """
    text = " ".join(text.split())
    unit = box.width / len(text) if text else 0.0
    words, start = [], 0
    for word in text.split(" ") if text else ():
        words.append((NormBox(box.left + start * unit, box.top, len(word) * unit, box.height), word))
        start += len(word) + 1
    return words


def _normal(text: str, casefold: bool) -> str:
    text = " ".join(text.split())
    return text.casefold() if casefold else text


def pair_boxes(
    predicted: Sequence[tuple[NormBox, str]], truth: Sequence[tuple[NormBox, str]], min_iou: float = 0.5
) -> list[tuple[int, int]]:
    """(predicted index, truth index) pairs, one to one, best IoU first, each at least ``min_iou``."""
    pairs = sorted(
        ((box_iou(p_box, t_box), p, t) for p, (p_box, _) in enumerate(predicted) for t, (t_box, _) in enumerate(truth)),
        reverse=True,
    )
    used_p: set[int] = set()
    used_t: set[int] = set()
    matched: list[tuple[int, int]] = []
    for iou, p, t in pairs:
        if iou < min_iou:
            break
        if p in used_p or t in used_t:
            continue
        used_p.add(p)
        used_t.add(t)
        matched.append((p, t))
    return matched


def exact_matches(
    predicted: Sequence[tuple[NormBox, str]],
    truth: Sequence[tuple[NormBox, str]],
    min_iou: float = 0.5,
    casefold: bool = False,
) -> list[bool]:
    """For each prediction, whether it is paired (``pair_boxes``) with a truth item of equal text: the
    outcome a calibrated confidence should predict."""
    exact = [False] * len(predicted)
    for p, t in pair_boxes(predicted, truth, min_iou):
        exact[p] = _normal(predicted[p][1], casefold) == _normal(truth[t][1], casefold)
    return exact


def match_boxes(
    predicted: Sequence[tuple[NormBox, str]],
    truth: Sequence[tuple[NormBox, str]],
    min_iou: float = 0.5,
    casefold: bool = False,
) -> MatchScore:
    """Pair predictions with truth one to one, best IoU first (at least ``min_iou``), and count the pairs
    whose texts are equal (whitespace runs as one space; letter case ignored with ``casefold``, for truth
    written all in capitals such as SROIE's).

    >>> box = NormBox(0.1, 0.1, 0.3, 0.05)
    >>> match_boxes([(box, "TOTAL 9.00")], [(box, "TOTAL 9.00"), (NormBox(0.1, 0.5, 0.3, 0.05), "CASH")]).recall
    0.5
    >>> match_boxes([(box, "Total 9.00")], [(box, "TOTAL 9.00")], casefold=True).recall
    1.0
    """
    matched = [
        (_normal(predicted[p][1], casefold), _normal(truth[t][1], casefold))
        for p, t in pair_boxes(predicted, truth, min_iou)
    ]
    exact = sum(p_text == t_text for p_text, t_text in matched)
    chars = sum(len(t_text) for _, t_text in matched)
    edits = sum(character_error_rate(p_text, t_text) * len(t_text) for p_text, t_text in matched)
    return MatchScore(len(truth), len(predicted), len(matched), exact, edits / chars if chars else 0.0)


def pool_scores(scores: Sequence[MatchScore]) -> MatchScore:
    """One score over many pages: counts summed, the CER of located items weighted by their number."""
    located = sum(s.located for s in scores)
    cer = sum(s.matched_cer * s.located for s in scores) / located if located else 0.0
    return MatchScore(
        sum(s.truth for s in scores), sum(s.predicted for s in scores), located, sum(s.exact for s in scores), cer
    )
