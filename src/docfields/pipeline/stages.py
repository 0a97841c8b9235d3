"""The stages of a document: OCR and thumbnails (from the original), enrich, fields; and the decision.

Each stage is a key function (what its output depends on, see ``artifacts``) and a run function
(the work), both of a ``StageInput``. Run functions raise ``DocfieldsError`` on bad input (the
document fails, the message names it) and anything else on trouble the worker may retry.

Models, engines and field configurations are loaded once per process and kept: a worker
processes many documents with the same ones. Heavy imports happen inside the run functions.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docfields.pipeline.artifacts import ArtifactStore, artifact_key, bytes_sha256, model_fingerprint
from docfields.pipeline.settings import HomeLayout, PipelineSettings
from docfields.pipeline.store import Decision, StagePlan

if TYPE_CHECKING:
    from docfields.fields import FieldConfiguration
    from docfields.ner import Tagger
    from docfields.ocr.base import OcrEngine
    from docfields.ocr.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

FIELDS_FILE = "fields.json"


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

    def upstream_bytes(self, stage: str) -> bytes:
        """The output of an upstream stage of this document."""
        return self.artifacts.read(stage, self.upstream[stage])


@dataclass(frozen=True)
class Stage:
    """One step: level (stages of a lower level finish first), key of its output, the work itself."""

    name: str
    level: int
    key: Callable[[StageInput], str]
    run: Callable[[StageInput], bytes]


# -- OCR ----------------------------------------------------------------------------------------

_ENGINES: dict[str, OcrEngine] = {}
_OCR_LOCK = threading.Lock()  # an engine (a Tesseract handle) serves one thread at a time


def _engine(name: str) -> OcrEngine:
    if name not in _ENGINES:
        from docfields.ocr import load_engine

        _ENGINES[name] = load_engine(name)
    return _ENGINES[name]


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


def ocr_key(data: StageInput) -> str:
    """The original's content, the engine's name (and docfields' version, in every key)."""
    return artifact_key("ocr", data.sha256, data.settings.engine)


def run_ocr(data: StageInput) -> bytes:
    """Textract-compatible JSON of the original, from the configured engine."""
    from docfields.documents import open_document
    from docfields.textract import textract_to_dict

    with _OCR_LOCK, open_document(data.path, name=data.name) as document:
        engine = _engine(data.settings.engine)
        with _rate_limited(data):
            result = engine.process(document)
    return json.dumps(textract_to_dict(result)).encode("utf-8")


def ocr_pages(output: bytes) -> int:
    """Page count of an OCR artifact."""
    return int(json.loads(output)["DocumentMetadata"]["Pages"])


# -- thumbnails ---------------------------------------------------------------------------------


def thumbnails_key(data: StageInput) -> str:
    """The original's content and the thumbnail options (the defaults: 224 x 224, stretch)."""
    from docfields.thumbnails import ThumbnailOptions

    return artifact_key("thumbnails", data.sha256, ThumbnailOptions().model_dump_json())


def run_thumbnails(data: StageInput) -> bytes:
    """Page thumbnails as the original's npz."""
    from docfields.documents import open_document
    from docfields.thumbnails import make_thumbnails, thumbnails_to_npz

    with open_document(data.path, name=data.name) as document:
        return thumbnails_to_npz(make_thumbnails(document))


# -- enrich -------------------------------------------------------------------------------------

_TAGGERS: dict[str, tuple[str, Tagger]] = {}
_TAGGER_LOCK = threading.Lock()
torch_threads: int | None = None  # set by worker processes: they, not torch's threads, use the cores


def _model_dir(settings: PipelineSettings) -> str:
    if settings.model is None:
        raise ValueError("the enrich stage runs only with a model")
    return str(Path(settings.model).expanduser().resolve())


def _tagger(directory: str, fingerprint: str) -> Tagger:
    """The tagger of ``directory``, loaded once per process (reloaded when its files change)."""
    with _TAGGER_LOCK:
        cached = _TAGGERS.get(directory)
        if cached is None or cached[0] != fingerprint:
            from docfields.ner import Tagger

            _TAGGERS.clear()  # one model in memory at a time
            logger.info("loading tagger %s", directory)
            _TAGGERS[directory] = (fingerprint, Tagger.load(directory))
            if torch_threads is not None:
                import torch

                torch.set_num_threads(torch_threads)
        return _TAGGERS[directory][1]


def _checked_fingerprint(directory: str) -> str:
    from docfields.errors import ModelError

    if not Path(directory).is_dir():
        raise ModelError(f"{directory}: tagger directory not found")
    return model_fingerprint(directory)


def enrich_key(data: StageInput) -> str:
    """The OCR artifact and the model directory's fingerprint."""
    return artifact_key("enrich", data.upstream["ocr"], _checked_fingerprint(_model_dir(data.settings)))


def run_enrich(data: StageInput) -> bytes:
    """The OCR JSON with every WORD's class probabilities."""
    from docfields.ner import enrich
    from docfields.textract import parse_textract, textract_to_dict

    directory = _model_dir(data.settings)
    tagger = _tagger(directory, _checked_fingerprint(directory))
    document = parse_textract(data.upstream_bytes("ocr"), source=f"{data.name} (OCR)")
    with _TAGGER_LOCK:  # one forward pass at a time per process: torch already uses the cores
        enriched = enrich(document, tagger, source=data.name)
    return json.dumps(textract_to_dict(enriched)).encode("utf-8")


# -- fields -------------------------------------------------------------------------------------

_CONFIGS: dict[str, FieldConfiguration] = {}


def _fields_file(settings: PipelineSettings) -> str:
    if settings.fields is not None:
        return settings.fields
    if settings.model is None:
        raise ValueError("the fields stage runs only with a model")
    return str(Path(settings.model) / FIELDS_FILE)


def _config_bytes(settings: PipelineSettings) -> tuple[str, bytes]:
    from docfields import storage
    from docfields.errors import FieldConfigError

    url = _fields_file(settings)
    try:
        return url, storage.read_bytes(url)
    except FileNotFoundError as exc:
        raise FieldConfigError(url, "field configuration not found") from exc


def field_configuration(settings: PipelineSettings) -> FieldConfiguration:
    """The field configuration of a document's settings, parsed once per content."""
    from docfields.errors import FieldConfigError
    from docfields.fields import parse_field_configuration

    url, raw = _config_bytes(settings)
    digest = bytes_sha256(raw)
    if digest not in _CONFIGS:
        try:
            entries = json.loads(raw)
        except ValueError as exc:
            raise FieldConfigError(url, f"not valid JSON: {exc}") from exc
        _CONFIGS[digest] = parse_field_configuration(entries, source=url)
    return _CONFIGS[digest]


def fields_key(data: StageInput) -> str:
    """The enrichment artifact and the field configuration's content hash."""
    return artifact_key("fields", data.upstream["enrich"], bytes_sha256(_config_bytes(data.settings)[1]))


def run_fields(data: StageInput) -> bytes:
    """The Result JSON: fields consolidated from the enriched words."""
    from docfields.fields import extract_fields
    from docfields.textract import parse_textract

    document = parse_textract(data.upstream_bytes("enrich"), source=f"{data.name} (enriched)")
    result = extract_fields(document, field_configuration(data.settings), allowed_urls=data.settings.normalizer_urls)
    return json.dumps(result.to_json_dict(), ensure_ascii=False).encode("utf-8")


def decide(result: dict[str, Any], threshold: float) -> Decision:
    """Done, or in_review when the result's confidence is under the threshold (saying why)."""
    confidence = float(result["Confidence"])
    if confidence >= threshold:
        return Decision("done", confidence)
    missing = [
        name for name, value in result.get("Fields", {}).items()
        if not value.get("Optional") and value.get("NumDetections", 0) == 0
    ]  # fmt: skip
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        reason = f"mandatory {noun} {', '.join(missing)} missing"
    else:
        reason = f"confidence {confidence:.2f} < {threshold:g}"
    return Decision("in_review", confidence, reason)


# -- the document ------------------------------------------------------------------------------


_RUN_ONLY_SETTINGS = frozenset(
    {"home", "max_attempts", "retry_base_seconds", "ocr_concurrency", "ocr_starts_per_second", "lease_seconds",
     "poll_seconds"}
)  # fmt: skip


def result_key(sha256: str, settings: PipelineSettings) -> str:
    """A document's identity for idempotent submission: its content and the settings that change its result.

    Every setting counts but those of where and how it runs (home, attempts, leases, polling),
    so a setting added later counts too; the model and the field configuration count by
    content (the model's fingerprint, the configuration's hash), not by path. A retrained model
    or an edited configuration makes a new key, and the document is processed again.
    """
    chosen = settings.model_dump(mode="json", exclude=set(_RUN_ONLY_SETTINGS | {"model", "fields"}))
    parts = [sha256, json.dumps(chosen, sort_keys=True)]
    if settings.model is not None:
        parts += [_checked_fingerprint(_model_dir(settings)), bytes_sha256(_config_bytes(settings)[1])]
    return "content:" + artifact_key("document", *parts)


# -- the graph ----------------------------------------------------------------------------------

STAGES: tuple[Stage, ...] = (
    Stage("ocr", 0, ocr_key, run_ocr),
    Stage("thumbnails", 0, thumbnails_key, run_thumbnails),
    Stage("enrich", 1, enrich_key, run_enrich),
    Stage("fields", 2, fields_key, run_fields),
)
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}


def plan_stages(settings: PipelineSettings) -> tuple[StagePlan, ...]:
    """The stage rows of a new document: thumbnails skipped when off, enrich and fields without a model."""
    skipped = set()
    if not settings.thumbnails:
        skipped.add("thumbnails")
    if settings.model is None:
        skipped.update({"enrich", "fields"})
    return tuple(StagePlan(s.name, s.level, "skipped" if s.name in skipped else "pending") for s in STAGES)
