"""``docfields train mlm``: pre-training a tagger base on unlabelled pages (``docfields.ner.pretrain``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from docfields.cli.main import train_app
from docfields.cli.output import console, fail_on_error, require_extra
from docfields.device import DEVICE_HELP

if TYPE_CHECKING:
    from docfields.ner.pretrain import MlmTrainResult


@train_app.command("mlm")
def train_mlm_command(
    manifest: str = typer.Option(
        ...,
        help="Pages: a manifest with textract-ref lines (what `docfields ocr` "
        "writes; labels are ignored) or a folder of Textract JSON.",
    ),  # fmt: skip
    out: str = typer.Option(..., "--out", "-o", help="Base directory to write (then: train ner --base OUT)."),
    base: str = typer.Option("layoutlm-mini", help="Named LayoutLM config to start from (from scratch)."),
    max_minutes: float | None = typer.Option(None, help="Time budget; the learning rate decays to fit it."),
    max_steps: int | None = typer.Option(None, min=1, help="Stop after this many steps."),
    epochs: float = typer.Option(1000.0, min=0.01, help="Passes over the pages (--max-minutes: the budget ends it)."),
    batch_size: int = typer.Option(16, min=1, help="Windows per step."),
    learning_rate: float = typer.Option(2e-3, help="Peak learning rate."),
    layout_objective: str = typer.Option(
        "none", help="'line': also predict how each masked word sits after the previous one; 'none': masked words only."
    ),
    validation_share: float = typer.Option(0.05, min=0.0, max=0.9, help="Documents held out to score masked words."),
    vocab_size: int = typer.Option(8000, min=100, help="WordPiece vocabulary trained on the pages."),
    seed: int = typer.Option(1337),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT/checkpoints."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    bf16: bool = typer.Option(False, help="bfloat16 autocast on the CPU (a GPU uses it where supported)."),
) -> None:
    """Pre-train the tagger's encoder on unlabelled pages (masked words), for `train ner --base`."""
    require_extra("ml", "docfields train mlm")
    from docfields.ner.callbacks import progress_callback
    from docfields.ner.pretrain import MlmTrainOptions, train_mlm

    with fail_on_error():
        options = MlmTrainOptions(
            corpus=manifest, output=out, base=base, max_minutes=max_minutes, max_steps=max_steps, epochs=epochs,
            batch_size=batch_size, learning_rate=learning_rate, layout_objective=layout_objective,
            validation_share=validation_share, vocab_size=vocab_size, seed=seed, resume=resume, device=device,
            bf16=bf16,
        )  # fmt: skip
        result = train_mlm(options, [progress_callback(console, "pre-training", max_minutes)])
    _print_result(result)


def _print_result(result: MlmTrainResult) -> None:
    console.print(f"saved base {escape(result.output)}: {result.pages} pages of {result.documents} documents, "
                  f"{result.steps} steps, {result.epochs:.1f} epochs, {result.seconds:.0f} s; "
                  f"stopped by {result.stopped}")  # fmt: skip
    for reason in result.skipped:
        console.print(f"[yellow]skipped:[/yellow] {escape(reason)}", highlight=False)
    if result.masked_accuracy is not None:
        layout = "" if result.layout_accuracy is None else f", layout accuracy {result.layout_accuracy:.3f}"
        console.print(f"held-out ({result.validation_pages} pages): masked-word accuracy "
                      f"{result.masked_accuracy:.3f} (chance {result.chance_accuracy:.3f}){layout}")  # fmt: skip
        if result.masked_accuracy <= (result.chance_accuracy or 0.0) + 0.01:
            console.print("[yellow]warning:[/yellow] the base predicts masked words no better than chance: train "
                          "longer, or lower --learning-rate (at 1e-2 the encoder collapsed on CORD, every word the "
                          "same; fine-tuning from such a base learns nothing)", highlight=False)  # fmt: skip
    console.print(f"next: docfields train ner --base {escape(result.output)} --manifest M --fields F -o MODEL")
