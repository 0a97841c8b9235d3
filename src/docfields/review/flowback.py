"""Review answers flow back into the result: a pure function from (result, answers) to the reviewed result.

Rules (upstream section 7.3, without its defects):

- Every answered field is "covered": its ``Confidence`` becomes 1.0, because a person checked it.
- A field marked absent gets ``Value`` "" (single) or ``Values`` [] (multi) and no detections,
  with confidence 1.0: the reviewer asserted that the document does not contain it.
- A single value takes the reviewer's text; a value equal to the model's up to whitespace keeps
  the model's text (a text box cannot hold the line breaks OCR put there).
- Multi-value answers are matched by the field's own name (upstream matched the literal
  ``"field_name"``, so edited multi-values never came back); each kept value keeps the
  detections the model gave it, a new value has none.
- The overall ``Confidence`` is recomputed from the fields (``docfields.fields.overall_confidence``),
  and ``Review`` records who, how long, which fields changed and when.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from docfields.errors import ReviewError
from docfields.fields import ExtractionResult, overall_confidence

PRESENT_KEY = "field-present-"
VALUE_KEY = "field-value-"
MULTI_KEY = "field-multival-"


class FieldAnswer(BaseModel):
    """The reviewer's answer for one field: present or not, and its value or values."""

    model_config = ConfigDict(extra="forbid")

    present: bool
    value: str | None = Field(default=None, description="Single-value fields")
    values: list[str] | None = Field(default=None, description="Multi-value fields, in the reviewer's order")


class ReviewAnswers(BaseModel):
    """The answers of one review, by field name."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, FieldAnswer]


def is_multi(field: Mapping[str, Any]) -> bool:
    """Tell whether a result field is multi-value (it has ``Values``)."""
    return "Values" in field


def same_text(a: str, b: str) -> bool:
    """Equal up to whitespace: a text box turns OCR line breaks into nothing or spaces."""
    return " ".join(a.split()) == " ".join(b.split())


def field_values(field: Mapping[str, Any]) -> list[str]:
    """The non-empty values of a result field (one for a single-value field, or none)."""
    if is_multi(field):
        return [str(entry.get("Value", "")) for entry in field.get("Values") or [] if str(entry.get("Value", ""))]
    value = str(field.get("Value") or "")
    return [value] if value else []


def answers_from_form(form: Callable[[str], list[str]], result: Mapping[str, Any]) -> ReviewAnswers:
    """Answers for every field of ``result`` from form data (``form(key)`` returns all values of a key).

    Keys: ``field-present-<Name>`` (checkbox), ``field-value-<Name>`` (single value) and
    ``field-multival-<Name>`` (repeated, one per value). A field whose checkbox is missing is
    absent: an unticked checkbox sends nothing.
    """
    answers = {}
    for name, field in (result.get("Fields") or {}).items():
        present = bool(form(PRESENT_KEY + name))
        if is_multi(field):
            answers[name] = FieldAnswer(present=present, values=form(MULTI_KEY + name) if present else [])
        else:
            values = form(VALUE_KEY + name)
            answers[name] = FieldAnswer(present=present, value=values[0] if present and values else "")
    return ReviewAnswers(fields=answers)


def _clean_values(values: Iterable[str]) -> list[str]:
    """Stripped, non-empty, first occurrence of each (up to whitespace) kept in order."""
    seen: list[str] = []
    for value in (v.strip() for v in values):
        if value and not any(same_text(value, s) for s in seen):
            seen.append(value)
    return seen


def _review_single(where: str, name: str, field: dict[str, Any], answer: FieldAnswer) -> bool:
    """Apply a single-value answer in place; True when the value changed."""
    old = str(field.get("Value") or "")
    if not answer.present:
        field.update(Value="", Detections=[], Confidence=1.0)
        return bool(old)
    value = (answer.value or "").strip()
    if not value:
        raise ReviewError(where, f"field {name!r} is marked present but has no value")
    changed = not same_text(value, old)
    field.update(Value=value if changed else old, Confidence=1.0)
    return changed


def _review_multi(where: str, name: str, field: dict[str, Any], answer: FieldAnswer) -> bool:
    """Apply a multi-value answer in place; True when the set of values changed."""
    old_entries = list(field.get("Values") or [])
    old = [str(e.get("Value", "")) for e in old_entries]
    values = _clean_values(answer.values or []) if answer.present else []
    if answer.present and not values:
        raise ReviewError(where, f"field {name!r} is marked present but has no value")
    entries = []
    for value in values:
        match = next((e for e in old_entries if same_text(value, str(e.get("Value", "")))), None)
        kept, detections = (value, []) if match is None else (match["Value"], list(match.get("Detections") or []))
        entries.append({"Confidence": 1.0, "Value": kept, "Detections": detections})
    field.update(Values=entries, Confidence=1.0)
    same = len(values) == len(_clean_values(old)) and all(any(same_text(v, o) for o in old) for v in values)
    return not same


def apply_review(
    result: Mapping[str, Any],
    answers: ReviewAnswers,
    reviewer: str,
    seconds: float,
    reviewed_at: dt.datetime | None = None,
    where: str = "<result>",
) -> dict[str, Any]:
    """The reviewed result: answered fields corrected at confidence 1.0, plus a ``Review`` record.

    ``result`` is not modified. Fields without an answer pass through unchanged.

    Raises:
        ReviewError: naming ``where`` and the field, for an answer to an unknown field or a
            field marked present without a value.
        ResultFormatError: when ``result`` breaks the Result contract.

    >>> field = {"ClassId": 0, "Confidence": 0.2, "NumDetections": 0, "NumDetectedValues": 0,
    ...          "SortOrder": 0, "Value": "12.5O", "Detections": []}
    >>> answers = ReviewAnswers(fields={"Total": FieldAnswer(present=True, value="12.50")})
    >>> reviewed = apply_review({"Confidence": 0.2, "Fields": {"Total": field}}, answers, "alice", 12.0)
    >>> reviewed["Fields"]["Total"]["Value"], reviewed["Confidence"], reviewed["Review"]["ChangedFields"]
    ('12.50', 1.0, ['Total'])
    """
    reviewed = copy.deepcopy(dict(result))
    fields: dict[str, dict[str, Any]] = reviewed.setdefault("Fields", {})
    unknown = sorted(set(answers.fields) - set(fields))
    if unknown:
        raise ReviewError(where, f"answers name unknown field(s) {unknown} (fields: {sorted(fields)})")
    changed = []
    for name, field in fields.items():
        answer = answers.fields.get(name)
        if answer is None:
            continue
        apply = _review_multi if is_multi(field) else _review_single
        if apply(where, name, field, answer):
            changed.append(name)
    checked = ExtractionResult.from_json_dict(reviewed, source=where)  # the contract holds after review too
    reviewed["Confidence"] = overall_confidence(list(checked.fields.values()))
    when = (reviewed_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    reviewed["Review"] = {
        "Reviewer": reviewer,
        "TimeSpentInSeconds": round(max(0.0, float(seconds)), 3),
        "ChangedFields": changed,
        "ReviewedAt": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return reviewed
