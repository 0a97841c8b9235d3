"""What the service is configured with: one options object, read from the CLI at the edge.

``DOCFIELDS_*`` variables are read by the ``docfields serve`` command, never here, so a test
builds a ``ServeSettings`` directly and hands it to ``create_app``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from docfields import storage
from docfields.documents import DocumentLimits
from docfields.pipeline import PipelineSettings
from docfields.review.settings import ReviewSettings

FIELDS_FILE = "fields.json"
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
    fields: str | None = Field(
        None,
        description="Field configuration installed as <home>/fields.json at start (default: keep "
        "the stored one, else the pipeline model's fields.json).",
    )
    idle_unload_seconds: float = Field(
        300.0, ge=0, description="Unload a model unused for this long (0: keep models loaded)."
    )
    max_thumbnail_side: int = Field(4096, gt=0, description="Largest width or height a client may ask for.")
    review: ReviewSettings | None = Field(
        None, description="The review desk under /review, with its own logins; None: no desk."
    )

    @field_validator("models")
    @classmethod
    def _check_model_names(cls, models: dict[str, str]) -> dict[str, str]:
        for name in models:
            if not re.fullmatch(MODEL_NAME_PATTERN, name):
                raise ValueError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
        return models

    @property
    def document_limits(self) -> DocumentLimits:
        """Limits of documents posted to the service: no bigger than a request may be."""
        return DocumentLimits(max_bytes=self.max_request_bytes)

    @property
    def fields_path(self) -> str:
        """Where the current field configuration lives: ``<home>/fields.json``."""
        return storage.join(self.pipeline.home, FIELDS_FILE)
