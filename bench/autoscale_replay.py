"""The simulator against reality: one short trace replayed on the real ``serve --ray`` and simulated.

A private Ray (2 CPUs, 127.0.0.1) serves the service as ``docfields serve --ray`` deploys it, with
the thumbnails deployment scaled by a small autoscaling file (0 to 2 replicas, one request at a
time each, target 1, load averaged over 5 s, downscale after 5 s, metrics every 1 s). The script measures that
deployment's cold start and warm service time, builds a 40-second trace from them (a burst, an
idle gap long enough to scale to zero, two lone requests), replays it against the service while
sampling ``serve.status()``, simulates the same trace under the same settings with the measured
start, and prints both side by side with their differences (``autoscale.replay.compare``).

    .venv/bin/python bench/autoscale_replay.py [--seed 3] [--plot replay.png]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from autoscale_bench import deployed, service_calls  # the measuring half's helpers
from docfields.autoscale import DeploymentScaling, ServePolicy, Trace, simulate
from docfields.autoscale.replay import ReplayReport, compare, replay_trace

SCALING = DeploymentScaling(
    min_replicas=0, max_replicas=2, target_ongoing_requests=1, max_ongoing_requests=1,
    upscale_delay_s=0, downscale_delay_s=5, metrics_interval_s=1, look_back_period_s=5, num_cpus=0.5,
)  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--plot", help="PNG of the measured and simulated replicas over time")
    return parser.parse_args()


def replicas(deployment: str) -> int:
    """Replicas of ``deployment`` that exist now, in any state (paid for while starting and stopping too)."""
    from ray import serve

    return sum(serve.status().applications["docfields"].deployments[deployment].replica_states.values())


def short_trace(seed: int, service_s: float) -> Trace:
    """A burst of 12 requests within 10 s, nothing until 30 s, then two requests 1 s apart; a 60-s window."""
    rng = np.random.default_rng(seed)
    arrivals = [*np.sort(rng.uniform(0, 10, size=12)), 30.0, 31.0]
    return Trace(tuple(round(float(a), 3) for a in arrivals), (service_s,) * len(arrivals), 60.0)


def until_gone(deployment: str, timeout: float = 120) -> None:
    """Wait until ``deployment`` has no replica in any state (a stopping one would count in the replay)."""
    deadline = time.monotonic() + timeout
    while replicas(deployment) and time.monotonic() < deadline:
        time.sleep(0.1)


def measure_start(url: str, call) -> tuple[float, float]:
    """(cold, warm): a request at zero replicas, then the p50 of three at one replica."""
    until_gone("thumbnails")
    start = time.perf_counter()
    call(url).raise_for_status()
    cold = time.perf_counter() - start
    warms = []
    for _ in range(3):
        start = time.perf_counter()
        call(url).raise_for_status()
        warms.append(time.perf_counter() - start)
    return cold, statistics.median(warms)


def main() -> None:
    args = parse_args()
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    with tempfile.TemporaryDirectory() as tmp:
        calls, settings = service_calls(Path(tmp))
        call = calls["large thumbnails"]
        ray.init(address="local", num_cpus=2, object_store_memory=150 * 2**20, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False)  # fmt: skip
        try:
            service = deployed(settings, Path(tmp), {"deployments": {"thumbnails": SCALING.model_dump()}})
            try:
                cold, warm = measure_start(service.url, call)
                trace = short_trace(args.seed, warm)
                until_gone("thumbnails")
                real = replay_trace(trace, lambda _: call(service.url).raise_for_status(),
                                    lambda: replicas("thumbnails"), sample_s=0.25, settle_s=20)  # fmt: skip
            finally:
                service.stop()
        finally:
            ray.shutdown()
    policy = ServePolicy(name="simulated", settings=SCALING, replica_start_s=max(cold - warm, 0.0))
    simulated = simulate(trace, policy)
    report(trace, cold, warm, real, simulated)
    if args.plot:
        plot(real, simulated, args.plot)
        print(f"plot: {args.plot}")


def report(trace: Trace, cold: float, warm: float, real: ReplayReport, simulated) -> None:
    served = f"{real.served} served, {len(real.errors)} failed"
    print(f"thumbnails (1000 x 1000): cold start {cold:.2f} s, warm {warm:.2f} s; "
          f"{len(trace)} requests over {trace.duration_s:.0f} s; {served}")  # fmt: skip
    for error in real.errors[:3]:
        print(f"  {error}")
    print("| figure              | measured | simulated | simulated - measured |")
    print("|---------------------|---------:|----------:|---------------------:|")
    for row in compare(real, simulated):
        print(f"| {row.figure:19} | {row.measured:8.2f} | {row.simulated:9.2f} | {row.difference:+20.2f} |")


def plot(real: ReplayReport, simulated, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3))
    axis.step([s.t for s in real.timeline], [s.replicas for s in real.timeline], where="post", label="measured")
    points = [p for p in simulated.timeline if p.t <= real.timeline[-1].t]
    axis.step([p.t for p in points], [p.replicas for p in points], where="post", label="simulated", linestyle="--")
    axis.set_xlabel("seconds")
    axis.set_ylabel("replicas")
    axis.legend()
    figure.tight_layout()
    figure.savefig(target)


if __name__ == "__main__":
    main()
