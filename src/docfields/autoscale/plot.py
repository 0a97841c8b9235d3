"""The simulator's picture: load and replicas over time, one line of replicas per policy."""

from __future__ import annotations

from docfields import figures
from docfields.autoscale.simulate import SimulationReport


def plot_reports(reports: list[SimulationReport], target: str) -> None:
    """Write a PNG: requests in the system (top) and replicas paid for (bottom) under each policy, over hours.

    The load differs per policy: the same arrivals wait longer where capacity comes later.
    """
    pyplot = figures.pyplot("autoscale", "--plot")
    figure, (load, replicas) = pyplot.subplots(2, 1, sharex=True, figsize=(10, 5.5))
    for report in reports:
        hours = [p.t / 3600 for p in report.timeline]
        load.step(hours, [p.in_system for p in report.timeline], where="post", label=report.policy)
        replicas.step(hours, [p.replicas for p in report.timeline], where="post", label=report.policy)
    load.set_ylabel("requests waiting\nor in service")
    replicas.set_ylabel("replicas")
    replicas.set_xlabel("hours")
    replicas.legend(loc="upper right")
    figures.save_png(figure, target)
