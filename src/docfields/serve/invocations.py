"""Async invocations (the original's SageMaker async endpoint): model calls queued durably, run in the background.

``POST /async/{deployment}`` stores what to run (an uploaded input under ``<home>/async/<id>/``,
or an input location) and answers at once; the ``InvocationRunner`` runs it through the app's
``ModelBackend``, so the same call runs in this process or on the Ray Serve deployment, and
writes the result to the output location atomically. Nothing ties a run to a request: a
15-minute OCR of a 100 MiB document only holds a thread of this process.

Why an invocation is never lost nor run twice at once: it lives in the pipeline's SQLite store
(``InvocationStore`` adds a table to it and uses its connections and ``BEGIN IMMEDIATE`` writes),
with the pipeline's lease discipline. A runner claims a queued invocation with its id and a lease
it renews while it runs; finishing is fenced by the owner, so a runner that lost its lease cannot
overwrite the outcome. A clean stop gives running invocations back (queued, the attempt not
counted); a killed service leaves leases that run out, and the next start claims them again, up to
``MAX_ATTEMPTS`` runs. An uploaded input stays on disk until its invocation is final.

At most ``settings.invocations_per_replica`` invocations per replica of a deployment run at once
(in one process: one replica; on Ray Serve: times the deployment's ``max_replicas``, and a run its full queue
refuses is queued again for the ``Retry-After`` it was told, not failed). Webhooks of final
invocations are delivered from their own threads (``webhooks.deliver``); each outcome is recorded,
and one still pending at a stop is delivered after the next start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from docfields import storage
from docfields.documents import DocumentLimits
from docfields.errors import CapacityError, DocfieldsError, DocumentError, ModelError
from docfields.pipeline.settings import HomeLayout
from docfields.pipeline.store import Store
from docfields.serve.calls import (
    NPZ,
    ModelBackend,
    ModelSpec,
    document_models,
    render_thumbnails,
    run_ocr,
    run_tagger,
)
from docfields.serve.settings import ServeSettings
from docfields.serve.webhooks import deliver, webhook_refusal
from docfields.thumbnails import ThumbnailOptions

logger = logging.getLogger(__name__)

State = Literal["queued", "running", "succeeded", "failed"]
LEASE_SECONDS = 30.0  # renewed every third of it while the runner lives; a killed runner's run restarts after it
POLL_SECONDS = 1.0  # how often the runner looks for runs whose lease ran out, without being woken
MAX_ATTEMPTS = 3  # runs lost (the service was killed) before the invocation fails: a document that kills us
INPUT_FILE = "input"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS invocations (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL,
    input TEXT NOT NULL,
    name TEXT NOT NULL,
    uploaded INTEGER NOT NULL,
    output TEXT NOT NULL,
    options TEXT NOT NULL,
    success_url TEXT,
    error_url TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    owner TEXT,
    lease_expires REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    webhook TEXT
)""",
    "CREATE INDEX IF NOT EXISTS invocations_state ON invocations (state, created)",
)


class Invocation(BaseModel):
    """The state of one invocation, as ``GET /async/{id}`` answers it and webhooks receive it."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True)

    invocation_id: str = Field(description="The invocation's id.")
    deployment: str = Field(description="What runs it: thumbnails, ocr-<engine> or tagger-<name>.")
    state: State = Field(description="queued, running, succeeded or failed.")
    input_location: str | None = Field(description="The input it reads (None: an upload, kept until final).")
    output_location: str = Field(description="Where the result is written once it succeeded.")
    error: str | None = Field(None, description="Why it failed, naming the file (or the deployment).")
    attempts: int = Field(0, description="Runs started (a run lost to a stopped service is counted).")
    created: float = Field(description="When it was queued, Unix seconds.")
    started: float | None = Field(None, description="When its last run started.")
    finished: float | None = Field(None, description="When it became final.")
    webhook: str | None = Field(None, description="The outcome of its webhook call, once made.")


@dataclass(frozen=True)
class InvocationRequest:
    """What ``POST /async/{deployment}`` stores and a run reads: where to read and write, options, webhooks."""

    id: str
    deployment: str
    input: str
    name: str
    uploaded: bool
    output: str
    options: dict[str, Any] = field(default_factory=dict)
    success_url: str | None = None
    error_url: str | None = None


@dataclass(frozen=True)
class Job:
    """An invocation leased to a runner (``owner``)."""

    request: InvocationRequest
    owner: str


class InvocationStore(Store):
    """The pipeline's store with an ``invocations`` table: the same file, connections and write transactions."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        with self._write() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def add_invocation(self, new: InvocationRequest, now: float | None = None) -> Invocation:
        """Queue an invocation (its uploaded input is already on disk)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO invocations (id, deployment, input, name, uploaded, output, options, success_url, "
                "error_url, state, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                (new.id, new.deployment, new.input, new.name, int(new.uploaded), new.output,
                 json.dumps(new.options), new.success_url, new.error_url, time.time() if now is None else now),
            )  # fmt: skip
        invocation = self.invocation(new.id)
        assert invocation is not None  # inserted above
        return invocation

    def invocation(self, invocation_id: str) -> Invocation | None:
        """The state of one invocation; None when there is none of that id."""
        rows = self._query("SELECT * FROM invocations WHERE id = ?", (invocation_id,))
        return _status(rows[0]) if rows else None

    def claim_invocation(self, owner: str, full: Collection[str], now: float | None = None) -> Job | None:
        """Lease the oldest queued invocation (or one whose runner's lease ran out) of a deployment not in ``full``.

        A run lost ``MAX_ATTEMPTS`` times fails instead of being run again.
        """
        with self._write() as conn:
            now = time.time() if now is None else now
            rows = conn.execute(
                "SELECT * FROM invocations WHERE (state = 'queued' AND not_before <= ?) "
                "OR (state = 'running' AND lease_expires < ?) ORDER BY created, rowid",
                (now, now),
            ).fetchall()
            for row in (r for r in rows if r["deployment"] not in full):
                if row["state"] == "running" and row["attempts"] >= MAX_ATTEMPTS:
                    error = f"{row['name']}: its run was lost {row['attempts']} times (the service stopped or died)"
                    self._finish(conn, row["id"], row["owner"], error, now)
                    continue
                conn.execute(
                    "UPDATE invocations SET state = 'running', owner = ?, lease_expires = ?, attempts = attempts + 1, "
                    "started = ? WHERE id = ?",
                    (owner, now + LEASE_SECONDS, now, row["id"]),
                )
                return Job(_request(row), owner)
        return None

    def renew_invocations(self, owner: str, now: float | None = None) -> int:
        """Push the leases of ``owner``'s running invocations forward (the heartbeat); returns how many."""
        with self._write() as conn:
            now = time.time() if now is None else now
            return conn.execute(
                "UPDATE invocations SET lease_expires = ? WHERE owner = ? AND state = 'running'",
                (now + LEASE_SECONDS, owner),
            ).rowcount

    def release_invocations(self, owner: str) -> int:
        """Give ``owner``'s running invocations back at a clean stop; the interrupted run does not count."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE invocations SET state = 'queued', owner = NULL, lease_expires = NULL, attempts = attempts - 1 "
                "WHERE owner = ? AND state = 'running'",
                (owner,),
            ).rowcount

    def defer_invocation(self, job: Job, seconds: float, now: float | None = None) -> bool:
        """Queue a run again in ``seconds`` (its deployment refused it: full); the attempt does not count."""
        with self._write() as conn:
            now = time.time() if now is None else now
            return bool(
                conn.execute(
                    "UPDATE invocations SET state = 'queued', owner = NULL, lease_expires = NULL, "
                    "attempts = attempts - 1, not_before = ? WHERE id = ? AND owner = ? AND state = 'running'",
                    (now + seconds, job.request.id, job.owner),
                ).rowcount
            )

    def finish_invocation(self, job: Job, error: str | None, now: float | None = None) -> bool:
        """Mark a run succeeded (``error`` None) or failed; False when ``job.owner`` lost its lease meanwhile."""
        with self._write() as conn:
            return self._finish(conn, job.request.id, job.owner, error, time.time() if now is None else now)

    def _finish(self, conn: Any, invocation_id: str, owner: str | None, error: str | None, now: float) -> bool:
        return bool(
            conn.execute(
                "UPDATE invocations SET state = ?, error = ?, finished = ?, owner = NULL, lease_expires = NULL "
                "WHERE id = ? AND owner IS ? AND state = 'running'",
                ("failed" if error else "succeeded", error, now, invocation_id, owner),
            ).rowcount
        )

    def pending_webhooks(self) -> list[tuple[Invocation, str]]:
        """Final invocations whose webhook (success_url or error_url, by outcome) has not been called yet."""
        rows = self._query(
            "SELECT * FROM invocations WHERE webhook IS NULL AND ((state = 'succeeded' AND success_url IS NOT NULL) "
            "OR (state = 'failed' AND error_url IS NOT NULL)) ORDER BY finished"
        )
        return [(_status(row), row["success_url"] if row["state"] == "succeeded" else row["error_url"]) for row in rows]

    def record_webhook(self, invocation_id: str, outcome: str) -> None:
        """Record the outcome of an invocation's webhook call: it is not made again."""
        with self._write() as conn:
            conn.execute("UPDATE invocations SET webhook = ? WHERE id = ?", (outcome, invocation_id))


def _request(row: Any) -> InvocationRequest:
    return InvocationRequest(
        id=row["id"], deployment=row["deployment"], input=row["input"], name=row["name"],
        uploaded=bool(row["uploaded"]), output=row["output"], options=json.loads(row["options"]),
        success_url=row["success_url"], error_url=row["error_url"],
    )  # fmt: skip


def _status(row: Any) -> Invocation:
    return Invocation(
        invocation_id=row["id"], deployment=row["deployment"], state=row["state"],
        input_location=None if row["uploaded"] else row["input"], output_location=row["output"],
        error=row["error"], attempts=row["attempts"], created=row["created"], started=row["started"],
        finished=row["finished"], webhook=row["webhook"],
    )  # fmt: skip


# -- deployments: what a name runs ------------------------------------------------------------


def known_deployments(settings: ServeSettings) -> list[str]:
    """The deployments async invocations can name: thumbnails, every OCR engine, every named tagger."""
    return list(document_models(settings))


def resolve_deployment(name: str, settings: ServeSettings) -> ModelSpec | None:
    """The model a deployment name runs (with the service's OCR options), or None for an unknown name."""
    return document_models(settings).get(name)


def output_suffix(spec: ModelSpec) -> str:
    """The extension of a deployment's output: npz thumbnails, else JSON."""
    return ".npz" if spec.kind == "thumbnails" else ".json"


def compute(
    models: ModelBackend, spec: ModelSpec, data: bytes, name: str, options: dict[str, Any], limits: DocumentLimits
) -> bytes:
    """The output bytes of one invocation: thumbnails as npz, a Textract JSON, or an enriched one.

    Raises:
        DocfieldsError: an unreadable document or JSON, naming ``name``.
    """
    if spec.kind == "thumbnails":
        return models.call(spec, render_thumbnails, data, name, limits, ThumbnailOptions(**options), NPZ)
    if spec.kind == "ocr":
        return _json_bytes(models.call(spec, run_ocr, data, name, limits))
    try:
        request = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(name, f"not JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise DocumentError(name, f"a tagger takes a JSON object (a Textract JSON), not {type(request).__name__}")
    return _json_bytes(models.call(spec, run_tagger, request))


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# -- the runner -------------------------------------------------------------------------------


class InvocationRunner:
    """Claims invocations from the store and runs each in a thread, a few per deployment at once.

    ``start`` and ``stop`` belong to the app's lifespan. ``folder`` (``<home>/async``) holds the
    uploads and default outputs, one folder per invocation.
    """

    def __init__(self, store: InvocationStore, models: ModelBackend, settings: ServeSettings, folder: Path) -> None:
        self.store, self.models, self.settings, self.folder = store, models, settings, folder
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._notifying: set[str] = set()
        self._loop_thread: threading.Thread | None = None

    @classmethod
    def under_home(cls, layout: HomeLayout, models: ModelBackend, settings: ServeSettings) -> InvocationRunner:
        """The runner of a pipeline home: its store's file, and ``<home>/async`` for uploads and outputs."""
        return cls(InvocationStore(layout.database), models, settings, layout.home / "async")

    def submit(self, new: InvocationRequest) -> Invocation:
        """Queue an invocation and wake the runner."""
        invocation = self.store.add_invocation(new)
        self._wake.set()
        return invocation

    def start(self) -> None:
        """Start claiming: queued invocations, and those a stopped or killed service left, run again."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._loop_thread = threading.Thread(target=self._loop, name="invocations", daemon=True)
        self._loop_thread.start()

    def stop(self, timeout: float) -> None:
        """Stop claiming, give running invocations ``timeout`` seconds, then hand the rest back to the queue."""
        self._stopping.set()
        self._wake.set()
        if self._loop_thread is not None:
            self._loop_thread.join()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        released = self.store.release_invocations(self.owner)
        if released:
            logger.warning("stopped with %d invocation(s) running: queued again for the next start", released)
        self.store.close()

    def _loop(self) -> None:
        renewed = time.monotonic()
        while not self._stopping.is_set():
            try:
                self._dispatch()
                self._notify_pending()
                if time.monotonic() - renewed > LEASE_SECONDS / 3:
                    self.store.renew_invocations(self.owner)
                    renewed = time.monotonic()
            except Exception:  # the store is busy or a disk is full: log, and try again at the next tick
                logger.exception("async invocations: the runner's tick failed")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
        self.store.close()

    def _dispatch(self) -> None:
        """Start runs until every deployment with work is at its limit."""
        per_replica = self.settings.invocations_per_replica
        while not self._stopping.is_set():
            with self._lock:
                running = list(self._running.items())
            full = {name for name, count in running if count >= per_replica * self.models.max_replicas(name)}
            job = self.store.claim_invocation(self.owner, full)
            if job is None:
                return
            run = job.request
            thread = threading.Thread(target=self._run, args=(job,), name=f"invocation-{run.id}", daemon=True)
            with self._lock:
                self._running[run.deployment] = self._running.get(run.deployment, 0) + 1
                self._threads[run.id] = thread
            thread.start()

    def _run(self, job: Job) -> None:
        """Run one invocation and record its outcome; the upload goes once the outcome is recorded."""
        run = job.request
        try:
            error = self._execute(run)
            if self.store.finish_invocation(job, error) and run.uploaded:
                _remove_upload(Path(run.input))
            logger.info("invocation %s (%s): %s", run.id, run.deployment, error or "succeeded")
        except CapacityError as exc:  # a Ray Serve deployment's queue is full: wait, as a client told 429 would
            self.store.defer_invocation(job, exc.retry_after)
            logger.info("invocation %s: %s", run.id, exc)
        finally:
            with self._lock:
                self._running[run.deployment] -= 1
                self._threads.pop(run.id, None)
            self.store.close()
            self._wake.set()

    def _execute(self, run: InvocationRequest) -> str | None:
        """Read, compute, write; None when it succeeded, else the error naming the file."""
        spec = resolve_deployment(run.deployment, self.settings)
        try:
            if spec is None:
                raise ModelError(f"deployment {run.deployment!r} is not served by this service any more "
                                 f"(known: {', '.join(known_deployments(self.settings))})")  # fmt: skip
            data = storage.read_bytes(run.input)
            output = compute(self.models, spec, data, run.name, run.options, self.settings.document_limits)
            del data  # a 100 MiB input is not kept while the output is written
            storage.write_bytes_atomic(run.output, output)
        except CapacityError:
            raise
        except (DocfieldsError, OSError) as exc:
            return _naming(run.name, exc)
        except Exception as exc:  # a bug, or a backend's own error (Ray): the invocation fails, the runner goes on
            logger.exception("invocation %s (%s) failed", run.id, run.deployment)
            return f"{run.name}: internal error: {type(exc).__name__}: {exc}"
        return None

    def _notify_pending(self) -> None:
        """Start a delivery thread per final invocation whose webhook is due (and not being delivered)."""
        for invocation, url in self.store.pending_webhooks():
            with self._lock:
                if invocation.invocation_id in self._notifying:
                    continue
                self._notifying.add(invocation.invocation_id)
            threading.Thread(target=self._notify, args=(invocation, url), daemon=True).start()

    def _notify(self, invocation: Invocation, url: str) -> None:
        """Call one webhook (if the allow-list still admits it) and record the outcome."""
        try:
            secret = self.settings.webhook_secret
            refusal = webhook_refusal(url, self.settings.webhook_urls, secret)
            if refusal is not None or secret is None:
                outcome = f"not called: {refusal}"
            else:
                outcome = deliver(url, invocation.model_dump_json(by_alias=True).encode(), secret, self._stopping)
            if outcome != "interrupted":
                self.store.record_webhook(invocation.invocation_id, outcome)
        finally:
            with self._lock:
                self._notifying.discard(invocation.invocation_id)
            self.store.close()


def _naming(name: str, exc: BaseException) -> str:
    """The error's message, with the file's name in front unless it names it already."""
    message = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror or exc} ({exc.filename or name})"
    return message if name in message else f"{name}: {message}"


def _remove_upload(path: Path) -> None:
    """Delete an uploaded input once its invocation is final, and its folder if nothing else is in it."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # the default output lives there
        pass
