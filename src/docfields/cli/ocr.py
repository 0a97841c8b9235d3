"""Commands on documents and OCR: ``ocr``, ``thumbnails``, ``inspect``, ``engines``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra
from docfields.cli.pipeline import QUALITY_HELP, Quality

if TYPE_CHECKING:
    from collections.abc import Callable

    from docfields.ocr import BatchOcrOptions, BatchPlan, BatchSummary, OcrOutcome


def _split_languages(languages: str | None) -> list[str] | None:
    return [lang for part in languages.replace(",", "+").split("+") if (lang := part.strip())] if languages else None


@app.command()
def ocr(
    input_spec: str = typer.Argument(
        ..., metavar="INPUT", help="Folder, glob, file, or JSON-lines manifest with raw-ref."
    ),
    out: str = typer.Option(..., "--out", "-o", help="Output folder or URL."),
    engine: str = typer.Option("auto", help="OCR engine (`docfields engines` lists them)."),
    languages: str | None = typer.Option(None, help="Tesseract languages, e.g. eng or eng+tha."),
    dpi: int | None = typer.Option(None, help="Render resolution for OCR (engine default if unset)."),
    quality: Annotated[Quality | None, typer.Option(help=QUALITY_HELP)] = None,
    workers: int | None = typer.Option(None, min=1, help="Worker processes (default: all cores)."),
    force: bool = typer.Option(False, help="Redo documents whose output exists."),
    password: str | None = typer.Option(None, help="Password for encrypted PDFs."),
    ray: str | None = typer.Option(
        None, "--ray", metavar="ADDRESS",
        help="Run on Ray instead of --workers: local (a private Ray here), auto (the running one), "
        "ray://HOST:PORT or HOST:PORT. OUT must be reachable from every node.",
    ),  # fmt: skip
) -> None:
    """OCR a corpus into <OUT>/<relative path>/consolidated.json and OUT/manifest.jsonl.

    Nothing is written outside OUT: a manifest's textract-ref names the output only when it
    lies inside OUT (a relative one is read relative to OUT).

    Exit code 0 when every document succeeded, 2 when some failed (see OUT/failures.jsonl),
    130 when interrupted (rerun to resume).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from docfields.ocr import BatchOcrOptions, engine_options, plan_batch_ocr

    if ray is not None:
        require_extra("ray", "--ray")
    with fail_on_error():
        options = BatchOcrOptions(
            engine=engine,
            engine_options=engine_options(engine, _split_languages(languages), dpi, quality),
            workers=workers,
            force=force,
            password=password,
        )
        plan = plan_batch_ocr(input_spec, out, options)
        for problem in plan.problems:
            console.print(f"[red]failed[/red] {escape(problem.where)}: {escape(problem.reason)}", highlight=False)
        columns = (
            TextColumn("OCR"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
        )
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("", total=plan.total, completed=len(plan.done))

            def advance(outcome: OcrOutcome) -> None:
                progress.update(bar, advance=1, description=Path(outcome.source).name)
                if not outcome.ok:
                    progress.console.print(f"[red]failed[/red] {escape(str(outcome.error))}")

            summary = _run(plan, options, advance, ray)
    _print_summary(summary)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(2)


def _run(
    plan: BatchPlan, options: BatchOcrOptions, advance: Callable[[OcrOutcome], None], ray: str | None
) -> BatchSummary:
    """The batch on local worker processes, or on the Ray cluster at ``ray``."""
    from docfields.ocr import run_batch_ocr

    if ray is None:
        return run_batch_ocr(plan, options, on_outcome=advance)
    from docfields.cluster import RayOcrExecutor, ray_session

    with ray_session(ray):
        return run_batch_ocr(plan, options, on_outcome=advance, executor=RayOcrExecutor())


def _print_summary(summary: BatchSummary) -> None:
    from rich.table import Table

    table = Table(title="OCR summary", show_header=False)
    engines = ", ".join(f"{name} {count}" for name, count in sorted(summary.pages_per_engine.items())) or "-"
    rows = [
        ("documents", f"{summary.documents} ({summary.processed} processed, {summary.skipped} already done)"),
        ("failures", f"{summary.failed}" + (f" (see {summary.failures})" if summary.failures else "")),
        ("pages", str(summary.pages)),
        ("pages per engine", engines),
        ("time", f"{summary.seconds:.1f} s ({summary.pages_per_second:.2f} pages/s)"),
        ("manifest", summary.manifest),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if summary.interrupted:
        table.add_row("[yellow]interrupted[/yellow]", "rerun the same command to resume")
    console.print(table)


@app.command()
def thumbnails(
    source: str = typer.Argument(..., metavar="FILE", help="Document (PDF, PNG, JPEG, TIFF, ...)."),
    out: str = typer.Option(..., "--out", "-o", help="OUT.npz, OUT.png (one page) or a folder of PNGs."),
    size: str = typer.Option("224x224", help="WIDTHxHEIGHT."),
    fit: str = typer.Option("stretch", help="stretch or letterbox."),
    color: str = typer.Option("128,128,128", help="Letterbox colour R,G,B."),
    password: str | None = typer.Option(None, help="Password for encrypted PDFs."),
) -> None:
    """Page thumbnails rendered straight at thumbnail scale (the original's 224 x 224 by default)."""
    from docfields.thumbnails import ThumbnailOptions, write_thumbnails

    width, height = _parse_ints(size, "x", 2, "--size")
    red, green, blue = _parse_ints(color, ",", 3, "--color")
    with fail_on_error():
        options = ThumbnailOptions(width=width, height=height, fit=fit, letterbox_color=(red, green, blue))
        written = write_thumbnails(source, out, options, password=password)
    written_to = written[0] if len(written) == 1 else str(Path(written[0]).parent)
    console.print(f"{len(written)} file(s) written: {escape(written_to)}", highlight=False)


def _parse_ints(text: str, separator: str, count: int, option: str) -> list[int]:
    parts = text.lower().split(separator)
    if len(parts) != count or not all(p.strip().isdigit() for p in parts):
        raise typer.BadParameter(
            f"expected {count} integers separated by {separator!r}, got {text!r}", param_hint=option
        )
    return [int(p) for p in parts]


@app.command()
def inspect(
    source: str = typer.Argument(..., metavar="FILE"),
    password: str | None = typer.Option(None, help="Password for encrypted PDFs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Type, pages, page sizes and text layer per page, without rendering."""
    from rich.table import Table

    from docfields.ocr.inspection import inspect_document

    with fail_on_error():
        report = inspect_document(source, password=password)
    if as_json:
        console.print_json(report.model_dump_json())
        return
    console.print(
        f"{report.source}: {report.format} ({report.mime_type}), {report.bytes} bytes, {report.pages} page(s)"
    )
    table = Table("page", "size", "text layer")
    for page in report.page_reports:
        table.add_row(str(page.page), f"{page.width:g} x {page.height:g} {page.unit}", page.text_layer)
    console.print(table)


@app.command()
def engines() -> None:
    """List the registered OCR engines and whether each can run here."""
    from rich.table import Table

    from docfields.errors import DocfieldsError
    from docfields.ocr import available_engines, load_engine

    table = Table("engine", "status")
    for name in available_engines():
        try:
            engine = load_engine(name)
            status = f"[green]ready[/green] ({engine.model_version})"
            engine.close()
        except DocfieldsError as exc:
            status = f"[yellow]unavailable[/yellow]: {exc}"
        table.add_row(name, status)
    console.print(table)
