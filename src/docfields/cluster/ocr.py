"""Corpus OCR on a Ray cluster: ``ocr_file`` as a Ray task, one document at a time.

The batch runner (``docfields.ocr.runner``) plans, skips finished documents, writes
``manifest.jsonl`` and ``failures.jsonl`` and handles Ctrl-C; this executor only replaces its
process pool. Documents are handed out one at a time with at most ``in_flight`` running or queued
(two per cluster CPU by default), so a fast node takes more work than a slow one, unlike static
shards, and the driver never holds more than that many results.

Ray's own retries are off (``max_retries=0``): a document whose worker or node died is handed out
again by this executor, up to ``attempts`` times, then recorded as a failure of that document
(``failures.jsonl``); a bad document fails once, as a returned outcome. Each task writes its
output itself, atomically, so outputs must be on a location every node can reach: a local path on
one machine, a shared file system or an fsspec URL (``s3://...``) on a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from docfields.cluster.connect import TASK_ENV
from docfields.ocr.runner import OcrOutcome, OcrTask, ocr_file

logger = logging.getLogger(__name__)


def ocr_on_node(task: OcrTask) -> tuple[OcrOutcome, str]:
    """``ocr_file`` in a Ray worker, with the id of the node that ran it (where the work went)."""
    import ray

    return ocr_file(task), ray.get_runtime_context().get_node_id()


def _lost_errors() -> tuple[type[Exception], ...]:
    """Ray errors that mean the worker, its node or the result went away: not the document's fault."""
    from ray import exceptions

    return (
        exceptions.WorkerCrashedError,
        exceptions.NodeDiedError,
        exceptions.ObjectLostError,
        exceptions.OutOfMemoryError,
        exceptions.LocalRayletDiedError,
    )


class RayOcrExecutor:
    """Runs ``OcrTask``s as Ray tasks on the connected cluster (see ``ray_session``).

    ``nodes`` maps each finished document to the Ray node that OCRed it, ``resubmitted`` counts
    the documents handed out again after a lost worker or node.

    >>> with ray_session("local"):  # doctest: +SKIP
    ...     summary = run_batch_ocr(plan, options, executor=RayOcrExecutor())
    """

    def __init__(self, in_flight: int | None = None, attempts: int = 3) -> None:
        self.in_flight = in_flight
        self.attempts = attempts
        self.nodes: dict[str, str] = {}
        self.resubmitted = 0

    def __call__(self, tasks: list[OcrTask]) -> Iterator[OcrOutcome]:
        """Yield one outcome per task as they finish; unfinished tasks are cancelled on exit (Ctrl-C)."""
        import ray

        remote = ray.remote(ocr_on_node).options(num_cpus=1, max_retries=0, runtime_env={"env_vars": TASK_ENV})
        limit = self.in_flight or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        waiting = iter(tasks)
        running: dict[Any, tuple[OcrTask, int]] = {}
        try:
            while True:
                while len(running) < limit and (task := next(waiting, None)) is not None:
                    running[remote.remote(task)] = (task, 1)
                if not running:
                    return
                [ref], _ = ray.wait(list(running), num_returns=1)
                task, attempt = running.pop(ref)
                outcome = self._collect(ref, task, attempt)
                if outcome is None:
                    running[remote.remote(task)] = (task, attempt + 1)
                else:
                    yield outcome
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def _collect(self, ref: Any, task: OcrTask, attempt: int) -> OcrOutcome | None:
        """The task's outcome; None when its worker was lost and it should be handed out again."""
        import ray

        try:
            outcome, node = ray.get(ref)
        except _lost_errors() as exc:
            if attempt < self.attempts:
                logger.warning("%s: Ray worker lost (%s); handing it out again", task.source, type(exc).__name__)
                self.resubmitted += 1
                return None
            return _failure(task, f"Ray worker lost {attempt} times: {type(exc).__name__}: {exc}", exc)
        except ray.exceptions.RayError as exc:  # e.g. the package does not import on that node
            return _failure(task, f"Ray task failed: {type(exc).__name__}: {exc}", exc)
        self.nodes[outcome.source] = node
        logger.debug("%s: OCRed on node %s", outcome.source, node)
        return outcome


def _failure(task: OcrTask, error: str, exc: Exception) -> OcrOutcome:
    return OcrOutcome(task.source, None, error=error, error_type=type(exc).__name__)
