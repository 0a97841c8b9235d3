"""The pipeline as callers see it: submit documents, run workers, read statuses and results, review.

>>> pipeline = Pipeline(PipelineSettings(home=".docfields", model="models/cards"))  # doctest: +SKIP
>>> doc_id = pipeline.submit("agreement.pdf")  # doctest: +SKIP
>>> pipeline.run_until_idle()  # doctest: +SKIP
>>> pipeline.status(doc_id).status, pipeline.result(doc_id)["Confidence"]  # doctest: +SKIP
('done', 0.87)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from docfields import storage
from docfields.errors import DocfieldsError, ModelError, PipelineConfigError, PipelineError
from docfields.pipeline.artifacts import ArtifactStore, bytes_sha256
from docfields.pipeline.driver import Driver, DriverThread, OnChange
from docfields.pipeline.executors import Executor
from docfields.pipeline.routing import AUDIT_PREFIX, AuditTally, audit_tally
from docfields.pipeline.settings import DocState, DocumentStatus, HomeLayout, PipelineConfig, PipelineSettings
from docfields.pipeline.stages import FIELDS, plan_stages, read_configuration, result_key, stage_named
from docfields.pipeline.store import NewDocument, Store
from docfields.pipeline.workers import WorkerPool, run_pool_until_idle, start_pool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """A submitted document's id, and whether it is an earlier identical submission's document."""

    id: str
    reused: bool


class Pipeline:
    """Documents through OCR, thumbnails, enrichment and fields, durably, in one home folder.

    Submitting stores the original (and the field configuration, by content hash) and queues its
    stages; a driver runs them through an executor. The settings given here apply to documents
    submitted through this object; each document keeps the settings it was submitted with.

    ``executor`` None is the local default: this process, or local worker processes, each
    claiming from the store. Given one (e.g. a Ray executor), ``run_until_idle`` runs one
    driver here that keeps ``executor.slots`` stages in flight on it.
    """

    def __init__(self, settings: PipelineSettings, executor: Executor | None = None) -> None:
        _check_settings(settings)
        self.settings = _absolute_paths(settings)
        self.executor = executor
        self.layout = HomeLayout.from_settings(settings)
        self.store = Store(self.layout.database)
        self.artifacts = ArtifactStore(self.layout.artifacts)
        self._driver: Driver | None = None
        self._reconfiguring = threading.Lock()
        self._audits: dict[str, AuditTally] = {}  # reviewed results are final: each is read once

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, path: str, name: str | None = None, *, key: str | None = None) -> str:
        """Queue a file (local path or fsspec URL); returns the document id.

        Args:
            path: The document.
            name: What statuses and error messages call it (default: the file name).
            key: An idempotency key: submitting the same key again returns the first id.
        """
        return self.submit_bytes(_read(path), name or PurePath(path).name, key=key)

    def submit_bytes(self, data: bytes, name: str, *, key: str | None = None) -> str:
        """Queue a document given as bytes (an upload); returns the document id.

        The content is not checked here: a corrupt file fails in its first stage, with the error
        stored, so a batch never stops at submission.
        """
        return self._queue(data, name, key, retry_failed=False).id

    def submit_once(self, path: str, name: str | None = None) -> Submission:
        """Queue a file unless the same content was already submitted with the same settings.

        What makes ``process`` reruns and repeated uploads idempotent: the key is the content
        hash plus every setting that changes the result (``stages.result_key``), and the store
        keeps one document per key even when submissions race. A failed document is retried.
        """
        return self.submit_bytes_once(_read(path), name or PurePath(path).name)

    def submit_bytes_once(self, data: bytes, name: str) -> Submission:
        """``submit_once`` for a document given as bytes (an upload)."""
        settings = self.settings  # one snapshot: a reconfiguration meanwhile applies to the next document
        key = result_key(bytes_sha256(data), settings)
        return self._queue(data, name, key, retry_failed=True, settings=settings)

    def _queue(
        self, data: bytes, name: str, key: str | None, *, retry_failed: bool, settings: PipelineSettings | None = None
    ) -> Submission:
        settings = settings or self.settings
        digest = bytes_sha256(data)
        suffix = PurePath(name).suffix.lower()[:12]
        original = self.layout.documents / digest[:2] / f"{digest}{suffix}"
        if not original.is_file():
            storage.write_bytes_atomic(str(original), data)
        settings_json = json.dumps(self._document_settings(settings).model_dump(mode="json"), sort_keys=True)
        new = NewDocument(uuid.uuid4().hex, name, digest, str(original), settings_json,
                          plan_stages(settings), key)  # fmt: skip
        doc_id = self.store.add_document(new, retry_failed=retry_failed)
        reused = doc_id != new.id
        logger.info("%s %s as %s", "reused" if reused else "queued", name, doc_id)
        return Submission(doc_id, reused)

    def _document_settings(self, settings: PipelineSettings) -> PipelineSettings:
        """The settings a document is stored with: with a model, the hash of the configuration read now.

        The configuration's bytes are stored under the home by that hash (once), and its stages
        read that copy: a configuration replaced later applies to later submissions only.
        """
        if settings.model is None:
            return settings
        raw = read_configuration(settings)
        digest = bytes_sha256(raw)
        stored = self.layout.configuration(digest)
        if not stored.is_file():
            storage.write_bytes_atomic(str(stored), raw)
        return settings.model_copy(update={"fields_sha256": digest})

    # -- reconfiguring ------------------------------------------------------------------------

    def configuration(self) -> PipelineConfig:
        """Which model each stage of the next submitted document uses, and the review rule."""
        return PipelineConfig.from_settings(self.settings)

    def reconfigure(self, config: PipelineConfig) -> PipelineConfig:
        """Use ``config`` for documents submitted from now on, and keep it in ``<home>/pipeline.json``.

        Documents already submitted keep the settings they were stored with, whatever stage they
        are in, so no document mixes two taggers or engines; workers need no restart. The engine
        and its options are checked, and the tagger directory must hold a model.

        Raises:
            PipelineConfigError: naming the key at fault (``engine``, ``engine_options``, ``model``).
        """
        with self._reconfiguring:
            settings = self.settings.model_copy(update=config.model_dump())
            _check_reconfiguration(settings)
            self.settings = _absolute_paths(settings)
            applied = self.configuration()
            storage.write_text_atomic(str(self.layout.pipeline_config), applied.model_dump_json(indent=2) + "\n")
        logger.info("reconfigured: tagger %s, engine %s, threshold %g, target %s, audit rate %g",
                    applied.tagger or applied.model, applied.engine, applied.review_threshold, applied.review_target,
                    applied.audit_rate)  # fmt: skip
        return applied

    def stored_configuration(self) -> PipelineConfig | None:
        """The configuration last applied with ``reconfigure`` in this home (None: never reconfigured).

        Raises:
            PipelineConfigError: when the file is not a pipeline configuration (naming it).
        """
        path = self.layout.pipeline_config
        if not path.is_file():
            return None
        try:
            return PipelineConfig.model_validate_json(path.read_bytes())
        except ValueError as exc:
            raise PipelineConfigError(str(path), f"not a pipeline configuration: {exc}") from exc

    # -- reading ------------------------------------------------------------------------------

    def status(self, doc_id: str) -> DocumentStatus:
        """Status, stages, timings and error of one document; UnknownDocumentError for an unknown id."""
        return self.store.document(doc_id)

    def list(self, status: str | None = None) -> list[DocumentStatus]:
        """Every document (or those of one status), oldest first."""
        return self.store.documents(status)

    def status_counts(self) -> dict[str, int]:
        """How many documents are in each status (queued, running, in_review, done, failed)."""
        return self.store.status_counts()

    def result(self, doc_id: str) -> dict[str, Any] | None:
        """The Result JSON: final when done (with ``Review`` after a review), the model's while in review.

        None while the document is processing, when it failed, or when the pipeline has no model.
        """
        status = self.status(doc_id).status
        if status == DocState.DONE:
            path = self.layout.result(doc_id)
            return json.loads(path.read_text()) if path.is_file() else None
        if status == DocState.IN_REVIEW:
            return json.loads(self.artifacts.read(FIELDS, self.store.record(doc_id)["artifacts"][FIELDS]))
        return None

    def document_path(self, doc_id: str) -> str:
        """The stored original."""
        return str(self.store.record(doc_id)["path"])

    def artifact_path(self, doc_id: str, stage: str) -> str | None:
        """A stage's output file: ``ocr`` (Textract JSON), ``thumbnails`` (npz), ``enrich``, ``fields``.

        None while the stage has no output (not done yet, skipped, failed).
        """
        stage = stage_named(stage).name
        key = self.store.record(doc_id)["artifacts"].get(stage)
        return None if key is None else str(self.artifacts.path(stage, key))

    # -- working ------------------------------------------------------------------------------

    def run_until_idle(self, workers: int = 1, on_change: OnChange | None = None) -> None:
        """Process everything queued, then return.

        With an executor, one driver in this process runs the stages on it (``workers`` is the
        executor's business). Locally, ``workers == 1`` works in this process (models stay loaded
        between calls, no start-up cost); more start that many worker processes for the run.
        ``on_change`` receives a document's status whenever it changed (in this process,
        whatever the workers).
        """
        if workers < 1:
            raise PipelineError(f"workers must be at least 1, got {workers}")
        if self.executor is not None:
            Driver(self.settings, self.executor).run_until_idle(on_change)
        elif workers == 1:
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # as the OCR batch runner: Tesseract's OpenMP is slower
            self._local_driver().run_until_idle(on_change)
        else:
            run_pool_until_idle(self.settings, workers, on_change)

    def _local_driver(self) -> Driver:
        """The in-process driver, kept: its engines and models stay loaded between runs."""
        if self._driver is None:
            self._driver = Driver(self.settings)
        return self._driver

    def start_workers(self, workers: int = 1) -> WorkerPool | DriverThread:
        """Start background workers that poll the store; ``stop()`` ends them.

        Locally, ``workers`` processes; with an executor, one driver thread here that keeps
        ``executor.slots`` stages in flight on it.
        """
        if self.executor is not None:
            return DriverThread(Driver(self.settings, self.executor))
        return start_pool(self.settings, workers)

    # -- review -------------------------------------------------------------------------------

    def review_tasks(self) -> list[DocumentStatus]:
        """Documents waiting for review, oldest first."""
        return self.store.documents(DocState.IN_REVIEW)

    def audited_fields(self) -> AuditTally:
        """Fields of the reviewed audit samples and how many were right as accepted: the measured accuracy of
        fields the pipeline accepts without review (``audit_rate`` sends that share of them to review)."""
        for doc_id in self.store.ids_by_reason(DocState.DONE, AUDIT_PREFIX):
            if doc_id not in self._audits:
                path = self.layout.result(doc_id)
                self._audits[doc_id] = audit_tally(json.loads(path.read_text())) if path.is_file() else AuditTally()
        return sum(self._audits.values(), AuditTally())

    def complete_review(self, doc_id: str, reviewed_result: dict[str, Any]) -> None:
        """Store the reviewed result (checked against the Result contract) and mark the document done."""
        from docfields.fields import ExtractionResult

        checked = ExtractionResult.from_json_dict(reviewed_result, source=f"reviewed result of {doc_id}")
        text = json.dumps(reviewed_result, indent=2, ensure_ascii=False) + "\n"
        path = str(self.layout.result(doc_id))
        self.store.finish_review(doc_id, lambda: storage.write_text_atomic(path, text), checked.confidence)


def _read(path: str) -> bytes:
    """A document's bytes; a missing or unreadable file is a DocumentError that names it."""
    from docfields.documents import file_errors

    with file_errors(path):
        return storage.read_bytes(path)


def _check_settings(settings: PipelineSettings) -> None:
    """Fail at once on an unknown engine or a missing model, not once per document."""
    from docfields.ocr.registry import check_engine_options

    check_engine_options(settings.engine, **settings.engine_options)
    if settings.model is not None and not (Path(settings.model) / "config.json").is_file():
        raise ModelError(f"{settings.model}: not a tagger directory (no config.json)")


def _check_reconfiguration(settings: PipelineSettings) -> None:
    """``_check_settings``, its error naming the key a client sent."""
    from docfields.errors import UnknownEngineError

    source = "pipeline configuration"
    try:
        _check_settings(settings)
    except UnknownEngineError as exc:
        raise PipelineConfigError(source, str(exc), "engine") from exc
    except ModelError as exc:
        raise PipelineConfigError(source, str(exc), "model") from exc
    except DocfieldsError as exc:
        raise PipelineConfigError(source, str(exc), "engine_options") from exc


def _absolute_paths(settings: PipelineSettings) -> PipelineSettings:
    """Local paths made absolute: documents keep their settings, and a worker may run elsewhere."""

    def absolute(path: str | None) -> str | None:
        return path if path is None or "://" in path else str(Path(path).expanduser().resolve())

    return settings.model_copy(
        update={"home": absolute(settings.home), "model": absolute(settings.model), "fields": absolute(settings.fields)}
    )
