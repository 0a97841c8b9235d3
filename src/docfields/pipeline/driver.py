"""The driver: claims ready stages from the store, hands them to an executor, records the outcomes.

One loop for every executor. A local worker process is a driver with the inline executor (one
stage at a time, run in the process); a Ray run is one driver with the Ray executor (many calls
in flight). Either way the driver alone touches the store:

- it claims a stage under a lease and computes the stage's artifact key (the key reads the
  model's fingerprint and the stored configuration, which the driver sees); an artifact that
  exists is reused without calling the executor;
- it renews the leases of every call in flight from a heartbeat thread, so a long stage is not
  taken over;
- it writes the returned artifact atomically, reads the stage's facts (pages, the decision, the
  result file of a done document), then completes the stage fenced by the lease owner: a driver
  that lost its lease changes nothing, so a stage is never completed twice.

Errors: a ``DocfieldsError`` is bad input and fails the document at once (the message names the
file); ``OSError``, ``TimeoutError``, connection errors, SQLite "database is locked", a normalizer
service that does not answer, and a call the executor lost are transient and retried with
exponential backoff up to ``max_attempts``; anything else is a bug, logged with its traceback,
and fails the document as "internal error".
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Protocol

from docfields import storage
from docfields.errors import DocfieldsError
from docfields.pipeline.artifacts import ArtifactStore
from docfields.pipeline.executors import Executor, InlineExecutor, StageCall, StageOutcome, describe, is_transient
from docfields.pipeline.resources import Resources
from docfields.pipeline.settings import DocState, DocumentStatus, HomeLayout, PipelineSettings
from docfields.pipeline.stages import STAGE_BY_NAME, StageInput
from docfields.pipeline.store import Claim, Store

logger = logging.getLogger(__name__)

OnChange = Callable[[DocumentStatus], None]


class StopSignal(Protocol):
    """A threading or multiprocessing Event."""

    def is_set(self) -> bool:
        """True once stopping was asked for."""

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or ``timeout``."""

    def set(self) -> None:
        """Ask for a stop."""


@dataclass(frozen=True)
class _InFlight:
    """A call handed to the executor: its claim, its key, and when the driver claimed it."""

    claim: Claim
    key: str
    started: float


def _lost(claim: Claim, exc: BaseException) -> str:
    """The error of a call the executor could not take or did not finish: transient, whatever it is."""
    return f"{claim.name}: the executor lost the stage: {type(exc).__name__}: {exc}"


class _Heartbeat:
    """Renews the driver's leases from a thread while calls are in flight, so a long stage is not taken over."""

    def __init__(self, store: Store, owner: str, lease_seconds: float) -> None:
        self.store, self.owner, self.lease_seconds = store, owner, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{owner}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.store.renew(self.owner, self.lease_seconds)
            except sqlite3.Error as exc:  # the next beat tries again; the lease has two more thirds
                logger.warning("driver %s: cannot renew its leases: %s", self.owner, exc)
        self.store.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Driver:
    """Claims stages of one pipeline home and runs them through an executor until idle, or until stopped."""

    def __init__(
        self, settings: PipelineSettings, executor: Executor | None = None, driver_id: str | None = None
    ) -> None:
        self.settings = settings
        self.executor: Executor = InlineExecutor() if executor is None else executor
        self.layout = HomeLayout.from_settings(settings)
        self.store = Store(self.layout.database)
        self.artifacts = ArtifactStore(self.layout.artifacts)
        self.id = driver_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Keys read what runners load too (an OCR engine's model version, a configuration): an
        # inline executor shares its resources with the keys, a remote one leaves the driver its own.
        self._keys = self.executor.resources if isinstance(self.executor, InlineExecutor) else Resources()
        self._in_flight: dict[Future[StageOutcome], _InFlight] = {}

    # -- one step -------------------------------------------------------------------------------

    def step(self, wait_seconds: float = 0.0) -> list[str]:
        """Fill the executor's free slots with claimed stages, then record finished calls.

        Waits up to ``wait_seconds`` for a call in flight to finish. Returns the ids of the
        documents whose stages were recorded.
        """
        changed: list[str] = []
        while len(self._in_flight) < self.executor.slots:
            claim = self.store.claim(self.id, self.settings.lease_seconds, self.settings.max_attempts)
            if claim is None:
                break
            logger.debug("driver %s: %s of %s (attempt %d)", self.id, claim.stage, claim.name, claim.attempt)
            if self._start(claim):
                changed.append(claim.document_id)
        if self._in_flight:
            done, _ = wait(list(self._in_flight), timeout=wait_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                changed.append(self._record(future, self._in_flight.pop(future)))
        return changed

    def _start(self, claim: Claim) -> bool:
        """Compute the key and hand the call over; True when the stage was recorded at once (reused, failed)."""
        stage = STAGE_BY_NAME[claim.stage]
        start = time.perf_counter()
        try:
            settings = PipelineSettings.model_validate_json(claim.settings)
            data = StageInput(claim.name, claim.path, claim.sha256, settings, self.artifacts, claim.artifacts,
                              resources=self._keys)  # fmt: skip
            key = stage.key(data)
            if self.artifacts.exists(stage.name, key):
                self._complete(claim, key, start, reused=True)
                return True
        except Exception as exc:
            self._failed(claim, describe(exc, claim.name), is_transient(exc), exc)
            return True
        call = StageCall(stage.name, key, claim.document_id, claim.attempt, claim.name, claim.path, claim.sha256,
                         claim.settings, str(self.artifacts.root), claim.artifacts,
                         holder=f"{self.id}/{claim.document_id}")  # fmt: skip
        try:
            future = self.executor.submit(call)
        except Exception as exc:  # the executor could not take the call (a cluster gone): claim it again
            self._failed(claim, _lost(claim, exc), True, exc)
            return True
        self._in_flight[future] = _InFlight(claim, key, start)
        return False

    def _record(self, future: Future[StageOutcome], flight: _InFlight) -> str:
        """Write the returned artifact and complete the stage, or record the failure."""
        claim = flight.claim
        try:
            outcome = future.result()
        except Exception as exc:  # the executor lost the call (a dead task or node): claim it again
            self._failed(claim, _lost(claim, exc), True, exc)
            return claim.document_id
        if outcome.error is not None:
            self._failed(claim, outcome.error, outcome.transient, None)
            return claim.document_id
        try:
            self.artifacts.write(claim.stage, flight.key, outcome.output or b"")
            self._complete(claim, flight.key, flight.started, reused=False)
        except Exception as exc:
            self._failed(claim, describe(exc, claim.name), is_transient(exc), exc)
        return claim.document_id

    def _complete(self, claim: Claim, key: str, started: float, reused: bool) -> None:
        """Read the stage's facts and mark it done, unless another driver took the lease meanwhile.

        A result that needs no review is written before the stage is marked done, so a done
        document always has its result file.
        """
        settings = PipelineSettings.model_validate_json(claim.settings)
        facts = STAGE_BY_NAME[claim.stage].facts(self.artifacts.read(claim.stage, key), settings, claim.sha256)
        if facts.decision is not None and facts.decision.status == DocState.DONE:
            text = json.dumps(facts.result, indent=2, ensure_ascii=False) + "\n"
            storage.write_text_atomic(str(self.layout.result(claim.document_id)), text)
        seconds = time.perf_counter() - started
        if not self.store.complete(claim, key, seconds, reused, pages=facts.pages, decision=facts.decision):
            logger.warning("driver %s lost its lease on %s of %s: another worker took it", self.id, claim.stage,
                           claim.name)  # fmt: skip
            return
        logger.info("%s: %s %s in %.2f s", claim.name, claim.stage, "reused" if reused else "done", seconds)

    def _failed(self, claim: Claim, message: str, transient: bool, exc: BaseException | None) -> None:
        retry_in = None
        if transient and claim.attempt < self.settings.max_attempts:
            retry_in = self.settings.retry_base_seconds * 2 ** (claim.attempt - 1)
            logger.warning("%s: %s failed (attempt %d), retrying in %.2f s: %s", claim.name, claim.stage,
                           claim.attempt, retry_in, message)  # fmt: skip
        elif exc is None or transient or isinstance(exc, DocfieldsError):
            logger.warning("%s: %s failed: %s", claim.name, claim.stage, message)
        else:
            logger.error("%s: %s failed", claim.name, claim.stage, exc_info=exc)
        self.store.fail(claim, message, retry_in)

    # -- loops ----------------------------------------------------------------------------------

    def _safe_step(self, wait_seconds: float) -> list[str]:
        try:
            return self.step(wait_seconds)
        except sqlite3.OperationalError as exc:  # store busy beyond its timeout: the leases protect the work
            logger.warning("driver %s: store unavailable: %s", self.id, exc)
            return []

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

        Interrupted (Ctrl-C), the driver gives its stages back, so a rerun resumes at once
        instead of waiting for the leases to expire.
        """
        try:
            with _Heartbeat(self.store, self.id, self.settings.lease_seconds):
                while stop is None or not stop.is_set():
                    changed = self._safe_step(self.settings.poll_seconds)
                    if on_change is not None:
                        for doc_id in dict.fromkeys(changed):
                            on_change(self.store.document(doc_id))
                    if changed or self._in_flight:
                        continue
                    if self.store.active_count() == 0:
                        return
                    self._idle_wait(stop)
        finally:
            self.store.release(self.id)

    def run_forever(self, parent: int | None = None, stop: StopSignal | None = None) -> None:
        """Poll for work until interrupted (SIGTERM in a worker process), stopped, or the parent process is gone.

        However it stops, the driver gives its running stages back.
        """
        try:
            with _Heartbeat(self.store, self.id, self.settings.lease_seconds):
                while (parent is None or os.getppid() == parent) and (stop is None or not stop.is_set()):
                    if not self._safe_step(self.settings.poll_seconds) and not self._in_flight:
                        self._idle_wait(stop)
        finally:
            self.store.release(self.id)


class DriverThread:
    """A driver polling in a background thread (a service whose stages run on a remote executor).

    Stopped like a ``WorkerPool``: ``stop()`` gives the stages in flight back and closes the
    executor.
    """

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"driver-{driver.id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.driver.run_forever(stop=self._stop)
        except Exception:  # a driver that dies leaves its leases to expire; the service keeps answering
            logger.exception("driver %s stopped", self.driver.id)

    def alive(self) -> int:
        """1 while the driver runs, else 0 (as ``WorkerPool.alive`` counts processes)."""
        return int(self._thread.is_alive())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling, wait up to ``timeout`` seconds, and close the executor."""
        self._stop.set()
        self._thread.join(timeout)
        self.driver.executor.close()
