"""Workers: claim a stage, run it under a renewed lease, record the outcome; in-process or as processes.

One worker runs one stage at a time. OCR and thumbnails of a document are separate stages that
two workers run in parallel; inside one worker they run one after the other, because PDFium is
not thread-safe (``docfields.documents``) and the text-layer reader calls it directly.

Errors: a ``DocfieldsError`` is bad input and fails the document at once (the message names the
file); ``OSError``, ``TimeoutError``, connection errors and SQLite "database is locked" are
transient and retried with exponential backoff up to ``max_attempts``; anything else is a bug,
logged with its traceback, and fails the document as "internal error".

Worker processes use the ``spawn`` start method (no inherited locks or model state) and limit
native thread pools to one thread each (Tesseract's OpenMP, torch): the processes use the cores.
They share no lock or event with their parent: a worker that dies at any moment (SIGTERM to the
process group, SIGKILL, out of memory) can leave nothing the parent would wait on for ever. The
parent stops them with SIGTERM, on which a worker gives its stage back at once and exits.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from types import TracebackType
from typing import Protocol

from docfields import storage
from docfields.errors import DocfieldsError, OcrError, OutputError, PipelineError
from docfields.pipeline import stages
from docfields.pipeline.artifacts import ArtifactStore
from docfields.pipeline.settings import DocumentStatus, HomeLayout, PipelineSettings
from docfields.pipeline.stages import STAGE_BY_NAME, StageInput, decide, ocr_pages
from docfields.pipeline.store import Claim, Decision, Store

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError, sqlite3.OperationalError)
OnChange = Callable[[DocumentStatus], None]


class StopSignal(Protocol):
    """A threading or multiprocessing Event."""

    def is_set(self) -> bool:
        """True once stopping was asked for."""

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or ``timeout``."""

    def set(self) -> None:
        """Ask for a stop."""


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying (I/O, timeouts, a busy database); bad input never is.

    An ``OcrError`` caused by one of those (the Textract rate limiter's database was busy) is
    transient too: the engine failed, not the document. So is an ``OutputError`` from the OS (a
    file where the pipeline's artifact folder goes): the home's disk failed, not the document.
    """
    if isinstance(exc, OcrError | OutputError):
        return isinstance(exc.__cause__, TRANSIENT_ERRORS)
    return not isinstance(exc, DocfieldsError) and isinstance(exc, TRANSIENT_ERRORS)


def _describe(exc: BaseException, document: str) -> str:
    """An error message that names the document (most DocfieldsError messages already do)."""
    if isinstance(exc, DocfieldsError):
        return str(exc) if document in str(exc) else f"{document}: {exc}"
    prefix = "" if is_transient(exc) else "internal error: "
    return f"{document}: {prefix}{type(exc).__name__}: {exc}"


class _Heartbeat:
    """Renews a worker's leases from a thread while a stage runs, so a long stage is not taken over."""

    def __init__(self, store: Store, worker: str, lease_seconds: float) -> None:
        self.store, self.worker, self.lease_seconds = store, worker, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{worker}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.store.renew(self.worker, self.lease_seconds)
            except sqlite3.Error as exc:  # the next beat tries again; the lease has two more thirds
                logger.warning("worker %s: cannot renew its lease: %s", self.worker, exc)
        self.store.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Worker:
    """Claims and runs stages of one pipeline home until there is nothing left, or until stopped."""

    def __init__(self, settings: PipelineSettings, worker_id: str | None = None) -> None:
        self.settings = settings
        self.layout = HomeLayout.from_settings(settings)
        self.store = Store(self.layout.database)
        self.artifacts = ArtifactStore(self.layout.artifacts)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run_one(self) -> str | None:
        """Claim one ready stage and run it; the document's id, or None when nothing was ready."""
        claim = self.store.claim(self.id, self.settings.lease_seconds, self.settings.max_attempts)
        if claim is None:
            return None
        logger.debug("worker %s: %s of %s (attempt %d)", self.id, claim.stage, claim.name, claim.attempt)
        with _Heartbeat(self.store, self.id, self.settings.lease_seconds):
            self._execute(claim)
        return claim.document_id

    def _execute(self, claim: Claim) -> None:
        stage = STAGE_BY_NAME[claim.stage]
        settings = PipelineSettings.model_validate_json(claim.settings)
        data = StageInput(claim.name, claim.path, claim.sha256, settings, self.artifacts, claim.artifacts,
                          holder=f"{self.id}/{claim.document_id}")  # fmt: skip
        start = time.perf_counter()
        try:
            key = stage.key(data)
            reused = self.artifacts.exists(stage.name, key)
            if not reused:
                self.artifacts.write(stage.name, key, stage.run(data))
            pages, decision = self._facts(claim, key, settings)
        except Exception as exc:
            self._failed(claim, exc)
            return
        seconds = time.perf_counter() - start
        if not self.store.complete(claim, key, seconds, reused, pages=pages, decision=decision):
            logger.warning("worker %s lost its lease on %s of %s: another worker took it", self.id, stage.name,
                           claim.name)  # fmt: skip
            return
        logger.info("%s: %s %s in %.2f s", claim.name, stage.name, "reused" if reused else "done", seconds)

    def _facts(self, claim: Claim, key: str, settings: PipelineSettings) -> tuple[int | None, Decision | None]:
        """What the document row learns from a stage: OCR gives the page count, fields the decision.

        A result that needs no review is written before the stage is marked done, so a done
        document always has its result file.
        """
        if claim.stage == "ocr":
            return ocr_pages(self.artifacts.read("ocr", key)), None
        if claim.stage != "fields":
            return None, None
        result = json.loads(self.artifacts.read("fields", key))
        decision = decide(result, settings.review_threshold)
        if decision.status == "done":
            text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
            storage.write_text_atomic(str(self.layout.result(claim.document_id)), text)
        return None, decision

    def _failed(self, claim: Claim, exc: Exception) -> None:
        message = _describe(exc, claim.name)
        retry_in = None
        if is_transient(exc) and claim.attempt < self.settings.max_attempts:
            retry_in = self.settings.retry_base_seconds * 2 ** (claim.attempt - 1)
            logger.warning("%s: %s failed (attempt %d), retrying in %.2f s: %s", claim.name, claim.stage,
                           claim.attempt, retry_in, message)  # fmt: skip
        elif isinstance(exc, DocfieldsError) or is_transient(exc):
            logger.warning("%s: %s failed: %s", claim.name, claim.stage, message)
        else:
            logger.error("%s: %s failed", claim.name, claim.stage, exc_info=exc)
        self.store.fail(claim, message, retry_in)

    def _step(self) -> str | None:
        try:
            return self.run_one()
        except sqlite3.OperationalError as exc:  # store busy beyond its timeout: the leases protect the work
            logger.warning("worker %s: store unavailable: %s", self.id, exc)
            return None

    def _idle_wait(self, stop: StopSignal | None) -> None:
        """Sleep until the next retry or lease expiry, at most ``poll_seconds``."""
        delay = self.settings.poll_seconds
        upcoming = self.store.next_event()
        if upcoming is not None:
            delay = min(delay, max(0.01, upcoming - time.time()))
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)

    def run_until_idle(self, on_change: OnChange | None = None, stop: StopSignal | None = None) -> None:
        """Work until no document is queued or running (waiting out retries and dead workers' leases).

        Interrupted (Ctrl-C), the worker gives its stage back, so a rerun resumes at once
        instead of waiting for the lease to expire.
        """
        try:
            while stop is None or not stop.is_set():
                doc_id = self._step()
                if doc_id is not None:
                    if on_change is not None:
                        on_change(self.store.document(doc_id))
                    continue
                if self.store.active_count() == 0:
                    return
                self._idle_wait(stop)
        except BaseException:
            self.store.release(self.id)
            raise

    def run_forever(self, parent: int | None = None) -> None:
        """Poll for work until interrupted (SIGTERM in a worker process) or the parent process is gone.

        However it stops, the worker gives its running stage back.
        """
        try:
            while parent is None or os.getppid() == parent:
                if self._step() is None:
                    self._idle_wait(None)
        finally:
            self.store.release(self.id)


# -- processes ----------------------------------------------------------------------------------


class _Terminated(BaseException):
    """SIGTERM in a worker process: stop now, wherever it is (a BaseException, like Ctrl-C)."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not interrupt the release
    raise _Terminated


def _init_process() -> None:
    """Worker processes leave Ctrl-C to their parent, stop on SIGTERM, and use one native thread each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract's OpenMP was 4-6x slower oversubscribed on 2 cores
    os.environ["OMP_NUM_THREADS"] = "1"
    stages.torch_threads = 1


def _process_main(settings_json: str, forever: bool, parent: int) -> None:
    _init_process()
    worker = Worker(PipelineSettings.model_validate_json(settings_json))
    try:
        if forever:
            worker.run_forever(parent)
        else:
            worker.run_until_idle()
    except _Terminated:  # the stage was given back on the way out
        logger.info("worker %s stopped by SIGTERM", worker.id)


class WorkerPool:
    """Background worker processes; ``stop()`` ends them, their running stages given back."""

    def __init__(self, processes: list[SpawnProcess]) -> None:
        self.processes = processes

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (for monitoring, and for tests that kill one)."""
        return [p.pid for p in self.processes if p.pid is not None]

    def alive(self) -> int:
        """How many workers still run."""
        return sum(p.is_alive() for p in self.processes)

    def stop(self, timeout: float = 10.0) -> None:
        """Send each live worker SIGTERM (it gives its stage back and exits); kill those left after ``timeout``.

        A stage is interrupted, not finished: the next worker does it again. A worker deep in
        native code (a Tesseract page, a forward pass) sees SIGTERM only when that returns; one
        that does not exit in time is killed, and its lease expires for the next worker. Dead
        workers are simply collected, so stopping never waits for ever.
        """
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        self.join(timeout)
        for process in self.processes:
            if process.is_alive():
                logger.warning("worker process %s did not stop within %.0f s; killing it", process.pid, timeout)
                process.kill()
                process.join(5)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workers to exit (all of them, within ``timeout`` seconds overall)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for process in self.processes:
            process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_pool(settings: PipelineSettings, workers: int, forever: bool = True) -> WorkerPool:
    """Start ``workers`` spawned worker processes on ``settings.home``."""
    if workers < 1:
        raise PipelineError(f"workers must be at least 1, got {workers}")
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_process_main, args=(settings.model_dump_json(), forever, os.getpid()),
                        name=f"docfields-worker-{i}", daemon=True)
        for i in range(workers)
    ]  # fmt: skip
    for process in processes:
        process.start()
    logger.info("started %d worker process(es): %s", workers, [p.pid for p in processes])
    return WorkerPool(processes)


def run_pool_until_idle(settings: PipelineSettings, workers: int, on_change: OnChange | None = None) -> None:
    """Process everything queued with ``workers`` processes; the parent reports changes as they land."""
    store = Store(HomeLayout.from_settings(settings).database)
    seen = store.last_change()
    pool = start_pool(settings, workers, forever=False)
    try:
        while pool.alive():
            pool.join(settings.poll_seconds)
            seen = _report_changes(store, seen, on_change)
        _report_changes(store, seen, on_change)
    except BaseException:
        pool.stop(timeout=5)
        raise
    codes = [p.exitcode for p in pool.processes if p.exitcode]
    if codes and store.active_count():
        raise PipelineError(f"worker processes exited with codes {codes}; {store.active_count()} documents unfinished")


def _report_changes(store: Store, seen: int, on_change: OnChange | None) -> int:
    if on_change is None:
        return seen
    changed, seen = store.changed_after(seen)
    for status in changed:
        on_change(status)
    return seen
