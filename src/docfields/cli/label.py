"""``docfields label export``: the pages worth labelling next, as Label Studio tasks (``annotations.tasks``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra

label_app = typer.Typer(help="Prepare labelling rounds (Label Studio tasks).", no_args_is_help=True)
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
                  "tasks JSON; read its JSON export back with docfields.annotations.read_labelstudio.")  # fmt: skip
