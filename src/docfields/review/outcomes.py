"""Calibration outcomes from reviews: was the model's field right, by the reviewer's word?

For each reviewed document of a pipeline home (status ``done`` with a ``Review``), the model's
Result (the ``fields`` stage artifact, with its ``Evidence``) is compared with the reviewed one:
a field is right when the reviewer left it as it was (not in ``ChangedFields``, same values),
wrong when corrected or marked absent. A document that went to review as an audit sample
(``pipeline.routing.is_audit``) gives outcomes of source ``audit``, the measured accuracy of
what would have been auto-accepted; others give ``review``. Results written before ``Evidence``
existed give none: their fields cannot be placed on the curve.

>>> outcomes = review_outcomes("pipeline-home")  # doctest: +SKIP
"""

from __future__ import annotations

import logging

from docfields.fields.calibration import Outcome, OutcomeSource, field_outcomes
from docfields.fields.result import ExtractionResult, read_result

logger = logging.getLogger(__name__)


def reviewed_outcomes(
    document: str, model: ExtractionResult, reviewed: ExtractionResult, source: OutcomeSource = "review"
) -> list[Outcome]:
    """One outcome per field of the model's result with evidence: right unless the review changed it."""
    changed = set(reviewed.review.changed_fields) if reviewed.review else set()
    return [o.model_copy(update={"correct": False}) if o.field in changed else o
            for o in field_outcomes(document, model, reviewed, source)]  # fmt: skip


def review_source(review_reason: str | None) -> OutcomeSource:
    """``audit`` for a document sent to review as an audit sample, else ``review``."""
    from docfields.pipeline.routing import is_audit

    return "audit" if is_audit(review_reason) else "review"


def review_outcomes(home: str) -> list[Outcome]:
    """Outcomes of every reviewed document of the pipeline in ``home`` whose model result has evidence.

    Raises:
        ReviewError: when ``home`` holds no pipeline store.
    """
    from docfields.pipeline.settings import DocState
    from docfields.pipeline.stages import FIELDS
    from docfields.review.export import existing_pipeline

    pipeline = existing_pipeline(home)
    outcomes: list[Outcome] = []
    for status in pipeline.list(DocState.DONE):
        reviewed = pipeline.result(status.id)
        model_url = pipeline.artifact_path(status.id, FIELDS)
        if not reviewed or "Review" not in reviewed or model_url is None:
            continue
        model = read_result(model_url)
        found = reviewed_outcomes(status.id, model, ExtractionResult.from_json_dict(reviewed, status.id),
                                  review_source(status.review_reason))  # fmt: skip
        if not found:
            logger.info("%s: reviewed, but its model result has no Evidence: not used", status.id)
        outcomes += found
    return outcomes
