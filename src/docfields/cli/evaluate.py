"""``docfields evaluate ner``: scoring a saved tagger on a labelled manifest (``docfields.ner.evaluate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import typer
from rich.markup import escape

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra

if TYPE_CHECKING:
    from docfields.device import DeviceChoice
    from docfields.ner.evaluate import NerEvaluation
    from docfields.ner.metrics import FieldScore

CONFUSIONS_SHOWN = 15

evaluate_app = typer.Typer(help="Score saved models on labelled pages they never saw.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("ner")
def evaluate_ner_command(
    model: str = typer.Option(..., help="Tagger directory written by `docfields train ner`."),
    manifest: str = typer.Option(..., help="Ground Truth manifest of the labelled test pages."),
    json_out: str | None = typer.Option(None, "--json", metavar="OUT", help="Also write the evaluation as JSON."),
    label_attribute: str | None = typer.Option(None, help="Manifest key of the boxes (default: detected)."),
    fields: str | None = typer.Option(
        None, help="The manifest's field configuration, when its lines' class-maps do not name every field."
    ),
    batch_size: int = typer.Option(16, min=1, help="Windows per model call."),
    device: str = typer.Option("auto", help="Where the model runs: auto (a GPU when torch sees one), cpu or cuda."),
) -> None:
    """Per-field precision, recall and F1, word accuracy, the fields mixed up and the worst pages of a tagger."""
    require_extra("ml", "docfields evaluate ner")
    from docfields.ner.evaluate import evaluate_ner
    from docfields.storage import write_text_atomic

    with fail_on_error():
        with console.status("evaluating"):
            evaluation = evaluate_ner(model, manifest, label_attribute, batch_size, cast("DeviceChoice", device),
                                      fields)  # fmt: skip
        if json_out:
            write_text_atomic(json_out, evaluation.model_dump_json(indent=2) + "\n")
    print_evaluation(evaluation)
    if json_out:
        console.print(f"wrote {escape(json_out)}", highlight=False)


def print_evaluation(evaluation: NerEvaluation) -> None:
    """The table per field, word accuracy, the confusions between fields and the worst pages."""
    print_field_scores(evaluation.field_scores, f"Entities per field ({evaluation.pages} pages)")
    m = evaluation.word_metrics
    console.print(f"word accuracy {evaluation.word_accuracy:.4f} ({evaluation.words} words); "
                  f"per page: accuracy {m.acc:.4f}, focus accuracy {m.focus_acc:.4f}")  # fmt: skip
    confusions = evaluation.confusion.confusions()
    if confusions:
        console.print(f"Fields mixed up (true -> predicted), {min(len(confusions), CONFUSIONS_SHOWN)} "
                      f"of {len(confusions)} pairs:")  # fmt: skip
        for true, predicted, count in confusions[:CONFUSIONS_SHOWN]:
            console.print(f"  {escape(true)} -> {escape(predicted)}: {count} words", highlight=False)
    if evaluation.worst_pages:
        console.print(f"The {len(evaluation.worst_pages)} pages with most wrong words (true -> predicted):")
    for page in evaluation.worst_pages:
        console.print(f"{escape(page.document)} page {page.page}: {page.wrong} of {page.words} words wrong",
                      highlight=False)  # fmt: skip
        for word in page.wrong_words:
            console.print(f"  {escape(repr(word.text))}: {escape(word.true)} -> {escape(word.predicted)}",
                          highlight=False)  # fmt: skip
        if page.wrong > len(page.wrong_words):
            console.print(f"  ... and {page.wrong - len(page.wrong_words)} more")


def print_field_scores(scores: list[FieldScore], title: str) -> None:
    """Precision, recall, F1, true and predicted entities per field, with the micro and macro rows."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("field", "precision", "recall", "F1", "true", "predicted"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for index, score in enumerate(scores):
        last_field = score.class_id is not None and index + 1 < len(scores) and scores[index + 1].class_id is None
        table.add_row(escape(score.name), f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}",
                      str(score.support), str(score.predicted), end_section=last_field)  # fmt: skip
    console.print(table)
