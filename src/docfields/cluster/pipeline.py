"""Pipeline stages on a Ray cluster: ``RayExecutor``, the executor protocol on a pool of actors.

The driver (``docfields.pipeline.driver``) stays on this machine with the SQLite store: it claims
stages, hands each ``StageCall`` to ``submit`` and writes the returned artifact itself. Here each
call goes to one of the pool's actors, one per cluster CPU: an actor is a Ray worker process that
owns a ``Resources`` cache, so an OCR engine or a tagger loads once per actor, not once per call.

Ray's own retries are off (``max_restarts=0``, ``max_task_retries=0``): a call whose actor or node
died comes back as a future that raises, which the driver records as a transient failure and
claims again, with the store's attempts and backoff. The dead actor is replaced while the cluster
still has the CPUs for it, so a lost node shrinks the pool instead of queuing work nowhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from docfields.cluster.connect import TASK_ENV, ray_session
from docfields.pipeline.executors import StageCall, StageOutcome, run_call
from docfields.pipeline.resources import Resources

logger = logging.getLogger(__name__)


class StageWorker:
    """A Ray actor's state: the resources its stages reuse (one actor per CPU, torch on one thread)."""

    def __init__(self) -> None:
        self.resources = Resources(torch_threads=1)

    def run(self, call: StageCall) -> StageOutcome:
        """Run one stage call here; stage errors come back classified in the outcome."""
        return run_call(call, self.resources)


class RayExecutor:
    """Runs stage calls on a pool of ``StageWorker`` actors of the connected Ray cluster.

    ``slots`` (calls the driver keeps in flight) is twice the pool, so an actor has its next call
    queued while it runs one. Each call goes to the ready actor (started, placed on a node) with
    the fewest calls in flight: a replacement that waits for a CPU the cluster lost gets no work.

    >>> with ray_session("auto"):  # doctest: +SKIP
    ...     Pipeline(settings, executor=RayExecutor()).run_until_idle()
    """

    def __init__(self, actors: int | None = None) -> None:
        import ray

        size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._actor_class = ray.remote(StageWorker).options(
            num_cpus=1, max_restarts=0, max_task_retries=0, runtime_env={"env_vars": TASK_ENV}
        )
        self._lock = threading.Lock()
        self._actors: list[Any] = []
        self._load: dict[Any, int] = {}
        self._starting: dict[Any, Any] = {}  # actor -> the ref that resolves once it is up
        for _ in range(size):
            self._start_actor()
        self.slots = 2 * size
        self.replaced = 0

    def _start_actor(self) -> None:
        actor = self._actor_class.remote()
        self._actors.append(actor)
        self._load[actor] = 0
        self._starting[actor] = actor.__ray_ready__.remote()

    def _ready(self) -> list[Any]:
        """The actors that are up; at start-up, before any is, all of them (calls queue on them)."""
        import ray

        if self._starting:
            refs = list(self._starting.values())
            up, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for actor in [actor for actor, ref in self._starting.items() if ref in up]:
                del self._starting[actor]
        return [actor for actor in self._actors if actor not in self._starting] or self._actors

    def submit(self, call: StageCall) -> Future[StageOutcome]:
        """Queue the call on the least busy ready actor; the future raises if that actor dies."""
        with self._lock:
            actor = min(self._ready(), key=self._load.__getitem__)
            self._load[actor] += 1
        future: Future[StageOutcome] = actor.run.remote(call).future()
        future.add_done_callback(lambda done: self._settle(actor, done))
        return future

    def _settle(self, actor: Any, done: Future[StageOutcome]) -> None:
        """Count the call off its actor; replace the actor if it died (Ray runs this in its thread)."""
        from ray.exceptions import RayActorError

        with self._lock:
            if actor not in self._load:
                return
            self._load[actor] -= 1
            if isinstance(done.exception(), RayActorError):
                self._replace(actor)

    def _replace(self, actor: Any) -> None:
        import ray

        self._actors.remove(actor)
        del self._load[actor]
        self._starting.pop(actor, None)
        if not self._actors or len(self._actors) < int(ray.cluster_resources().get("CPU", 0)):
            self._start_actor()
            self.replaced += 1
        logger.warning("a Ray stage actor died; %d left in the pool", len(self._actors))

    def close(self) -> None:
        """End the actors; calls still in flight are abandoned (their leases are given back or expire)."""
        import ray

        with self._lock:
            actors, self._actors, self._load, self._starting = self._actors, [], {}, {}
        for actor in actors:
            ray.kill(actor)


@contextmanager
def ray_executor(address: str) -> Iterator[RayExecutor]:
    """A ``RayExecutor`` on the cluster at ``address`` (see ``ray_session``), closed on exit.

    >>> with ray_executor("local") as executor:  # doctest: +SKIP
    ...     Pipeline(settings, executor=executor).run_until_idle()
    """
    with ray_session(address):
        executor = RayExecutor()
        try:
            yield executor
        finally:
            executor.close()
