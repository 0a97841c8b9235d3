"""Replay a trace against a real service and compare what happened with what the simulator predicts.

The simulator is only worth its tables if it agrees with the autoscaler it models. ``replay_trace``
sends each request of a (short) trace at its arrival time, each from its own thread, records every
latency, and samples the deployment's replica count while it runs; ``compare`` puts the result
next to ``simulate`` of the same trace: replica-seconds, peak replicas, latency percentiles and the
mean gap between the two replica curves. How a request is sent and how replicas are counted are the
caller's (an HTTP call to ``serve --ray`` and ``serve.status()`` in the benchmark), so nothing here
imports Ray or an HTTP client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from docfields.autoscale.simulate import SimulationReport
from docfields.autoscale.trace import Trace


@dataclass(frozen=True)
class ReplaySample:
    """Replicas of the deployment ``t`` seconds after the replay started."""

    t: float
    replicas: int


@dataclass(frozen=True)
class ReplayReport:
    """What the real service did with a trace: one latency per request (None: it failed), replicas over time."""

    latencies_s: tuple[float | None, ...]
    timeline: tuple[ReplaySample, ...] = field(repr=False)
    errors: tuple[str, ...] = ()

    @property
    def served(self) -> int:
        """Requests answered successfully."""
        return sum(latency is not None for latency in self.latencies_s)

    @property
    def replica_seconds(self) -> float:
        """The area under the sampled replica curve (each sample holds until the next)."""
        times = [sample.t for sample in self.timeline]
        return float(sum(s.replicas * (t - s.t) for s, t in zip(self.timeline, times[1:], strict=False)))

    @property
    def peak_replicas(self) -> int:
        """The most replicas seen in one sample."""
        return max((sample.replicas for sample in self.timeline), default=0)

    def percentile(self, q: float) -> float:
        """Latency percentile over the served requests (infinite if none was served)."""
        served = [latency for latency in self.latencies_s if latency is not None]
        return float(np.percentile(served, q)) if served else float("inf")


def replay_trace(
    trace: Trace,
    send: Callable[[int], None],
    count_replicas: Callable[[], int],
    sample_s: float = 0.25,
    settle_s: float = 0.0,
) -> ReplayReport:
    """Send request ``i`` of ``trace`` at ``trace.arrivals[i]`` seconds (``send(i)`` blocks until answered).

    Replicas are sampled every ``sample_s`` until every request is answered and ``settle_s`` more
    seconds have passed (to see the deployment scale back in). A request whose ``send`` raises is
    recorded as failed with its error; the replay goes on.
    """
    latencies: list[float | None] = [None] * len(trace)
    errors: list[str] = []
    done = threading.Event()
    start = time.monotonic()

    def one(index: int) -> None:
        time.sleep(max(0.0, start + trace.arrivals[index] - time.monotonic()))
        sent = time.monotonic()
        try:
            send(index)
        except Exception as exc:  # noqa: BLE001 - a failed request is a figure of the replay, not its end
            errors.append(f"request {index}: {exc}")
            return
        latencies[index] = time.monotonic() - sent

    samples: list[ReplaySample] = []
    sampler = threading.Thread(target=_sample, args=(count_replicas, start, sample_s, done, samples), daemon=True)
    sampler.start()
    with ThreadPoolExecutor(max_workers=max(1, len(trace))) as pool:
        list(pool.map(one, range(len(trace))))
    time.sleep(settle_s)
    done.set()
    sampler.join()
    return ReplayReport(tuple(latencies), tuple(samples), tuple(errors))


def _sample(
    count_replicas: Callable[[], int], start: float, period: float, done: threading.Event, into: list[ReplaySample]
) -> None:
    while True:
        into.append(ReplaySample(time.monotonic() - start, count_replicas()))
        if done.wait(period):
            into.append(ReplaySample(time.monotonic() - start, count_replicas()))
            return


@dataclass(frozen=True)
class Comparison:
    """One figure measured and simulated."""

    figure: str
    measured: float
    simulated: float

    @property
    def difference(self) -> float:
        """Simulated minus measured."""
        return self.simulated - self.measured


def compare(real: ReplayReport, simulated: SimulationReport) -> list[Comparison]:
    """Cost, peak and latency percentiles side by side, and the mean gap between the replica curves.

    The simulated curve is read at the replay's sample times, over the replay's span (the
    simulator's window may run longer).
    """
    end = real.timeline[-1].t if real.timeline else 0.0
    curve = _simulated_replicas(simulated, [sample.t for sample in real.timeline])
    gap = float(np.mean([abs(s.replicas - c) for s, c in zip(real.timeline, curve, strict=True)])) if curve else 0.0
    return [
        Comparison("replica-seconds", real.replica_seconds, _replica_seconds_until(simulated, end)),
        Comparison("peak replicas", real.peak_replicas, simulated.peak_replicas),
        Comparison("latency p50 s", real.percentile(50), simulated.latency_p50_s),
        Comparison("latency p95 s", real.percentile(95), simulated.latency_p95_s),
        Comparison("latency p99 s", real.percentile(99), simulated.latency_p99_s),
        Comparison("mean |replica gap|", 0.0, gap),
    ]


def _simulated_replicas(report: SimulationReport, times: list[float]) -> list[int]:
    points = report.timeline
    stamps = [point.t for point in points]
    return [points[max(0, int(np.searchsorted(stamps, t, side="right")) - 1)].replicas if points else 0 for t in times]


def _replica_seconds_until(report: SimulationReport, end: float) -> float:
    points = [point for point in report.timeline if point.t <= end]
    ends = [point.t for point in points[1:]] + [end]
    return float(sum(point.replicas * (stop - point.t) for point, stop in zip(points, ends, strict=True)))
