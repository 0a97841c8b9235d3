"""A discrete-event simulator: replay a request trace against a scaling policy, measure cost and latency.

The model is deliberately small. Requests wait in one FIFO queue; a ready replica serves one at a
time (one CPU per replica, CPU-bound models), for the request's service time. A replica costs from
the moment it is asked for (instances and replicas are paid while they start) until it is gone;
scaling in removes starting replicas first, then idle ones, and lets busy ones finish their
request. The policy's controller decides every ``tick_s`` seconds, at whole multiples of it.

What it leaves out, on purpose: Serve's look-back averaging of the metric, load balancing across
replica queues (one shared queue instead), CloudWatch's ratio of averages versus average of
ratios, and node start-up (replicas start on CPUs that are there).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from docfields.autoscale.policies import ClusterView, Controller, Policy
from docfields.autoscale.trace import Trace

_READY, _DONE, _ARRIVAL, _TICK = range(4)  # order of simultaneous events: capacity first, decisions last


@dataclass(frozen=True)
class TimelinePoint:
    """The state after an event: replicas paid for (starting, serving or finishing their last request),
    replicas the policy wants, replicas serving, and requests waiting or in service."""

    t: float
    replicas: int
    wanted: int
    ready: int
    in_system: int


@dataclass(frozen=True)
class SimulationReport:
    """Cost and latency of one trace under one policy; an unserved request has an infinite latency."""

    policy: str
    requests: int
    served: int
    rejected: int
    unserved: int
    duration_s: float
    replica_seconds: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    latency_max_s: float
    longest_zero_capacity_wait_s: float
    peak_replicas: int
    timeline: tuple[TimelinePoint, ...] = field(repr=False)

    @property
    def replica_hours(self) -> float:
        """Replica-seconds in hours: the cost figure."""
        return self.replica_seconds / 3600.0

    def summary(self) -> dict[str, object]:
        """Every figure except the timeline (what ``--json`` prints); "for ever" is ``None`` (JSON null)."""
        figures = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "timeline"}
        figures["replica_hours"] = self.replica_hours
        return {name: None if isinstance(v, float) and math.isinf(v) else v for name, v in figures.items()}


@dataclass
class _Replica:
    ready: bool = False
    busy: bool = False
    retiring: bool = False


@dataclass
class _Run:
    """The mutable state of one simulation."""

    trace: Trace
    policy: Policy
    controller: Controller
    events: list[tuple[float, int, int, int]] = field(default_factory=list)
    replicas: dict[int, _Replica] = field(default_factory=dict)
    waiting: deque[int] = field(default_factory=deque)
    serving: dict[int, int] = field(default_factory=dict)  # replica id -> request index
    finished_at: list[float] = field(default_factory=list)
    rejected: int = 0
    done: int = 0
    now: float = 0.0
    next_id: int = 0
    replica_seconds: float = 0.0
    backlog_seconds: float = 0.0
    ready_seconds: float = 0.0
    backlog_without_capacity_seconds: float = 0.0
    zero_capacity_since: float | None = None
    longest_zero_capacity_wait: float = 0.0
    timeline: list[TimelinePoint] = field(default_factory=list)

    # -- bookkeeping -----------------------------------------------------------------------------
    def push(self, t: float, kind: int, ref: int) -> None:
        heapq.heappush(self.events, (t, kind, self.next_event_order(), ref))

    def next_event_order(self) -> int:
        self.next_id += 1
        return self.next_id

    def ready_count(self) -> int:
        return sum(1 for r in self.replicas.values() if r.ready and not r.retiring)

    def in_system(self) -> int:
        return len(self.waiting) + len(self.serving)

    def advance(self, t: float) -> None:
        """Integrate cost and the CloudWatch-style metrics over [now, t]."""
        dt = t - self.now
        ready, backlog = self.ready_count(), self.in_system()
        self.replica_seconds += dt * len(self.replicas)
        self.backlog_seconds += dt * backlog
        self.ready_seconds += dt * ready
        if backlog and not ready:
            self.backlog_without_capacity_seconds += dt
        self.now = t

    def wanted_count(self) -> int:
        return sum(1 for r in self.replicas.values() if not r.retiring)

    def point(self) -> TimelinePoint:
        return TimelinePoint(self.now, len(self.replicas), self.wanted_count(), self.ready_count(), self.in_system())

    def record(self) -> None:
        point = self.point()
        last = self.timeline[-1] if self.timeline else None
        if last is None or dataclasses.replace(last, t=point.t) != point:
            self.timeline.append(point)
        self.track_zero_capacity(point)

    def track_zero_capacity(self, point: TimelinePoint) -> None:
        """Start or close an episode of requests waiting with no replica ready."""
        starved = point.ready == 0 and len(self.waiting) > 0
        if starved and self.zero_capacity_since is None:
            self.zero_capacity_since = self.now
        elif not starved and self.zero_capacity_since is not None:
            self.longest_zero_capacity_wait = max(self.longest_zero_capacity_wait, self.now - self.zero_capacity_since)
            self.zero_capacity_since = None

    def view(self) -> ClusterView:
        return ClusterView(
            self.wanted_count(),
            self.ready_count(),
            self.in_system(),
            self.backlog_seconds,
            self.ready_seconds,
            self.backlog_without_capacity_seconds,
        )

    # -- replicas ----------------------------------------------------------------------------------
    def scale_to(self, count: int) -> None:
        """Add starting replicas, or remove starting, then idle, then (after their request) busy ones."""
        active = [rid for rid, r in self.replicas.items() if not r.retiring]
        for _ in range(count - len(active)):
            rid = self.next_event_order()
            self.replicas[rid] = _Replica()
            self.push(self.now + self.policy.start_s, _READY, rid)
        surplus = len(active) - count
        by_cost = sorted(active, key=lambda rid: (self.replicas[rid].ready, self.replicas[rid].busy, -rid))
        for rid in by_cost[: max(0, surplus)]:
            if self.replicas[rid].busy:
                self.replicas[rid].retiring = True
            else:
                del self.replicas[rid]

    def dispatch(self) -> None:
        for rid, replica in self.replicas.items():
            if not self.waiting:
                return
            if replica.ready and not replica.busy and not replica.retiring:
                index = self.waiting.popleft()
                replica.busy = True
                self.serving[rid] = index
                self.push(self.now + self.trace.services[index], _DONE, rid)

    # -- events ------------------------------------------------------------------------------------
    def handle(self, kind: int, ref: int) -> None:
        if kind == _READY and ref in self.replicas:
            self.replicas[ref].ready = True
        elif kind == _DONE:
            index = self.serving.pop(ref)
            self.finished_at[index] = self.now
            self.done += 1
            replica = self.replicas[ref]
            if replica.retiring:
                del self.replicas[ref]
            else:
                replica.busy = False
        elif kind == _ARRIVAL:
            self.arrive(ref)
        elif kind == _TICK:
            self.scale_to(self.controller.decide(self.now, self.view()))
            self.push(self.now + self.policy.tick_s, _TICK, 0)
        self.dispatch()

    def arrive(self, index: int) -> None:
        limit = self.policy.queue_limit(self.ready_count())
        idle = any(r.ready and not r.busy and not r.retiring for r in self.replicas.values())
        if limit is not None and not idle and len(self.waiting) >= limit:
            self.rejected += 1
            self.done += 1
            self.finished_at[index] = math.nan
            return
        self.waiting.append(index)


def simulate(trace: Trace, policy: Policy, patience_s: float = 3600.0) -> SimulationReport:
    """Replay ``trace`` against ``policy``; requests still waiting ``patience_s`` after the window are unserved.

    >>> from docfields.autoscale import ServePolicy, generate_trace
    >>> simulate(generate_trace("idle-night"), ServePolicy()).unserved
    0
    """
    run = _Run(trace, policy, policy.controller(), finished_at=[math.inf] * len(trace))
    for _ in range(policy.initial_replicas):
        rid = run.next_event_order()
        run.replicas[rid] = _Replica(ready=True)
    for index, arrival in enumerate(trace.arrivals):
        run.push(arrival, _ARRIVAL, index)
    run.push(policy.tick_s, _TICK, 0)  # a decision closes a whole period
    horizon = trace.duration_s + patience_s
    while run.events and run.events[0][0] <= horizon:
        t, kind, _, ref = heapq.heappop(run.events)
        if t > trace.duration_s and run.done == len(trace):
            break
        run.advance(t)
        run.handle(kind, ref)
        run.record()
    last_done = max((t for t in run.finished_at if math.isfinite(t)), default=0.0)
    end = max(trace.duration_s, last_done) if run.done == len(trace) else horizon
    run.advance(end)
    run.timeline.append(run.point())
    if run.zero_capacity_since is not None:
        run.longest_zero_capacity_wait = math.inf  # still waiting at the end: it would wait for ever
    return _report(run, end)


def _report(run: _Run, end: float) -> SimulationReport:
    finished = np.array(run.finished_at)
    arrivals = np.array(run.trace.arrivals)
    kept = ~np.isnan(finished)
    latencies = finished[kept] - arrivals[kept]
    unserved = int(np.isinf(latencies).sum())

    def percentile(q: float) -> float:
        return float(np.percentile(latencies, q, method="inverted_cdf")) if latencies.size else 0.0

    return SimulationReport(
        policy=run.policy.name,
        requests=len(run.trace),
        served=int(kept.sum()) - unserved,
        rejected=run.rejected,
        unserved=unserved,
        duration_s=end,
        replica_seconds=run.replica_seconds,
        latency_p50_s=percentile(50),
        latency_p95_s=percentile(95),
        latency_p99_s=percentile(99),
        latency_max_s=float(latencies.max()) if latencies.size else 0.0,
        longest_zero_capacity_wait_s=run.longest_zero_capacity_wait,
        peak_replicas=max((p.replicas for p in run.timeline), default=run.policy.initial_replicas),
        timeline=tuple(run.timeline),
    )
