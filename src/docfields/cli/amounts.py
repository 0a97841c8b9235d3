"""``docfields datagen money``: money and rate pairs for the hybrid's model (``normalize.amount_data``)."""

from __future__ import annotations

import typer

from docfields.cli.main import datagen_app
from docfields.cli.output import console, fail_on_error


@datagen_app.command("money")
def datagen_money(
    n: int = typer.Option(20000, "-n", min=1, help="Number of pairs."),
    out: str = typer.Option(..., "--out", "-o", help="Dataset folder, or a .jsonl file."),
    seed: int = typer.Option(42, help="Random seed: same seed and options, same data."),
    noise: float = typer.Option(0.0, min=0.0, max=1.0, help="OCR noise rate on the input text (0: clean)."),
    currency: str = typer.Option("USD", help="Currency of the money rules (money:<CURRENCY>)."),
    percent_share: float = typer.Option(0.4, min=0.0, max=1.0, help="Share of rate (percent) phrases."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Write JSON lines even without .jsonl."),
) -> None:
    """Generate money and rate normalization pairs (src_texts, tgt_texts), answered by the rules."""
    from docfields.normalize.amount_data import AmountDataOptions, write_amount_dataset

    with fail_on_error():
        options = AmountDataOptions(n=n, seed=seed, noise=noise, currency=currency.upper(), percent_share=percent_share)
        written = write_amount_dataset(options, out, "jsonl" if jsonl else None)
    console.print(f"wrote {n} pairs to {written}")
