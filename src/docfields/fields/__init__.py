"""Fields from enriched Textract JSON: configuration, mentions, normalization, consolidation.

- ``config``: the field configuration (PascalCase JSON list; snake_case accepted), strictly checked.
- ``mentions``: runs of same-class words in reading order, within a page and adjacent lines.
- ``consolidate``: distinct values, ``Select`` strategies, confidences that do not dilute.
- ``extract``: the whole step, with batched normalizers, and ``extract_file`` for files.
- ``result``: the Result JSON contract (``Confidence``, ``Fields``, ``Warnings``, ``Review``).

>>> from docfields.fields import credit_card_configuration
>>> [spec.name for spec in credit_card_configuration().active()][:2]
['Agreement Effective Date', 'APR - Introductory']
"""

from docfields.errors import FieldConfigError, ResultFormatError
from docfields.fields.config import (
    FieldConfiguration,
    FieldSpec,
    SelectStrategy,
    credit_card_configuration,
    field_entries,
    load_field_configuration,
    parse_field_configuration,
    parse_field_configuration_bytes,
    read_field_entries,
)
from docfields.fields.consolidate import NORMALIZER_FAILURE_FACTOR, combined_confidence, overall_confidence
from docfields.fields.extract import extract_fields, extract_file
from docfields.fields.mentions import Mention, find_mentions, lines_adjacent, word_confidence
from docfields.fields.result import (
    Detection,
    ExtractionResult,
    FieldResult,
    FieldValue,
    ReviewInfo,
    read_result,
    write_result,
)

__all__ = [
    "NORMALIZER_FAILURE_FACTOR",
    "Detection",
    "ExtractionResult",
    "FieldConfigError",
    "FieldConfiguration",
    "FieldResult",
    "FieldSpec",
    "FieldValue",
    "Mention",
    "ResultFormatError",
    "ReviewInfo",
    "SelectStrategy",
    "combined_confidence",
    "credit_card_configuration",
    "extract_fields",
    "extract_file",
    "find_mentions",
    "lines_adjacent",
    "field_entries",
    "load_field_configuration",
    "overall_confidence",
    "parse_field_configuration",
    "parse_field_configuration_bytes",
    "read_field_entries",
    "read_result",
    "word_confidence",
    "write_result",
]
