"""Simulated cost and latency of the original's autoscaling, ours (Ray Serve) and always-on.

The simulated part of issue 16's benchmark (nothing runs on Ray here). Traces are generated with a
fixed seed: an office day (requests 9-18 h with hourly bursts, idle night), a nightly batch, and a
single request after an idle night. Policies:

- the original: SageMaker target tracking on backlog per instance = 4 (cooldowns 240/300 s, 1-minute
  CloudWatch datapoints) plus the step policy for a backlog without capacity (cooldown 150 s), and an
  instance start of ``--instance-start-s`` (default 300 s: the original's "several minutes");
- ours: Ray Serve with the autoscaling file's defaults (min 0, max 5, target 4, upscale held 30 s,
  downscale 300 s, metrics every 1 s), a replica start of ``--replica-start-s`` (default 2.0 s: the
  2.3-3.0 s measured in PLATFORM.md at metrics_interval_s=1 include up to one 1-s interval of waiting
  for the decision, which the simulator adds itself) plus ``--model-load-s`` (default 3 s, assumed);
  and two tuned variants that trade replica-hours for latency;
- always-on: 5 replicas for the whole window.

Targets, reported and not asserted: the single request after an idle night served in under 10 s,
and at least 50% fewer replica-hours than always-on at the same p95 under load.

``--measure`` first measures on this machine, with a private Ray (2 CPUs, 127.0.0.1) and the service
deployed as ``docfields serve --ray`` deploys it (the autoscaling defaults, but downscale after
``--downscale-s``, the load averaged over ``--look-back-s`` instead of Ray's 30 s, so each deployment
is back at zero in seconds): the cold start from zero of each deployment (p50 of 5, and the warm latency of the
same request), the time back to zero after the last request, and the throughput of thumbnails at one
replica vs two. The simulation then takes the measured replica start (thumbnails' cold start less its
warm latency) and model load (the tagger's cold start less thumbnails').

    .venv/bin/python bench/autoscale_bench.py [--seed 7] [--model-load-s 3] [--plot office-day.png]
    .venv/bin/python bench/autoscale_bench.py --measure
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docfields.autoscale import (
    DeploymentScaling,
    FixedPolicy,
    SageMakerPolicy,
    ServePolicy,
    SimulationReport,
    generate_trace,
    simulate,
)
from docfields.autoscale.plot import plot_reports
from docfields.errors import MissingExtraError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replica-start-s", type=float, default=2.0)
    parser.add_argument("--model-load-s", type=float, default=3.0)
    parser.add_argument("--instance-start-s", type=float, default=300.0)
    parser.add_argument("--plot", help="PNG of the office day under each policy")
    parser.add_argument("--measure", action="store_true", help="measure on a private Ray first (minutes)")
    parser.add_argument("--downscale-s", type=float, default=5.0, help="downscale delay while measuring")
    parser.add_argument("--look-back-s", type=float, default=2.0, help="load averaging window while measuring")
    return parser.parse_args()


def policies(args: argparse.Namespace) -> list[SageMakerPolicy | ServePolicy | FixedPolicy]:
    def ours(name: str, **settings: float) -> ServePolicy:
        scaling = DeploymentScaling(**settings)  # type: ignore[arg-type]
        return ServePolicy(
            name=name, settings=scaling, replica_start_s=args.replica_start_s, model_load_s=args.model_load_s
        )

    return [
        SageMakerPolicy(name="original (SageMaker)", instance_start_s=args.instance_start_s),
        ours("ours (defaults)"),
        ours("ours, target 2, up 10 s", target_ongoing_requests=2, upscale_delay_s=10),
        ours("ours, target 1, up 0 s", target_ongoing_requests=1, upscale_delay_s=0),
        ours("ours, target 0.5, up 0 s", target_ongoing_requests=0.5, upscale_delay_s=0),
        FixedPolicy(name="always-on (5)", replicas=5),
    ]


def seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


def print_table(title: str, reports: list[SimulationReport]) -> None:
    baseline = next(r for r in reports if r.policy.startswith("always-on"))
    print(f"\n{title} ({reports[0].requests} requests, {reports[0].duration_s / 3600:.1f} h)")
    print(f"| {'policy':30} | replica-h | vs always-on | p50 s | p95 s | p99 s | zero-capacity wait s |")
    print(f"|{'-' * 32}|----------:|-------------:|------:|------:|------:|---------------------:|")
    for r in reports:
        saving = 1 - r.replica_seconds / baseline.replica_seconds
        latencies = " | ".join(f"{seconds(v):>5}" for v in (r.latency_p50_s, r.latency_p95_s, r.latency_p99_s))
        row = f"| {r.policy:30} | {r.replica_hours:9.2f} | {saving:11.0%} | {latencies}"
        print(f"{row} | {seconds(r.longest_zero_capacity_wait_s):>20} |")


def main() -> None:
    args = parse_args()
    if args.measure:
        args.replica_start_s, args.model_load_s = measure(args.downscale_s, args.look_back_s)
    chosen = policies(args)
    print(
        f"seed {args.seed}; Serve replica start {args.replica_start_s} s + model load {args.model_load_s} s; "
        f"SageMaker instance start {args.instance_start_s} s"
    )
    for kind, title in (
        ("office-day", "Working day"),
        ("nightly-batch", "Nightly batch"),
        ("idle-night", "A single request after an idle night"),
    ):
        trace = generate_trace(kind, seed=args.seed)
        reports = [simulate(trace, policy) for policy in chosen]
        print_table(title, reports)
        if kind == "office-day" and args.plot:
            plot_reports(reports, args.plot)
            print(f"plot: {args.plot}")



# -- measured on Ray Serve ----------------------------------------------------------------------


def measure(downscale_s: float, look_back_s: float) -> tuple[float, float]:
    """Print the measured table; returns (replica start, model load) in seconds for the simulation."""
    import os

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    with tempfile.TemporaryDirectory() as tmp:
        calls, settings = service_calls(Path(tmp))
        ray.init(address="local", num_cpus=2, object_store_memory=150 * 2**20, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False)  # fmt: skip
        try:
            large = calls.pop("large thumbnails")
            rates = {replicas: throughput(settings, Path(tmp), large, replicas) for replicas in (1, 2)}
            print(f"thumbnails throughput: {rates[1]:.1f} req/s at 1 replica, {rates[2]:.1f} at 2 "
                  f"({rates[2] / rates[1]:.2f}x)", flush=True)  # fmt: skip
            print(f"\nMeasured on Ray Serve (2 CPUs, metrics every 1 s, load averaged over {look_back_s:g} s, "
                  f"downscale after {downscale_s:g} s; p50 of 5)")  # fmt: skip
            print("| deployment   | cold start s | warm s | back to zero s |")
            print("|--------------|-------------:|-------:|---------------:|", flush=True)
            cold = cold_starts(settings, Path(tmp), calls, {"downscale_delay_s": downscale_s,
                                                            "look_back_period_s": look_back_s})  # fmt: skip
        finally:
            ray.shutdown()
    replica_start = max(cold["thumbnails"][0] - cold["thumbnails"][1], 0.0)
    model_load = max(cold["tagger"][0] - cold["thumbnails"][0], 0.0) if "tagger" in cold else 3.0
    return round(replica_start, 2), round(model_load, 2)


def service_calls(tmp: Path) -> tuple[dict[str, Callable[[str], object]], object]:
    """One request per deployment (thumbnails, OCR, normalizer, a tiny tagger built here), and the settings."""
    import httpx

    from docfields.ocr import ocr_document
    from docfields.pipeline import PipelineSettings
    from docfields.samples import credit_card_fields, generate_credit_card_corpus
    from docfields.serve import ServeSettings
    from docfields.textract import iter_words, textract_to_dict

    generate_credit_card_corpus(tmp / "corpus", n=1, seed=3, scan_share=0)
    pdf_path = tmp / "corpus" / "docs" / "cc-0000.pdf"
    pdf, textract = pdf_path.read_bytes(), ocr_document(str(pdf_path), engine="pdftext")
    pdf_type = {"Content-Type": "application/pdf"}
    large = {"width": 1000, "height": 1000}  # CPU-bound in the replica, not in HTTP
    calls: dict[str, Callable[[str], object]] = {
        "large thumbnails": lambda url: httpx.post(
            f"{url}/thumbnails", content=pdf, headers=pdf_type, params=large, timeout=120
        ),
        "thumbnails": lambda url: httpx.post(f"{url}/thumbnails", content=pdf, headers=pdf_type, timeout=120),
        "ocr-pdftext": lambda url: httpx.post(f"{url}/ocr", content=pdf, headers=pdf_type, timeout=120),
        "normalizer": lambda url: httpx.post(f"{url}/normalize", json={"inputs": "4 March 2021"}, timeout=120),
    }
    models = {}
    try:
        from docfields.ner import build_tagger

        words = [word.text for word in iter_words(textract)]
        models["cards"] = str(build_tagger("layoutlm-tiny", credit_card_fields(), words, seed=0).save(tmp / "cards"))
        body = textract_to_dict(textract)
        calls["tagger"] = lambda url: httpx.post(f"{url}/models/cards/invocations", json=body, timeout=120)
    except (ImportError, MissingExtraError):
        print("no ml extra: the tagger is not measured")
    calls["ocr-pdftext"] = calls.pop("ocr-pdftext")  # last: the figures that feed the simulation come first
    pipeline = PipelineSettings(home=str(tmp / "home"), engine="pdftext")
    return calls, ServeSettings(pipeline=pipeline, workers=0, models=models, normalizer="date:YYYY-MM-DD")


_PORT: int | None = None


def deployed(settings: object, tmp: Path, scaling: dict[str, object]) -> object:
    """The service deployed with this autoscaling file (the caller stops it)."""
    import json
    import socket

    import httpx

    from docfields.cluster.serving import deploy_service

    global _PORT
    (tmp / "scaling.json").write_text(json.dumps(scaling))
    if _PORT is None:  # one port for every deployment: a Serve restarted at once keeps its first HTTP options
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            _PORT = probe.getsockname()[1]
    service = deploy_service(settings.model_copy(update={"autoscaling": str(tmp / "scaling.json")}), "127.0.0.1", _PORT)
    for _ in range(600):  # the proxy of a restarted Serve may answer a little after the app is ready
        try:
            if httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return service


def running(deployment: str) -> int:
    from ray import serve

    return serve.status().applications["docfields"].deployments[deployment].replica_states.get("RUNNING", 0)


def until_replicas(deployment: str, count: int, timeout: float = 120) -> float:
    start = time.perf_counter()
    while running(deployment) != count and time.perf_counter() - start < timeout:
        time.sleep(0.05)
    return time.perf_counter() - start


def cold_starts(settings: object, tmp: Path, calls: dict, delays: dict) -> dict[str, tuple[float, float, float]]:
    """Per deployment, p50 of 5: a request at zero replicas, the same warm, and the wait back to zero."""
    service = deployed(settings, tmp, {"defaults": {**delays, "num_cpus": 0.5}})
    names = {"tagger": "tagger-cards"}
    results = {}
    try:
        for kind, call in calls.items():
            deployment = names.get(kind, kind)
            starts, warms, zeros = [], [], []
            for _ in range(5):
                until_replicas(deployment, 0)
                start = time.perf_counter()
                call(service.url).raise_for_status()
                starts.append(time.perf_counter() - start)
                start = time.perf_counter()
                call(service.url).raise_for_status()
                warms.append(time.perf_counter() - start)
                zeros.append(until_replicas(deployment, 0))
            results[kind] = start, warm, zero = tuple(statistics.median(v) for v in (starts, warms, zeros))
            print(f"| {kind:12} | {start:12.2f} | {warm:6.2f} | {zero:14.1f} |", flush=True)
    finally:
        service.stop()
    return results


def throughput(settings: object, tmp: Path, call: Callable[[str], object], replicas: int, n: int = 60) -> float:
    """Requests per second of ``n`` thumbnail requests, 4 at a time, with ``replicas`` replicas kept up."""
    scaling = {"min_replicas": replicas, "max_replicas": replicas, "num_cpus": 0.5}
    service = deployed(settings, tmp, {"deployments": {"thumbnails": scaling}})
    try:
        until_replicas("thumbnails", replicas)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: call(service.url), range(4)))  # warm-up
            start = time.perf_counter()
            list(pool.map(lambda _: call(service.url), range(n)))
            return n / (time.perf_counter() - start)
    finally:
        service.stop()


if __name__ == "__main__":
    main()
