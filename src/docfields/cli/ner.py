"""Commands on the field tagger: ``train ner`` and ``enrich``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from docfields.cli.main import app, train_app
from docfields.cli.output import console, fail_on_error, require_extra
from docfields.device import DEVICE_HELP

if TYPE_CHECKING:
    from docfields.ner import NerTrainResult


@train_app.command("ner")
def train_ner_command(
    manifest: str = typer.Option(..., help="Ground Truth manifest of the annotated training pages."),
    fields: str = typer.Option(..., help="Field configuration (JSON list, ClassId 0..n-1)."),
    out: str = typer.Option(..., "--out", "-o", help="Model directory to write."),
    validation: str | None = typer.Option(None, help="Held-out manifest, only scored (and calibrated on)."),
    selection_share: float = typer.Option(0.1, "--selection-share", "--validation-share", min=0.0, max=0.9,
                                          help="Training documents held out to pick the best checkpoint "
                                               "(and, without --validation, to score and calibrate on)."),  # fmt: skip
    base: str = typer.Option("layoutlm-mini", help="Named config, checkpoint directory or hub name."),
    epochs: float | None = typer.Option(None, min=0.01, help="Default: until --max-minutes runs out, else 80."),
    max_steps: int | None = typer.Option(None, min=1, help="Stop after this many steps."),
    batch_size: int | None = typer.Option(None, min=1, help="Windows per step (default: 2048 tokens' worth, 16 "
                                          "windows of the default model)."),  # fmt: skip
    learning_rate: float | None = typer.Option(None, help="Default 4e-3 from scratch or a `train mlm` base, 5e-5 "
                                               "from other checkpoints."),  # fmt: skip
    patience: int = typer.Option(20, min=1, help="Evaluations without progress before stopping."),
    max_minutes: float | None = typer.Option(None, help="Time budget; the learning rate decays to fit it."),
    max_length: int | None = typer.Option(None, min=8, help="Tokens per window (default: what the model takes)."),
    other_weight: float = typer.Option(0.3, min=0.01, max=1.0, help="Loss weight of words in no field."),
    box_level: str = typer.Option("segment", help="Boxes the model sees: 'segment' (its line's) or 'word' (its own)."),
    token_dropout: float = typer.Option(0.2, help="Share of training sub-tokens hidden (less memorizing)."),
    box_shift: float = typer.Option(0.1, help="Training boxes move by up to this share of the page, per window."),
    box_dropout: float = typer.Option(0.0, help="Share of training windows served without boxes."),
    seed: int = typer.Option(1337),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT/checkpoints."),
    bf16: bool = typer.Option(False, help="bfloat16 autocast (faster on CPUs with bf16)."),
    label_attribute: str | None = typer.Option(None, help="Manifest key of the boxes (default: detected)."),
    calibrate: bool = typer.Option(True, help="Fit OUT/calibration.json on the validation documents."),
    review_target: float = typer.Option(0.99, min=0.01, max=1.0, help="Report the review load at this target "
                                        "accuracy (process --review-target)."),  # fmt: skip
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Train a layout-aware word tagger; the best epoch is saved to OUT with its per-field scores and calibration."""
    require_extra("ml", "docfields train ner")
    from docfields.device import check_device
    from docfields.ner import NerTrainOptions, train_ner
    from docfields.ner.callbacks import progress_callback

    with fail_on_error():
        check_device(device)  # cuda without a GPU fails now, not after the pages are read
        options = NerTrainOptions(
            manifest=manifest, fields=fields, output=out, validation_manifest=validation,
            selection_share=selection_share, base=base,
            epochs=epochs, max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate,
            patience=patience, max_minutes=max_minutes, max_length=max_length, other_weight=other_weight,
            box_level=box_level, token_dropout=token_dropout, box_shift=box_shift, box_dropout=box_dropout,
            seed=seed, resume=resume, bf16=bf16, label_attribute=label_attribute, calibrate=calibrate,
            review_target=review_target, device=device,
        )  # fmt: skip
        result = train_ner(options, [progress_callback(console, "training", max_minutes)])
    _print_result(result)


def _print_result(result: NerTrainResult) -> None:
    from docfields.cli.evaluate import print_field_scores

    console.print(
        f"saved {result.output}: {result.train_pages} training pages, {result.steps} steps, "
        f"{result.epochs:.1f} epochs, {result.seconds:.1f} s ({result.train_pages_per_second:.1f} pages/s); "
        f"stopped by {result.stopped}; best checkpoint picked on {result.selection_pages} selection pages"
    )
    if result.evaluation is None:
        return
    m, held_out = result.evaluation.word_metrics, result.scored_on == "validation"
    console.print(f"{'validation' if held_out else 'selection slice (not held out)'} ({result.validation_pages} "
                  f"pages): word accuracy {result.evaluation.word_accuracy:.4f}, focus accuracy {m.focus_acc:.4f}, "
                  f"chance entity F1 {result.chance_f1:.4f}")  # fmt: skip
    if result.calibration is not None:
        from docfields.cli.calibrate import print_report

        print_report(result.calibration)
    where = "validation" if held_out else "selection slice"
    print_field_scores(result.evaluation.field_scores, f"Entities per field ({where})")


@app.command()
def enrich(
    source: Annotated[str, typer.Argument(metavar="IN.json", help="Textract JSON (path or URL).")],
    model: str = typer.Option(..., help="Tagger directory written by `docfields train ner`."),
    out: str = typer.Option(..., "--out", "-o", help="Enriched Textract JSON to write."),
    page: int | None = typer.Option(None, min=1, help="Classify only this page (TargetPageNum)."),
    page_only: bool = typer.Option(False, help="Output only that page's blocks (TargetPageOnly)."),
    batch_size: int = typer.Option(8, min=1, help="Windows per model call."),
    bf16: bool = typer.Option(False, help="bfloat16 autocast on the CPU (faster, slightly less exact)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Add ClassificationProbabilities, PredictedClass and PredictedClassConfidence to every WORD."""
    require_extra("ml", "docfields enrich")
    from docfields.ner import EnrichOptions, Tagger, enrich_file

    with fail_on_error():
        options = EnrichOptions(target_page_num=page, target_page_only=page_only, batch_size=batch_size, bf16=bf16)
        enriched = enrich_file(source, out, Tagger.load(model, device), options)
    classified = sum(1 for block in enriched.blocks if block.block_type == "WORD" and
                     (block.model_extra or {}).get("PredictedClass") is not None)  # fmt: skip
    console.print(f"wrote {out}: {classified} words classified")
    for warning in enriched.warnings or ():
        console.print(f"[yellow]warning:[/yellow] {escape(str(warning))}", highlight=False)
