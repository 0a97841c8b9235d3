"""The autoscaling file and the policy simulator (no Ray: simulated time only, so no timing asserts)."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from docfields.autoscale import (
    DeploymentScaling,
    FixedPolicy,
    SageMakerPolicy,
    ServePolicy,
    SimulationReport,
    Trace,
    generate_trace,
    load_autoscaling,
    read_trace,
    resolve_policy,
    serve_options,
    simulate,
    write_trace,
)
from docfields.autoscale.plot import plot_reports
from docfields.cli import app
from docfields.errors import AutoscaleError

runner = CliRunner()


def burst(count: int, at: float = 10.0, service_s: float = 5.0, duration_s: float = 3000.0) -> Trace:
    """``count`` requests arriving together: the load that makes a policy scale out."""
    return Trace((at,) * count, (service_s,) * count, duration_s)


def changes(report: SimulationReport, direction: int) -> list[float]:
    """Times at which the policy's replica count went up (1) or down (-1): its decisions."""
    points = report.timeline
    return [b.t for a, b in pairwise(points) if (b.wanted > a.wanted) - (b.wanted < a.wanted) == direction]


# -- the bootstrap rule ----------------------------------------------------------------------------


def test_single_request_at_zero_waits_only_the_cold_start_under_serve():
    policy = ServePolicy(replica_start_s=2.5, model_load_s=1.0)
    report = simulate(Trace((100.5,), (2.0,), 1000.0), policy)
    # The next metrics tick (within 1 s), then the replica's start and the model's load.
    assert 3.5 <= report.longest_zero_capacity_wait_s <= 3.5 + policy.settings.metrics_interval_s
    assert report.latency_max_s == pytest.approx(report.longest_zero_capacity_wait_s + 2.0)
    assert report.peak_replicas == 1


def test_serve_returns_to_zero_a_look_back_window_and_the_delay_after_the_last_request():
    """As measured on Ray Serve: with a 5-s delay a deployment is gone about 35 s after its last request."""
    for look_back in (30.0, 10.0):
        settings = DeploymentScaling(downscale_delay_s=5, look_back_period_s=look_back)
        report = simulate(Trace((100.5,), (2.0,), 400.0), ServePolicy(settings=settings, replica_start_s=2.5))
        done = 100.5 + report.latency_max_s
        gone = changes(report, -1)
        assert len(gone) == 1
        tick = settings.metrics_interval_s  # the last sample with load is up to one tick before the end
        assert look_back + 5 - tick <= gone[0] - done <= look_back + 5 + 2 * tick


def test_target_tracking_alone_never_wakes_a_scaled_to_zero_endpoint():
    report = simulate(generate_trace("idle-night"), resolve_policy("sagemaker-target-only"))
    assert report.unserved == 1 and report.served == 0
    assert math.isinf(report.longest_zero_capacity_wait_s) and math.isinf(report.latency_p50_s)
    assert report.summary()["longest_zero_capacity_wait_s"] is None  # JSON has no infinity


def test_the_step_policy_wakes_it_after_the_alarm_and_the_instance_start():
    report = simulate(generate_trace("idle-night"), SageMakerPolicy(instance_start_s=300.0))
    assert report.unserved == 0 and report.served == 1
    # At least one alarm period and the instance start; the original's "several minutes".
    assert report.longest_zero_capacity_wait_s >= 300.0 + 60.0


# -- delays, cooldowns, bounds -----------------------------------------------------------------------


def test_serve_holds_upscale_and_downscale_for_their_delays():
    settings = DeploymentScaling(upscale_delay_s=30.0, downscale_delay_s=300.0, max_replicas=5)
    trace = burst(40)
    report = simulate(trace, ServePolicy(settings=settings))
    ups = changes(report, 1)
    assert ups[0] <= 11.0  # the bootstrap: the first replica at once
    assert all(t >= 10.0 + 30.0 for t in ups[1:]) and len(ups) >= 2
    last_done = max(trace.arrivals) + report.latency_max_s
    before_delay = [p for p in report.timeline if last_done <= p.t < last_done + 300.0]
    assert before_delay and all(p.replicas >= 1 for p in before_delay)
    assert report.timeline[-1].replicas == 0


def ramp(hours: float = 1.0, peak_per_s: float = 5.0, service_s: float = 2.0) -> Trace:
    """Load rising linearly to ``peak_per_s`` and falling back, then idle: scaling in steps both ways."""
    arrivals, t, half = [], 0.0, hours * 1800.0
    while t < 2 * half:
        arrivals.append(round(t, 3))
        t += 1.0 / max(0.2, peak_per_s * (1 - abs(t - half) / half))
    return Trace(tuple(arrivals), (service_s,) * len(arrivals), 4 * hours * 3600.0)


def test_sagemaker_respects_its_cooldowns():
    policy = SageMakerPolicy(min_instances=1, max_instances=20, step_policy=False, instance_start_s=60.0)
    report = simulate(ramp(), policy)
    ups, downs = changes(report, 1), changes(report, -1)
    assert len(ups) >= 2 and len(downs) >= 1
    assert all(b - a >= policy.scale_out_cooldown_s for a, b in pairwise(ups))
    assert all(b - a >= policy.scale_in_cooldown_s for a, b in pairwise(downs))
    assert min(p.replicas for p in report.timeline) == 1  # never below min_instances


@pytest.mark.parametrize(
    "policy",
    [ServePolicy(settings=DeploymentScaling(max_replicas=3, upscale_delay_s=0.0)), SageMakerPolicy(max_instances=3)],
    ids=["serve", "sagemaker"],
)
def test_max_replicas_is_reached_and_never_passed(policy):
    report = simulate(burst(2000, service_s=2.0), policy)
    assert report.peak_replicas == 3
    assert report.unserved == 0


def test_scale_to_zero_costs_a_fraction_of_always_on_over_an_idle_night():
    trace = generate_trace("idle-night")
    always_on = simulate(trace, FixedPolicy(replicas=5))
    to_zero = simulate(trace, ServePolicy())
    assert always_on.replica_seconds == pytest.approx(5 * trace.duration_s)
    # One replica for the request, the look-back window and the downscale delay after it (plus a metrics tick).
    assert to_zero.replica_seconds <= 2.0 + 3.0 + 30.0 + 300.0 + 2.0
    assert to_zero.replica_seconds < always_on.replica_seconds / 100


def test_max_queued_requests_turns_excess_requests_away():
    limited = DeploymentScaling(max_replicas=1, max_queued_requests=10, max_ongoing_requests=1)
    report = simulate(burst(50), ServePolicy(settings=limited))
    assert report.rejected == 50 - 10
    assert report.served == 10
    assert simulate(burst(50), ServePolicy()).rejected == 0


# -- the autoscaling file ------------------------------------------------------------------------------


def test_defaults_mirror_the_original_and_map_to_serve_options(tmp_path: Path):
    source = tmp_path / "scaling.yaml"
    source.write_text("defaults:\n  downscale_delay_s: 120\ndeployments:\n  thumbnails: {max_replicas: 3}\n")
    scaling = load_autoscaling(str(source))
    thumbnails = scaling.for_deployment("thumbnails")
    assert (thumbnails.min_replicas, thumbnails.max_replicas, thumbnails.downscale_delay_s) == (0, 3, 120.0)
    assert scaling.for_deployment("tesseract") == scaling.defaults
    options = serve_options(DeploymentScaling())
    assert options["autoscaling_config"] == {
        "min_replicas": 0,
        "max_replicas": 5,
        "target_ongoing_requests": 4.0,
        "upscale_delay_s": 30.0,
        "downscale_delay_s": 300.0,
        "metrics_interval_s": 1.0,
        "look_back_period_s": 30.0,
    }
    assert options["max_queued_requests"] == -1
    assert options["ray_actor_options"] == {"num_cpus": 1.0}


@pytest.mark.parametrize(
    ("name", "text", "deployment", "key"),
    [
        ("typo.yaml", "deployments:\n  thumbnails: {max_replicaz: 3}\n", "thumbnails", "max_replicaz"),
        ("bounds.yaml", "deployments:\n  tesseract: {min_replicas: 6}\n", "tesseract", "max_replicas"),
        ("negative.json", '{"deployments": {"ner": {"num_cpus": -1}}}', "ner", "num_cpus"),
        ("defaults.json", '{"defaults": {"upscale_delay_s": "soon"}}', None, "defaults.upscale_delay_s"),
    ],
)
def test_a_bad_autoscaling_file_names_the_deployment_and_key(tmp_path, name, text, deployment, key):
    source = tmp_path / name
    source.write_text(text)
    with pytest.raises(AutoscaleError) as caught:
        load_autoscaling(str(source))
    assert (caught.value.deployment, caught.value.key) == (deployment, key)
    result = runner.invoke(app, ["autoscale", "check", str(source)])
    assert result.exit_code == AutoscaleError.exit_code
    message = " ".join(result.output.split())  # rich wraps long lines
    assert name in message and key in message
    if deployment:
        assert f"deployment {deployment}:" in message


def test_a_file_with_several_deployments_needs_one_named(tmp_path: Path):
    source = tmp_path / "two.yaml"
    source.write_text("deployments:\n  a: {}\n  b: {max_replicas: 2}\n")
    with pytest.raises(AutoscaleError, match=r"deployments: a, b"):
        resolve_policy(str(source))
    assert resolve_policy(str(source), "b").settings.max_replicas == 2


# -- traces --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("t.jsonl", '{"arrival_s": 1, "service_s": 1}\n{"arrival_s": 2, "service_s": 1}\n{"arrival_s": 3\n', 3),
        ("t.jsonl", '{"arrival_s": 5, "service_s": 1}\n{"arrival_s": 4, "service_s": 1}\n', 2),
        ("t.jsonl", '{"duration_s": 9}\n{"arrival_s": 1, "service_s": 0}\n', 2),
        ("t.jsonl", '{"arrival_s": 1, "service_s": 1, "user": "x"}\n', 1),
        ("t.csv", "arrival_s,service_s\n1,2\n2,soon\n", 3),
    ],
    ids=["json", "back-in-time", "zero-service", "unknown-key", "csv"],
)
def test_a_bad_trace_line_is_named(tmp_path, name, text, line):
    source = tmp_path / name
    source.write_text(text)
    with pytest.raises(AutoscaleError) as caught:
        read_trace(str(source))
    assert caught.value.line == line
    result = runner.invoke(app, ["autoscale", "simulate", "--trace", str(source), "--policy", "serve"])
    assert result.exit_code == AutoscaleError.exit_code
    assert f"line {line}" in " ".join(result.output.split())


@pytest.mark.parametrize("kind", ["office-day", "nightly-batch", "idle-night"])
def test_same_seed_same_trace_and_it_reads_back(tmp_path, kind):
    first, second, other = tmp_path / "1.jsonl", tmp_path / "2.jsonl", tmp_path / "3.jsonl"
    for target, seed in ((first, 7), (second, 7), (other, 8)):
        assert (
            runner.invoke(app, ["autoscale", "trace", "--kind", kind, "--seed", str(seed), "-o", str(target)]).exit_code
            == 0
        )
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert read_trace(str(first)) == generate_trace(kind, seed=7)


def test_office_day_is_busy_by_day_and_idle_by_night():
    trace = generate_trace("office-day", seed=7)
    hours = [arrival / 3600 for arrival in trace.arrivals]
    assert len(trace) > 1000 and trace.duration_s == 24 * 3600
    assert all(9 <= hour < 18 for hour in hours)


# -- report and plot -------------------------------------------------------------------------------------


def test_simulate_cli_prints_figures_and_writes_a_real_png(tmp_path: Path):
    trace_file, plot = tmp_path / "night.jsonl", tmp_path / "plot.png"
    write_trace(generate_trace("idle-night"), str(trace_file))
    args = ["autoscale", "simulate", "--trace", str(trace_file), "--policy", "serve", "--policy", "always-on"]
    result = runner.invoke(app, [*args, "--plot", str(plot), "--json"])
    assert result.exit_code == 0, result.output
    figures = [json.loads(line) for line in result.output.splitlines()]
    assert [f["policy"] for f in figures] == ["serve", "always-on (5)"]
    assert figures[0]["replica_seconds"] < figures[1]["replica_seconds"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width >= 500 and image.height >= 300


def test_plot_writes_through_the_library(tmp_path: Path):
    trace = burst(30)
    reports = [simulate(trace, ServePolicy()), simulate(trace, SageMakerPolicy())]
    target = tmp_path / "sub" / "both.png"
    plot_reports(reports, str(target))
    with Image.open(target) as image:
        image.verify()
