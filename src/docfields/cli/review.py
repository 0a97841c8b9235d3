"""Commands of the review desk: ``review export`` (corrections as training data) and ``review hash-password``."""

from __future__ import annotations

import typer
from rich.markup import escape

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error

review_app = typer.Typer(help="Human review: export corrections as training data, make login hashes.")
app.add_typer(review_app, name="review")


@review_app.command("export")
def export_command(
    out: str = typer.Option(..., "--out", "-o", help="Ground Truth manifest to write (page PNGs go beside it)."),
    home: str = typer.Option(".docfields", envvar="DOCFIELDS_HOME", help="Pipeline home holding the reviews."),
    pairs: str | None = typer.Option(None, help="Normalizer pairs file (default: normalizer-pairs.jsonl beside OUT)."),
    fields: str | None = typer.Option(None, help="Field configuration whose NormalizerPrompt prefixes the pairs."),
) -> None:
    """Write reviewed documents as box annotations for `train ner` and text pairs for normalizers."""
    from docfields.review.export import export_home

    with fail_on_error():
        summary = export_home(home, out, pairs, fields)
    console.print(
        f"wrote {summary.manifest}: {summary.pages} pages of {summary.documents} reviewed documents, "
        f"{summary.boxes} boxes; {summary.pair_count} normalizer pairs in {summary.pairs}"
    )
    for miss in summary.not_found:
        console.print(f"[yellow]not found in the OCR words:[/yellow] {escape(str(miss))}", highlight=False)
    for failure in summary.failed:
        console.print(f"[red]not exported:[/red] {escape(str(failure))}", highlight=False)


@review_app.command("hash-password")
def hash_password_command(
    stdin: bool = typer.Option(False, "--stdin", help="Read the password from the first line of stdin (no prompt)."),
) -> None:
    """Print the scrypt hash of a password (asked twice, hidden) for the review settings' users or tokens."""
    import sys

    from docfields.review.settings import hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with fail_on_error():
        typer.echo(hash_password(password))
