"""Commands that generate demo corpora: ``samples credit-cards``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error

if TYPE_CHECKING:
    from docfields.samples import CorpusSummary, FieldAccuracy

samples_app = typer.Typer(help="Generate synthetic demo corpora with ground truth.", no_args_is_help=True)
app.add_typer(samples_app, name="samples")


@samples_app.command("credit-cards")
def credit_cards(
    n: int = typer.Option(60, "-n", min=1, help="Number of documents."),
    out: str = typer.Option(..., "--out", "-o", help="Output folder or URL (files already there are overwritten)."),
    seed: int = typer.Option(0, min=0, help="Random seed: same seed and options, same corpus byte for byte."),
    scan_share: float = typer.Option(0.25, min=0.0, max=1.0, help="Share of documents rendered as scans."),
    dpi: int = typer.Option(150, min=72, max=300, help="Resolution of born-digital page images."),
) -> None:
    """Synthetic credit card agreements with the 19-field ground truth and SageMaker Ground Truth boxes.

    Writes OUT/docs (PDFs and scans), OUT/pages (page images), OUT/truth.jsonl,
    OUT/annotations.manifest.jsonl (one line per page, label attribute "label") and OUT/fields.json.
    """
    from docfields.samples import generate_credit_card_corpus

    with fail_on_error(), console.status(f"generating {n} documents"):
        summary = generate_credit_card_corpus(out, n=n, seed=seed, scan_share=scan_share, dpi=dpi)
    _print_summary(summary)


def _print_summary(summary: CorpusSummary) -> None:
    from rich.table import Table

    table = Table(title="Demo corpus", show_header=False)
    layouts = ", ".join(f"{name} {count}" for name, count in sorted(summary.layouts.items()))
    formats = ", ".join(f"{name} {count}" for name, count in sorted(summary.formats.items()))
    rows = [
        ("documents", f"{summary.documents} ({summary.scans} scanned)"),
        ("pages", f"{summary.pages} ({summary.boxes} boxes)"),
        ("layouts", layouts),
        ("files", formats),
        ("time", f"{summary.seconds:.1f} s"),
        ("truth", summary.truth),
        ("manifest", summary.manifest),
        ("fields", summary.fields),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@samples_app.command("score")
def score(
    results: str = typer.Argument(..., help="Folder of <id>.result.json files (what `docfields process -o` writes)."),
    truth: str = typer.Option(..., help="The corpus's truth.jsonl."),
) -> None:
    """Per-field accuracy of pipeline results against the corpus's ground truth."""
    from docfields.samples import score_results_folder

    with fail_on_error():
        scores = score_results_folder(results, truth)
    _print_scores(scores)


def _print_scores(scores: list[FieldAccuracy]) -> None:
    from rich.table import Table

    table = Table(title=f"Field accuracy against the ground truth ({scores[0].documents} documents)")
    for column in ("field", "accuracy", "values found", "recall"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for row in scores:
        recall = f"{row.recall:.0%}" if row.with_value else "-"
        table.add_row(row.name, f"{row.accuracy:.0%}", f"{row.found}/{row.with_value}", recall)
    documents = sum(row.documents for row in scores)
    overall = sum(row.correct for row in scores) / documents if documents else 0.0
    table.add_section()
    table.add_row("all fields", f"{overall:.0%}", "", "")
    console.print(table)
    accepted = sum(row.accepted for row in scores)
    right = sum(row.accepted_correct for row in scores)
    share = f"{right / accepted:.1%} right" if accepted else "none"
    console.print(f"accepted without review: {accepted} of {documents} fields ({accepted / documents:.0%}), {share}; "
                  f"{documents - accepted} fields left for a reviewer")  # fmt: skip
