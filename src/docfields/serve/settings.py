"""What the service is configured with: one options object, read from the CLI at the edge.

``DOCFIELDS_*`` variables are read by the ``docfields serve`` command, never here, so a test
builds a ``ServeSettings`` directly and hands it to ``create_app``.

What the server may reach on a client's behalf is the operator's choice, made here and nowhere
in the API: ``normalizer_urls`` (the services a field configuration's normalizers may call; the
pipeline gets the same list) and ``normalizer_models`` (the models ``/normalize`` clients may name).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from docfields import storage
from docfields.documents import DocumentLimits
from docfields.pipeline import PipelineSettings
from docfields.review.settings import ReviewSettings
from docfields.thumbnails import MAX_THUMBNAIL_SIDE

FIELDS_FILE = "fields.json"
NORMALIZER_DEPLOYMENT_PREFIX = "normalizer-"  # a normalizer model's deployment: normalizer-<MODEL>
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class ServeSettings(BaseModel):
    """Everything ``create_app`` needs: the pipeline, the limits, the models it may load.

    >>> settings = ServeSettings(models={"cards": "models/cards"}, api_token="s3cret")
    >>> settings.max_request_bytes
    104857600
    """

    model_config = ConfigDict(extra="forbid")

    pipeline: PipelineSettings = Field(
        default_factory=PipelineSettings, description="The pipeline that processes uploaded documents."
    )
    workers: int = Field(1, ge=0, description="Background worker processes of the pipeline (0: queue only).")
    api_token: str | None = Field(
        None, min_length=1, description="When set, every request but /healthz needs this token."
    )
    max_request_bytes: int = Field(
        100 * 2**20, gt=0, description="Largest request body; bigger ones get 413 before being read."
    )
    models: dict[str, str] = Field(
        default_factory=dict, description="Tagger directories by name, for /models/{name}/invocations."
    )
    normalizer: str | None = Field(
        None, description="Default normalizer of /normalize: a rule (date:YYYY-MM-DD), a model directory or a URL."
    )
    normalizer_models: dict[str, str] = Field(
        default_factory=dict, description="Normalizer model directories by name, for /normalize?normalizer=NAME."
    )
    normalizer_urls: list[str] = Field(
        default_factory=list,
        description="URL prefixes (http(s)://host:port/path) that configured normalizer services may be "
        "called at; a field configuration naming any other URL is refused. Empty: no service.",
    )
    fields: str | None = Field(
        None,
        description="Field configuration installed as <home>/fields.json at start (default: keep "
        "the stored one, else the pipeline model's fields.json).",
    )
    idle_unload_seconds: float = Field(
        300.0, ge=0, description="Unload a model unused for this long (0: keep models loaded)."
    )
    max_thumbnail_side: int = Field(
        MAX_THUMBNAIL_SIDE,
        gt=0,
        le=MAX_THUMBNAIL_SIDE,
        description="Largest width or height a client may ask for (at most the library's MAX_THUMBNAIL_SIDE).",
    )
    review: ReviewSettings | None = Field(
        None, description="The review desk under /review, with its own logins; None: no desk."
    )
    autoscaling: str | None = Field(
        None, description="Autoscaling file (YAML or JSON) of the Ray Serve deployments; None: the defaults."
    )
    normalizer_endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Named normalizer endpoints (the original's SageMaker endpoint names): a field's "
        "NormalizerEndpoint holding NAME resolves to this URL or deployment.",
    )
    webhook_urls: list[str] = Field(
        default_factory=list,
        description="URL prefixes async invocations' success_url/error_url may point at; others are refused.",
    )
    webhook_secret: str | None = Field(
        None, min_length=1, description="Shared secret that signs webhook calls (HMAC-SHA256); None: unsigned."
    )
    invocations_per_replica: int = Field(
        2, ge=1, description="Async invocations one replica (or this process, per deployment) runs at once."
    )
    allowed_roots: list[str] = Field(
        default_factory=list,
        description="Local folders async invocations may read inputs from and write outputs to (besides fsspec "
        "URLs); empty: none but the home's async folder.",
    )

    @field_validator("models", "normalizer_models")
    @classmethod
    def _check_model_names(cls, models: dict[str, str]) -> dict[str, str]:
        for name in models:
            if not re.fullmatch(MODEL_NAME_PATTERN, name):
                raise ValueError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
        return models

    @field_validator("normalizer_urls", "webhook_urls")
    @classmethod
    def _check_url_prefixes(cls, prefixes: list[str], info: ValidationInfo) -> list[str]:
        kind = str(info.field_name).removesuffix("_urls")
        for prefix in prefixes:
            parts = urlsplit(prefix)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"{kind} URL prefix {prefix!r}: not an http(s) URL with a host (and port, path)")
        return prefixes

    @model_validator(mode="after")
    def _pipeline_allows_the_same_urls(self) -> ServeSettings:
        """The pipeline's workers call only the URLs the service allows (they check it again), resolve
        named normalizer endpoints to what the service registered under those names, and record the
        tagger's ``--model`` name in results."""
        endpoints = {name: self._endpoint_target(name, target) for name, target in self.normalizer_endpoints.items()}
        tagger = self.pipeline.tagger or next((n for n, d in self.models.items() if d == self.pipeline.model), None)
        update = {"normalizer_urls": list(self.normalizer_urls), "normalizer_endpoints": endpoints, "tagger": tagger}
        self.pipeline = self.pipeline.model_copy(update=update)
        return self

    def _endpoint_target(self, name: str, target: str) -> str:
        """What a pipeline worker calls for a named endpoint: its URL (inside ``normalizer_urls``), or
        the model folder of a normalizer deployment ``normalizer-<MODEL>`` (MODEL a ``normalizer_models``
        name; the worker runs that model itself)."""
        from docfields.normalize.registry import url_allowed

        if target.startswith(("http://", "https://")):
            if not url_allowed(target, self.normalizer_urls):
                raise ValueError(f"normalizer endpoint {name}: {target} is not inside the allowed normalizer URLs "
                                 "(--normalizer-url PREFIX)")  # fmt: skip
            return target
        model = target.removeprefix(NORMALIZER_DEPLOYMENT_PREFIX)
        if target.startswith(NORMALIZER_DEPLOYMENT_PREFIX) and model in self.normalizer_models:
            return self.normalizer_models[model]
        known = ", ".join(NORMALIZER_DEPLOYMENT_PREFIX + model for model in sorted(self.normalizer_models)) or "none"
        raise ValueError(f"normalizer endpoint {name}: {target!r} is neither an http(s) URL nor a normalizer "
                         f"deployment (deployments: {known}; add models with --normalizer-model NAME=DIR)")  # fmt: skip

    @property
    def document_limits(self) -> DocumentLimits:
        """Limits of documents posted to the service: no bigger than a request may be."""
        return DocumentLimits(max_bytes=self.max_request_bytes)

    @property
    def fields_path(self) -> str:
        """Where the current field configuration lives: ``<home>/fields.json``."""
        return storage.join(self.pipeline.home, FIELDS_FILE)
