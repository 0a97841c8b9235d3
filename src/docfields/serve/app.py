"""The docfields service: one FastAPI app assembled from one router per resource.

``create_app(settings)`` builds everything the routers share (pipeline, model cache, metrics)
and puts it on ``app.state``; the lifespan starts the pipeline's background workers and the
idle-model reaper, and stops both on shutdown. ``DocfieldsError`` becomes an HTTP status with
the error's message, which names the file, page, field or key at fault.

>>> app = create_app(ServeSettings(pipeline=PipelineSettings(home="/tmp/docfields")))  # doctest: +SKIP
>>> run_server(ServeSettings(), host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from docfields import __version__, storage
from docfields.errors import (
    CapacityError,
    DocfieldsError,
    DocumentError,
    DocumentLimitError,
    EngineUnavailableError,
    FieldConfigError,
    ModelError,
    NormalizerUnavailableError,
    PipelineError,
    UnknownDocumentError,
)
from docfields.fields import load_field_configuration
from docfields.pipeline import Pipeline
from docfields.pipeline.executors import Executor
from docfields.serve.calls import LocalModels, ModelBackend
from docfields.serve.invocations import InvocationRunner
from docfields.serve.metrics import MeasuredModels, MetricsMiddleware, ServeMetrics
from docfields.serve.models import ModelCache
from docfields.serve.routers import config, documents, health, invocations, normalize, ocr, thumbnails
from docfields.serve.routers import models as model_routes
from docfields.serve.routers.config import (
    check_against_model,
    check_service_urls,
    install_fields,
    restore_pipeline_configuration,
)
from docfields.serve.security import BodyLimitMiddleware, require_token
from docfields.serve.settings import FIELDS_FILE, ServeSettings

logger = logging.getLogger(__name__)

DESCRIPTION = """Business documents (PDF, PNG, JPEG, TIFF) to validated fields.

Upload documents to the pipeline (`/documents`), or call a stage on its own: page thumbnails,
OCR into Textract JSON, word tagging (`/models/{name}/invocations`), normalization. Send the
API token as `Authorization: Bearer <token>` or `X-API-Key: <token>` when the service has one.
"""

SHUTDOWN_SECONDS = 10.0  # open requests, then the workers, each get this long once a stop is asked for

# Most specific first: the first class an error is an instance of gives its status.
_ERROR_STATUS: tuple[tuple[type[DocfieldsError], int], ...] = (
    (DocumentLimitError, 413),
    (CapacityError, 429),  # a Ray Serve deployment's queue is full: Retry-After says when to try again
    (UnknownDocumentError, 404),
    (EngineUnavailableError, 503),
    (NormalizerUnavailableError, 502),  # the normalizer service behind this one did not answer
    (ModelError, 503),
    (PipelineError, 409),
    (DocumentError, 422),
)


def error_status(exc: DocfieldsError) -> int:
    """The HTTP status of an error: a client's bad input is 422, a broken model or engine 503."""
    return next((code for cls, code in _ERROR_STATUS if isinstance(exc, cls)), 422)


async def _docfields_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocfieldsError)  # registered for DocfieldsError only
    content: dict[str, object] = {"detail": str(exc), "error": type(exc).__name__}
    if isinstance(exc, FieldConfigError):
        content |= {"field": exc.field, "key": exc.key}
    code = error_status(exc)
    if code >= 500:
        logger.error("%s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, CapacityError) else None
    return JSONResponse(content, status_code=code, headers=headers)


def prepare_settings(settings: ServeSettings) -> ServeSettings:
    """Install the field configuration in ``<home>/fields.json`` and point the pipeline at it.

    ``settings.fields`` replaces the stored file; without it the stored one stays, and without
    one either the pipeline model's ``fields.json`` is copied. Whatever is installed is checked
    against the model, so a stale file from another model fails at start, not per document.
    """
    model, path, endpoints = settings.pipeline.model, settings.fields_path, settings.normalizer_endpoints
    if model is not None and not storage.exists(storage.join(model, FIELDS_FILE)):
        raise ModelError(f"{model}: not a docfields tagger directory (no {FIELDS_FILE})")
    if settings.fields is not None:
        install_fields(load_field_configuration(settings.fields, endpoints), settings)
    elif model is not None and not storage.exists(path):
        install_fields(load_field_configuration(storage.join(model, FIELDS_FILE), endpoints), settings)
    if not storage.exists(path):
        return settings
    installed = load_field_configuration(path, endpoints)
    check_against_model(installed, model, path)
    check_service_urls(installed, settings.normalizer_urls, path)
    pipeline = settings.pipeline.model_copy(update={"fields": path})
    return settings.model_copy(update={"pipeline": pipeline})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServeSettings = app.state.settings
    cache: ModelCache = app.state.model_cache
    cache.start()
    app.state.invocations.start()  # queued and interrupted invocations run again
    pool = app.state.pipeline.start_workers(settings.workers) if settings.workers else None
    logger.info("serving with %d pipeline worker(s), models %s", settings.workers, sorted(settings.models))
    try:
        yield
    finally:
        await run_in_threadpool(app.state.invocations.stop, SHUTDOWN_SECONDS)  # the rest is queued for the next start
        if pool is not None:  # bounded: dead workers are collected, slow ones killed (their leases expire)
            await run_in_threadpool(pool.stop, SHUTDOWN_SECONDS)
        cache.close()


def create_app(
    settings: ServeSettings, executor: Executor | None = None, models: ModelBackend | None = None
) -> FastAPI:
    """The service for ``settings``; ``app.state.pipeline`` is there for routes mounted later (review).

    ``executor``: where the pipeline's stages run (None: local worker processes, ``settings.workers``).
    ``models``: where the model routes' calls run (None: this process, through its model cache).

    Raises:
        ModelError: when the pipeline's model is not a tagger directory.
        FieldConfigError: when the installed field configuration does not fit the model.
    """
    settings = prepare_settings(settings)
    pipeline = Pipeline(settings.pipeline, executor)
    restore_pipeline_configuration(pipeline, settings)  # the last PUT /config/pipeline outlives a restart
    cache = ModelCache(settings.idle_unload_seconds)
    metrics = ServeMetrics(pipeline.status_counts, cache, pipeline.audited_fields)
    app = FastAPI(title="docfields", version=__version__, description=DESCRIPTION, lifespan=_lifespan)
    app.state.settings, app.state.pipeline = settings, pipeline
    app.state.model_cache, app.state.metrics = cache, metrics
    app.state.models = MeasuredModels(models if models is not None else LocalModels(cache), metrics)
    app.state.invocations = InvocationRunner.under_home(pipeline.layout, app.state.models, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last, so outermost: it sees every 413
    app.add_exception_handler(DocfieldsError, _docfields_error)
    app.include_router(health.router)
    app.include_router(health.metrics_router)
    for module in (documents, thumbnails, ocr, model_routes, normalize, config, invocations):
        app.include_router(module.router, dependencies=[Depends(require_token)])
    if settings.review is not None:
        from docfields.review.web import mount_review

        mount_review(app, pipeline, settings.review)  # reviewers log in on the desk, not with the API token
    return app


def run_server(
    settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000, executor: Executor | None = None
) -> None:
    """Serve until interrupted: Ctrl-C or SIGTERM (to the server or its process group) stop it within seconds.

    Requests still open after ``SHUTDOWN_SECONDS`` are cancelled, then the workers give their
    stages back (or are killed, their leases left to expire), so a restart resumes every document.
    """
    import uvicorn

    uvicorn.run(create_app(settings, executor), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=int(SHUTDOWN_SECONDS))  # fmt: skip
