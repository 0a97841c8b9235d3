"""Human review of low-confidence results, and the corrections it produces as training data.

- ``settings``: ``ReviewSettings`` (logins as password / token hashes, assignments, page width).
- ``flowback``: ``apply_review`` turns a result and a reviewer's answers into the reviewed result.
- ``web``: ``mount_review(app, pipeline, settings)``, the desk under ``/review`` (FastAPI; import
  it from ``docfields.review.web``, so that this package does not load the web stack).
- ``pages``: page images rendered on the server and cached, for the desk and the export.
- ``locate`` and ``export``: reviewed values found in the OCR words, written as a Ground Truth
  manifest for ``train ner`` and as (raw text -> value) pairs for normalizers.

>>> from docfields.review import ReviewSettings, hash_password
>>> settings = ReviewSettings(users={"ana": hash_password("s3cret")})  # doctest: +SKIP
"""

from docfields.errors import ReviewError
from docfields.review.export import ExportSummary, export_corrections, export_home
from docfields.review.flowback import FieldAnswer, ReviewAnswers, answers_from_form, apply_review
from docfields.review.pages import PageImages
from docfields.review.settings import (
    Assignment,
    ReviewSettings,
    hash_password,
    load_review_settings,
    verify_password,
)

__all__ = [
    "Assignment",
    "ExportSummary",
    "FieldAnswer",
    "PageImages",
    "ReviewAnswers",
    "ReviewError",
    "ReviewSettings",
    "answers_from_form",
    "apply_review",
    "export_corrections",
    "export_home",
    "hash_password",
    "load_review_settings",
    "verify_password",
]
