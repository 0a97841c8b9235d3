"""The pipeline's options and the status records it reports, and where its files live under ``home``.

A document is processed with the settings it was submitted with (they are stored with it), so a
service that changes its field configuration or threshold at run time never mixes two
configurations inside one document, and background workers need no restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class StageState(StrEnum):
    """A stage row's state; the values are the store's and the JSON API's strings."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class DocState(StrEnum):
    """A document's status; the values are the store's and the JSON API's strings."""

    QUEUED = "queued"
    RUNNING = "running"
    IN_REVIEW = "in_review"
    DONE = "done"
    FAILED = "failed"


FINAL_STATES = (DocState.IN_REVIEW, DocState.DONE, DocState.FAILED)

Accuracy = Annotated[float, Field(ge=0.0, le=1.0)]
ReviewTarget = Accuracy | dict[str, Accuracy]
REVIEW_THRESHOLD_HELP = ("The raw rule: results whose raw confidence is below go to review (used when no "
                         "review_target is set, or the model has no calibration).")  # fmt: skip
REVIEW_TARGET_HELP = ("Target accuracy of fields accepted without review, overall (0.99) or per field name "
                      "({\"Card Name\": 0.99}); with a calibrated model, a document goes to review only when "
                      "some field is below the threshold that meets it. None: the raw rule.")  # fmt: skip
AUDIT_RATE_HELP = ("Share of documents that would be done sent to review anyway (an audit sample), so the "
                   "accuracy of auto-accepted fields is measured (/metrics).")  # fmt: skip


class PipelineSettings(BaseModel):
    """Everything the pipeline needs; ``DOCFIELDS_HOME`` is read at the edge (CLI, service), not here."""

    model_config = ConfigDict(extra="forbid")

    home: str = Field(".docfields", description="Local folder of the store, originals, artifacts and results.")
    engine: str = Field("auto", description="OCR engine name (see `docfields engines`).")
    engine_options: dict[str, Any] = Field(
        default_factory=dict,
        description="That engine's options, e.g. languages and DPI as `docfields.ocr.engine_options` routes them.",
    )
    model: str | None = Field(None, description="Tagger directory; None stops after OCR and thumbnails.")
    tagger: str | None = Field(
        None, description="The tagger's name (a service's --model NAME), recorded in results; None: its folder's name."
    )
    fields: str | None = Field(None, description="Field configuration file; None: the model's fields.json.")
    fields_sha256: str | None = Field(
        None,
        description="Set per document at submission: the hash of the "
        "configuration's copy under the home that its stages read.",
    )
    review_threshold: float = Field(0.5, ge=0.0, le=1.0, description=REVIEW_THRESHOLD_HELP)
    review_target: ReviewTarget | None = Field(None, description=REVIEW_TARGET_HELP)
    audit_rate: float = Field(0.02, ge=0.0, le=1.0, description=AUDIT_RATE_HELP)
    normalizer_urls: list[str] | None = Field(
        None,
        description="URL prefixes the field configuration's normalizer "
        "services may be called at; None: any (the user's own configuration).",
    )
    normalizer_endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Named normalizer endpoints (the original's SageMaker endpoint names): a field's "
        "NormalizerEndpoint holding NAME calls this URL or model directory.",
    )
    thumbnails: bool = Field(True, description="Render page thumbnails (224 x 224 npz).")
    max_attempts: int = Field(3, ge=1, description="Attempts per stage for transient errors and lost workers.")
    retry_base_seconds: float = Field(1.0, ge=0.0, description="First retry delay; doubles per attempt.")
    ocr_concurrency: int = Field(90, ge=1, description="Textract calls in flight, across processes.")
    ocr_starts_per_second: float = Field(2.0, gt=0.0, description="Textract call starts per second.")
    lease_seconds: float = Field(60.0, gt=0.0, description="A running stage whose worker stops renewing "
                                 "its lease for this long is taken over by another worker.")  # fmt: skip
    poll_seconds: float = Field(0.5, gt=0.0, description="How often an idle worker looks for work.")


class PipelineConfig(BaseModel):
    """What an operator changes while the pipeline runs: which model each stage uses, and the review rule.

    ``Pipeline.reconfigure`` applies one to documents submitted from then on (a document keeps the
    settings it was submitted with) and keeps it in ``<home>/pipeline.json``. The field
    configuration, normalizers included, is changed on its own (``/config/fields``).
    """

    model_config = ConfigDict(extra="forbid")

    thumbnails: bool = Field(description="Render page thumbnails.")
    engine: str = Field(description="OCR engine name.")
    engine_options: dict[str, Any] = Field(description="The engine's options (languages, dpi, ...).")
    model: str | None = Field(description="Tagger directory; None stops after OCR and thumbnails.")
    tagger: str | None = Field(description="The tagger's name, recorded in results.")
    review_threshold: float = Field(ge=0.0, le=1.0, description=REVIEW_THRESHOLD_HELP)
    review_target: ReviewTarget | None = Field(None, description=REVIEW_TARGET_HELP)
    audit_rate: float = Field(0.02, ge=0.0, le=1.0, description=AUDIT_RATE_HELP)

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> PipelineConfig:
        """The reconfigurable part of ``settings``."""
        return cls.model_validate(settings.model_dump(include=set(cls.model_fields)))


class StageStatus(BaseModel):
    """One stage of one document: its state, attempts, time and error, and whether its output was reused."""

    name: str
    state: StageState
    attempts: int
    seconds: float | None
    error: str | None
    reused: bool = Field(False, description="The output existed already (same inputs, engine and model).")
    started: float | None = None
    finished: float | None = None


class DocumentStatus(BaseModel):
    """Where a document is: queued | running | in_review | done | failed, with its stages."""

    id: str
    name: str
    status: DocState
    created: float
    updated: float
    pages: int | None
    confidence: float | None
    review_reason: str | None
    error: str | None
    stages: list[StageStatus]

    @property
    def final(self) -> bool:
        """True when no worker will touch the document again (review may still complete it)."""
        return self.status in FINAL_STATES


@dataclass(frozen=True)
class HomeLayout:
    """The folders under ``home``: one SQLite file, originals, artifacts by stage, final results."""

    home: Path

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> HomeLayout:
        """The layout of ``settings.home``, created if missing (SQLite needs a local folder)."""
        layout = cls(Path(settings.home).expanduser().resolve())
        for folder in (layout.documents, layout.artifacts, layout.configurations, layout.results):
            folder.mkdir(parents=True, exist_ok=True)
        return layout

    @property
    def database(self) -> Path:
        """The SQLite store."""
        return self.home / "docfields.db"

    @property
    def documents(self) -> Path:
        """Originals, stored by content hash."""
        return self.home / "documents"

    @property
    def artifacts(self) -> Path:
        """Stage outputs, stored by artifact key."""
        return self.home / "artifacts"

    @property
    def configurations(self) -> Path:
        """Field configurations as documents were submitted with them, by content hash."""
        return self.home / "configurations"

    def configuration(self, sha256: str) -> Path:
        """Where the configuration of that hash is stored."""
        return self.configurations / f"{sha256}.json"

    @property
    def results(self) -> Path:
        """Final results, ``<id>.json``."""
        return self.home / "results"

    @property
    def pipeline_config(self) -> Path:
        """The pipeline configuration a service was last reconfigured with (``PipelineConfig`` JSON)."""
        return self.home / "pipeline.json"

    @property
    def ratelimit(self) -> Path:
        """The cross-process Textract rate limiter's state (``docfields.ocr.ratelimit``)."""
        return self.home / "ratelimit.db"

    def result(self, doc_id: str) -> Path:
        """Where a document's final result goes."""
        return self.results / f"{doc_id}.json"
