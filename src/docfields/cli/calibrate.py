"""``docfields calibrate``: fit a tagger's calibration on held-out documents and reviews, print it, plot it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra

if TYPE_CHECKING:
    from docfields.fields.heldout import CalibrationReport


@app.command()
def calibrate(
    model: str = typer.Option(..., help="Tagger directory (docfields train ner); calibration.json is written there."),
    manifest: str | None = typer.Option(None, help="Held-out Ground Truth manifest with textract-ref lines "
                                        "(docfields ocr of annotated documents)."),  # fmt: skip
    reviews: str | None = typer.Option(None, help="Pipeline home whose reviewed documents add their outcomes."),
    target: float = typer.Option(0.99, min=0.0, max=1.0, help="Accuracy auto-accepted fields should reach."),
    plots: str | None = typer.Option(None, help="Folder for reliability.png and review-load.png (default: MODEL)."),
) -> None:
    """Fit the word temperature and the field confidence curve; report ECE and the review load at TARGET."""
    require_extra("ml", "docfields calibrate")
    from docfields.fields.heldout import calibrate_model

    with fail_on_error():
        with console.status("calibrating"):
            report = calibrate_model(model, manifest=manifest, reviews_home=reviews, plots_dir=plots, target=target)
    print_report(report)


def print_report(report: CalibrationReport) -> None:
    """The report as `calibrate` and `train ner` print it: sources, ECE, the review load, thresholds, plots."""
    from rich.table import Table

    table = Table(title=f"Calibration of {report.model}")
    table.add_column("")
    table.add_column("value", justify="right")
    for source, count in report.sources.items():
        table.add_row(f"{source} outcomes", f"{count.outcomes} fields of {count.documents} documents, "
                      f"{count.correct} right")  # fmt: skip
    table.add_row("word temperature", f"{report.temperature:.3f}")
    table.add_row("ECE, raw confidence", f"{report.ece_raw:.3f}")
    table.add_row("ECE, calibrated (on its own outcomes)", f"{report.ece_calibrated:.3f}")
    crossed = "-" if report.ece_cross_validated is None else f"{report.ece_cross_validated:.3f}"
    table.add_row("ECE, calibrated (document held out)", crossed)
    accuracy = "-" if report.accepted_accuracy is None else f"{report.accepted_accuracy:.3f}"
    table.add_row(f"auto-accepted at target {report.target:g}", f"{report.accepted:.1%} of fields, accuracy {accuracy}")
    console.print(table)
    thresholds = Table(title=f"Review thresholds (calibrated confidence) at target {report.target:g}")
    thresholds.add_column("field")
    thresholds.add_column("threshold", justify="right")
    for name, threshold in report.thresholds.items():
        thresholds.add_row(name, "review all" if threshold >= 1.0 else f"{threshold:.3f}")
    console.print(thresholds)
    console.print(f"wrote {report.calibration}")
    console.print(f"plots: {report.reliability_plot} and {report.review_load_plot}")
