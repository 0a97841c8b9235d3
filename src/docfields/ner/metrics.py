"""Scores of a word tagger: the original's token metrics, and entity precision/recall/F1 per field.

No torch: predictions and labels arrive as numpy arrays or lists.

- ``acc``: per-example token accuracy, averaged over examples (tokens labelled ``IGNORE_INDEX``
  excluded).
- ``focus_acc``: per-example accuracy over "focus" tokens, where the truth *or* the prediction is
  not "other", averaged over examples that have one; ``focus_else_acc_minus_one`` is
  ``focus_acc`` when positive, else ``acc - 1``, so early stopping sees progress before any field
  is predicted (the original's model-selection target).
- Entities are runs of consecutive words of one class (reading order; "other" is no entity), as
  field consolidation forms them. A predicted entity counts when a true one has the same class,
  start and end. The ``macro`` row averages the fields a test set holds (support > 0): a field
  absent from it would add a 0 (or an undefined) score that says nothing about the model.
- The confusion matrix counts words by true and predicted class: which fields a model mixes up.

>>> entity_spans([3, 3, 0, 3], other_class=3)
[(0, 2, 3)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
from pydantic import BaseModel, Field

from docfields.ner.data import IGNORE_INDEX
from docfields.ner.model import OTHER_LABEL


class TokenMetrics(BaseModel):
    """The original's metrics over labelled tokens (or words)."""

    n_examples: int
    acc: float
    n_focus_examples: int
    focus_acc: float
    focus_else_acc_minus_one: float


class FieldScore(BaseModel):
    """Entity precision, recall and F1 of one field (or ``micro`` over all of them)."""

    name: str
    class_id: int | None = Field(description="None for the micro average")
    precision: float
    recall: float
    f1: float
    support: int = Field(description="true entities")
    predicted: int = Field(description="predicted entities")


def token_metrics(
    predictions: Sequence[Sequence[int]] | np.ndarray,
    labels: Sequence[Sequence[int]] | np.ndarray,
    other_class: int,
) -> TokenMetrics:
    """Token accuracy and focus accuracy, one row per example (``IGNORE_INDEX`` labels skipped)."""
    accs, focus = [], []
    for predicted_row, label_row in zip(predictions, labels, strict=True):
        label, predicted = np.asarray(label_row), np.asarray(predicted_row)[: len(label_row)]
        keep = label != IGNORE_INDEX
        label, predicted = label[keep], predicted[keep]
        if label.size == 0:
            continue
        right = predicted == label
        accs.append(float(right.mean()))
        mask = (label != other_class) | (predicted != other_class)
        if mask.any():
            focus.append(float(right[mask].mean()))
    acc = float(np.mean(accs)) if accs else 0.0
    focus_acc = float(np.mean(focus)) if focus else 0.0
    target = focus_acc if focus_acc > 0 else acc - 1.0
    return TokenMetrics(
        n_examples=len(accs), acc=acc, n_focus_examples=len(focus), focus_acc=focus_acc,
        focus_else_acc_minus_one=target,
    )  # fmt: skip


def entity_spans(labels: Sequence[int] | np.ndarray, other_class: int) -> list[tuple[int, int, int]]:
    """Runs of consecutive words of one class as ``(start, end, class)``, end excluded."""
    spans: list[tuple[int, int, int]] = []
    start = 0
    values = [int(v) for v in labels]
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[start]:
            if values[start] != other_class:
                spans.append((start, index, values[start]))
            start = index
    return spans


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _score(name: str, class_id: int | None, hits: int, support: int, predicted: int) -> FieldScore:
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)
    return FieldScore(
        name=name, class_id=class_id, precision=precision, recall=recall, f1=f1, support=support, predicted=predicted
    )


def _pages(
    predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]
) -> Iterator[tuple[Sequence[int], Sequence[int]]]:
    """(predicted, true) classes page by page; a page whose two lengths differ is a ValueError."""
    for predicted_row, label_row in zip(predictions, labels, strict=True):
        if len(predicted_row) != len(label_row):
            raise ValueError(f"a page has {len(label_row)} labels but {len(predicted_row)} predictions")
        yield predicted_row, label_row


def entity_scores(
    predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], names: Sequence[str]
) -> list[FieldScore]:
    """Per-field entity scores over pages of word classes, then the micro average (last row).

    Args:
        predictions: predicted class per word, one sequence per page.
        labels: true class per word, same shapes.
        names: field names by class id; class ``len(names)`` is "other".
    """
    other = len(names)
    hits: Counter[int] = Counter()
    support: Counter[int] = Counter()
    predicted: Counter[int] = Counter()
    for predicted_row, label_row in _pages(predictions, labels):
        true_spans = set(entity_spans(label_row, other))
        predicted_spans = set(entity_spans(predicted_row, other))
        for span in true_spans:
            support[span[2]] += 1
        for span in predicted_spans:
            predicted[span[2]] += 1
            hits[span[2]] += span in true_spans
    rows = [_score(name, i, hits[i], support[i], predicted[i]) for i, name in enumerate(names)]
    totals = (sum(hits.values()), sum(support.values()), sum(predicted.values()))
    rows.append(_score("micro", None, *totals))
    return rows


def macro_score(rows: Sequence[FieldScore]) -> FieldScore:
    """The mean precision, recall and F1 of the per-field ``rows`` with support > 0, as a ``macro`` row.

    Its support and predicted counts are those of the fields averaged; a field the pages do not
    hold is left out, since its scores would measure only false alarms (or nothing at all).
    """
    held = [row for row in rows if row.support > 0]

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    return FieldScore(
        name="macro", class_id=None, precision=mean([r.precision for r in held]), recall=mean([r.recall for r in held]),
        f1=mean([r.f1 for r in held]), support=sum(r.support for r in held), predicted=sum(r.predicted for r in held),
    )  # fmt: skip


class ConfusionMatrix(BaseModel):
    """Words by true class (rows) and predicted class (columns); ``labels`` name both, "other" last."""

    labels: list[str]
    counts: list[list[int]]

    def accuracy(self) -> float:
        """The share of words whose predicted class is the true one (0 without words)."""
        counts = np.asarray(self.counts, dtype=np.int64)
        return _ratio(int(np.trace(counts)), int(counts.sum())) if counts.size else 0.0

    def confusions(self) -> list[tuple[str, str, int]]:
        """``(true, predicted, words)`` for every off-diagonal pair that occurs, most words first."""
        pairs = [(self.labels[t], self.labels[p], n) for t, row in enumerate(self.counts) for p, n in enumerate(row)
                 if t != p and n]  # fmt: skip
        return sorted(pairs, key=lambda pair: -pair[2])


def confusion_matrix(
    predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], names: Sequence[str]
) -> ConfusionMatrix:
    """Word counts by (true, predicted) class over pages of word classes; class ``len(names)`` is "other"."""
    size = len(names) + 1
    counts = np.zeros((size, size), dtype=np.int64)
    for predicted_row, label_row in _pages(predictions, labels):
        np.add.at(counts, (np.asarray(label_row, dtype=np.int64), np.asarray(predicted_row, dtype=np.int64)), 1)
    return ConfusionMatrix(labels=[*names, OTHER_LABEL], counts=counts.tolist())


def chance_entity_f1(labels: Sequence[Sequence[int]], num_labels: int, seed: int = 0) -> float:
    """Micro entity F1 of a tagger guessing each word's class from the label frequencies.

    The baseline a trained model must beat; seeded, so tests that compare against it are stable.
    """
    flat = np.concatenate([np.asarray(row, dtype=np.int64) for row in labels]) if labels else np.zeros(0, np.int64)
    if flat.size == 0:
        return 0.0
    frequencies = np.bincount(flat, minlength=num_labels) / flat.size
    rng = np.random.default_rng(seed)
    guesses = [rng.choice(num_labels, size=len(row), p=frequencies) for row in labels]
    names = [str(i) for i in range(num_labels - 1)]
    return entity_scores(guesses, labels, names)[-1].f1
