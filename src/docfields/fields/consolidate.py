"""Consolidation: a field's detections become its value(s) and a confidence.

The original's rules (spec section 5.4) minus its defects:

- Detections are grouped into distinct values by their ``Text`` (after normalization) with
  whitespace folded: a value wrapped onto a second line is the same value as on one line. The
  value's text is its first sighting's.
- In a multi-value field, a value whose words are a run inside another value's (case folded:
  "Everyday Visa" or "card" beside "Everyday Visa Card") is a reading of that value cut short, or
  a later short reference to it, and its detections join the longer value instead of listing a
  value the document never states.
- Value confidence = 1 - prod(1 - c) over its detections: independent sightings of the same
  text make it more likely. A value holding a detection whose normalization failed (the raw
  text was kept) is multiplied by ``NORMALIZER_FAILURE_FACTOR`` (0.5): one such sighting of 0.95
  drops below the default review threshold of 0.5, so a person checks it.
- Single-value fields (``Select`` set) divide every value confidence by max(1, their sum), as the
  original did: several texts competing for one slot mean the tagger is unsure which is right.
  Multi-value fields do not: there, several values are the expected answer, and the original's
  division made a field with many correct values look unreliable ([obs] dilution).
- ``Select`` picks one value, ties broken deterministically: ``confidence`` (highest, then
  earliest), ``first`` (earliest first sighting), ``last`` (latest last sighting), ``longest`` and
  ``shortest`` (character count, then highest confidence, then earliest). No detection gives
  ``Value`` "" with confidence 0.
- A multi-value field lists every value by confidence (ties: earliest first); its confidence is
  the *minimum* of its value confidences (0 with no value): any doubtful value makes the list
  doubtful, however many good values sit beside it. The original took the mean after dividing
  by the sum, so ten certain values gave 0.1.
- The overall confidence is the minimum over fields, leaving out optional fields that have no
  detection; when no field counts it is 1.0 (the original's ``min()`` of nothing raised).
- Every field keeps its ``Evidence`` (``FieldEvidence``): the numbers its confidence came from and
  those a calibration (``fields.calibration``) weighs beside it, such as how many detections agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from docfields.fields.config import FieldSpec
from docfields.fields.result import Detection, FieldEvidence, FieldResult, FieldValue

NORMALIZER_FAILURE_FACTOR = 0.5


@dataclass(frozen=True)
class FieldDetection:
    """A detection with what consolidation needs besides it: document order and normalization outcome."""

    detection: Detection
    index: int  # position among all mentions of the document
    normalization_failed: bool = False
    ocr_confidence: float | None = None  # the lowest OCR confidence (0..1) of its words, None when unknown


@dataclass
class _Value:
    """One distinct text of a field and the detections that read it."""

    text: str
    first: int
    last: int
    items: list[FieldDetection] = field(default_factory=list)
    confidence: float = 0.0

    @property
    def detections(self) -> list[Detection]:
        return [item.detection for item in self.items]


def combined_confidence(confidences: Sequence[float]) -> float:
    """1 - prod(1 - c): the chance that at least one of several independent sightings is right."""
    return 1.0 - math.prod(1.0 - c for c in confidences)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.casefold().split())


def _values(detections: Sequence[FieldDetection], merge_partial: bool) -> list[_Value]:
    by_text: dict[tuple[str, ...], _Value] = {}
    for item in detections:
        key = tuple(item.detection.text.split())
        value = by_text.setdefault(key, _Value(text=item.detection.text, first=item.index, last=item.index))
        value.first, value.last = min(value.first, item.index), max(value.last, item.index)
        value.items.append(item)
    values = _merge_partial(list(by_text.values())) if merge_partial else list(by_text.values())
    for value in values:
        value.confidence = combined_confidence([d.confidence for d in value.detections])
        if any(item.normalization_failed for item in value.items):
            value.confidence *= NORMALIZER_FAILURE_FACTOR
    return values


def _inside(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    """Whether ``short`` is a run of consecutive words of ``long`` (and shorter)."""
    return len(short) < len(long) and any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def _merge_partial(values: list[_Value]) -> list[_Value]:
    """Values whose words run inside a longer value's give it their detections (the longest one wins)."""
    longest_first = sorted(values, key=lambda v: (-len(_words(v.text)), v.first))
    kept: list[_Value] = []
    for value in longest_first:
        home = next((k for k in kept if _inside(_words(value.text), _words(k.text))), None)
        if home is None:
            kept.append(value)
            continue
        home.items.extend(value.items)
        home.first, home.last = min(home.first, value.first), max(home.last, value.last)
    for value in kept:
        value.items.sort(key=lambda item: item.index)
    return sorted(kept, key=lambda v: v.first)


_SELECTORS: dict[str, Callable[[_Value], tuple[float, ...]]] = {
    "confidence": lambda v: (-v.confidence, v.first),
    "first": lambda v: (v.first,),
    "last": lambda v: (-v.last,),
    "longest": lambda v: (-len(v.text), -v.confidence, v.first),
    "shortest": lambda v: (len(v.text), -v.confidence, v.first),
}


def _evidence(confidence: float, chosen: Sequence[FieldDetection], detections: int, values: int) -> FieldEvidence:
    """The evidence behind a field whose value(s) rest on the ``chosen`` detections."""
    ocr = [item.ocr_confidence for item in chosen if item.ocr_confidence is not None]
    normalized = None
    if any(item.normalization_failed for item in chosen):
        normalized = False
    elif any(item.detection.raw_text is not None for item in chosen):
        normalized = True
    return FieldEvidence(
        confidence=confidence, detections=detections, values=values,
        mention_confidence=sum(item.detection.confidence for item in chosen) / len(chosen) if chosen else 0.0,
        agreement=len(chosen) / detections if detections else 0.0,
        ocr_confidence=min(ocr, default=None), normalized=normalized,
    )  # fmt: skip


def _single(spec: FieldSpec, values: list[_Value], common: dict[str, Any]) -> FieldResult:
    total = max(1.0, sum(value.confidence for value in values))
    for value in values:
        value.confidence /= total
    detections = common["num_detections"]
    if not values:
        return FieldResult(**common, confidence=0.0, value="", detections=[], evidence=_evidence(0.0, [], 0, 0))
    best = min(values, key=_SELECTORS[spec.select or "confidence"])
    evidence = _evidence(best.confidence, best.items, detections, len(values))
    return FieldResult(**common, confidence=best.confidence, value=best.text, detections=best.detections,
                       evidence=evidence)  # fmt: skip


def _multi(values: list[_Value], common: dict[str, Any]) -> FieldResult:
    ranked = sorted(values, key=_SELECTORS["confidence"])
    listed = [FieldValue(confidence=v.confidence, value=v.text, detections=v.detections) for v in ranked]
    confidence = min((v.confidence for v in ranked), default=0.0)
    everything = [item for value in ranked for item in value.items]
    evidence = _evidence(confidence, everything, common["num_detections"], len(values))
    return FieldResult(**common, confidence=confidence, values=listed, evidence=evidence)


def consolidate_field(spec: FieldSpec, sort_order: int, detections: Sequence[FieldDetection]) -> FieldResult:
    """The field's result from its detections (in document order); see the module docstring."""
    values = _values(detections, merge_partial=spec.is_multi_value)
    common: dict[str, Any] = {
        "class_id": spec.class_id,
        "num_detections": len(detections),
        "num_detected_values": len(values),
        "sort_order": sort_order,
        "optional": spec.optional,
    }
    return _multi(values, common) if spec.is_multi_value else _single(spec, values, common)


def overall_confidence(fields: Sequence[FieldResult]) -> float:
    """Minimum field confidence, leaving out optional fields with no detection; 1.0 if none counts."""
    counted = [f.confidence for f in fields if not (f.optional and f.num_detections == 0)]
    return min(counted, default=1.0)
