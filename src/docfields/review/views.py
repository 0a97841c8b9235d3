"""What the review pages show, computed from a result and a document status, free of any web framework.

The templates only lay these records out; every number (box percentages, confidence
percentages, ages) and every decision (which fields start ticked, which are flagged) is made
here, where tests can check it without a browser. A result checked against a review target flags
just the fields below their ``ReviewThreshold``; others, the raw rule (confidence below the desk's
threshold); an audit sample flags nothing, since every field is to be checked alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docfields.fields import ExtractionResult
from docfields.fields.calibration import fields_below_threshold
from docfields.pipeline.routing import has_thresholds
from docfields.review.flowback import field_values, is_multi
from docfields.review.pages import PageLayout

if TYPE_CHECKING:
    from docfields.pipeline import DocumentStatus

PALETTE_SIZE = 24  # colour classes c0..c23 in static/review.css, by class id


def colour_class(class_id: int) -> str:
    """The CSS class giving a field its colour: a fixed palette indexed by class id."""
    return f"c{class_id % PALETTE_SIZE}"


@dataclass(frozen=True)
class BoxView:
    """One detection: its box in percent of the page, and the line the detections list shows."""

    id: str
    field: int
    colour: str
    page: int
    left: float
    top: float
    width: float
    height: float
    text: str
    label: str


@dataclass(frozen=True)
class FieldView:
    """One field of the form, in result order."""

    index: int
    name: str
    colour: str
    multi: bool
    present: bool
    optional: bool
    values: list[str]
    percent: int
    confidence: float
    flagged: bool
    boxes: list[BoxView]
    calibrated: int | None = None
    threshold: int | None = None

    @property
    def value(self) -> str:
        """The single value (first of ``values``), or ""."""
        return self.values[0] if self.values else ""


@dataclass(frozen=True)
class PageView:
    """One page image and the boxes drawn on it."""

    number: int
    width: int
    height: int
    boxes: list[BoxView]


@dataclass(frozen=True)
class QueueRow:
    """One line of the review queue."""

    id: str
    name: str
    percent: int | None
    age: str
    reason: str


def _percent(value: float) -> int:
    return round(100 * min(max(value, 0.0), 1.0))


def _box(detection: Mapping[str, Any], field: int, colour: str, number: int) -> BoxView:
    box = detection.get("BoundingBox") or {}
    left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
    width, height = float(box.get("Width", 0.0)), float(box.get("Height", 0.0))
    page = int(detection.get("PageNum", 1))
    text = str(detection.get("Text", ""))
    centre = f"X={left + width / 2:.4f}, Y={top + height / 2:.4f}"
    label = f"({_percent(float(detection.get('Confidence', 0.0)))}% confidence): Page {page}, {centre}"
    return BoxView(
        id=f"box-{field}-{number}", field=field, colour=colour, page=page, left=round(100 * left, 3),
        top=round(100 * top, 3), width=round(100 * width, 3), height=round(100 * height, 3), text=text, label=label,
    )  # fmt: skip


def _detections(field: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if is_multi(field):
        return [d for entry in field.get("Values") or [] for d in entry.get("Detections") or []]
    return list(field.get("Detections") or [])


def _percent_or_none(value: Any) -> int | None:
    return None if value is None else _percent(float(value))


def flagged_fields(result: Mapping[str, Any], threshold: float, audit: bool = False) -> set[str]:
    """The fields a reviewer must check: below their ``ReviewThreshold`` under a target, else below the raw
    ``threshold``; none in an audit sample."""
    if audit:
        return set()
    if has_thresholds(result):
        return set(fields_below_threshold(ExtractionResult.from_json_dict(dict(result), source="result")))
    fields = result.get("Fields") or {}
    return {name for name, field in fields.items() if float(field.get("Confidence", 0.0)) < threshold}


def field_views(result: Mapping[str, Any], threshold: float, audit: bool = False) -> list[FieldView]:
    """The form's fields: mandatory ones start ticked, optional ones only when they have a value."""
    flagged = flagged_fields(result, threshold, audit)
    views = []
    for index, (name, field) in enumerate((result.get("Fields") or {}).items()):
        colour = colour_class(int(field.get("ClassId", index)))
        values = field_values(field)
        confidence = float(field.get("Confidence", 0.0))
        optional = bool(field.get("Optional"))
        boxes = [_box(d, index, colour, n) for n, d in enumerate(_detections(field))]
        views.append(
            FieldView(
                index=index, name=name, colour=colour, multi=is_multi(field), present=bool(values) or not optional,
                optional=optional, values=values, percent=_percent(confidence), confidence=confidence,
                flagged=name in flagged, boxes=boxes, calibrated=_percent_or_none(field.get("CalibratedConfidence")),
                threshold=_percent_or_none(field.get("ReviewThreshold")),
            )
        )  # fmt: skip
    return views


def page_views(layout: PageLayout, fields: Sequence[FieldView]) -> list[PageView]:
    """Every page with the boxes of every field's detections on it."""
    boxes: dict[int, list[BoxView]] = {}
    for field in fields:
        for box in field.boxes:
            boxes.setdefault(box.page, []).append(box)
    return [
        PageView(number=n, width=w, height=h, boxes=boxes.get(n, [])) for n, (w, h) in enumerate(layout.sizes, start=1)
    ]


def format_age(seconds: float) -> str:
    """A short age: '45 s', '12 min', '3 h', '2 d'."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def queue_row(status: DocumentStatus, now: float) -> QueueRow:
    """One queue line from a pipeline ``DocumentStatus`` (oldest tasks are listed first)."""
    percent = None if status.confidence is None else _percent(float(status.confidence))
    reason = status.review_reason or "low confidence"
    return QueueRow(
        id=status.id, name=status.name, percent=percent, age=format_age(now - status.updated), reason=reason
    )
