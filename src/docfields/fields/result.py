"""The extraction result: the Result contract of DESIGN.md, as pydantic models.

``{"Confidence", "Fields": {Name: field}}`` with PascalCase keys and every confidence in 0..1.
A single-value field (``Select`` set) has ``Value`` and ``Detections``; a multi-value field has
``Values``, each ``{"Confidence", "Value", "Detections"}`` (the original's shape, section 5.5).
``Optional`` appears only when the configuration sets it, ``RawText`` only on a detection a
normalizer changed. docfields adds ``Warnings`` (what degraded this result) and, once a person has
checked it, ``Review`` (``{"Reviewer", "TimeSpentInSeconds", "ChangedFields", "ReviewedAt"}``); the
pipeline's results carry ``Producer`` (``{"Tagger", "Engine", "EngineOptions"}``), optional on reading.

Calibrated confidence (docfields): every field carries ``Evidence``, what its confidence was built
from, and, with a model that has a calibration (``fields.calibration``), ``CalibratedConfidence``:
the chance, measured on held-out documents, that the field's value is right. Under a review target
a field also carries its ``ReviewThreshold``; it needs review when its calibrated confidence is below.
All three are optional on reading: results without them read back the same.

Unknown keys read from a file are kept, so a result written by a newer version (or by the
original, with its ``Review.WorkerId``) survives ``from_json_dict`` -> ``to_json_dict``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_pascal

from docfields import storage
from docfields.errors import ResultFormatError
from docfields.textract import BoundingBox

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class _ResultModel(BaseModel):
    """PascalCase on the wire, snake_case in Python, unknown keys kept."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="allow")


class Detection(_ResultModel):
    """One mention of a field: consecutive words of its class, on one page."""

    class_id: int
    class_name: str
    confidence: Confidence
    blocks: list[str] = Field(description="WORD block Ids, in reading order")
    bounding_box: BoundingBox = Field(description="Union of the words' boxes, in fractions of the page")
    page_num: int = Field(ge=1)
    text: str = Field(description="Words joined by spaces, lines by newlines; normalized when RawText is set")
    raw_text: str | None = Field(default=None, description="The text before normalization")


class FieldEvidence(_ResultModel):
    """What a field's confidence rests on, kept in the result so that reviews can refit the calibration.

    ``mention_confidence``: the mean tagger confidence of the chosen value's detections (of all
    values' for a multi-value field); ``agreement``: the share of the field's detections that read
    the chosen value; ``ocr_confidence``: the lowest OCR confidence (0..1) of their words;
    ``normalized``: None without a normalizer, else whether it validated the value. From the word
    probabilities: ``missed_probability``, the highest probability of the field's class on a word
    outside the chosen detections (a value the tagger nearly found, or a second candidate), and
    ``edge_probability``, the highest on a word just before or after one (a value cut short).
    """

    confidence: Confidence = Field(description="The raw field confidence (consolidation's)")
    detections: int = Field(ge=0)
    values: int = Field(ge=0, description="Distinct values read")
    mention_confidence: Confidence = 0.0
    agreement: Confidence = 0.0
    ocr_confidence: Confidence | None = None
    normalized: bool | None = None
    missed_probability: Confidence | None = None
    edge_probability: Confidence | None = None


class FieldValue(_ResultModel):
    """One distinct value of a multi-value field, with the mentions that read it."""

    confidence: Confidence
    value: str
    detections: list[Detection]


class FieldResult(_ResultModel):
    """One field of the result; ``value`` + ``detections`` or ``values``, never both."""

    class_id: int
    confidence: Confidence
    num_detections: int = Field(ge=0)
    num_detected_values: int = Field(ge=0)
    sort_order: int = Field(ge=0)
    optional: bool | None = None
    value: str | None = None
    values: list[FieldValue] | None = None
    detections: list[Detection] | None = None
    evidence: FieldEvidence | None = None
    calibrated_confidence: Confidence | None = Field(
        default=None, description="Chance the value is right, from the model's calibration"
    )
    review_threshold: Confidence | None = Field(
        default=None, description="Under a review target: below this calibrated confidence the field is reviewed"
    )

    @model_validator(mode="after")
    def _one_shape(self) -> FieldResult:
        if (self.values is None) == (self.value is None):
            raise ValueError("a field has either Value (with Detections) or Values")
        if self.value is not None and self.detections is None:
            raise ValueError("a single-value field needs Detections")
        return self

    @property
    def is_multi_value(self) -> bool:
        """True when the field lists ``Values`` instead of one ``Value``."""
        return self.values is not None


class ReviewInfo(_ResultModel):
    """Who reviewed the result, how long it took, which fields they changed, and when (ISO 8601)."""

    reviewer: str
    time_spent_in_seconds: float = Field(ge=0.0)
    changed_fields: list[str]
    reviewed_at: str


class ProducerInfo(_ResultModel):
    """What made a result: the tagger (its name) and the OCR engine with its options.

    docfields adds it to every result of the pipeline, so that after a reconfiguration each result
    still says which models it came from. Optional: results written before it, by ``fields
    extract`` or by the original have none, and read back the same.
    """

    tagger: str
    engine: str
    engine_options: dict[str, Any] = Field(default_factory=dict)


class ExtractionResult(_ResultModel):
    """A document's fields, the overall confidence (min over counted fields), and what degraded it."""

    confidence: Confidence
    fields: dict[str, FieldResult]
    calibrated_confidence: Confidence | None = Field(
        default=None, description="Min over counted fields' calibrated confidences, like Confidence"
    )
    warnings: list[str] | None = None
    review: ReviewInfo | None = None
    producer: ProducerInfo | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The Result JSON: PascalCase keys, keys that are None left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    @classmethod
    def from_json_dict(cls, data: dict[str, Any], source: str = "<result>") -> ExtractionResult:
        """Read a Result JSON back (with ``Review`` after review).

        Raises:
            ResultFormatError: naming ``source`` and the key path of the first problem.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "result"
            raise ResultFormatError(f"{source}: {where}: {error['msg']}") from exc


def write_result(result: ExtractionResult, url: str) -> None:
    """Write the Result JSON atomically: a reader never sees half a result."""
    text = json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False)
    storage.write_text_atomic(url, text + "\n")


def read_result(url: str) -> ExtractionResult:
    """Read a Result JSON file (local path or fsspec URL).

    Raises:
        ResultFormatError: naming the file when it cannot be read or breaks the contract.
    """
    try:
        data = json.loads(storage.read_bytes(url))
    except (OSError, ValueError) as exc:
        raise ResultFormatError(f"{url}: cannot read the result: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultFormatError(f"{url}: a result is a JSON object, not {type(data).__name__}")
    return ExtractionResult.from_json_dict(data, source=url)
