"""``/config/fields`` and ``/config/pipeline``: change what processes new documents without a restart.

``/config/pipeline`` names the model each stage uses (thumbnails on or off, the OCR engine and its
options, the tagger: a name of ``--model NAME=DIR``, i.e. the deployment ``tagger-<NAME>``) and the
review rule (the raw ``review_threshold``, a ``review_target`` accuracy, the ``audit_rate``).
``Pipeline.reconfigure`` applies a change from the next submitted document on (a document keeps
the settings it was submitted with, and its result's ``Producer`` names its tagger and engine)
and keeps it in ``<home>/pipeline.json``, which the service applies again when it restarts (over
its start options, as the original's SSM parameters override its deploy-time defaults).

``/config/fields`` reads and replaces the field configuration.

A new configuration is checked (every error names the field and the key), checked against the
pipeline's model (a ``ClassId`` the model does not predict is refused) and against the operator's
normalizer rules (a client must not make the server call an address or load a folder it chose: a
``Normalizer`` or ``NormalizerEndpoint`` is a rule (``date:``, ``money:``, ``percent``), a URL inside
``--normalizer-url``, a model the operator exposed with ``--normalizer-model NAME=DIR`` (stored as its
directory), a named endpoint
of ``--normalizer-endpoint NAME=...`` (a ``NormalizerEndpoint`` only, kept as its name), or what the
installed configuration already names), and written atomically
to ``<home>/fields.json``, which the pipeline reads when a document reaches its fields stage:
every document whose fields are extracted from then on uses it, results made before keep theirs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docfields import storage
from docfields.errors import FieldConfigError, NormalizerError, PipelineConfigError
from docfields.fields import FieldConfiguration, FieldSpec, load_field_configuration, parse_field_configuration
from docfields.fields.config import read_field_entries
from docfields.pipeline import Pipeline, PipelineConfig
from docfields.pipeline.settings import AUDIT_RATE_HELP, REVIEW_TARGET_HELP, REVIEW_THRESHOLD_HELP, ReviewTarget
from docfields.serve.calls import THUMBNAILS, ModelSpec
from docfields.serve.dependencies import get_pipeline, get_settings, json_body, json_request_body, load_json
from docfields.serve.settings import FIELDS_FILE, ServeSettings

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/config", tags=["config"])

REQUEST_SOURCE = "PUT /config/fields"
_REQUEST = json_request_body(
    {"type": "array", "items": {"type": "object"}, "description": "Field configuration entries: ClassId, Name, "
     "Ignore, Optional, Select, AnnotationGuidance, NormalizerEndpoint, NormalizerPrompt, Normalizer"},
    "The new field configuration (PascalCase keys; snake_case accepted).",
)  # fmt: skip


def check_against_model(config: FieldConfiguration, model: str | None, source: str) -> None:
    """Refuse fields whose ClassId the pipeline's tagger does not predict.

    Raises:
        FieldConfigError: naming the field and ``ClassId``.
    """
    if model is None:
        return
    from docfields.annotations.classes import class_ids_from_fields

    path = storage.join(model, FIELDS_FILE)  # only its classes: its normalizers are the model's business
    known = set(class_ids_from_fields(read_field_entries(path), path).values())
    for index, spec in enumerate(config.fields):
        if spec.class_id not in known:
            raise FieldConfigError(
                source,
                f"{spec.class_id} is not a class of the model {model} (its classes: {min(known)}..{max(known)})",
                f"{spec.name!r} (index {index})",
                "ClassId",
            )


_NORMALIZER_KEYS = (("Normalizer", "normalizer"), ("NormalizerEndpoint", "normalizer_endpoint"))


@contextmanager
def _blame(source: str, spec: FieldSpec, index: int, key: str) -> Iterator[None]:
    """Turn a refused normalizer into a FieldConfigError naming the field and the key."""
    try:
        yield
    except NormalizerError as exc:
        raise FieldConfigError(source, str(exc), f"{spec.name!r} (index {index})", key) from exc


def check_service_urls(config: FieldConfiguration, allowed: list[str], source: str) -> None:
    """Refuse fields whose normalizer would call a URL outside the ``allowed`` prefixes (the rule
    the operator's own configuration keeps too; it may name any model folder).

    Raises:
        FieldConfigError: naming the field and ``Normalizer`` or ``NormalizerEndpoint``.
    """
    from docfields.normalize.registry import check_normalizer_urls

    for index, spec in enumerate(config.fields):
        for key, attribute in _NORMALIZER_KEYS:
            with _blame(source, spec, index, key):
                check_normalizer_urls(getattr(spec, attribute) or "", allowed)


def check_client_normalizers(config: FieldConfiguration, settings: ServeSettings, source: str) -> FieldConfiguration:
    """The configuration with every normalizer a client named checked, and exposed model names
    replaced by their directories (the pipeline resolves directories, not names).

    A client names rules, allowed URLs and exposed models, never a server folder: a path is
    refused whether it exists or not. What the installed configuration already names is the
    operator's choice, so a configuration read with GET can be PUT back.

    Raises:
        FieldConfigError: naming the field and ``Normalizer`` or ``NormalizerEndpoint``.
    """
    installed = _installed_normalizers(settings)
    fields = []
    for index, spec in enumerate(config.fields):
        checked = {}
        for key, attribute in _NORMALIZER_KEYS:
            name = (getattr(spec, attribute) or "").strip()
            named_endpoint = key == "NormalizerEndpoint" and name in settings.normalizer_endpoints
            if name and name not in installed and not named_endpoint:
                with _blame(source, spec, index, key):
                    checked[attribute] = _client_normalizer(name, settings)
        fields.append(spec.model_copy(update=checked))
    return config.model_copy(update={"fields": fields})


def _client_normalizer(name: str, settings: ServeSettings) -> str:
    from docfields.normalize.registry import check_normalizer_urls, exposed_normalizer_spec, normalizer_urls

    if normalizer_urls(name):
        check_normalizer_urls(name, settings.normalizer_urls)
        return name
    if name in settings.normalizer_models.values():
        return name
    return exposed_normalizer_spec(name, settings.normalizer_models)


def _installed_normalizers(settings: ServeSettings) -> set[str]:
    if not storage.exists(settings.fields_path):
        return set()
    installed = load_field_configuration(settings.fields_path, settings.normalizer_endpoints)
    names = (getattr(spec, attribute) for spec in installed.fields for _, attribute in _NORMALIZER_KEYS)
    return {name.strip() for name in names if name}


def install_fields(config: FieldConfiguration, settings: ServeSettings) -> None:
    """Write ``config`` atomically to ``<home>/fields.json``, where the pipeline reads it."""
    text = json.dumps(config.to_json_list(), indent=2, ensure_ascii=False) + "\n"
    storage.write_text_atomic(settings.fields_path, text)


@router.get(
    "/fields",
    summary="The current field configuration",
    responses={404: {"description": "No configuration yet"}},
)
def get_fields(settings: Annotated[ServeSettings, Depends(get_settings)]) -> list[dict[str, Any]]:
    """The configuration new documents are processed with (PascalCase JSON list)."""
    if not storage.exists(settings.fields_path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no field configuration yet: PUT one")
    return load_field_configuration(settings.fields_path, settings.normalizer_endpoints).to_json_list()


@router.put(
    "/fields",
    summary="Replace the field configuration",
    openapi_extra=_REQUEST,
    responses={422: {"description": "Invalid configuration: the message names the field and the key"}},
)
def put_fields(
    body: Annotated[bytes, Depends(json_body)],
    settings: Annotated[ServeSettings, Depends(get_settings)],
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
) -> list[dict[str, Any]]:
    """Check and store a new configuration; fields extracted from now on use it."""
    config = parse_field_configuration(load_json(body), source=REQUEST_SOURCE, check_locations=False,
                                       endpoints=settings.normalizer_endpoints)  # fmt: skip
    check_against_model(config, pipeline.settings.model, REQUEST_SOURCE)
    config = check_client_normalizers(config, settings, REQUEST_SOURCE)
    install_fields(config, settings)
    return config.to_json_list()


# -- /config/pipeline ---------------------------------------------------------------------------

PIPELINE_SOURCE = "PUT /config/pipeline"


class PipelineChange(BaseModel):
    """A change of the pipeline's configuration: keys left out keep their value (``review_target`` null: none)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tagger": "cards-v2",
                                                                                "review_target": 0.99}]})  # fmt: skip

    thumbnails: bool | None = Field(None, description="Render page thumbnails.")
    engine: str | None = Field(None, description="OCR engine (`docfields engines`); its options reset unless given.")
    engine_options: dict[str, Any] | None = Field(None, description="The engine's options, e.g. languages, dpi.")
    tagger: str | None = Field(None, description="A tagger this service serves: --model NAME (deployment tagger-NAME).")
    review_threshold: float | None = Field(None, ge=0.0, le=1.0, description=REVIEW_THRESHOLD_HELP)
    review_target: ReviewTarget | None = Field(None, description=REVIEW_TARGET_HELP + " null: back to the raw rule.")
    audit_rate: float | None = Field(None, ge=0.0, le=1.0, description=AUDIT_RATE_HELP)


class PipelineView(BaseModel):
    """The pipeline's configuration as clients see it (a tagger by name, never by server path)."""

    thumbnails: bool
    engine: str
    engine_options: dict[str, Any]
    tagger: str | None
    review_threshold: float
    review_target: ReviewTarget | None
    audit_rate: float
    deployments: dict[str, str | None] = Field(description="The deployment each stage calls (None: stage off).")


def pipeline_view(config: PipelineConfig) -> PipelineView:
    """What ``GET /config/pipeline`` answers for ``config``."""
    deployments = {"thumbnails": THUMBNAILS.deployment if config.thumbnails else None,
                   "ocr": ModelSpec("ocr", config.engine).deployment,
                   "tagger": ModelSpec("tagger", config.tagger).deployment if config.tagger else None}  # fmt: skip
    return PipelineView(**config.model_dump(exclude={"model"}), deployments=deployments)


def parse_pipeline_change(data: Any) -> PipelineChange:
    """A change from a request's JSON.

    Raises:
        PipelineConfigError: naming the first key at fault (an unknown one, a wrong type or range).
    """
    try:
        return PipelineChange.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or None
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown key (known: " + ", ".join(PipelineChange.model_fields) + ")"
        raise PipelineConfigError(PIPELINE_SOURCE, reason, key) from exc


def registered_tagger(name: str, settings: ServeSettings) -> tuple[str, str]:
    """(name, directory) of a tagger the operator registered, by name or by its directory.

    Raises:
        PipelineConfigError: naming ``tagger`` and the served names, for anything else (a client
            never makes the service load a folder it chose).
    """
    if name in settings.models:
        return name, settings.models[name]
    for known, directory in settings.models.items():
        if name == directory:
            return known, directory
    served = ", ".join(sorted(settings.models)) or "none"
    raise PipelineConfigError(PIPELINE_SOURCE, f"{name[:200]!r} is not a tagger of this service (taggers: "
                              f"{served}; the operator adds them with --model NAME=DIR)", "tagger")  # fmt: skip


def changed_configuration(change: PipelineChange, current: PipelineConfig, settings: ServeSettings) -> PipelineConfig:
    """``current`` with ``change`` applied, the tagger resolved to its directory and checked against
    the installed field configuration (whose classes it must predict).

    Raises:
        PipelineConfigError: naming the key at fault.
    """
    update = change.model_dump(exclude_unset=True, exclude_none=True)
    if "review_target" in change.model_fields_set:  # null is a change too: no target, the raw rule
        update["review_target"] = change.review_target
    if "engine" in update and "engine_options" not in update and update["engine"] != current.engine:
        update["engine_options"] = {}  # another engine's options would not fit
    if change.tagger is not None:
        update["tagger"], update["model"] = registered_tagger(change.tagger, settings)
        if update["model"] != current.model and storage.exists(settings.fields_path):
            try:
                check_against_model(load_field_configuration(settings.fields_path, settings.normalizer_endpoints),
                                    update["model"], settings.fields_path)  # fmt: skip
            except FieldConfigError as exc:
                raise PipelineConfigError(PIPELINE_SOURCE, f"the installed field configuration does not fit it: "
                                          f"{exc}", "tagger") from exc  # fmt: skip
    return current.model_copy(update=update)


def restore_pipeline_configuration(pipeline: Pipeline, settings: ServeSettings) -> None:
    """Apply the configuration the service was last reconfigured with (``<home>/pipeline.json``).

    Its tagger is looked up again by name (the folder behind a name may have moved); a name no
    longer served leaves the start options' tagger, with a WARNING. Keys the file lacks (it was
    written before they existed, e.g. ``review_target``) keep the start options' values.
    """
    stored = pipeline.stored_configuration()
    if stored is None:
        return
    stored = pipeline.configuration().model_copy(update=stored.model_dump(include=stored.model_fields_set))
    if stored.tagger is not None and stored.tagger in settings.models:
        stored = stored.model_copy(update={"model": settings.models[stored.tagger]})
    else:
        if stored.model != pipeline.settings.model:
            logger.warning("the stored pipeline configuration names tagger %s, which this service does not "
                           "serve: keeping %s", stored.tagger or stored.model, pipeline.settings.model)  # fmt: skip
        stored = stored.model_copy(update={"model": pipeline.settings.model, "tagger": pipeline.settings.tagger})
    pipeline.reconfigure(stored)


@router.get("/pipeline", summary="Which model each stage uses, and the review rule")
def get_pipeline_config(pipeline: Annotated[Pipeline, Depends(get_pipeline)]) -> PipelineView:
    """The configuration the next submitted document is processed with."""
    return pipeline_view(pipeline.configuration())


@router.put(
    "/pipeline",
    summary="Change the models the stages use, or the review rule",
    openapi_extra=json_request_body(PipelineChange.model_json_schema(), "The keys to change; the others stay."),
    responses={422: {"description": "Invalid change: the message names the key"}},
)
def put_pipeline_config(
    body: Annotated[bytes, Depends(json_body)],
    settings: Annotated[ServeSettings, Depends(get_settings)],
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
) -> PipelineView:
    """Apply a change from the next submitted document on; documents already submitted keep theirs."""
    change = parse_pipeline_change(load_json(body))
    return pipeline_view(pipeline.reconfigure(changed_configuration(change, pipeline.configuration(), settings)))
