"""The stages of a document, one object each: OCR and thumbnails (from the original), enrich, fields.

A stage knows its name, its artifact's extension, its level (stages of a lower level finish
first), whether it runs for given settings, its artifact key (from its inputs and the versions
and options of what transforms them, see ``artifacts``), how it runs, and the facts its output
gives the document row (OCR: the page count; fields: the decision). The table ``STAGES`` drives
the planner, the artifact store and the driver: adding a stage touches this file only.

``run`` raises ``DocfieldsError`` on bad input (the document fails, the message names it) and
anything else on trouble the driver may retry. Engines, taggers and configurations come from the
``Resources`` of whoever runs the stage. Heavy imports happen inside the run methods.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from docfields.pipeline.artifacts import ArtifactStore, artifact_key, bytes_sha256, model_fingerprint
from docfields.pipeline.resources import Resources
from docfields.pipeline.routing import decide
from docfields.pipeline.settings import HomeLayout, PipelineSettings, StageState
from docfields.pipeline.store import Decision, StagePlan

if TYPE_CHECKING:
    from docfields.fields import ExtractionResult, FieldConfiguration
    from docfields.ocr.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

FIELDS_FILE = "fields.json"
OCR, THUMBNAILS, ENRICH, FIELDS = "ocr", "thumbnails", "enrich", "fields"


@dataclass(frozen=True)
class StageInput:
    """What a stage sees: the document, the settings it was submitted with, the upstream artifact keys."""

    name: str
    path: str
    sha256: str
    settings: PipelineSettings
    artifacts: ArtifactStore
    upstream: dict[str, str] = field(default_factory=dict)
    holder: str = ""
    resources: Resources = field(default_factory=Resources)

    def upstream_bytes(self, stage: str) -> bytes:
        """The output of an upstream stage of this document."""
        return self.artifacts.read(stage, self.upstream[stage])


@dataclass(frozen=True)
class StageFacts:
    """What the document row learns from a stage's output: its page count, or the decision and result."""

    pages: int | None = None
    decision: Decision | None = None
    result: dict[str, Any] | None = None


class Stage(ABC):
    """One step of a document; subclasses set the name, extension and level and implement key and run."""

    name: ClassVar[str]
    extension: ClassVar[str] = "json"
    level: ClassVar[int] = 0

    def runs(self, settings: PipelineSettings) -> bool:
        """False when these settings skip the stage."""
        return True

    @abstractmethod
    def key(self, data: StageInput) -> str:
        """The artifact key: same key, same output."""

    @abstractmethod
    def run(self, data: StageInput) -> bytes:
        """The work: the artifact's bytes."""

    def facts(self, output: bytes, settings: PipelineSettings, document: str) -> StageFacts:
        """What the document row learns from the output (nothing, for most stages).

        ``document`` is the original's sha256, the document's identity (the audit sample's draw).
        """
        return StageFacts()


# -- OCR ----------------------------------------------------------------------------------------


def rate_limiter(settings: PipelineSettings) -> RateLimiter:
    """The cross-process limiter of Textract calls for a home (``<home>/ratelimit.db``)."""
    from docfields.ocr.ratelimit import RateLimiter

    path = HomeLayout(Path(settings.home).expanduser().resolve()).ratelimit
    return RateLimiter(path, max_in_flight=settings.ocr_concurrency, starts_per_second=settings.ocr_starts_per_second)


def _rate_limited(data: StageInput) -> AbstractContextManager[None]:
    """Textract calls take a slot of the limiter (in flight, and starts per second); other engines run freely."""
    if data.settings.engine != "textract":
        return nullcontext()
    return rate_limiter(data.settings).acquire(data.holder)


class OcrStage(Stage):
    """Textract-compatible JSON of the original, from the configured engine and its options."""

    name = OCR

    def key(self, data: StageInput) -> str:
        """The original's content, the engine's name, its options (defaults filled in) and its model version.

        A Tesseract upgrade or other languages or DPI make a new key; the same options spelled
        differently (defaults given or not) do not.
        """
        from docfields.ocr.registry import check_engine_options

        settings = data.settings
        options = check_engine_options(settings.engine, **settings.engine_options).model_dump_json()
        with data.resources.ocr_lock:
            version = data.resources.engine(settings.engine, settings.engine_options).model_version
        return artifact_key(OCR, data.sha256, settings.engine, options, version)

    def run(self, data: StageInput) -> bytes:
        """The engine's Textract JSON (one engine call at a time: a Tesseract handle serves one thread)."""
        from docfields.documents import open_document
        from docfields.textract import textract_to_dict

        with data.resources.ocr_lock, open_document(data.path, name=data.name) as document:
            engine = data.resources.engine(data.settings.engine, data.settings.engine_options)
            with _rate_limited(data):
                result = engine.process(document)
        return json.dumps(textract_to_dict(result)).encode("utf-8")

    def facts(self, output: bytes, settings: PipelineSettings, document: str) -> StageFacts:
        """The page count."""
        return StageFacts(pages=int(json.loads(output)["DocumentMetadata"]["Pages"]))


# -- thumbnails ---------------------------------------------------------------------------------


class ThumbnailsStage(Stage):
    """Page thumbnails as the original's npz (the default options: 224 x 224, stretch)."""

    name = THUMBNAILS
    extension = "npz"

    def runs(self, settings: PipelineSettings) -> bool:
        """Only when thumbnails are on."""
        return settings.thumbnails

    def key(self, data: StageInput) -> str:
        """The original's content and the thumbnail options."""
        from docfields.thumbnails import ThumbnailOptions

        return artifact_key(THUMBNAILS, data.sha256, ThumbnailOptions().model_dump_json())

    def run(self, data: StageInput) -> bytes:
        """The npz of every page."""
        from docfields.documents import open_document
        from docfields.thumbnails import make_thumbnails, thumbnails_to_npz

        with open_document(data.path, name=data.name) as document:
            return thumbnails_to_npz(make_thumbnails(document))


# -- enrich -------------------------------------------------------------------------------------


def _model_dir(settings: PipelineSettings) -> str:
    if settings.model is None:
        raise ValueError("the enrich stage runs only with a model")
    return str(Path(settings.model).expanduser().resolve())


def _checked_fingerprint(directory: str) -> str:
    from docfields.errors import ModelError

    if not Path(directory).is_dir():
        raise ModelError(f"{directory}: tagger directory not found")
    return model_fingerprint(directory)


class EnrichStage(Stage):
    """The OCR JSON with every WORD's class probabilities."""

    name = ENRICH
    level = 1

    def runs(self, settings: PipelineSettings) -> bool:
        """Only with a model."""
        return settings.model is not None

    def key(self, data: StageInput) -> str:
        """The OCR artifact and the model directory's fingerprint."""
        return artifact_key(ENRICH, data.upstream[OCR], _checked_fingerprint(_model_dir(data.settings)))

    def run(self, data: StageInput) -> bytes:
        """One forward pass per document, one at a time per process: torch already uses the cores."""
        from docfields.ner import enrich
        from docfields.textract import parse_textract, textract_to_dict

        directory = _model_dir(data.settings)
        tagger = data.resources.tagger(directory, _checked_fingerprint(directory))
        document = parse_textract(data.upstream_bytes(OCR), source=f"{data.name} (OCR)")
        with data.resources.tagger_lock:
            enriched = enrich(document, tagger, source=data.name)
        return json.dumps(textract_to_dict(enriched)).encode("utf-8")


# -- fields -------------------------------------------------------------------------------------


def fields_url(settings: PipelineSettings) -> str:
    """The field configuration a pipeline's settings name: ``fields``, or the model's fields.json."""
    if settings.fields is not None:
        return settings.fields
    if settings.model is None:
        raise ValueError("the fields stage runs only with a model")
    return str(Path(settings.model) / FIELDS_FILE)


def read_configuration(settings: PipelineSettings) -> bytes:
    """The bytes of the field configuration the settings name (at submission: later, its stored copy)."""
    from docfields import storage
    from docfields.errors import FieldConfigError

    url = fields_url(settings)
    try:
        return storage.read_bytes(url)
    except FileNotFoundError as exc:
        raise FieldConfigError(url, "field configuration not found") from exc


def _stored_configuration(settings: PipelineSettings) -> bytes:
    """The configuration a document was submitted with: its copy under the home, by content hash.

    Read by hash, never by the settings' path, so replacing the configuration file (``PUT
    /config/fields``) cannot give a document's key and its run two different configurations.
    """
    return HomeLayout(Path(settings.home).expanduser().resolve()).configuration(_fields_sha256(settings)).read_bytes()


def _fields_sha256(settings: PipelineSettings) -> str:
    from docfields.errors import PipelineError

    if settings.fields_sha256 is None:
        raise PipelineError("the document has no stored field configuration (submitted by an older docfields): "
                            "submit it again")  # fmt: skip
    return settings.fields_sha256


def field_configuration(data: StageInput) -> FieldConfiguration:
    """The document's field configuration, parsed once per content by the stage runner's resources,
    its named normalizer endpoints resolved with the endpoints the document was submitted with."""
    settings = data.settings
    return data.resources.configuration(_stored_configuration(settings), fields_url(settings),
                                        settings.normalizer_endpoints)  # fmt: skip


def producer(settings: PipelineSettings) -> dict[str, Any]:
    """The Result's ``Producer``: the tagger (its name, else its folder's) and the OCR engine that made it."""
    tagger = settings.tagger or Path(_model_dir(settings)).name
    return {"Tagger": tagger, "Engine": settings.engine, "EngineOptions": settings.engine_options}


class FieldsStage(Stage):
    """The Result JSON: fields consolidated from the enriched words; its facts are the decision."""

    name = FIELDS
    level = 2

    def runs(self, settings: PipelineSettings) -> bool:
        """Only with a model."""
        return settings.model is not None

    def key(self, data: StageInput) -> str:
        """The enrichment artifact (its OCR engine, options and tagger are in its key), the stored field
        configuration's content hash, and, when set, the tagger's name (the result's ``Producer``), where
        named normalizer endpoints point and the review target (its thresholds are in the result); unset,
        they leave the keys of earlier documents as they were. The calibration is in the model's fingerprint."""
        settings = data.settings
        named = (settings.tagger, settings.normalizer_endpoints)
        parts = [json.dumps(value, sort_keys=True) for value in named if value]
        if settings.review_target is not None:
            parts.append("review_target=" + json.dumps(settings.review_target, sort_keys=True))
        return artifact_key(FIELDS, data.upstream[ENRICH], _fields_sha256(settings), *parts)

    def run(self, data: StageInput) -> bytes:
        """Extract; a normalizer service that does not answer fails the attempt (transient), not the field."""
        from docfields.fields import extract_fields
        from docfields.fields.result import ProducerInfo
        from docfields.textract import parse_textract

        document = parse_textract(data.upstream_bytes(ENRICH), source=f"{data.name} (enriched)")
        result = extract_fields(document, field_configuration(data), source=data.name,
                                allowed_urls=data.settings.normalizer_urls, generators=data.resources.generators,
                                retry_unavailable=True)  # fmt: skip
        result = result.model_copy(update={"producer": ProducerInfo.model_validate(producer(data.settings))})
        result = calibrated(result, data)
        return json.dumps(result.to_json_dict(), ensure_ascii=False).encode("utf-8")

    def facts(self, output: bytes, settings: PipelineSettings, document: str) -> StageFacts:
        """The decision (done, in_review, or an audit sample's review), with the result a done document keeps."""
        result = json.loads(output)
        return StageFacts(decision=decide(result, settings, document), result=result)


def calibrated(result: ExtractionResult, data: StageInput) -> ExtractionResult:
    """``result`` with calibrated confidences (and thresholds under a target) when the model has a calibration.

    A target without a calibration leaves the raw rule, and the result's ``Warnings`` say why.
    """
    from docfields.fields.calibration import apply_calibration

    directory, target = _model_dir(data.settings), data.settings.review_target
    calibration = data.resources.calibration(directory, _checked_fingerprint(directory))
    if calibration is not None:
        return apply_calibration(result, calibration, target=target)
    if target is None:
        return result
    warning = (f"model {producer(data.settings)['Tagger']} has no calibration: docfields calibrate --model "
               f"{directory} --manifest HELDOUT fits one; until then review_target is ignored and the raw rule "
               f"(review_threshold {data.settings.review_threshold:g}) applies")  # fmt: skip
    return result.model_copy(update={"warnings": [*(result.warnings or []), warning]})


# -- the document ------------------------------------------------------------------------------


_RUN_ONLY_SETTINGS = frozenset(
    {"home", "max_attempts", "retry_base_seconds", "ocr_concurrency", "ocr_starts_per_second", "lease_seconds",
     "poll_seconds"}
)  # fmt: skip


_COUNTED_UNLESS_DEFAULT = ("tagger", "normalizer_endpoints", "review_target", "audit_rate")


def result_key(sha256: str, settings: PipelineSettings) -> str:
    """A document's identity for idempotent submission: its content and the settings that change its result.

    Every setting counts but those of where and how it runs (home, attempts, leases, polling),
    so a setting added later counts too; the model and the field configuration count by
    content (the model's fingerprint, the configuration's hash), not by path. A retrained model
    or an edited configuration makes a new key, and the document is processed again.
    """
    chosen = settings.model_dump(mode="json", exclude=set(_RUN_ONLY_SETTINGS | {"model", "fields", "fields_sha256"}))
    for name in _COUNTED_UNLESS_DEFAULT:  # at their default, they leave the keys of documents submitted before
        if chosen[name] == PipelineSettings.model_fields[name].get_default(call_default_factory=True):
            del chosen[name]
    parts = [sha256, json.dumps(chosen, sort_keys=True)]
    if settings.model is not None:
        parts += [_checked_fingerprint(_model_dir(settings)), bytes_sha256(read_configuration(settings))]
    return "content:" + artifact_key("document", *parts)


# -- the table ----------------------------------------------------------------------------------

STAGES: tuple[Stage, ...] = (OcrStage(), ThumbnailsStage(), EnrichStage(), FieldsStage())
STAGE_BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}


def stage_named(name: str) -> Stage:
    """The stage of that name; a PipelineError listing the stages for another."""
    from docfields.errors import PipelineError

    if name not in STAGE_BY_NAME:
        raise PipelineError(f"unknown stage {name!r}; stages: {', '.join(STAGE_BY_NAME)}")
    return STAGE_BY_NAME[name]


def plan_stages(settings: PipelineSettings) -> tuple[StagePlan, ...]:
    """The stage rows of a new document: each stage pending, or skipped where its ``runs`` says no."""
    return tuple(
        StagePlan(s.name, s.level, StageState.PENDING if s.runs(settings) else StageState.SKIPPED) for s in STAGES
    )
