"""Where stages run: the executor protocol, and the inline executor that local worker processes use.

The contract (stable: the Ray executor in ``docfields.cluster`` implements it)
------------------------------------------------------------------------------
The driver (``docfields.pipeline.driver.Driver``) owns the SQLite store: it claims ready stages,
computes each stage's artifact key, reuses an artifact that exists, and hands the rest to an
executor as ``StageCall`` records. An executor only runs them:

- ``Executor.slots`` is how many calls the driver keeps in flight at once (at least 1).
- ``Executor.submit(call)`` returns a ``concurrent.futures.Future`` of a ``StageOutcome``. It must
  not block on the work (the inline executor, the exception, runs the call before returning a
  finished future). Where the call runs, it is ``run_call(call, resources)``, with a
  ``Resources`` cache owned there (one per worker process or actor), never a module global.
- A stage's own error comes back as a ``StageOutcome`` with ``error`` set and ``transient`` saying
  whether the store should retry it (``run_call`` classifies it). A future that raises instead,
  or ``submit`` raising (a dead task or node, a lost actor, a call that could not be sent), is
  transient too: the driver retries the stage with the store's backoff, up to ``max_attempts``.
  So executors keep their own retries off (Ray: ``max_retries=0``, ``max_task_retries=0``).
- ``Executor.close()`` releases what the executor holds (processes, actors). Whoever made the
  executor closes it (``DriverThread.stop`` does, for a service); a call still in flight is then
  abandoned (its lease is given back or expires, and another claim runs it again).

The driver writes the returned artifact (atomically) and completes the stage under the lease
owner check, renewing its leases while calls are in flight; exactly-once therefore holds
whatever an executor retries or loses. ``StageCall`` and ``StageOutcome`` are plain picklable
records: strings, a dict of strings, bytes. A call reads its original at ``path`` and its
upstream artifacts under ``artifacts`` (both as the driver sees them: a remote executor needs
them on a location every node reads).
"""

from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from docfields.errors import DocfieldsError, NormalizerUnavailableError, OcrError, OutputError
from docfields.pipeline.artifacts import ArtifactStore
from docfields.pipeline.resources import Resources
from docfields.pipeline.settings import PipelineSettings
from docfields.pipeline.stages import STAGE_BY_NAME, StageInput

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError, sqlite3.OperationalError)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying (I/O, timeouts, a busy database); bad input never is.

    An ``OcrError`` caused by one of those (the Textract rate limiter's database was busy) is
    transient too: the engine failed, not the document. So is an ``OutputError`` from the OS (a
    file where the pipeline's artifact folder goes): the home's disk failed, not the document;
    and a normalizer service that did not answer (``NormalizerUnavailableError``).
    """
    if isinstance(exc, NormalizerUnavailableError):
        return True
    if isinstance(exc, OcrError | OutputError):
        return isinstance(exc.__cause__, TRANSIENT_ERRORS)
    return not isinstance(exc, DocfieldsError) and isinstance(exc, TRANSIENT_ERRORS)


def describe(exc: BaseException, document: str) -> str:
    """An error message that names the document (most DocfieldsError messages already do)."""
    if isinstance(exc, DocfieldsError):
        return str(exc) if document in str(exc) else f"{document}: {exc}"
    prefix = "" if is_transient(exc) else "internal error: "
    return f"{document}: {prefix}{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class StageCall:
    """One stage of one document to run: what it reads, with which settings, and its output's key."""

    stage: str
    key: str
    document_id: str
    attempt: int
    name: str
    path: str
    sha256: str
    settings: str
    artifacts: str
    upstream: dict[str, str] = field(default_factory=dict)
    holder: str = ""


@dataclass(frozen=True)
class StageOutcome:
    """A call's output bytes, or its error (the message names the document) and whether to retry it."""

    output: bytes | None = None
    error: str | None = None
    transient: bool = False


class Executor(Protocol):
    """Runs stage calls somewhere; the driver keeps the store (see the module's contract)."""

    @property
    def slots(self) -> int:
        """How many calls the driver keeps in flight."""

    def submit(self, call: StageCall) -> Future[StageOutcome]:
        """Start a call; its future holds the outcome, or raises when the executor lost the call."""

    def close(self) -> None:
        """Release processes, actors or connections; calls in flight are abandoned."""


def run_call(call: StageCall, resources: Resources) -> StageOutcome:
    """Run one stage call where the executor placed it; a stage's error comes back classified, not raised."""
    try:
        settings = PipelineSettings.model_validate_json(call.settings)
        data = StageInput(call.name, call.path, call.sha256, settings, ArtifactStore(call.artifacts), call.upstream,
                          holder=call.holder, resources=resources)  # fmt: skip
        output = STAGE_BY_NAME[call.stage].run(data)
    except Exception as exc:
        if not isinstance(exc, DocfieldsError) and not is_transient(exc):
            logger.error("%s: %s failed", call.name, call.stage, exc_info=exc)
        return StageOutcome(error=describe(exc, call.name), transient=is_transient(exc))
    return StageOutcome(output=output)


class InlineExecutor:
    """Runs each call in the calling thread, one at a time: what a local worker process does.

    It owns the process's resource cache, so a worker keeps its engines and models loaded
    between documents.
    """

    slots = 1

    def __init__(self, resources: Resources | None = None) -> None:
        self.resources = resources or Resources()

    def submit(self, call: StageCall) -> Future[StageOutcome]:
        """Run the call now; the future is already done."""
        future: Future[StageOutcome] = Future()
        future.set_result(run_call(call, self.resources))
        return future

    def close(self) -> None:
        """Drop the loaded engines and models."""
        self.resources.clear()
