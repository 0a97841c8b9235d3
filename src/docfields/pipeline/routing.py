"""Where a document goes once its fields are extracted: done, or review (saying why), or an audit sample.

Two rules, one per kind of model:

- **target** (``review_target``, with a calibrated model): each field carries its
  ``ReviewThreshold``, the lowest calibrated confidence at which accepted fields met the target on
  held-out outcomes; a document goes to review only when some field is below its threshold, and
  the reason names those fields (the desk marks just them);
- **raw rule** (``review_threshold``): the original's, for models without a calibration or without
  a target: review when the result's raw confidence is below the threshold.

Audit: a document either rule would accept goes to review anyway with probability ``audit_rate``,
so the accuracy of auto-accepted fields is measured from its review, not assumed (``/metrics``).
The draw is a hash of the document's content, not a random number: a rerun, a retry or another
worker decides the same, and it cannot depend on the fields.

>>> audit_drawn("0" * 64, 1.0), audit_drawn("0" * 64, 0.0)
(True, False)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docfields.pipeline.settings import DocState, PipelineSettings
from docfields.pipeline.store import Decision

AUDIT_PREFIX = "audit sample"
AUDIT_REASON = f"{AUDIT_PREFIX}: check every field"
_DRAW_SCALE = 2.0**64


def audit_drawn(document: str, rate: float) -> bool:
    """True for a share ``rate`` of documents: a uniform draw from the hash of ``document`` (its sha256).

    The same document always draws the same number, so raising the rate only adds documents.
    """
    digest = hashlib.sha256(f"audit:{document}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _DRAW_SCALE < rate


@dataclass(frozen=True)
class AuditTally:
    """Fields of reviewed audit samples, and how many the reviewer left unchanged (right as accepted)."""

    documents: int = 0
    fields: int = 0
    correct: int = 0

    def __add__(self, other: AuditTally) -> AuditTally:
        return AuditTally(self.documents + other.documents, self.fields + other.fields, self.correct + other.correct)

    @property
    def accuracy(self) -> float | None:
        """The measured accuracy of auto-accepted fields (None before any audit review)."""
        return self.correct / self.fields if self.fields else None


def audit_tally(reviewed: Mapping[str, Any]) -> AuditTally:
    """One reviewed audit sample's tally: a field is right when the review did not change it (``ChangedFields``,
    as ``review.flowback.apply_review`` records them); an unreviewed result counts nothing."""
    review = reviewed.get("Review")
    if not isinstance(review, Mapping):
        return AuditTally()
    changed = set(review.get("ChangedFields") or [])
    names = list(reviewed.get("Fields") or {})
    return AuditTally(1, len(names), sum(name not in changed for name in names))


def is_audit(reason: str | None) -> bool:
    """True when a review reason is the audit sample's (the document would have been done)."""
    return reason is not None and reason.startswith(AUDIT_PREFIX)


def decide(result: Mapping[str, Any], settings: PipelineSettings, document: str) -> Decision:
    """Done, or in_review with the reason: fields below their thresholds, the raw rule, or the audit sample.

    Args:
        result: The Result JSON.
        settings: The document's settings (``review_threshold``, ``audit_rate``).
        document: The original's sha256: the audit draw's identity.
    """
    confidence = float(result["Confidence"])
    if has_thresholds(result):
        reason = target_reason(result, settings.review_target)
    else:
        reason = raw_reason(result, settings.review_threshold)
    if reason is None and audit_drawn(document, settings.audit_rate):
        reason = AUDIT_REASON
    return Decision(DocState.DONE if reason is None else DocState.IN_REVIEW, confidence, reason)


def has_thresholds(result: Mapping[str, Any]) -> bool:
    """True when the result was checked against a target (its fields carry ``ReviewThreshold``)."""
    return any("ReviewThreshold" in field for field in (result.get("Fields") or {}).values())


def _missing_mandatory(field: Mapping[str, Any]) -> bool:
    return not field.get("Optional") and field.get("NumDetections", 0) == 0


def raw_reason(result: Mapping[str, Any], threshold: float) -> str | None:
    """The raw rule: None when the raw confidence reaches ``threshold``, else why not."""
    confidence = float(result["Confidence"])
    if confidence >= threshold:
        return None
    missing = [name for name, field in (result.get("Fields") or {}).items() if _missing_mandatory(field)]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        return f"mandatory {noun} {', '.join(missing)} missing"
    return f"confidence {confidence:.2f} < {threshold:g}"


def target_reason(result: Mapping[str, Any], target: float | Mapping[str, float] | None = None) -> str | None:
    """The target rule: None when every field reaches its ``ReviewThreshold``, else the fields below it.

    e.g. "2 fields below the 0.99 target: APR - Penalty 0.83 < 0.97, Card Name (missing) 0.61 < 0.95".
    """
    from docfields.fields import ExtractionResult
    from docfields.fields.calibration import fields_below_threshold

    checked = ExtractionResult.from_json_dict(dict(result), source="result")
    below = fields_below_threshold(checked)
    if not below:
        return None
    named = []
    for name in below:
        field = checked.fields[name]
        missing = " (missing)" if _missing_mandatory(result["Fields"][name]) else ""
        named.append(f"{name}{missing} {field.calibrated_confidence:.2f} < {field.review_threshold:.2f}")
    noun = "field" if len(below) == 1 else "fields"
    goal = f"the {target:g} target" if isinstance(target, int | float) else "the target"
    return f"{len(below)} {noun} below {goal}: {', '.join(named)}"
