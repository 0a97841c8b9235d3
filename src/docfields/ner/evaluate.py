"""Score a saved tagger on labelled pages it never saw: the figures training reports, and where it goes wrong.

Training scores its validation pages with ``evaluate_tagger`` too, so a model's card and
``docfields evaluate ner`` on the same pages give the same numbers: one implementation.

- Per field, entity precision, recall, F1 and support (``ner.metrics.entity_scores``), then the
  micro row (all entities pooled) and the macro row (the mean over the fields the pages hold).
- Word accuracy (the share of words right), the original's token metrics, and the word-level
  confusion between fields.
- The pages with the most wrong words, each with its wrong words in reading order: what a user
  reads to see whether a field is mislabelled in the manifest or missed by the model.

A manifest must label the model's fields: a class id means nothing unless both agree on its
name. Ground Truth lines carry a ``class-map`` (in this package's manifests, only the classes on
the page); a manifest without one is checked against the model's class count, or against a field
configuration the user names for it.

>>> evaluation = evaluate_ner("models/cord", "cord/test.manifest.jsonl")  # doctest: +SKIP
>>> evaluation.micro.f1  # doctest: +SKIP
0.84
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from docfields.annotations.model import PageAnnotation
from docfields.device import DeviceChoice
from docfields.errors import AnnotationError, ModelError
from docfields.ner.data import PageExample
from docfields.ner.metrics import (
    ConfusionMatrix,
    FieldScore,
    TokenMetrics,
    confusion_matrix,
    entity_scores,
    macro_score,
    token_metrics,
)
from docfields.ner.model import Tagger

logger = logging.getLogger(__name__)

WORST_PAGES = 10
WRONG_WORDS_SHOWN = 20  # per page: enough to see the pattern, short enough to read


class WrongWord(BaseModel):
    """A word whose predicted class is not its true one (classes by name, ``other`` included)."""

    text: str
    true: str
    predicted: str


class PageErrors(BaseModel):
    """One page's wrong words: how many of how many, and the first ones in reading order."""

    document: str
    page: int
    wrong: int
    words: int
    wrong_words: list[WrongWord] = Field(description=f"in reading order, at most {WRONG_WORDS_SHOWN}")


class NerEvaluation(BaseModel):
    """How well a tagger labels the words of labelled pages (``docfields evaluate ner --json`` writes it).

    ``field_scores`` holds one row per field, then ``micro`` (all entities pooled), then ``macro``
    (the mean precision, recall and F1 of the fields with support > 0: fields the pages do not
    hold are left out of it).
    """

    pages: int
    words: int
    field_scores: list[FieldScore]
    word_metrics: TokenMetrics = Field(description="The original's per-page token accuracy and focus accuracy")
    word_accuracy: float = Field(description="Share of all words whose class is right")
    confusion: ConfusionMatrix
    worst_pages: list[PageErrors] = Field(description=f"The {WORST_PAGES} pages with most wrong words, worst first")

    @property
    def micro(self) -> FieldScore:
        """Entity scores over all fields pooled."""
        return self._row("micro")

    @property
    def macro(self) -> FieldScore:
        """The mean of the per-field scores (fields with support > 0)."""
        return self._row("macro")

    def _row(self, name: str) -> FieldScore:
        return next(row for row in reversed(self.field_scores) if row.class_id is None and row.name == name)


def evaluate_predictions(
    examples: Sequence[PageExample], predicted: Sequence[Sequence[int]], names: Sequence[str]
) -> NerEvaluation:
    """Score predicted word classes against the labels of ``examples`` (class ``len(names)`` is "other").

    Raises:
        ModelError: naming the page when an example has no labels.
        ValueError: when the predictions do not have one class per word.
    """
    labels = [_labels(example) for example in examples]
    guesses = [np.asarray(row, dtype=np.int64) for row in predicted]
    rows = entity_scores(guesses, labels, names)
    rows.append(macro_score(rows[:-1]))
    confusion = confusion_matrix(guesses, labels, names)
    return NerEvaluation(
        pages=len(examples), words=sum(len(row) for row in labels), field_scores=rows,
        word_metrics=token_metrics(guesses, labels, len(names)), word_accuracy=confusion.accuracy(),
        confusion=confusion, worst_pages=worst_pages(examples, guesses, labels, confusion.labels),
    )  # fmt: skip


def _labels(example: PageExample) -> np.ndarray:
    if example.labels is None:
        raise ModelError(f"{example.document} page {example.page}: no labels to score against")
    return np.asarray(example.labels, dtype=np.int64)


def worst_pages(
    examples: Sequence[PageExample],
    predicted: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    classes: Sequence[str],
    count: int = WORST_PAGES,
) -> list[PageErrors]:
    """The ``count`` pages with most wrong words (ties in the examples' order); pages without one are left out."""
    pages = []
    for example, guess, truth in zip(examples, predicted, labels, strict=True):
        wrong = np.flatnonzero(guess != truth)
        if wrong.size:
            shown = [WrongWord(text=example.words[i], true=classes[truth[i]], predicted=classes[guess[i]])
                     for i in wrong[:WRONG_WORDS_SHOWN]]  # fmt: skip
            pages.append(PageErrors(document=example.document, page=example.page, wrong=int(wrong.size),
                                    words=len(truth), wrong_words=shown))  # fmt: skip
    return sorted(pages, key=lambda page: -page.wrong)[:count]


def evaluate_tagger(tagger: Tagger, examples: Sequence[PageExample], batch_size: int = 16) -> NerEvaluation:
    """Predict the pages with ``tagger`` (the prediction code enrichment uses) and score its argmax classes."""
    probabilities = tagger.predict(examples, batch_size=batch_size)
    return evaluate_predictions(examples, [rows.argmax(axis=1) for rows in probabilities], tagger.card.field_names)


def evaluate_ner(
    model: str,
    manifest: str,
    label_attribute: str | None = None,
    batch_size: int = 16,
    device: DeviceChoice = "auto",
    fields: str | None = None,
) -> NerEvaluation:
    """Score the tagger saved in ``model`` on the labelled pages of a Ground Truth ``manifest``.

    Args:
        model: a tagger directory written by ``docfields train ner``.
        manifest: Ground Truth manifest of the labelled pages (local path or URL).
        label_attribute: the manifest key holding the boxes (None: detected).
        batch_size: windows per model call.
        device: where the model runs (``docfields.device``).
        fields: the manifest's field configuration, for a manifest without ``class-map`` (or
            whose class maps name only the fields its pages hold); it must be the model's.

    Raises:
        ModelError: an unreadable model or manifest, fields of the manifest that the model
            lacks (or the reverse, or at other class ids), or no labelled page with words.
    """
    from docfields.ner.train import load_examples

    tagger = Tagger.load(model, device)
    names = tagger.card.field_names
    check_manifest_fields(manifest, names, label_attribute, fields, model)
    examples = load_examples(manifest, len(names), label_attribute)
    if not examples:
        raise ModelError(f"{manifest}: no annotated page with words to evaluate on")
    return evaluate_tagger(tagger, examples, batch_size)


def check_manifest_fields(
    manifest: str,
    names: Sequence[str],
    label_attribute: str | None = None,
    fields: str | None = None,
    model: str = "the model",
) -> None:
    """Refuse a manifest whose fields are not the model's ``names``, naming the fields on each side.

    The fields of the manifest are those of ``fields`` when given (its class maps must agree with
    it), else those its class maps name. A class map that names a class its page has no box of is
    the labelling job's full list, so a model field missing from it is an error; maps naming only
    their page's classes (as this package writes them) cannot tell a field nobody labelled from
    one these pages do not hold: such fields are warned about and scored with support 0. The
    class ids the boxes use must exist in the model.

    Raises:
        ModelError: naming the fields that differ, or the manifest line at fault.
    """
    from docfields.annotations import read_groundtruth
    from docfields.ner.model import field_names, read_fields

    try:
        pages = read_groundtruth(manifest, label_attribute)
    except AnnotationError as exc:
        raise ModelError(f"cannot evaluate on {manifest}: {exc}") from exc
    class_map = _class_map(pages)
    if fields is not None:
        declared = field_names(read_fields(fields), fields)
        _refuse(fields, model, _differences(dict(enumerate(declared)), names, fields, model, complete=True))
        _refuse(manifest, fields, _differences(class_map, declared, manifest, fields, complete=False))
    elif class_map:
        _refuse(manifest, model, _differences(class_map, names, manifest, model, _names_absent_classes(pages)))
        unnamed = [name for name in names if name not in class_map.values()]
        if unnamed:
            logger.warning("%s labels no %s: scored with support 0", manifest, ", ".join(unnamed))
    beyond = sorted({box.class_id for page in pages for box in page.boxes if box.class_id >= len(names)})
    if beyond:
        _refuse(manifest, model, [f"class ids {', '.join(map(str, beyond))} are beyond its {len(names)} fields"])


def _names_absent_classes(pages: Sequence[PageAnnotation]) -> bool:
    """Whether a class map names a class without a box on its page: then it lists the job's every field."""
    return any(set(page.class_names) - {box.class_id for box in page.boxes} for page in pages)


def _class_map(pages: Sequence[PageAnnotation]) -> dict[int, str]:
    """Class id -> name over every line's class map; one id named two ways is an error naming both lines."""
    class_map: dict[int, tuple[str, str]] = {}
    for page in pages:
        for class_id, name in page.class_names.items():
            known = class_map.setdefault(class_id, (name, page.where))
            if known[0] != name:
                raise ModelError(f"{page.where}: class {class_id} is {name!r}, but {known[0]!r} in {known[1]}")
    return {class_id: name for class_id, (name, _) in class_map.items()}


def _differences(
    theirs: dict[int, str], ours: Sequence[str], their_name: str, our_name: str, complete: bool
) -> list[str]:
    """What differs between the fields ``theirs`` (id -> name) and ``ours`` (names by id).

    ``complete``: ``theirs`` lists all its fields, so ours missing from it differ too.
    """
    problems = []
    lacking = [name for _, name in sorted(theirs.items()) if name not in ours]
    if lacking:
        problems.append(f"{their_name} has fields {our_name} lacks: {', '.join(lacking)}")
    moved = [f"{name} ({i} in {their_name}, {ours.index(name)} in {our_name})"
             for i, name in sorted(theirs.items()) if name in ours and ours.index(name) != i]  # fmt: skip
    if moved:
        problems.append(f"fields at other class ids: {'; '.join(moved)}")
    missing = [name for name in ours if name not in theirs.values()] if complete else []
    if missing:
        problems.append(f"{our_name} has fields {their_name} lacks: {', '.join(missing)}")
    return problems


def _refuse(source: str, target: str, problems: list[str]) -> None:
    if problems:
        raise ModelError(f"the fields of {source} are not those of {target}: {'; '.join(problems)}")
