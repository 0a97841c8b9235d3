"""``/config/fields``: read and replace the field configuration without a restart.

A new configuration is checked (every error names the field and the key), checked against the
pipeline's model (a ``ClassId`` the model does not predict is refused) and against the operator's
normalizer rules (a client must not make the server call an address or load a folder it chose: a
``Normalizer`` or ``NormalizerEndpoint`` is a ``date:`` rule, a URL inside ``--normalizer-url``, a model
the operator exposed with ``--normalizer-model NAME=DIR`` (stored as its directory), or what the
installed configuration already names), and written atomically
to ``<home>/fields.json``, which the pipeline reads when a document reaches its fields stage:
every document whose fields are extracted from then on uses it, results made before keep theirs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from docfields import storage
from docfields.errors import FieldConfigError, NormalizerError
from docfields.fields import FieldConfiguration, FieldSpec, load_field_configuration, parse_field_configuration
from docfields.serve.dependencies import get_settings, json_body, json_request_body, load_json
from docfields.serve.settings import FIELDS_FILE, ServeSettings

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
    known = load_field_configuration(storage.join(model, FIELDS_FILE)).by_class_id()
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
            if name and name not in installed:
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
    installed = load_field_configuration(settings.fields_path)
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
    return load_field_configuration(settings.fields_path).to_json_list()


@router.put(
    "/fields",
    summary="Replace the field configuration",
    openapi_extra=_REQUEST,
    responses={422: {"description": "Invalid configuration: the message names the field and the key"}},
)
def put_fields(
    body: Annotated[bytes, Depends(json_body)], settings: Annotated[ServeSettings, Depends(get_settings)]
) -> list[dict[str, Any]]:
    """Check and store a new configuration; fields extracted from now on use it."""
    config = parse_field_configuration(load_json(body), source=REQUEST_SOURCE, check_locations=False)
    check_against_model(config, settings.pipeline.model, REQUEST_SOURCE)
    config = check_client_normalizers(config, settings, REQUEST_SOURCE)
    install_fields(config, settings)
    return config.to_json_list()
