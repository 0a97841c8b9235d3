"""``docfields label``: a labelling round out to Label Studio (``export``) and its labels back to training (``import``).

``export`` writes the pages worth labelling next as tasks (``annotations.tasks``); ``import`` turns
the project's JSON export into the Ground Truth manifest ``train ner`` reads (``annotations.labelstudio``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra

label_app = typer.Typer(help="Labelling rounds in Label Studio: tasks out, labels back.", no_args_is_help=True)
app.add_typer(label_app, name="label")


@label_app.command("export")
def export_command(
    manifest: Annotated[str, typer.Argument(metavar="PAGES", help="Pages manifest (`docfields ocr` writes one).")],
    out: str = typer.Option(..., "--out", "-o", help="Label Studio tasks JSON to write."),
    fields: str = typer.Option(..., help="Field configuration: the labels, AnnotationGuidance as hints."),
    model: str | None = typer.Option(None, help="Tagger directory: pre-annotations, and the uncertain strategy."),
    pages: int | None = typer.Option(None, min=1, help="Pages to pick (default: all candidates)."),
    strategy: str | None = typer.Option(
        None, help="uncertain | stratified | random (default: uncertain with --model, else stratified)."
    ),
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Labelled manifest or Label Studio export whose pages are left out (repeatable)."),
    ] = None,
    images: str = typer.Option("embed", help="'embed' (PNG data URIs in the tasks) or a folder for page PNGs."),
    image_url_prefix: str | None = typer.Option(
        None, help="URL Label Studio fetches the folder's PNGs under (default: its local file serving)."
    ),
    config_out: str | None = typer.Option(None, help="Labelling configuration XML (default: OUT with .xml)."),
    first_page_share: float = typer.Option(0.4, min=0.0, max=1.0, help="Share of first pages (stratified)."),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto | cpu | cuda (with --model)."),
) -> None:
    """Write Label Studio tasks for the pages worth labelling next, and the labelling configuration."""
    if model is not None:
        require_extra("ml", "docfields label export --model")
    from docfields.annotations.tasks import LabelExportOptions, export_labelstudio_tasks

    with fail_on_error():
        prefix = {} if image_url_prefix is None else {"image_url_prefix": image_url_prefix}
        options = LabelExportOptions(
            manifest=manifest, fields=fields, output=out, config_output=config_out, model=model, pages=pages,
            strategy=strategy, exclude=exclude or [], images=images, first_page_share=first_page_share, seed=seed,
            device=device, **prefix,
        )  # fmt: skip
        with console.status("choosing pages"):
            result = export_labelstudio_tasks(options)
    console.print(f"{result.candidates} candidate pages ({result.excluded} already labelled left out): picked "
                  f"{result.picked} by {result.strategy}, {result.first_pages} of them first pages")  # fmt: skip
    if result.mean_uncertainty is not None:
        console.print(f"pre-annotated by {result.model_version}: mean uncertainty {result.mean_uncertainty:.3f}")
    console.print(f"tasks: {escape(result.tasks)}; labelling configuration: {escape(result.config)}")
    if result.images != "embed":
        console.print(f"page images in {escape(result.images)}: serve them under the URL prefix (Label Studio: "
                      "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true, LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="
                      f"{escape(result.images)})")  # fmt: skip
    console.print("Label Studio: new project, paste the XML in Settings > Labeling Interface > Code, import the "
                  "tasks JSON; once labelled, export it as JSON and run docfields label import.")  # fmt: skip


@label_app.command("import")
def import_command(
    export: Annotated[str, typer.Argument(metavar="EXPORT", help="Label Studio JSON export of the labelled tasks.")],
    fields: str = typer.Option(..., help="Field configuration the project was labelled with."),
    out: str = typer.Option(..., "--out", "-o", help="Ground Truth manifest to write (train ner reads it)."),
    label_attribute: str = typer.Option("label", help="Manifest key of the boxes."),
) -> None:
    """Write the annotated tasks of a Label Studio export as a Ground Truth manifest for `train ner`."""
    from docfields.annotations.labelstudio import import_labelstudio

    with fail_on_error():
        result = import_labelstudio(export, fields, out, label_attribute)
    console.print(f"{result.pages} pages ({result.boxes} boxes) written to {escape(result.manifest)}; "
                  f"{result.skipped} tasks without an annotation skipped")  # fmt: skip
    console.print(f"next: docfields train ner --manifest {escape(result.manifest)} --fields {escape(fields)} -o MODEL")
