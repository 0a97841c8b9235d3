"""Commands on a running service's pipeline configuration: ``config show | set`` (``/config/pipeline``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from docfields.cli.main import app
from docfields.cli.output import console, fail_on_error
from docfields.cli.pipeline import AUDIT_RATE_HELP, REVIEW_TARGET_HELP, REVIEW_THRESHOLD_HELP, Quality

config_app = typer.Typer(help="Show or change a running service's pipeline configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

URL_HELP = "The service's base URL."
TOKEN_HELP = "The service's API token (env DOCFIELDS_API_TOKEN)."


@config_app.command("show")
def show(
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help=URL_HELP),
    token: str | None = typer.Option(None, "--token", envvar="DOCFIELDS_API_TOKEN", help=TOKEN_HELP),
) -> None:
    """Print the configuration the next submitted document is processed with (JSON)."""
    from docfields.service_client import read_pipeline_config

    with fail_on_error():
        config = read_pipeline_config(url, token or None)
    console.print_json(json.dumps(config))


@config_app.command("set")
def set_(
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help=URL_HELP),
    token: str | None = typer.Option(None, "--token", envvar="DOCFIELDS_API_TOKEN", help=TOKEN_HELP),
    tagger: str | None = typer.Option(None, help="A tagger the service serves (its --model NAME)."),
    engine: str | None = typer.Option(None, help="OCR engine; its options reset unless --languages/--dpi given."),
    languages: str | None = typer.Option(None, help="Tesseract languages, e.g. eng or eng+tha (needs --engine)."),
    dpi: int | None = typer.Option(None, min=1, help="Render resolution for OCR (needs --engine)."),
    quality: Annotated[Quality | None, typer.Option(help="auto's OCR quality on scans (needs --engine auto).")] = None,
    thumbnails: bool | None = typer.Option(None, "--thumbnails/--no-thumbnails", help="Render page thumbnails."),
    review_threshold: float | None = typer.Option(None, min=0, max=1, help=REVIEW_THRESHOLD_HELP),
    review_target: str | None = typer.Option(
        None, metavar="ACCURACY|JSON|none", help=REVIEW_TARGET_HELP + " none: back to the raw rule."
    ),
    audit_rate: float | None = typer.Option(None, min=0.0, max=1.0, help=AUDIT_RATE_HELP),
) -> None:
    """Change what the service uses from its next submitted document on; other settings stay.

    >>> docfields config set --tagger cards-v2 --review-target 0.99 --audit-rate 0.05  # doctest: +SKIP
    """
    from docfields.cli.pipeline import parse_review_target
    from docfields.service_client import change_pipeline_config

    if (languages or dpi or quality) and engine is None:
        raise typer.BadParameter(
            "--languages, --dpi and --quality are the options of an --engine: name it", param_hint="--engine"
        )
    change: dict[str, Any] = {"tagger": tagger, "engine": engine, "thumbnails": thumbnails,
                              "review_threshold": review_threshold, "audit_rate": audit_rate}  # fmt: skip
    if engine is not None and (languages or dpi or quality):
        from docfields.cli.pipeline import ocr_settings

        change |= ocr_settings(engine, languages, dpi, quality)
    change = {key: value for key, value in change.items() if value is not None}
    if review_target is not None:  # "none" is sent as null: back to the raw rule
        change["review_target"] = parse_review_target(review_target)
    if not change:
        raise typer.BadParameter("nothing to change: give --tagger, --engine, --thumbnails, --review-threshold, "
                                 "--review-target or --audit-rate")  # fmt: skip
    with fail_on_error():
        config = change_pipeline_config(url, change, token or None)
    console.print_json(json.dumps(config))
