"""Synthetic demo corpus with ground truth: credit card agreements in the spirit of the CFPB corpus.

Every generated document comes with its truth: field values, and page-level boxes in the
SageMaker Ground Truth manifest format that the original's annotation jobs wrote, plus the
original's 19-field configuration. Generators take a seed.

>>> from docfields.samples import generate_credit_card_corpus
>>> summary = generate_credit_card_corpus("demo-corpus", n=60, seed=7)  # doctest: +SKIP
"""

from docfields.samples.corpus import (
    CorpusOptions,
    CorpusSummary,
    GeneratedDocument,
    GeneratedPage,
    credit_card_fields,
    generate_credit_card_corpus,
    generate_document,
    write_corpus,
)
from docfields.samples.layouts import LAYOUTS
from docfields.samples.scoring import FieldAccuracy, read_truth, score_results, score_results_folder

__all__ = [
    "LAYOUTS",
    "CorpusOptions",
    "CorpusSummary",
    "FieldAccuracy",
    "GeneratedDocument",
    "GeneratedPage",
    "credit_card_fields",
    "generate_credit_card_corpus",
    "generate_document",
    "read_truth",
    "score_results",
    "score_results_folder",
    "write_corpus",
]
