"""Field accuracy of pipeline results against the sample corpus's ground truth.

The demo's last step: did the fields that came out of OCR, the tagger and consolidation match
what the generator put on the page? A field is right on a document when the truth has no value
and the result none, or when both hold the same value after case and whitespace are folded
(sets of values for multi-value fields). Where the truth carries a normalized form (dates as
``YYYY-MM-DD``) and the result's detections carry ``RawText`` (a normalizer ran), the normalized
truth is the one compared.

It also counts what review would cost and what it would let through: a field is *accepted*
(nobody checks it) when its document was done, or, in a document sent to review under a review
target, when the field was not marked (its ``CalibratedConfidence`` reached its
``ReviewThreshold``); under the raw rule a reviewer checks every field of a document in review.

>>> scores = score_results_folder("demo-output/results", "demo-output/heldout/truth.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from docfields import storage
from docfields.errors import AnnotationError
from docfields.fields.calibration import fold_text

IN_REVIEW_SUFFIX = ".in-review.json"
RESULT_SUFFIXES = (".result.json", IN_REVIEW_SUFFIX)  # what `docfields process -o` writes


class FieldAccuracy(BaseModel):
    """How often one field came out right over the scored documents."""

    name: str
    documents: int = Field(description="documents scored")
    with_value: int = Field(description="documents whose truth has a value for the field")
    correct: int = Field(description="documents where the result matches the truth (absent counts)")
    found: int = Field(description="documents with a value whose result matches it")
    accepted: int = Field(0, description="documents where the field went through without review")
    accepted_correct: int = Field(0, description="... and matches the truth")

    @property
    def accuracy(self) -> float:
        """Share of documents right, absent fields included."""
        return self.correct / self.documents if self.documents else 0.0

    @property
    def recall(self) -> float:
        """Share of the truth's values the results got right."""
        return self.found / self.with_value if self.with_value else 0.0


def _result_values(field: Mapping[str, Any] | None) -> tuple[set[str], bool]:
    """The folded values of a result field, and whether a normalizer rewrote them."""
    if not field:
        return set(), False
    values = field.get("Values")
    entries = values if values is not None else [field]
    texts = {fold_text(str(entry.get("Value", ""))) for entry in entries} - {""}
    normalized = any("RawText" in d for entry in entries for d in entry.get("Detections") or ())
    return texts, normalized


def field_accepted(result: Mapping[str, Any], name: str, in_review: bool) -> bool:
    """Whether nobody checks this field: its document is done, or the review target did not mark it."""
    if not in_review:
        return True
    field = (result.get("Fields") or {}).get(name) or {}
    threshold, confidence = field.get("ReviewThreshold"), field.get("CalibratedConfidence")
    return threshold is not None and confidence is not None and confidence >= threshold


def _truth_values(truth: Mapping[str, Any], name: str, normalized: bool) -> set[str]:
    value = (truth.get("normalized") or {}).get(name) if normalized else None
    if value is None:
        value = (truth.get("fields") or {}).get(name)
    if value is None:
        return set()
    return {fold_text(v) for v in (value if isinstance(value, list) else [value])} - {""}


def score_results(
    results: Mapping[str, Mapping[str, Any]],
    truth: Mapping[str, Mapping[str, Any]],
    in_review: Collection[str] = (),
) -> list[FieldAccuracy]:
    """Per-field accuracy of ``results`` (document id -> Result JSON) against ``truth`` (id -> truth line).

    Fields are those the results report (ignored fields are not in results, so not scored), in
    their ``SortOrder``. ``in_review``: the ids of documents that went to review. Documents
    without a truth line raise: a score over the wrong corpus is worse than none.
    """
    missing = sorted(set(results) - set(truth))
    if missing:
        raise AnnotationError("<truth>", f"no ground truth for {', '.join(missing[:5])}", kind="unknown-document")
    order: dict[str, int] = {}
    for result in results.values():
        for name, field in (result.get("Fields") or {}).items():
            order.setdefault(name, int(field.get("SortOrder", len(order))))
    scores = []
    for name in sorted(order, key=order.__getitem__):
        counts = dict.fromkeys(("correct", "found", "with_value", "accepted", "accepted_correct"), 0)
        for doc_id, result in results.items():
            predicted, normalized = _result_values((result.get("Fields") or {}).get(name))
            expected = _truth_values(truth[doc_id], name, normalized)
            right = predicted == expected
            accepted = field_accepted(result, name, doc_id in in_review)
            counts["correct"] += right
            counts["with_value"] += bool(expected)
            counts["found"] += bool(expected) and right
            counts["accepted"] += accepted
            counts["accepted_correct"] += accepted and right
        scores.append(FieldAccuracy(name=name, documents=len(results), **counts))
    return scores


def read_truth(url: str) -> dict[str, dict[str, Any]]:
    """The corpus's ``truth.jsonl`` by document id."""
    truth = {}
    for number, line in enumerate(storage.read_bytes(url).decode().splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
                truth[record["id"]] = record
            except (ValueError, KeyError) as exc:
                raise AnnotationError(f"{url} line {number}", f"not a truth line ({exc})", kind="json") from exc
    return truth


def score_results_folder(results_dir: str, truth_url: str) -> list[FieldAccuracy]:
    """Score every ``<id>.result.json`` and ``<id>.in-review.json`` in a folder.

    Documents waiting for review count with the model's result: the score is the model's, and
    leaving them out would flatter it.
    """
    results, in_review = {}, set()
    for suffix in RESULT_SUFFIXES:
        for path in sorted(Path(results_dir).glob(f"*{suffix}")):
            doc_id = path.name.removesuffix(suffix)
            results[doc_id] = json.loads(path.read_text())
            if suffix == IN_REVIEW_SUFFIX:
                in_review.add(doc_id)
    if not results:
        raise AnnotationError(results_dir, f"no *{' or *'.join(RESULT_SUFFIXES)} files to score", kind="empty")
    return score_results(results, read_truth(truth_url), in_review)
