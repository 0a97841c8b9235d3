"""Local worker processes: each one a driver with the inline executor, claiming from the shared store.

One worker runs one stage at a time. OCR and thumbnails of a document are separate stages that
two workers run in parallel; inside one worker they run one after the other, because PDFium is
not thread-safe (``docfields.documents``) and the text-layer reader calls it directly.

Worker processes use the ``spawn`` start method (no inherited locks or model state) and limit
native thread pools to one thread each (Tesseract's OpenMP, torch): the processes use the cores.
They share no lock or event with their parent: a worker that dies at any moment (SIGTERM to the
process group, SIGKILL, out of memory) can leave nothing the parent would wait on for ever. The
parent stops them with SIGTERM, on which a worker gives its stage back at once and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.context import SpawnProcess
from types import TracebackType

from docfields.errors import PipelineError
from docfields.pipeline.driver import Driver, OnChange
from docfields.pipeline.executors import InlineExecutor
from docfields.pipeline.resources import Resources
from docfields.pipeline.settings import HomeLayout, PipelineSettings
from docfields.pipeline.store import Store

logger = logging.getLogger(__name__)


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


def _process_main(settings_json: str, forever: bool, parent: int) -> None:
    _init_process()
    executor = InlineExecutor(Resources(torch_threads=1))
    worker = Driver(PipelineSettings.model_validate_json(settings_json), executor)
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
