"""Commands of the autoscaling file and the policy simulator: ``autoscale check | trace | simulate``."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated

import typer

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra

if TYPE_CHECKING:
    from docfields.autoscale import SimulationReport

autoscale_app = typer.Typer(help="Autoscaling files and a simulator of scaling policies.", no_args_is_help=True)
app.add_typer(autoscale_app, name="autoscale")


@autoscale_app.command("check")
def check(source: str = typer.Argument(..., help="Autoscaling file (YAML or JSON).")) -> None:
    """Validate an autoscaling file and print each deployment's Ray Serve options as JSON."""
    from docfields.autoscale import load_autoscaling, serve_options

    with fail_on_error():
        scaling = load_autoscaling(source)
    options = {name: serve_options(settings) for name, settings in sorted(scaling.deployments.items())}
    options["(defaults)"] = serve_options(scaling.defaults)
    console.print_json(json.dumps(options))


@autoscale_app.command("trace")
def trace(
    kind: str | None = typer.Option(None, help="Generate: office-day, nightly-batch or idle-night."),
    seed: int = typer.Option(0, min=0, help="Random seed: same seed, same trace byte for byte."),
    service_s: float = typer.Option(2.0, min=0.001, help="Typical service time of a request, seconds."),
    from_service: str | None = typer.Option(
        None, metavar="URL", help="Instead: the calls a running `docfields serve` recorded (with --deployment)."
    ),
    deployment: str | None = typer.Option(None, help="The deployment whose calls to fetch (thumbnails, ocr-...)."),
    token: str | None = typer.Option(None, envvar="DOCFIELDS_API_TOKEN", help="The service's API token."),
    out: str = typer.Option(..., "--out", "-o", help="Trace file to write (JSON lines)."),
) -> None:
    """Generate a request trace (arrival and service times), or fetch a service's, for ``autoscale simulate``."""
    from docfields.autoscale import generate_trace, write_trace
    from docfields.autoscale.trace import fetch_trace

    if (kind is None) == (from_service is None) or (from_service is not None and deployment is None):
        raise typer.BadParameter("give --kind, or --from-service URL with --deployment NAME", param_hint="--kind")
    with fail_on_error():
        if from_service is not None and deployment is not None:
            requests = fetch_trace(from_service, deployment, token)
        else:
            requests = generate_trace(str(kind), seed=seed, service_s=service_s)
        write_trace(requests, out)
    console.print(f"{len(requests)} requests over {requests.duration_s / 3600:.1f} h -> {out}")


@autoscale_app.command("simulate")
def simulate(
    policies: Annotated[
        list[str],
        typer.Option(
            "--policy", help="sagemaker, sagemaker-target-only, serve, always-on or an autoscaling file; repeatable."
        ),
    ],
    trace_file: str = typer.Option(..., "--trace", help="Trace: JSON lines or CSV (arrival_s, service_s)."),
    deployment: str | None = typer.Option(None, help="The deployment of an autoscaling file to simulate."),
    replica_start_s: float = typer.Option(2.0, min=0, help="Serve replica start, seconds (measured, see README)."),
    model_load_s: float = typer.Option(0.0, min=0, help="Model load time added to a Serve replica's start."),
    instance_start_s: float = typer.Option(300.0, min=0, help="SageMaker instance start, seconds."),
    replicas: int = typer.Option(5, min=1, help="Replicas of the always-on policy."),
    plot: str | None = typer.Option(None, help="Write a PNG of load and replicas over time here."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON lines instead of a table."),
) -> None:
    """Replay a trace against scaling policies: cost, latency, longest wait at zero capacity."""
    if plot:
        require_extra("autoscale", "--plot")
    from docfields.autoscale import read_trace, resolve_policy
    from docfields.autoscale import simulate as run_simulation

    with fail_on_error():
        requests = read_trace(trace_file)
        chosen = [
            resolve_policy(spec, deployment, replica_start_s, model_load_s, instance_start_s, replicas)
            for spec in policies
        ]
        reports = [run_simulation(requests, policy) for policy in chosen]
        if plot:
            from docfields.autoscale.plot import plot_reports

            plot_reports(reports, plot)
    if as_json:
        for report in reports:
            typer.echo(json.dumps(report.summary()))
    else:
        _print_reports(reports)


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


def _print_reports(reports: list[SimulationReport]) -> None:
    from rich.table import Table

    table = Table(title=f"Simulated: {reports[0].requests} requests")
    columns = ("policy", "replica-h", "p50 s", "p95 s", "p99 s", "zero-cap. wait s", "peak", "unserved", "429")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for r in reports:
        latencies = (r.latency_p50_s, r.latency_p95_s, r.latency_p99_s, r.longest_zero_capacity_wait_s)
        table.add_row(
            r.policy,
            f"{r.replica_hours:.2f}",
            *map(_seconds, latencies),
            str(r.peak_replicas),
            str(r.unserved),
            str(r.rejected),
        )
    console.print(table)
