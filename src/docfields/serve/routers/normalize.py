"""``/normalize``: the normalizer service contract, ``{"inputs": str | [str]}`` -> ``{"generated_text": ...}``.

The answer mirrors the request's shape (a string for a string, a list for a list), as the
original's seq2seq endpoint did. A client names a rule (``date:YYYY-MM-DD``, ``money:USD``,
``percent``), a model the operator exposed (``--normalizer-model NAME=DIR``: ``NAME``), or the
hybrid of both (``date:YYYY-MM-DD;model=NAME``); never a server path or a URL, and the refusal
reads the same whether a path exists or not. The service's default (``--normalizer``) is the operator's and may be
anything. Models load on first use and are unloaded when idle. ``needs_review`` (same shape)
says which outputs are not certain.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from docfields.serve.calls import ModelBackend, ModelSpec, run_normalizer
from docfields.serve.dependencies import get_models, get_settings, require_json
from docfields.serve.settings import ServeSettings

router = APIRouter(prefix="/normalize", tags=["normalize"])


class NormalizeRequest(BaseModel):
    """Texts to normalize: one string or a list."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"inputs": ["03/04/21", "4 March 2021"]}]}
    )

    inputs: str | list[str] = Field(description="One text, or a list of texts.")
    reference_date: date | None = Field(
        default=None, description="YYYY-MM-DD that year-less and relative dates (next Friday) are read against."
    )


class NormalizeResponse(BaseModel):
    """Normalized texts in the request's shape; a text that could not be normalized comes back as is."""

    generated_text: str | list[str] = Field(description="The normalized text(s), trimmed.")
    needs_review: bool | list[bool] = Field(description="True where the output is not certain.")


def _spec(asked: str | None, settings: ServeSettings) -> str:
    """The normalizer to resolve: the operator's default, or what the client named, mapped by the
    registry to a rule or an exposed model (an ``UnknownNormalizerError``, so a 422, otherwise)."""
    from docfields.normalize.registry import exposed_normalizer_spec

    default, spec = (settings.normalizer or "").strip(), (asked or "").strip()
    if spec and spec != default:
        return exposed_normalizer_spec(spec, settings.normalizer_models)
    if not default:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="no normalizer: pass ?normalizer=date:YYYY-MM-DD (or an exposed model's name); "
            "the service has no default (--normalizer)",
        )
    return default


def normalizer_deployment(asked: str | None, settings: ServeSettings) -> str:
    """The deployment that runs what the client named: ``normalizer-NAME`` for an exposed model
    (``NAME``, or a rule with ``;model=NAME``), ``normalizer`` for rules and the service's default."""
    from docfields.normalize.registry import parse_rule_spec, rule_kind

    name = (asked or "").strip()
    if rule_kind(name):
        name = parse_rule_spec(name).options.get("model", "")
    return f"normalizer-{name}" if name in settings.normalizer_models else "normalizer"


@router.post(
    "",
    summary="Normalize texts (dates, money and rates by rules, or a seq2seq model)",
    response_model=NormalizeResponse,
    dependencies=[Depends(require_json)],
    responses={
        415: {"description": "Not application/json"},
        422: {"description": "No inputs, or an unknown normalizer"},
    },
)
def normalize(
    request: NormalizeRequest,
    settings: Annotated[ServeSettings, Depends(get_settings)],
    models: Annotated[ModelBackend, Depends(get_models)],
    normalizer: Annotated[
        str | None,
        Query(
            description="date:<FORMAT>[;order=MDY|DMY][;model=NAME], money:<CURRENCY>, percent, "
            "or an exposed model's NAME."
        ),
    ] = None,
    prompt: Annotated[str, Query(description="Prefix put before each text for a plain model.")] = "",
) -> NormalizeResponse:
    """Normalize each input; the output list has the input list's length and order."""
    spec = _spec(normalizer, settings)
    texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
    options = {"prompt": prompt} if prompt else {}
    model = ModelSpec("normalizer", spec, spec, options, normalizer_deployment(normalizer, settings))
    values = models.call(model, run_normalizer, texts, request.reference_date)
    outputs, review = [text for text, _ in values], [needs for _, needs in values]
    if isinstance(request.inputs, str):
        return NormalizeResponse(generated_text=outputs[0], needs_review=review[0])
    return NormalizeResponse(generated_text=outputs, needs_review=review)
