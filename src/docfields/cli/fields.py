"""Commands on fields: ``fields extract`` (enriched JSON to results), ``fields check`` and ``fields export``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import typer

from docfields.cli.main import app
from docfields.cli.output import console, error_console, fail_on_error, parse_day

if TYPE_CHECKING:
    from docfields.fields import ExtractionResult, FieldConfiguration, FieldResult

ENDPOINT_HELP = ("Named normalizer endpoint as NAME=URL or NAME=DIR, repeatable: a field's NormalizerEndpoint "
                 "holding NAME (the original's SageMaker endpoint names) resolves to it.")  # fmt: skip


def parse_endpoint_options(values: list[str] | None) -> dict[str, str]:
    """``--normalizer-endpoint NAME=TARGET`` options as a mapping (as ``docfields serve`` reads them)."""
    from docfields.cli.serve import parse_model_option

    return dict(parse_model_option(value, "--normalizer-endpoint") for value in values or [])


fields_app = typer.Typer(help="Field configurations and field extraction from enriched JSON.", no_args_is_help=True)
app.add_typer(fields_app, name="fields")


def _output_url(enriched: str, out_dir: str | None) -> str:
    """``<stem>.result.json`` in ``out_dir``, or beside the input (a path or an fsspec URL)."""
    from docfields import storage

    folder, _, filename = enriched.replace("\\", "/").rpartition("/")
    name = f"{PurePosixPath(filename).stem}.result.json"
    if out_dir:
        return storage.join(out_dir, name)
    return f"{folder}/{name}" if folder else name


@fields_app.command("extract")
def extract_command(
    enriched: Annotated[list[str], typer.Argument(help="Enriched Textract JSON files (docfields enrich).")],
    fields: str = typer.Option(..., "--fields", "-f", help="Field configuration (JSON list)."),
    out_dir: str | None = typer.Option(None, "--out-dir", "-o", help="Folder for results (default: beside inputs)."),
    normalizer_endpoint: Annotated[list[str] | None, typer.Option("--normalizer-endpoint", help=ENDPOINT_HELP)] = None,
    reference_date: str | None = typer.Option(
        None, help="YYYY-MM-DD that year-less and relative dates are read against (default: each document's own date)."
    ),
) -> None:
    """Extract fields from enriched documents; writes <stem>.result.json for each."""
    from docfields.errors import DocfieldsError
    from docfields.fields import extract_file, load_field_configuration
    from docfields.fields.config import resolve_endpoint_names

    endpoints = parse_endpoint_options(normalizer_endpoint)
    reference = parse_day(reference_date) if reference_date else None
    with fail_on_error():
        config = resolve_endpoint_names(load_field_configuration(fields, endpoints), endpoints)
    failed = 0
    generators: dict[str, Any] = {}  # normalizer models, loaded once for the batch
    for url in enriched:
        output = _output_url(url, out_dir)
        try:
            result = extract_file(url, config, output, generators, reference)
        except DocfieldsError as exc:  # one bad document must not stop the batch
            error_console.print(f"[red]error:[/red] {exc}", highlight=False)
            failed = failed or exc.exit_code
            continue
        _print_result(url, output, result)
    if failed:
        raise typer.Exit(failed)


def _values_text(field: FieldResult) -> str:
    if field.values is None:
        return field.value or ""
    return "\n".join(f"{v.value} ({v.confidence:.3f})" for v in field.values)


def _print_result(url: str, output: str, result: ExtractionResult) -> None:
    from rich.table import Table

    table = Table(title=f"{url}: confidence {result.confidence:.3f}", title_justify="left")
    for column in ("Field", "Value(s)", "Confidence", "Detections"):
        table.add_column(column, justify="right" if column in ("Confidence", "Detections") else "left")
    for name, field in result.fields.items():
        table.add_row(name, _values_text(field), f"{field.confidence:.3f}", str(field.num_detections))
    console.print(table)
    for warning in result.warnings or ():
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    console.print(f"wrote {output}")


@fields_app.command("check")
def check_command(
    fields: Annotated[str, typer.Argument(help="Field configuration file to validate.")],
    partial: bool = typer.Option(
        False, "--partial", help="The file lists only some of a tagger's classes (extraction only, not training)."
    ),
    normalizer_endpoint: Annotated[list[str] | None, typer.Option("--normalizer-endpoint", help=ENDPOINT_HELP)] = None,
) -> None:
    """Validate a field configuration; errors name the field and the key.

    Without --partial the ClassIds must be 0..n-1, as `train ner` requires. A NormalizerEndpoint
    holding a name must be one of --normalizer-endpoint's names.
    """
    from docfields.fields.config import check_tagger_classes, load_field_configuration

    with fail_on_error():
        config = load_field_configuration(fields, parse_endpoint_options(normalizer_endpoint))
        if not partial:
            check_tagger_classes(config, fields)
    _print_configuration(fields, config)


def _print_configuration(url: str, config: FieldConfiguration) -> None:
    from rich.table import Table

    active = config.active()
    table = Table(title=f"{url}: {len(config.fields)} fields, {len(active)} extracted", title_justify="left")
    for column in ("ClassId", "Name", "Kind", "Select", "Normalizer"):
        table.add_column(column)
    for spec in config.fields:
        kind = "ignored" if spec.ignore else "optional" if spec.optional else "mandatory"
        select = "multi-value" if spec.is_multi_value else str(spec.select)
        table.add_row(str(spec.class_id), spec.name, kind, select, spec.normalizer_spec or "")
    console.print(table)


class ExportFormat(StrEnum):
    """Formats ``fields export`` writes."""

    ORIGINAL = "original"


@fields_app.command("export")
def export_command(
    fields: Annotated[str, typer.Argument(help="Field configuration to export.")],
    out: Annotated[str, typer.Argument(help="File to write (JSON list).")],
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="original: the AWS sample's FieldConfiguration keys.")
    ],
    normalizer_endpoint: Annotated[list[str] | None, typer.Option("--normalizer-endpoint", help=ENDPOINT_HELP)] = None,
) -> None:
    """Write a configuration the original's post-processing loads: exactly its keys.

    A field whose normalizer the original cannot express (a Normalizer rule, URL or folder) is
    written without one, with a warning naming it.
    """
    from docfields.fields.config import export_original, load_field_configuration

    with fail_on_error():
        entries = export_original(load_field_configuration(fields, parse_endpoint_options(normalizer_endpoint)), out)
    console.print(f"wrote {len(entries)} fields to {out} ({export_format.value} format)", highlight=False)
