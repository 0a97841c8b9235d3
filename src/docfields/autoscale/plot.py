"""The simulator's picture: load and replicas over time, one line of replicas per policy."""

from __future__ import annotations

import io

from docfields import storage
from docfields.autoscale.simulate import SimulationReport
from docfields.errors import MissingExtraError
from docfields.extras import install_hint


def plot_reports(reports: list[SimulationReport], target: str) -> None:
    """Write a PNG: requests in the system (top) and replicas paid for under each policy (bottom), in hours.

    The load is the first report's (the same trace gives the same arrivals; waiting differs per policy).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        from matplotlib import pyplot
    except ImportError as exc:
        raise MissingExtraError("autoscale", f"--plot needs matplotlib: {install_hint('autoscale')}") from exc
    figure, (load, replicas) = pyplot.subplots(2, 1, sharex=True, figsize=(10, 5.5))
    try:
        first = reports[0].timeline
        load.step([p.t / 3600 for p in first], [p.in_system for p in first], where="post", color="grey")
        load.set_ylabel(f"requests in system\n({reports[0].policy})")
        for report in reports:
            points = report.timeline
            replicas.step([p.t / 3600 for p in points], [p.replicas for p in points], where="post", label=report.policy)
        replicas.set_ylabel("replicas")
        replicas.set_xlabel("hours")
        replicas.legend(loc="upper right")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        pyplot.close(figure)
    storage.write_bytes_atomic(target, buffer.getvalue())
