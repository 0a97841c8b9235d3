"""Commands on the pipeline: ``process`` (files end to end) and ``watch`` (a folder, like the original's bucket)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from docfields.cli.fields import ENDPOINT_HELP
from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error, require_extra
from docfields.device import DEVICE_HELP

if TYPE_CHECKING:
    from docfields.pipeline import PipelineSettings, ProcessedFile, ProcessSummary, WatchEvent
    from docfields.pipeline.executors import Executor

HOME_HELP = "Pipeline home: store, originals, artifacts, results (env DOCFIELDS_HOME)."


LANGUAGES_HELP = "Tesseract languages, e.g. eng or eng+tha (as `docfields ocr`)."
DPI_HELP = "Render resolution for OCR (engine default if unset)."


class Quality(StrEnum):
    """``auto``'s OCR quality levels (``docfields.ocr.auto.Quality``)."""

    fast = "fast"
    balanced = "balanced"
    best = "best"


QUALITY_HELP = "auto's OCR on scans: fast (Tesseract), balanced (RapidOCR again on doubtful pages), best (RapidOCR)."


def ocr_settings(engine: str, languages: str | None, dpi: int | None, quality: str | None = None) -> dict[str, Any]:
    """The pipeline's OCR settings from the flags every command shares with ``docfields ocr``."""
    from docfields.cli.ocr import _split_languages
    from docfields.ocr import engine_options

    return {"engine": engine, "engine_options": engine_options(engine, _split_languages(languages), dpi, quality)}


REVIEW_THRESHOLD_HELP = "The raw rule: results whose raw confidence is below go to review (without --review-target)."
REVIEW_TARGET_HELP = (
    "Target accuracy of fields accepted without review: a number (0.99) or a JSON object by field name "
    '(\'{"Card Name": 0.99}\'); a document goes to review only when some field is below the threshold that meets '
    "it. Needs a calibrated model (`docfields calibrate`); without one the raw rule applies."
)
AUDIT_RATE_HELP = "Share of documents that would be done sent to review anyway, to measure accuracy (/metrics)."
PIPELINE_DEVICE_HELP = DEVICE_HELP + " Holds the worker processes too; with --ray the models run on the CPU."


def hold_device(device: str, ray: str | None) -> None:
    """Hold the models of this process, its workers and Ray's to ``device`` (``process``, ``watch``, ``serve``).

    Ray's actors and replicas request no GPUs, so ``cuda`` with ``--ray`` is refused rather than ignored.
    """
    from docfields.device import confine_processes

    if ray is not None:
        from docfields.cluster.connect import check_ray_device

        check_ray_device(device)
    confine_processes(device)


def parse_review_target(value: str | None) -> float | dict[str, float] | None:
    """``--review-target``: a number or a JSON object of numbers by field name; None (or "none") for no target."""
    from pydantic import TypeAdapter, ValidationError

    from docfields.pipeline.settings import ReviewTarget

    if value is None or value.strip().lower() in ("none", "null"):
        return None
    try:
        return TypeAdapter(ReviewTarget).validate_python(json.loads(value))
    except (ValueError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "not JSON"
        raise typer.BadParameter(f"{value!r}: a number in 0..1 or a JSON object of them by field name ({reason})",
                                 param_hint="--review-target") from exc  # fmt: skip


def review_settings(threshold: float, target: str | None, audit_rate: float) -> dict[str, Any]:
    """The pipeline's review rule from the flags ``process``, ``watch`` and ``serve`` share."""
    return {"review_threshold": threshold, "review_target": parse_review_target(target), "audit_rate": audit_rate}


def _settings(
    home: str, ocr: dict[str, Any], model: str | None, fields: str | None, review: dict[str, Any],
    endpoints: list[str] | None,
) -> PipelineSettings:  # fmt: skip
    from docfields.cli.fields import parse_endpoint_options
    from docfields.pipeline import PipelineSettings

    named = parse_endpoint_options(endpoints)
    return PipelineSettings(home=home, model=model, fields=fields, normalizer_endpoints=named, **review, **ocr)


@app.command()
def process(
    files: Annotated[list[str], typer.Argument(metavar="FILE", help="Documents (PDF, PNG, JPEG, TIFF).")],
    model: str = typer.Option(..., help="Tagger directory (`docfields train ner`)."),
    fields: str | None = typer.Option(None, help="Field configuration (default: the model's fields.json)."),
    engine: str = typer.Option("auto", help="OCR engine (`docfields engines` lists them)."),
    languages: str | None = typer.Option(None, help=LANGUAGES_HELP),
    dpi: int | None = typer.Option(None, help=DPI_HELP),
    quality: Annotated[Quality | None, typer.Option(help=QUALITY_HELP)] = None,
    out: str | None = typer.Option(None, "--out", "-o", help="Folder for <stem>.result.json, <stem>.in-review.json."),
    workers: int = typer.Option(1, min=1, help="Worker processes (1: in this process)."),
    review_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help=REVIEW_THRESHOLD_HELP),
    review_target: str | None = typer.Option(None, metavar="ACCURACY|JSON", help=REVIEW_TARGET_HELP),
    audit_rate: float = typer.Option(0.02, min=0.0, max=1.0, help=AUDIT_RATE_HELP),
    home: str = typer.Option(".docfields", envvar="DOCFIELDS_HOME", help=HOME_HELP),
    ray: str | None = typer.Option(
        None, "--ray", metavar="ADDRESS",
        help="Run the stages on Ray instead of --workers: local, auto, ray://HOST:PORT or HOST:PORT. "
        "The store stays here; HOME (originals, artifacts) must be reachable from every node.",
    ),  # fmt: skip
    normalizer_endpoint: Annotated[list[str] | None, typer.Option("--normalizer-endpoint", help=ENDPOINT_HELP)] = None,
    device: str = typer.Option("auto", help=PIPELINE_DEVICE_HELP),
) -> None:
    """OCR, tag and extract the fields of documents; print them and write one result JSON each.

    A file processed before with the same settings is not processed again: its document is
    reused. Exit code 0 when every document is done or in review, 2 when some failed, 130 when
    interrupted (Ctrl-C or SIGTERM; rerun the same command to resume).
    """
    require_extra("ml", "docfields process")  # the tagger
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from docfields.pipeline import DocState, DocumentStatus, Pipeline, process_files

    with fail_on_error():
        hold_device(device, ray)  # before Ray starts or a model loads
    with fail_on_error(), executor_for(ray) as executor:
        ocr = ocr_settings(engine, languages, dpi, quality)
        review = review_settings(review_threshold, review_target, audit_rate)
        settings = _settings(home, ocr, model, fields, review, normalizer_endpoint)
        pipeline = Pipeline(settings, executor=executor)
        columns = (TextColumn("processing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"))  # fmt: skip
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task("", total=len(files))
            finished: set[str] = set()

            def advance(status: DocumentStatus) -> None:
                if status.final and status.id not in finished:
                    finished.add(status.id)
                    progress.update(bar, advance=1, description=f"{status.name}: {status.status}")

            try:
                with _sigterm_interrupts():
                    summary = process_files(pipeline, files, out, workers, on_change=advance)
            except KeyboardInterrupt:
                console.print("interrupted: rerun the same command to resume", highlight=False)
                raise typer.Exit(130) from None
    _print_summary(summary, out)
    if summary.count(DocState.FAILED):
        raise typer.Exit(2)


def executor_for(ray: str | None) -> AbstractContextManager[Executor | None]:
    """No executor (local worker processes), or a Ray executor at that address for the ``with`` block."""
    if ray is None:
        return nullcontext()
    require_extra("ray", "--ray")
    from docfields.cluster import ray_executor

    return ray_executor(ray)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (systemd's stop, ``timeout``, a kill of the process group) stops as Ctrl-C does.

    The worker gives its stage back and the submitted documents stay, so a rerun resumes; by
    default SIGTERM would end the process at once and leave its lease to expire.
    """
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _field_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for name, field in result.get("Fields", {}).items():
        if "Values" in field:
            value = "; ".join(str(v.get("Value", "")) for v in field["Values"])
        else:
            value = str(field.get("Value", ""))
        rows.append((name, value or "[dim]-[/dim]", f"{field.get('Confidence', 0.0):.2f}"))
    return rows


def _print_file(item: ProcessedFile) -> None:
    from rich.table import Table

    from docfields.pipeline import DocState

    name = item.status.name if item.status is not None else item.source
    if item.reused and item.status is not None:
        console.print(f"{escape(item.source)}: already processed as {item.status.id}", highlight=False)
    if item.state == DocState.FAILED:
        console.print(f"[red]failed[/red] {escape(name)}: {escape(str(item.error))}", highlight=False)
        return
    status = item.status
    if item.state == DocState.IN_REVIEW and status is not None:
        title = f"{name}: [yellow]in review[/yellow] ({status.review_reason})"
    else:
        confidence = f"{status.confidence:.2f}" if status is not None and status.confidence is not None else "-"
        title = f"{name}: [green]done[/green], confidence {confidence}"
    if item.result is None:
        console.print(title, highlight=False)
        return
    table = Table("field", "value", "confidence", title=title, title_justify="left")
    for row in _field_rows(item.result):
        table.add_row(*row)
    console.print(table)


def _print_summary(summary: ProcessSummary, out: str | None) -> None:
    for item in summary.files:
        _print_file(item)
    line = (f"{summary.count('done')} done, {summary.count('in_review')} in review, "
            f"{summary.count('failed')} failed in {summary.seconds:.1f} s")  # fmt: skip
    if out is not None:
        line += f"; results in {out}"
    console.print(line, highlight=False)


@app.command()
def watch(
    folder: str = typer.Argument(..., metavar="DIR", help="Folder to watch (subfolders included)."),
    out: str = typer.Option(..., "--out", "-o", help="Folder for results."),
    quarantine: str | None = typer.Option(None, help="Folder for bad files (default OUT/quarantine)."),
    interval: float = typer.Option(5.0, min=0.1, help="Seconds between scans."),
    once: bool = typer.Option(False, help="Process what is there, then exit (for tests and cron)."),
    model: str | None = typer.Option(None, help="Tagger directory; without one, OUT gets the OCR JSON."),
    fields: str | None = typer.Option(None, help="Field configuration (default: the model's fields.json)."),
    engine: str = typer.Option("auto", help="OCR engine."),
    languages: str | None = typer.Option(None, help=LANGUAGES_HELP),
    dpi: int | None = typer.Option(None, help=DPI_HELP),
    quality: Annotated[Quality | None, typer.Option(help=QUALITY_HELP)] = None,
    workers: int = typer.Option(1, min=1, help="Worker processes (1: in this process)."),
    review_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help=REVIEW_THRESHOLD_HELP),
    review_target: str | None = typer.Option(None, metavar="ACCURACY|JSON", help=REVIEW_TARGET_HELP),
    audit_rate: float = typer.Option(0.02, min=0.0, max=1.0, help=AUDIT_RATE_HELP),
    home: str = typer.Option(".docfields", envvar="DOCFIELDS_HOME", help=HOME_HELP),
    normalizer_endpoint: Annotated[list[str] | None, typer.Option("--normalizer-endpoint", help=ENDPOINT_HELP)] = None,
    device: str = typer.Option("auto", help=PIPELINE_DEVICE_HELP),
) -> None:
    """Process new files of DIR as they arrive; results go to OUT, bad files to the quarantine folder.

    A file is taken once it stopped changing; each is processed once, across restarts. Ctrl-C
    stops. With --once, the exit code is 2 when some file was quarantined.
    """
    if model is not None:
        require_extra("ml", "docfields watch --model")
    from docfields.pipeline import DocState, Pipeline, WatchOptions, watch_folder

    def report(event: WatchEvent) -> None:
        status = event.document
        moved = f"{escape(status.name)} -> {escape(str(event.output))}"
        if status.status == DocState.DONE:
            console.print(f"[green]done[/green] {moved}", highlight=False)
        else:
            console.print(f"[red]quarantined[/red] {moved}: {escape(str(status.error))}", highlight=False)

    with fail_on_error():
        hold_device(device, None)
        ocr = ocr_settings(engine, languages, dpi, quality)
        review = review_settings(review_threshold, review_target, audit_rate)
        pipeline = Pipeline(_settings(home, ocr, model, fields, review, normalizer_endpoint))
        options = WatchOptions(out=out, quarantine=quarantine, interval=interval, once=once, workers=workers)
        if not once:
            console.print(f"watching {escape(folder)} (Ctrl-C stops)", highlight=False)
        try:
            summary = watch_folder(pipeline, folder, options, on_event=report)
        except KeyboardInterrupt:
            console.print("stopped")
            return
    console.print(f"{summary.submitted} new file(s): {summary.done} done, {summary.failed} quarantined, "
                  f"{summary.in_review} in review", highlight=False)  # fmt: skip
    if summary.failed:
        raise typer.Exit(2)
