"""Calibration outcomes on labelled documents, and ``calibrate_model``: a model's calibration from them and reviews.

A held-out document is a Textract JSON whose words carry their labelled class (the box rule of
``docfields.annotations``, read from a Ground Truth manifest with ``textract-ref`` lines). Its
outcomes come from comparing two Results made by the same ``extract_fields`` under the model's
field configuration, normalizers included:

- predicted: the document enriched by the tagger in memory (``ner.enrich``);
- truth: a copy whose WORDs say ``PredictedClass`` = their labelled class with confidence 1
  (words of pages the manifest does not annotate count as "other").

A field is right when its values equal the truth's (``calibration.field_outcomes``). The word
temperature is fitted first, on the same pages' word probabilities at temperature 1, and the
field outcomes are then taken with it: the evidence the curve is fitted on is the evidence the
calibrated tagger will produce.

>>> report = calibrate_model("models/cards", manifest="heldout-ocr/manifest.jsonl")  # doctest: +SKIP
>>> report.ece_calibrated  # doctest: +SKIP
0.031
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from docfields import storage
from docfields.errors import AnnotationError, ModelError
from docfields.fields.calibration import (
    CROSS_VALIDATION_FOLDS,
    FieldCalibration,
    LoadPoint,
    Outcome,
    apply_temperature,
    expected_calibration_error,
    field_outcomes,
    fit_calibration,
    fit_temperature,
    review_load_curve,
)
from docfields.fields.config import FieldConfiguration, parse_field_configuration
from docfields.fields.extract import extract_fields
from docfields.textract import TextractDocument, parse_textract, textract_to_dict

if TYPE_CHECKING:
    from docfields.annotations import PageAnnotation
    from docfields.ner.model import Tagger
    from docfields.normalize.base import TextGenerator

logger = logging.getLogger(__name__)

DEFAULT_TARGET = 0.99  # the accuracy auto-accepted fields should reach (issue 18's example)
RELIABILITY_PLOT = "reliability.png"
REVIEW_LOAD_PLOT = "review-load.png"


@dataclass(frozen=True)
class LabelledDocument:
    """One held-out document: its Textract JSON and the labelled class of its WORDs, by block Id."""

    name: str
    textract: TextractDocument
    labels: Mapping[str, int]


def document_name(annotation: PageAnnotation) -> str:
    """The document a manifest page belongs to: its ``raw-ref``, else its Textract JSON's location."""
    from docfields.annotations import resolve_ref

    return annotation.raw_ref or resolve_ref(annotation.textract_ref, annotation.ref_base, None)


def labelled_documents(
    manifest: str, num_classes: int, label_attribute: str | None = None, names: Collection[str] | None = None
) -> list[LabelledDocument]:
    """The manifest's pages grouped by document, each document's Textract JSON read once.

    Args:
        manifest: a Ground Truth manifest with ``textract-ref`` lines and boxes.
        num_classes: the tagger's field classes (``num_classes`` is "other").
        label_attribute: the manifest key of the boxes (None: detected).
        names: only these documents (``document_name``); None: all of them.

    Raises:
        ModelError: naming the manifest line when a page cannot be read or labelled.
    """
    from docfields.annotations import load_textract, page_word_labels, read_groundtruth

    try:
        pages = read_groundtruth(manifest, label_attribute, num_classes)
        grouped: dict[str, list[PageAnnotation]] = {}
        for page in pages:
            if names is None or document_name(page) in names:
                grouped.setdefault(document_name(page), []).append(page)
        documents = []
        for name, annotations in grouped.items():
            textract = load_textract(annotations[0])
            labels: dict[str, int] = {}
            for annotation in annotations:
                words, classes = page_word_labels(annotation, textract, num_classes)
                labels.update((word.id, int(label)) for word, label in zip(words, classes, strict=True))
            documents.append(LabelledDocument(name, textract, labels))
    except AnnotationError as exc:
        raise ModelError(f"cannot calibrate on {manifest}: {exc}") from exc
    return documents


def truth_document(document: LabelledDocument, num_labels: int) -> TextractDocument:
    """A copy of the document enriched with its labels: each WORD's class at confidence 1."""
    from docfields.ner.enrich import write_prediction

    data = textract_to_dict(document.textract)
    certain = np.eye(num_labels)
    for block in data["Blocks"]:
        if block.get("BlockType") == "WORD":
            write_prediction(block, certain[document.labels.get(block.get("Id", ""), num_labels - 1)])
    return parse_textract(data, f"{document.name} (labels)")


def tempered_document(enriched: TextractDocument, temperature: float) -> TextractDocument:
    """The enriched document as the tagger at ``temperature`` would have written it (enriched at 1.0).

    The tagger applies the temperature to its merged word probabilities, so this equals a second
    enrichment without running the model again.
    """
    from docfields.ner.enrich import write_prediction

    data = textract_to_dict(enriched)
    for block in data["Blocks"]:
        if block.get("BlockType") == "WORD" and "ClassificationProbabilities" in block:
            row = np.asarray(block["ClassificationProbabilities"], dtype=np.float64)
            write_prediction(block, apply_temperature(row, temperature))
    return parse_textract(data, "<tempered>")


def word_probabilities(enriched: TextractDocument, labels: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The enriched WORDs' class probabilities and their labels, for the labelled words the tagger classified."""
    rows, truth = [], []
    for block in enriched.blocks:
        probabilities = (block.model_extra or {}).get("ClassificationProbabilities")
        if block.block_type == "WORD" and probabilities is not None and block.id in labels:
            rows.append(probabilities)
            truth.append(labels[block.id])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1), np.asarray(truth, dtype=int)


def tagger_configuration(tagger: Tagger, source: str = "<tagger fields.json>") -> FieldConfiguration:
    """The field configuration the tagger was trained for (its ``fields.json``), normalizers included."""
    return parse_field_configuration(tagger.fields, source)


def enriched_documents(tagger: Tagger, documents: Sequence[LabelledDocument]) -> list[TextractDocument]:
    """Each document enriched by the tagger (at its temperature), in memory."""
    from docfields.ner.enrich import enrich

    return [enrich(document.textract, tagger, source=document.name) for document in documents]


def document_outcomes(
    documents: Sequence[LabelledDocument], enriched: Sequence[TextractDocument], config: FieldConfiguration,
    num_labels: int,
) -> list[Outcome]:  # fmt: skip
    """One outcome per field of each document: the Result of its enrichment against the Result of its labels."""
    generators: dict[str, TextGenerator] = {}  # normalizer models load once for all documents
    outcomes: list[Outcome] = []
    for document, words in zip(documents, enriched, strict=True):
        predicted = extract_fields(words, config, source=document.name, generators=generators)
        truth = extract_fields(truth_document(document, num_labels), config, source=document.name,
                               generators=generators)  # fmt: skip
        outcomes += field_outcomes(document.name, predicted, truth, "heldout")
    return outcomes


def heldout_outcomes(tagger: Tagger, documents: Sequence[LabelledDocument]) -> list[Outcome]:
    """The tagger's field outcomes (at its temperature) on labelled documents, under its own field configuration."""
    enriched = enriched_documents(tagger, documents)
    return document_outcomes(documents, enriched, tagger_configuration(tagger), tagger.num_labels)


def tempered_outcomes(tagger: Tagger, documents: Sequence[LabelledDocument]) -> tuple[float, list[Outcome]]:
    """The word temperature (fitted on predictions at 1.0), then the field outcomes at that temperature.

    The model runs once per document. Leaves ``tagger.temperature`` at the fitted value.

    Raises:
        ModelError: without documents.
    """
    if not documents:
        raise ModelError("cannot calibrate without held-out documents")
    tagger.temperature = 1.0
    enriched = enriched_documents(tagger, documents)
    pairs = [word_probabilities(words, document.labels) for words, document in zip(enriched, documents, strict=True)]
    temperature = tagger.temperature = fit_temperature([p for p, _ in pairs], [labels for _, labels in pairs])
    tempered = [tempered_document(words, temperature) for words in enriched]
    outcomes = document_outcomes(documents, tempered, tagger_configuration(tagger), tagger.num_labels)
    logger.info("word temperature %.3f; %d field outcomes on %d held-out documents", temperature, len(outcomes),
                len(documents))  # fmt: skip
    return temperature, outcomes


def calibrate_tagger(tagger: Tagger, documents: Sequence[LabelledDocument]) -> FieldCalibration:
    """``tempered_outcomes``, then the field curve fitted on them.

    Raises:
        ModelError: without documents, or when their outcomes are all right (or all wrong).
    """
    temperature, outcomes = tempered_outcomes(tagger, documents)
    return fit_calibration(outcomes, temperature, _fitted_on(outcomes, None, None))


class SourceCount(BaseModel):
    """How much of one kind of evidence (held-out documents, reviews, audits) the calibration rests on."""

    documents: int
    outcomes: int
    correct: int


class CalibrationReport(BaseModel):
    """What ``calibrate_model`` fitted, how honest it is, and what a review target would cost."""

    model: str
    calibration: str = Field(description="The calibration.json written")
    sources: dict[str, SourceCount] = Field(description="By source: heldout, review, audit")
    temperature: float
    ece_raw: float = Field(description="ECE of the raw field confidence on the outcomes")
    ece_calibrated: float = Field(description="ECE of the calibrated confidence on the outcomes it was fitted on")
    ece_cross_validated: float | None = Field(
        description=f"ECE of calibrated confidences, each from a curve fitted without its document "
        f"({CROSS_VALIDATION_FOLDS} folds by document); None when a fold has only right or only wrong outcomes"
    )
    target: float
    thresholds: dict[str, float] = Field(description="Per field, the calibrated confidence accepted at the target")
    accepted: float = Field(description="Share of fields auto-accepted at the target")
    accepted_accuracy: float | None = Field(description="Share of the auto-accepted fields that are right")
    reliability_plot: str | None = None
    review_load_plot: str | None = None


def merged_outcomes(*groups: Sequence[Outcome]) -> list[Outcome]:
    """Outcomes of all groups, one per (document, field, source): a later group's replaces an earlier one's."""
    merged: dict[tuple[str, str, str], Outcome] = {}
    for group in groups:
        merged.update(((o.document, o.field, o.source), o) for o in group)
    return list(merged.values())


def _sources(outcomes: Sequence[Outcome]) -> dict[str, SourceCount]:
    counts = {}
    for source in sorted({o.source for o in outcomes}):
        mine = [o for o in outcomes if o.source == source]
        counts[source] = SourceCount(documents=len({o.document for o in mine}), outcomes=len(mine),
                                     correct=sum(o.correct for o in mine))  # fmt: skip
    return counts


def _fitted_on(outcomes: Sequence[Outcome], manifest: str | None, reviews_home: str | None) -> dict[str, Any]:
    """Counts per source (``heldout_documents``, ``review_outcomes`` ...) and the manifest and home used."""
    counts = {f"{source}_{key}": value for source, count in _sources(outcomes).items()
              for key, value in count.model_dump().items()}  # fmt: skip
    named = {"manifest": manifest, "reviews": reviews_home}
    return {**counts, **{key: value for key, value in named.items() if value is not None}}


def _new_calibration(
    model_dir: str, manifest: str | None, reviews_home: str | None, stored: FieldCalibration | None
) -> FieldCalibration:
    """Stored outcomes, replaced by new held-out ones (with a new temperature) and joined by reviews, refitted."""
    from docfields.ner.model import Tagger

    temperature = stored.temperature if stored else 1.0
    kept = list(stored.outcomes) if stored else []
    if manifest is not None:
        tagger = Tagger.load(model_dir)
        documents = labelled_documents(manifest, len(tagger.card.field_names))
        temperature, heldout = tempered_outcomes(tagger, documents)
        kept = [o for o in kept if o.source != "heldout"] + heldout  # evidence at the new temperature
    if reviews_home is not None:
        from docfields.review.outcomes import review_outcomes

        kept = merged_outcomes(kept, review_outcomes(reviews_home))
    if not kept:
        raise ModelError(f"{model_dir}: no outcome to calibrate on (no held-out field, no reviewed document)")
    return fit_calibration(kept, temperature, _fitted_on(kept, manifest, reviews_home))


def _acceptance(calibration: FieldCalibration, target: float) -> tuple[dict[str, float], float, float | None]:
    """Thresholds at ``target``, and the share and accuracy of the stored outcomes they accept (held out)."""
    fields = sorted({o.field for o in calibration.outcomes})
    thresholds = calibration.thresholds(target, fields)
    confidences = calibration.ranking_confidences()  # what new documents would see, as the thresholds were chosen
    accepted = np.array([c >= thresholds[o.field] for c, o in zip(confidences, calibration.outcomes, strict=True)])
    correct = np.array([o.correct for o in calibration.outcomes])
    accuracy = float(correct[accepted].mean()) if accepted.any() else None
    return thresholds, float(accepted.mean()), accuracy


def calibrate_model(
    model_dir: str | Path,
    manifest: str | None = None,
    reviews_home: str | None = None,
    plots_dir: str | None = None,
    target: float | None = None,
) -> CalibrationReport:
    """Fit and save a tagger's calibration from held-out documents and/or reviews; write its plots.

    With ``manifest`` (Ground Truth, ``textract-ref`` lines), the word temperature and the field
    outcomes come from its documents and replace the stored held-out outcomes. With
    ``reviews_home`` (a pipeline home), reviewed documents add their outcomes to those stored in
    ``calibration.json`` (one per document, field and source) and the stored temperature is kept.
    The curve is refitted on all of them and saved atomically; ``reliability.png`` and
    ``review-load.png`` go to ``plots_dir`` (default: the model directory).

    Raises:
        ModelError: with neither ``manifest`` nor ``reviews_home``, when no outcome is found, or
            when all outcomes are right (or all wrong).

    >>> calibrate_model("models/cards", reviews_home="pipeline-home").accepted  # doctest: +SKIP
    0.72
    """
    from docfields.ner.model import CARD_FILE

    model_dir = str(model_dir)
    if not (Path(model_dir) / CARD_FILE).is_file():
        raise ModelError(f"{model_dir}: not a docfields tagger directory (no {CARD_FILE})")
    if manifest is None and reviews_home is None:
        raise ModelError(f"{model_dir}: calibrating needs held-out documents (a manifest) or reviews (a pipeline home)")
    target = DEFAULT_TARGET if target is None else target
    if not 0.0 < target <= 1.0:
        raise ModelError(f"target accuracy {target} is outside (0, 1]")
    calibration = _new_calibration(model_dir, manifest, reviews_home, FieldCalibration.load(model_dir))
    calibration.save(model_dir)
    return calibration_report(model_dir, calibration, plots_dir, target)


def calibration_report(
    model_dir: str, calibration: FieldCalibration, plots_dir: str | None = None, target: float = DEFAULT_TARGET
) -> CalibrationReport:
    """How honest a saved calibration is and what ``target`` would cost; writes its two plots (default: model_dir)."""
    from docfields.fields.calibration import CALIBRATION_FILE
    from docfields.fields.plots import reliability_diagram, review_load_plot

    raw = np.array([o.evidence.confidence for o in calibration.outcomes])
    calibrated = calibration.outcome_confidences()
    correct = np.array([o.correct for o in calibration.outcomes])
    thresholds, accepted, accuracy = _acceptance(calibration, target)
    held_out = calibration.held_out_confidences
    plots = plots_dir or model_dir
    reliability = reliability_diagram(storage.join(plots, RELIABILITY_PLOT), raw, calibrated, correct)
    load: list[LoadPoint] = review_load_curve(calibrated, correct)
    review_load = review_load_plot(storage.join(plots, REVIEW_LOAD_PLOT), load, target)
    return CalibrationReport(
        model=model_dir, calibration=storage.join(model_dir, CALIBRATION_FILE), sources=_sources(calibration.outcomes),
        temperature=calibration.temperature, ece_raw=expected_calibration_error(raw, correct),
        ece_calibrated=expected_calibration_error(calibrated, correct),
        ece_cross_validated=None if held_out is None else expected_calibration_error(np.array(held_out), correct),
        target=target, thresholds=thresholds,
        accepted=accepted, accepted_accuracy=accuracy, reliability_plot=reliability, review_load_plot=review_load,
    )  # fmt: skip
