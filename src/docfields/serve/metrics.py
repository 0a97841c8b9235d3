"""Prometheus metrics of the service: requests by route, documents by status, models in memory, and the
measured accuracy of auto-accepted fields (from reviews of the audit sample, ``audit_rate``).

Each app gets its own registry, so two apps in one process (tests, a review desk beside the
service) never clash. Request counts and latencies are labelled with the route template
(``/documents/{doc_id}``), never the raw path, so an id does not make a new time series.
Document, audit and model figures are read when Prometheus scrapes, from the pipeline and the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from docfields.serve.models import ModelCache

if TYPE_CHECKING:
    from docfields.autoscale.trace import Trace
    from docfields.pipeline.routing import AuditTally
    from docfields.serve.calls import ModelBackend, ModelSpec

T = TypeVar("T")
logger = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"
MAX_RECORDED_CALLS = 100_000  # per deployment: a busy day's trace, about 3 MB
DOCUMENT_STATUSES = ("queued", "running", "in_review", "done", "failed")


class ServeMetrics:
    """The registry and metrics of one app; ``render()`` gives the ``/metrics`` body."""

    def __init__(
        self, document_counts: Callable[[], dict[str, int]], cache: ModelCache, audited: Callable[[], AuditTally]
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "docfields_http_requests", "HTTP requests by method, route and status code.",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "docfields_http_request_seconds", "Time to answer an HTTP request, by method and route.",
            ["method", "route"], registry=self.registry,
        )  # fmt: skip
        self.model_calls = Histogram(
            "docfields_model_call_seconds", "Time of a model call (queue, start and work), by deployment.",
            ["deployment"], registry=self.registry,
        )  # fmt: skip
        self.registry.register(_StateCollector(document_counts, cache, audited))
        self._calls: dict[str, deque[tuple[float, float]]] = {}
        self._calls_lock = threading.Lock()

    def observe_call(self, deployment: str, started: float, seconds: float) -> None:
        """Count one model call and keep it (wall-clock start, duration) for ``call_trace``."""
        self.model_calls.labels(deployment).observe(seconds)
        with self._calls_lock:
            self._calls.setdefault(deployment, deque(maxlen=MAX_RECORDED_CALLS)).append((started, seconds))

    def recorded_deployments(self) -> list[str]:
        """Deployments with calls recorded since the start."""
        with self._calls_lock:
            return sorted(self._calls)

    def call_trace(self, deployment: str) -> Trace | None:
        """The recorded calls of ``deployment`` as a simulator trace (times from its first kept call).

        A call's service time is its whole duration as this service saw it: under load that
        includes waiting for a replica, so record traces to replay when the service is not saturated.
        """
        from docfields.autoscale.trace import Trace

        with self._calls_lock:
            calls = sorted(self._calls.get(deployment, ()))
        if not calls:
            return None
        first = calls[0][0]
        arrivals = tuple(round(started - first, 3) for started, _ in calls)
        services = tuple(max(round(seconds, 3), 0.001) for _, seconds in calls)
        return Trace(arrivals, services, max(arrivals[-1], time.time() - first))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MeasuredModels:
    """A model backend that times every call into the app's metrics (the recorded trace), then runs it."""

    def __init__(self, inner: ModelBackend, metrics: ServeMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def call(self, spec: ModelSpec, work: Callable[..., T], *args: Any) -> T:
        """``inner.call``, timed under ``spec.deployment``."""
        started, start = time.time(), time.perf_counter()
        try:
            return self.inner.call(spec, work, *args)
        finally:
            self.metrics.observe_call(spec.deployment, started, time.perf_counter() - start)

    def max_replicas(self, deployment: str) -> int:
        """The inner backend's."""
        return self.inner.max_replicas(deployment)


class _StateCollector(Collector):
    """Figures read at scrape time: documents per status, audited fields, models loaded, loads and unloads."""

    def __init__(
        self, document_counts: Callable[[], dict[str, int]], cache: ModelCache, audited: Callable[[], AuditTally]
    ) -> None:
        self.document_counts = document_counts
        self.cache = cache
        self.audited = audited

    def collect(self) -> Iterator[Metric]:
        documents = GaugeMetricFamily("docfields_documents", "Documents in the pipeline by status.", labels=["status"])
        counts = self.document_counts()
        for status in sorted(set(DOCUMENT_STATUSES) | set(counts)):
            documents.add_metric([status], counts.get(status, 0))
        yield documents
        yield from _audit_metrics(self.audited())
        loaded = GaugeMetricFamily("docfields_models_loaded", "Models in memory (1 each).", labels=["kind", "name"])
        for model in self.cache.loaded():
            loaded.add_metric([model.kind, model.name], 1)
        yield loaded
        yield _counter("docfields_model_loads", "Models loaded since start.", self.cache.loads)
        yield _counter("docfields_model_unloads", "Models unloaded after their idle time.", self.cache.unloads)


def _audit_metrics(tally: AuditTally) -> Iterator[Metric]:
    """The audit sample's figures; the accuracy only once some audited field was reviewed."""
    yield CounterMetricFamily("docfields_audited_documents", "Audit-sample documents reviewed.", tally.documents)
    yield CounterMetricFamily("docfields_audited_fields", "Fields of reviewed audit-sample documents (all were "
                              "auto-accepted).", tally.fields)  # fmt: skip
    yield CounterMetricFamily("docfields_audited_fields_correct", "Audited fields the reviewer left unchanged.",
                              tally.correct)  # fmt: skip
    if tally.accuracy is not None:
        yield GaugeMetricFamily("docfields_audited_field_accuracy", "Measured accuracy of auto-accepted fields: "
                                "audited fields right as accepted / audited fields.", tally.accuracy)  # fmt: skip


def _counter(name: str, documentation: str, counts: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=["kind", "name"])
    for (kind, model), value in sorted(counts.items()):
        family.add_metric([kind, model], value)
    return family


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request and counting it under its route template."""

    def __init__(self, app: Any, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)
