"""The ``serve`` command: the HTTP service (FastAPI and uvicorn are imported only when it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docfields.cli.main import app
from docfields.cli.output import fail_on_error, require_extra
from docfields.cli.pipeline import (
    AUDIT_RATE_HELP,
    DPI_HELP,
    LANGUAGES_HELP,
    PIPELINE_DEVICE_HELP,
    QUALITY_HELP,
    REVIEW_TARGET_HELP,
    REVIEW_THRESHOLD_HELP,
    Quality,
    hold_device,
    ocr_settings,
    review_settings,
)


def parse_model_option(value: str, option: str = "--model") -> tuple[str, str]:
    """``NAME=DIR`` -> (NAME, DIR); a bare ``DIR`` is named after its folder."""
    name, sep, directory = value.partition("=")
    if not sep:
        directory = value
        name = Path(value.rstrip("/\\")).name
    if not name or not directory:
        raise typer.BadParameter(f"{value!r}: use NAME=DIR (or a model directory)", param_hint=option)
    return name, directory


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on."),
    home: str = typer.Option(".docfields", envvar="DOCFIELDS_HOME", help="Pipeline home: store, documents, results."),
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Tagger as NAME=DIR, repeatable; the first one also runs in the pipeline."),
    ] = None,
    fields: str | None = typer.Option(None, help="Field configuration to install (default: the stored one)."),
    engine: str = typer.Option("auto", help="OCR engine of the pipeline and of /ocr."),
    languages: str | None = typer.Option(None, help=LANGUAGES_HELP),
    dpi: int | None = typer.Option(None, help=DPI_HELP),
    quality: Annotated[Quality | None, typer.Option(help=QUALITY_HELP)] = None,
    workers: int = typer.Option(1, min=0, help="Pipeline worker processes (0: only queue documents)."),
    token: str | None = typer.Option(
        None, envvar="DOCFIELDS_API_TOKEN", help="API token required on every request but /healthz."
    ),
    max_request_mb: float = typer.Option(100.0, min=0.001, help="Largest request body in MiB (413 above)."),
    idle_unload: float = typer.Option(300.0, min=0, help="Unload models unused for this many seconds (0: never)."),
    normalizer: str | None = typer.Option(None, help="Default normalizer of /normalize, e.g. date:YYYY-MM-DD."),
    normalizer_model: Annotated[
        list[str] | None,
        typer.Option("--normalizer-model", help="Normalizer model as NAME=DIR, repeatable: /normalize clients "
                     "may name it (?normalizer=NAME, or date:...;model=NAME)."),
    ] = None,
    normalizer_url: Annotated[
        list[str] | None,
        typer.Option("--normalizer-url", envvar="DOCFIELDS_NORMALIZER_URLS",
                     help="URL prefix a configured normalizer service may be called at, repeatable (the "
                     "variable: space-separated); field configurations naming other URLs are refused."),
    ] = None,
    review_threshold: float = typer.Option(0.5, min=0, max=1, help=REVIEW_THRESHOLD_HELP),
    review_target: str | None = typer.Option(None, metavar="ACCURACY|JSON", help=REVIEW_TARGET_HELP),
    audit_rate: float = typer.Option(0.02, min=0.0, max=1.0, help=AUDIT_RATE_HELP),
    review_config: str | None = typer.Option(
        None, envvar="DOCFIELDS_REVIEW_CONFIG",
        help="Review desk settings (JSON: users, tokens, assignments); serves the desk at /review.",
    ),
    ray: str | None = typer.Option(
        None, "--ray", metavar="ADDRESS",
        help="Serve on Ray Serve (local, auto, ray://HOST:PORT, HOST:PORT): a deployment per model, each "
        "autoscaled between 0 and N replicas; --workers pipeline actors on the cluster; HOME must be reachable "
        "from every node.",
    ),
    autoscaling: str | None = typer.Option(
        None, metavar="FILE", help="Autoscaling file (YAML or JSON) of the Ray Serve deployments (with --ray)."
    ),
    normalizer_endpoint: Annotated[
        list[str] | None,
        typer.Option("--normalizer-endpoint", help="Named normalizer endpoint as NAME=URL or NAME=DEPLOYMENT, "
                     "repeatable: a field's NormalizerEndpoint holding NAME resolves to it."),
    ] = None,
    webhook_url: Annotated[
        list[str] | None,
        typer.Option("--webhook-url", envvar="DOCFIELDS_WEBHOOK_URLS",
                     help="URL prefix async invocations' webhooks may call, repeatable (the variable: "
                     "space-separated); others are refused."),
    ] = None,
    webhook_secret: str | None = typer.Option(
        None, envvar="DOCFIELDS_WEBHOOK_SECRET", help="Shared secret signing webhook calls (HMAC-SHA256)."
    ),
    invocations_per_replica: int = typer.Option(
        2, min=1, help="Async invocations a replica (or this process, per deployment) runs at once."
    ),
    allowed_root: Annotated[
        list[str] | None,
        typer.Option("--allowed-root", help="Local folder async invocations may read from and write to, "
                     "repeatable (fsspec URLs are always allowed)."),
    ] = None,
    device: str = typer.Option("auto", help=PIPELINE_DEVICE_HELP),
) -> None:
    """Serve the pipeline and each stage over HTTP; API docs at http://HOST:PORT/docs."""
    if autoscaling is not None and ray is None:
        raise typer.BadParameter("only with --ray: it scales the Ray Serve deployments", param_hint="--autoscaling")
    require_extra("serve", "docfields serve")
    if model:
        require_extra("ml", "docfields serve --model")
    from docfields.pipeline import PipelineSettings
    from docfields.review import load_review_settings
    from docfields.serve import ServeSettings, run_server

    models = dict(parse_model_option(value) for value in model or [])
    normalizer_models = dict(parse_model_option(value, "--normalizer-model") for value in normalizer_model or [])
    with fail_on_error():
        hold_device(device, ray)  # the service's models, its pipeline workers' and Ray's
        tagger = next(iter(models.values()), None)
        ocr = ocr_settings(engine, languages, dpi, quality)
        review = review_settings(review_threshold, review_target, audit_rate)
        pipeline = PipelineSettings(home=home, model=tagger, **review, **ocr)
        settings = ServeSettings(
            pipeline=pipeline, workers=workers, api_token=token or None, max_request_bytes=int(max_request_mb * 2**20),
            models=models, normalizer=normalizer, fields=fields, idle_unload_seconds=idle_unload,
            normalizer_models=normalizer_models, normalizer_urls=normalizer_url or [],
            review=load_review_settings(review_config) if review_config else None,
            autoscaling=autoscaling, normalizer_endpoints=dict(parse_model_option(value, "--normalizer-endpoint")
                                                               for value in normalizer_endpoint or []),
            webhook_urls=webhook_url or [], webhook_secret=webhook_secret or None,
            invocations_per_replica=invocations_per_replica, allowed_roots=allowed_root or [],
        )  # fmt: skip
        if ray is None:
            run_server(settings, host=host, port=port)
            return
        require_extra("ray", "docfields serve --ray")
        from docfields.cluster.serving import check_autoscaling, run_serve

        check_autoscaling(settings)  # a bad file fails here, naming the deployment and key, before Ray starts
        run_serve(settings, ray, host=host, port=port)
