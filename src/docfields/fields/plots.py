"""Pictures of a calibration, for people who would rather look than read.

- ``reliability_diagram``: per confidence bin, how often fields were right, before and after
  calibration, against the diagonal where confidence means what it says; bar heights below show
  how many fields fell in each bin (a bin of three fields proves little).
- ``review_load_plot``: every threshold as a point (share of fields accepted without review,
  accuracy of those accepted), with the target accuracy as a line: where the curve crosses it
  is the review load the target costs.

matplotlib (the ``ml`` extra) draws with the Agg backend: files only, no display needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from docfields import figures
from docfields.fields.calibration import RELIABILITY_BINS, LoadPoint, reliability_bins


def reliability_diagram(path: str, raw: np.ndarray, calibrated: np.ndarray, correct: np.ndarray) -> str:
    """Write the reliability diagram of raw and calibrated field confidences to ``path`` (PNG); returns it."""
    pyplot = figures.pyplot("ml", "calibration plots")
    figure, (curve, counts) = pyplot.subplots(2, 1, sharex=True, figsize=(6, 6.5), height_ratios=(3, 1))
    curve.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    width = 1.0 / RELIABILITY_BINS
    for offset, (name, scores, color) in enumerate((("raw", raw, "tab:red"), ("calibrated", calibrated, "tab:blue"))):
        points = reliability_bins(scores, correct)
        curve.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=color, label=name)
        lefts = [min(int(p[0] * RELIABILITY_BINS), RELIABILITY_BINS - 1) * width for p in points]
        counts.bar([x + offset * width / 2 for x in lefts], [p[2] for p in points], width=width / 2, align="edge",
                   color=color, alpha=0.7, label=name)  # fmt: skip
    curve.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="share of fields right",
              title=f"Reliability of field confidence ({len(correct)} fields)")  # fmt: skip
    curve.legend(loc="upper left")
    counts.set(xlabel="field confidence", ylabel="fields")
    return figures.save_png(figure, path)


def review_load_plot(path: str, points: Sequence[LoadPoint], target: float) -> str:
    """Write the review-load curve (accepted share vs accuracy of the accepted) to ``path`` (PNG); returns it."""
    pyplot = figures.pyplot("ml", "calibration plots")
    figure, axes = pyplot.subplots(figsize=(6, 4.5))
    axes.plot([p.accepted for p in points], [p.accuracy for p in points], marker=".", color="tab:blue",
              label="one threshold per point")  # fmt: skip
    axes.axhline(target, color="tab:red", linestyle="--", linewidth=1, label=f"target {target:g}")
    low = min([p.accuracy for p in points] + [target])
    axes.set(xlim=(0, 1.02), ylim=(max(0.0, low - 0.05), 1.01), xlabel="share of fields accepted without review",
             ylabel="accuracy of the accepted fields", title="Review load")  # fmt: skip
    axes.legend(loc="lower left")
    return figures.save_png(figure, path)
