"""``/config/fields``: read and replace the field configuration without a restart.

A new configuration is checked (every error names the field and the key), checked against the
pipeline's model (a ``ClassId`` the model does not predict is refused) and against the operator's
normalizer URL allow-list (a client must not make the server call an address it chose: a
``Normalizer`` or ``NormalizerEndpoint`` URL outside ``--normalizer-url`` is refused), and written atomically
to ``<home>/fields.json``, which the pipeline reads when a document reaches its fields stage:
every document whose fields are extracted from then on uses it, results made before keep theirs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from docfields import storage
from docfields.errors import FieldConfigError, NormalizerError
from docfields.fields import FieldConfiguration, load_field_configuration, parse_field_configuration
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


def check_service_urls(config: FieldConfiguration, allowed: list[str], source: str) -> None:
    """Refuse fields whose normalizer would call a URL outside the ``allowed`` prefixes.

    Raises:
        FieldConfigError: naming the field and ``Normalizer`` or ``NormalizerEndpoint``.
    """
    from docfields.normalize.registry import check_normalizer_urls

    for index, spec in enumerate(config.fields):
        for key, name in (("Normalizer", spec.normalizer), ("NormalizerEndpoint", spec.normalizer_endpoint)):
            try:
                check_normalizer_urls(name or "", allowed)
            except NormalizerError as exc:
                raise FieldConfigError(source, str(exc), f"{spec.name!r} (index {index})", key) from exc


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
    config = parse_field_configuration(load_json(body), source=REQUEST_SOURCE)
    check_against_model(config, settings.pipeline.model, REQUEST_SOURCE)
    check_service_urls(config, settings.normalizer_urls, REQUEST_SOURCE)
    install_fields(config, settings)
    return config.to_json_list()
