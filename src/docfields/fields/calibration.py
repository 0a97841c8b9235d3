"""Calibrated field confidence: the chance, measured on held-out documents, that a field's value is right.

The raw field confidence combines detections as if they were independent sightings (the
original's rule), and nobody knows what its "0.5" means. A calibration turns a field's
``Evidence`` (raw confidence, mention confidence, how many detections agree, OCR confidence,
whether the normalizer validated the value, whether anything was found, how close the tagger came
to another value or a longer one) into a probability:

- one logistic regression over all fields, with a per-field intercept (optional fields are
  usually rightly empty, mandatory ones never), L2-shrunk, so a field with few held-out outcomes
  leans on the others; probabilities enter as log-odds, where a tagger's 0.99 and 0.9999 differ;
- fitted on outcomes, "this field of this document came out equal to the truth", from held-out
  documents (``docfields calibrate --manifest``, or the training run's own held-out slice) and
  from reviews (accepted unchanged, corrected, marked absent: ``docfields calibrate --reviews``).

It also holds the temperature that makes the tagger's word probabilities honest
(``fit_temperature``), and the outcomes it was fitted on, from which ``thresholds`` picks, per
field, the lowest calibrated confidence at which accepted fields are still right at least as
often as a target accuracy (``review_target``). It lives in the model directory as
``calibration.json``; a model without one keeps the raw rule (``review_threshold``).

Fitting needs scikit-learn and scipy (the ``ml`` extra); applying needs neither.

>>> calibration = FieldCalibration.load("models/cards")  # doctest: +SKIP
>>> checked = apply_calibration(result, calibration, target=0.99)  # doctest: +SKIP
>>> checked.fields["APR - Purchases"].calibrated_confidence  # doctest: +SKIP
0.987
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from docfields import storage
from docfields.errors import ModelError
from docfields.fields.result import ExtractionResult, FieldEvidence, FieldResult

CALIBRATION_FILE = "calibration.json"
FEATURES = ("confidence", "mention_confidence", "agreement", "values", "ocr_confidence", "validated",
            "normalization_failed", "empty", "missed_probability", "edge_probability")  # fmt: skip
MIN_FIELD_OUTCOMES = 40  # a field with fewer held-out outcomes takes the threshold of all fields together
CONFIDENCE_RANGE = (1e-4, 1 - 1e-4)  # calibrated confidences stay inside: a threshold of 1.0 means "review all"
REGULARIZATION = 0.3  # sklearn's C: smaller shrinks per-field terms harder towards the pooled curve
RELIABILITY_BINS = 10
CROSS_VALIDATION_FOLDS = 5  # thresholds are chosen on confidences from curves that did not see the document

OutcomeSource = Literal["heldout", "review", "audit"]


class Outcome(BaseModel):
    """One field of one checked document: its evidence and whether its value was right."""

    document: str
    field: str
    evidence: FieldEvidence
    correct: bool
    source: OutcomeSource = "heldout"


class FieldCalibration(BaseModel):
    """A model's calibration: word temperature, the field curve, and the outcomes it was fitted on."""

    temperature: float = Field(1.0, gt=0.0, description="Divides the log of the tagger's word probabilities")
    intercept: float = 0.0
    weights: dict[str, float] = Field(default_factory=dict, description="Per feature, then 'field:NAME' terms")
    outcomes: list[Outcome] = Field(default_factory=list)
    held_out_confidences: list[float] | None = Field(
        default=None, description="Per outcome, its confidence from a curve fitted without its document (5 folds); "
        "None when a fold had nothing to tell apart",
    )
    fitted_on: dict[str, str | int | float] = Field(default_factory=dict, description="Sources and counts")

    def confidence(self, field: str, evidence: FieldEvidence) -> float:
        """The calibrated chance that a field with this evidence is right."""
        score = self.intercept + sum(self.weights.get(name, 0.0) * value for name, value in
                                     _features(field, evidence).items())  # fmt: skip
        return float(np.clip(1.0 / (1.0 + math.exp(-max(min(score, 50.0), -50.0))), *CONFIDENCE_RANGE))

    def outcome_confidences(self) -> np.ndarray:
        """Calibrated confidences of the stored outcomes, by the curve fitted on them."""
        return np.array([self.confidence(o.field, o.evidence) for o in self.outcomes])

    def ranking_confidences(self) -> np.ndarray:
        """The outcomes' confidences thresholds are chosen on: held out when there are some, as new documents
        would see them (ranked by the curve fitted on them, the top looks surer than it will be), else fitted."""
        held_out = self.held_out_confidences
        if held_out is not None and len(held_out) == len(self.outcomes):
            return np.asarray(held_out)
        return self.outcome_confidences()

    def thresholds(self, target: float | Mapping[str, float], fields: Sequence[str]) -> dict[str, float]:
        """Per field, the lowest calibrated confidence at which accepted fields meet ``target`` on the outcomes.

        ``target`` is one accuracy for all fields or one per field name (fields it does not name
        take 1.0: always reviewed). A field with at least ``MIN_FIELD_OUTCOMES`` outcomes gets its
        own threshold, others that of all outcomes together; 1.0 where no threshold reaches it.
        The outcomes are ranked by ``ranking_confidences``.
        """
        confidences = self.ranking_confidences()
        correct = np.array([o.correct for o in self.outcomes], dtype=bool)
        names = np.array([o.field for o in self.outcomes])
        chosen = {}
        for field in fields:
            wanted = target if isinstance(target, int | float) else target.get(field, 1.0)
            own = names == field
            mask = own if own.sum() >= MIN_FIELD_OUTCOMES else np.ones_like(own)
            chosen[field] = threshold_for_target(confidences[mask], correct[mask], float(wanted))
        return chosen

    def save(self, model_dir: str | Path) -> Path:
        """Write ``calibration.json`` into the model directory, atomically."""
        path = Path(model_dir) / CALIBRATION_FILE
        storage.write_text_atomic(str(path), self.model_dump_json(indent=1) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> FieldCalibration | None:
        """The model directory's calibration, or None when it has none (the raw rule applies).

        Raises:
            ModelError: naming the file when it exists but cannot be read.
        """
        path = Path(model_dir) / CALIBRATION_FILE
        if not path.is_file():
            return None
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a docfields calibration: {exc}") from exc


def _logit(p: float) -> float:
    p = min(max(p, CONFIDENCE_RANGE[0]), CONFIDENCE_RANGE[1])
    return math.log(p / (1.0 - p))


def _features(field: str, evidence: FieldEvidence) -> dict[str, float]:
    """The regression's inputs for one field: shared evidence terms, then the field's own terms."""
    empty = float(evidence.detections == 0)
    return {
        "confidence": _logit(evidence.confidence) * (1.0 - empty),
        "mention_confidence": _logit(evidence.mention_confidence) * (1.0 - empty),
        "agreement": evidence.agreement,
        "values": math.log1p(max(evidence.values - 1, 0)),
        "ocr_confidence": 1.0 if evidence.ocr_confidence is None else evidence.ocr_confidence,
        "validated": float(evidence.normalized is True),
        "normalization_failed": float(evidence.normalized is False),
        "empty": empty,
        "missed_probability": _logit(evidence.missed_probability or 0.0),
        "edge_probability": _logit(evidence.edge_probability or 0.0),
        f"field:{field}": 1.0,
    }


def fit_calibration(
    outcomes: Sequence[Outcome], temperature: float = 1.0, fitted_on: Mapping[str, str | int | float] | None = None
) -> FieldCalibration:
    """Fit the field curve on ``outcomes`` (L2-regularized logistic regression, scikit-learn), and each
    outcome's held-out confidence (``cross_validated_confidences``), on which thresholds are chosen.

    Raises:
        ModelError: with no outcome, or when every outcome is right (or every one wrong): there
            is nothing to tell apart, and a curve fitted on it would promise what was never seen.
    """
    curve = _fit_curve(outcomes)
    held_out = cross_validated_confidences(outcomes)
    return curve.model_copy(update={
        "temperature": temperature, "fitted_on": dict(fitted_on or {}),
        "held_out_confidences": None if held_out is None else held_out.tolist(),
    })  # fmt: skip


def cross_validated_confidences(outcomes: Sequence[Outcome], folds: int = CROSS_VALIDATION_FOLDS) -> np.ndarray | None:
    """Each outcome's calibrated confidence from a curve fitted on the other folds' documents.

    The in-sample ECE of a fitted curve flatters it; this one is what a new document would see.
    None when some fold leaves only right (or only wrong) outcomes to fit on.
    """
    names = sorted({o.document for o in outcomes})
    fold_of = {name: k % folds for k, name in enumerate(names)}
    confidences = np.zeros(len(outcomes))
    for fold in range(min(folds, len(names))):
        inside = [fold_of[o.document] == fold for o in outcomes]
        try:
            curve = _fit_curve([o for o, held in zip(outcomes, inside, strict=True) if not held])
        except ModelError:
            return None
        for row, (outcome, held) in enumerate(zip(outcomes, inside, strict=True)):
            if held:
                confidences[row] = curve.confidence(outcome.field, outcome.evidence)
    return confidences


def _fit_curve(outcomes: Sequence[Outcome]) -> FieldCalibration:
    """The logistic curve alone (see ``fit_calibration``)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.array([o.correct for o in outcomes], dtype=int)
    if len(set(labels.tolist())) < 2:
        seen = "no outcome" if not len(labels) else f"all {len(labels)} outcomes {'right' if labels[0] else 'wrong'}"
        raise ModelError(f"cannot calibrate on {seen}: more held-out documents (or reviews) are needed")
    rows = [_features(o.field, o.evidence) for o in outcomes]
    names = sorted({name for row in rows for name in row}, key=_feature_order)
    matrix = np.array([[row.get(name, 0.0) for name in names] for row in rows])
    model = LogisticRegression(C=REGULARIZATION, max_iter=2000).fit(matrix, labels)
    weights = {name: float(w) for name, w in zip(names, model.coef_[0], strict=True)}
    return FieldCalibration(intercept=float(model.intercept_[0]), weights=weights, outcomes=list(outcomes))


def _feature_order(name: str) -> tuple[int, str]:
    return (FEATURES.index(name), "") if name in FEATURES else (len(FEATURES), name)


def threshold_for_target(confidences: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold such that outcomes at or above it are right at least ``target`` of the time.

    Outcomes with equal confidence are accepted or reviewed together. 1.0 when even the most
    confident group misses the target (everything is reviewed).
    """
    order = np.argsort(-confidences, kind="stable")
    ranked, hits = confidences[order], correct[order].astype(float)
    accuracy = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    last_of_group = np.append(ranked[1:] != ranked[:-1], True)  # a cut may only fall between distinct values
    meeting = np.flatnonzero(last_of_group & (accuracy >= target))
    return float(ranked[meeting[-1]]) if len(meeting) else 1.0


def fit_temperature(probabilities: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> float:
    """The temperature T minimizing the word labels' negative log-likelihood under softmax(log p / T).

    ``probabilities``: per page, the tagger's ``(words, classes)`` probabilities; ``labels``: per
    page, each word's class (negative: unlabelled, left out).
    """
    from scipy.optimize import minimize_scalar

    logs = np.log(np.clip(np.concatenate([np.asarray(p) for p in probabilities]), 1e-12, 1.0))
    truth = np.concatenate([np.asarray(label) for label in labels])
    keep = truth >= 0
    logs, truth = logs[keep], truth[keep]
    if not len(truth):
        raise ModelError("cannot fit a temperature without labelled words")

    def loss(log_t: float) -> float:
        scaled = logs / math.exp(log_t)
        scaled -= scaled.max(axis=1, keepdims=True)
        return float(-(scaled[np.arange(len(truth)), truth] - np.log(np.exp(scaled).sum(axis=1))).mean())

    return float(math.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) per row: T > 1 softens over-confident probabilities, T = 1 leaves them."""
    if temperature == 1.0:
        return probabilities
    scaled = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def apply_calibration(
    result: ExtractionResult, calibration: FieldCalibration, target: float | Mapping[str, float] | None = None
) -> ExtractionResult:
    """``result`` with each field's ``CalibratedConfidence`` (and, under a ``target``, ``ReviewThreshold``).

    Fields without ``Evidence`` (results written before it) are left as they are.
    """
    thresholds = calibration.thresholds(target, list(result.fields)) if target is not None else {}
    fields = {}
    for name, field in result.fields.items():
        if field.evidence is None:
            fields[name] = field
            continue
        update = {"calibrated_confidence": calibration.confidence(name, field.evidence)}
        if name in thresholds:
            update["review_threshold"] = thresholds[name]
        fields[name] = field.model_copy(update=update)
    calibrated = [f.calibrated_confidence for f in fields.values() if f.calibrated_confidence is not None]
    overall = min(calibrated, default=None)
    return result.model_copy(update={"fields": fields, "calibrated_confidence": overall})


def fields_below_threshold(result: ExtractionResult) -> list[str]:
    """Fields whose calibrated confidence is under their ``ReviewThreshold``: the ones a reviewer must check."""
    return [
        name for name, field in result.fields.items()
        if field.review_threshold is not None and field.calibrated_confidence is not None
        and field.calibrated_confidence < field.review_threshold
    ]  # fmt: skip


def fold_text(text: str) -> str:
    """Whitespace collapsed and case folded: the comparison of a value with the truth."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def field_values(field: FieldResult | None) -> frozenset[str]:
    """A field's folded values (one for a single-value field, none when empty)."""
    if field is None:
        return frozenset()
    texts = [entry.value for entry in field.values] if field.values is not None else [field.value or ""]
    return frozenset(fold_text(text) for text in texts) - {""}


def field_outcomes(
    document: str, predicted: ExtractionResult, truth: ExtractionResult, source: OutcomeSource = "heldout"
) -> list[Outcome]:
    """One outcome per predicted field with evidence: right when its values equal the truth's."""
    return [
        Outcome(document=document, field=name, evidence=field.evidence, source=source,
                correct=field_values(field) == field_values(truth.fields.get(name)))
        for name, field in predicted.fields.items() if field.evidence is not None
    ]  # fmt: skip


def reliability_bins(
    confidences: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS
) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) of each non-empty equal-width confidence bin."""
    confidences, correct = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    index = np.minimum((confidences * bins).astype(int), bins - 1)
    return [(float(confidences[index == b].mean()), float(correct[index == b].mean()), int((index == b).sum()))
            for b in range(bins) if (index == b).any()]  # fmt: skip


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS) -> float:
    """The mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    if not len(confidences):
        return 0.0
    gaps = sum(count * abs(mean - accuracy) for mean, accuracy, count in reliability_bins(confidences, correct, bins))
    return float(gaps / len(confidences))


class LoadPoint(BaseModel):
    """One threshold of the review-load curve: what share of fields it accepts and how often they are right."""

    threshold: float
    accepted: float = Field(description="Share of fields accepted without review")
    accuracy: float = Field(description="Share of the accepted fields that are right")


def review_load_curve(confidences: np.ndarray, correct: np.ndarray) -> list[LoadPoint]:
    """Accepted share vs accuracy of what is accepted, one point per distinct confidence (highest first)."""
    confidences, correct = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    order = np.argsort(-confidences, kind="stable")
    ranked, hits = confidences[order], np.cumsum(correct[order])
    points = []
    for k in range(len(ranked)):
        if k + 1 == len(ranked) or ranked[k + 1] != ranked[k]:
            points.append(LoadPoint(threshold=float(ranked[k]), accepted=(k + 1) / len(ranked),
                                    accuracy=float(hits[k] / (k + 1))))  # fmt: skip
    return points
