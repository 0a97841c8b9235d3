"""Field normalizers: synthetic date data, a trainable byte-level seq2seq model, rules, a hybrid.

- ``dates``: the original's date format table (fixed) and a seeded generator of
  ``Convert dates to <FORMAT>: <date>`` -> ``<date in FORMAT>`` pairs.
- ``seq2seq`` / ``training`` / ``decoding``: a byte-level T5 built from a CPU-sized config or
  a checkpoint, trained by exact match on generated text, decoded greedily with a KV cache.
- ``rules``: ``date:<FORMAT>``, explicit about day/month order, two-digit years and failure.
- ``money``: ``money:<CURRENCY>`` and ``percent``, fees and rates in a canonical form, never guessed.
- ``hybrid``: rules where certain, a validated model elsewhere.
- ``registry``: a normalizer name (rule, model directory, URL) to a ``Normalizer``.

Importing this package loads neither torch nor transformers.
"""

from docfields.normalize.base import NormalizeContext, NormalizedValue, Normalizer, TextGenerator
from docfields.normalize.context import document_context, infer_date_order, texts_context
from docfields.normalize.datagen import write_date_dataset
from docfields.normalize.dates import (
    DEFAULT_PROMPT_TEMPLATE,
    DateDataOptions,
    DateExample,
    DateFormat,
    DateFormatTable,
    best_achievable_accuracy,
    generate_date_examples,
    load_format_table,
    target_posterior,
)
from docfields.normalize.hybrid import HybridDateNormalizer
from docfields.normalize.money import MoneyRuleNormalizer, PercentRuleNormalizer
from docfields.normalize.pairs import TextPairs, read_pairs, write_pairs
from docfields.normalize.patterns import parse_strict, pattern_from_name, render_date
from docfields.normalize.registry import (
    GeneratorNormalizer,
    RuleSpec,
    ServiceGenerator,
    parse_rule_spec,
    resolve_normalizer,
    rule_kind,
)
from docfields.normalize.rules import DateRuleNormalizer, ParsedDate, parse_date
from docfields.normalize.seq2seq import NAMED_CONFIGS, ModelCard, Seq2SeqModel, build_model
from docfields.normalize.training import TrainEvent, TrainOptions, TrainResult, train_seq2seq

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "NAMED_CONFIGS",
    "DateDataOptions",
    "DateExample",
    "DateFormat",
    "DateFormatTable",
    "DateRuleNormalizer",
    "GeneratorNormalizer",
    "HybridDateNormalizer",
    "ModelCard",
    "MoneyRuleNormalizer",
    "NormalizeContext",
    "NormalizedValue",
    "Normalizer",
    "ParsedDate",
    "PercentRuleNormalizer",
    "RuleSpec",
    "Seq2SeqModel",
    "ServiceGenerator",
    "TextGenerator",
    "TextPairs",
    "TrainEvent",
    "TrainOptions",
    "TrainResult",
    "best_achievable_accuracy",
    "build_model",
    "document_context",
    "generate_date_examples",
    "infer_date_order",
    "load_format_table",
    "normalize_texts",
    "parse_date",
    "parse_rule_spec",
    "parse_strict",
    "pattern_from_name",
    "read_pairs",
    "render_date",
    "resolve_normalizer",
    "rule_kind",
    "target_posterior",
    "texts_context",
    "train_seq2seq",
    "write_date_dataset",
    "write_pairs",
]


def normalize_texts(
    spec: str, texts: list[str], prompt: str | None = None, contexts: list[NormalizeContext] | None = None
) -> list[NormalizedValue]:
    """Normalize ``texts`` with the normalizer named ``spec`` (see ``resolve_normalizer``), each
    read in its context when ``contexts`` (one per text) is given.

    >>> normalize_texts("date:YYYY-MM-DD", ["Dec 31st 2000"])[0].value
    '2000-12-31'
    """
    return resolve_normalizer(spec, prompt).normalize(texts, contexts)
