"""The autoscaling file: per-deployment replica bounds, targets, delays, queue limit and CPUs.

One file (YAML or JSON) for ``docfields serve --ray --autoscaling FILE`` and for the simulator::

    defaults:                 # optional: applies to every deployment
      downscale_delay_s: 300
    deployments:
      thumbnails: {max_replicas: 3}
      ocr-tesseract: {target_ongoing_requests: 2, num_cpus: 1}

The defaults mirror the original's SageMaker recipe (min 0, max 5, a backlog of 4 per instance,
scale-in after 300 s); a deployment at zero replicas starts one as soon as a request arrives (Ray
Serve's cold-start path, the original's step policy). ``serve_options`` turns one deployment's
settings into the keyword arguments of ``ray.serve.deployment``. Ray is never imported here.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from docfields import storage
from docfields.errors import AutoscaleError, DocumentError, MissingExtraError
from docfields.extras import install_hint


class DeploymentScaling(BaseModel):
    """How one deployment (thumbnails, an OCR engine, a tagger, a normalizer) scales."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_replicas: int = Field(0, ge=0, description="Replicas kept when idle; 0 scales to zero (the original).")
    max_replicas: int = Field(
        5, ge=1, validate_default=True, description="Upper bound (the original's endpoints: 5 instances)."
    )
    target_ongoing_requests: float = Field(
        4.0, gt=0, description="Requests per replica (queued + running) the autoscaler aims at (backlog target 4)."
    )
    upscale_delay_s: float = Field(
        30.0,
        ge=0,
        description="How long more replicas must be wanted before they are added. Not the original's 240 s "
        "scale-out cooldown: that covered instances that start in minutes; a replica starting in seconds "
        "only needs spikes filtered (Ray's default, 30 s). The first replica never waits for it.",
    )
    downscale_delay_s: float = Field(300.0, ge=0, description="How long fewer replicas must suffice (scale-in 300 s).")
    metrics_interval_s: float = Field(
        1.0, gt=0, description="Metrics period: bounds the cold start (measured 2.3-3.0 s at 1 s, ~9 s at Ray's 10 s)."
    )
    look_back_period_s: float = Field(
        30.0,
        gt=0,
        description="Serve averages the load over this window (Ray's default): a deployment goes back to zero "
        "only after a whole window without requests plus downscale_delay_s (measured: 35 s at a 5-s delay).",
    )
    max_ongoing_requests: int = Field(5, ge=1, description="Requests sent to one replica at a time (Ray's default).")
    max_queued_requests: int | None = Field(
        None, ge=1, description="Requests waiting for a replica beyond which callers get 429; None: no limit."
    )
    num_cpus: float = Field(1.0, gt=0, description="CPUs reserved per replica (ray_actor_options.num_cpus).")

    @field_validator("look_back_period_s")
    @classmethod
    def _longer_than_the_metrics_period(cls, value: float, info: ValidationInfo) -> float:
        """Serve averages pushed samples: a window shorter than one period holds none."""
        period = info.data.get("metrics_interval_s")
        if period is not None and value <= period:
            raise ValueError(f"{value:g} must be longer than metrics_interval_s {period:g}")
        return value

    @field_validator("max_replicas")
    @classmethod
    def _not_below_min(cls, value: int, info: ValidationInfo) -> int:
        """Checked on ``max_replicas`` (declared after ``min_replicas``) so the error names a key."""
        low = info.data.get("min_replicas")
        if low is not None and value < low:
            raise ValueError(f"{value} is below min_replicas {low}")
        return value


class AutoscalingFile(BaseModel):
    """The whole file: optional ``defaults`` merged under each entry of ``deployments``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: DeploymentScaling = Field(default_factory=DeploymentScaling)
    deployments: dict[str, DeploymentScaling] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        """Each deployment starts from the file's defaults; its own keys win."""
        if not isinstance(data, dict):
            return data
        defaults, deployments = data.get("defaults") or {}, data.get("deployments") or {}
        if not isinstance(defaults, dict) or not isinstance(deployments, dict):
            return data  # field validation names the section that is not a mapping
        merged = {name: {**defaults, **own} if isinstance(own, dict) else own for name, own in deployments.items()}
        return {**data, "deployments": merged}

    def for_deployment(self, name: str) -> DeploymentScaling:
        """The settings of ``name``: its own entry, else the file's defaults."""
        return self.deployments.get(name, self.defaults)


def load_autoscaling(source: str) -> AutoscalingFile:
    """Read and validate an autoscaling file (``.yaml``/``.yml`` as YAML, anything else as JSON).

    >>> load_autoscaling("autoscaling.yaml").for_deployment("thumbnails").max_replicas  # doctest: +SKIP
    5
    """
    try:
        text = storage.read_bytes(source).decode("utf-8")
    except (OSError, UnicodeDecodeError, DocumentError) as exc:
        raise AutoscaleError(source, f"cannot read the autoscaling file: {exc}") from exc
    data = _parse(source, text)
    if not isinstance(data, dict):
        raise AutoscaleError(source, "must be a mapping with a `deployments` section")
    try:
        return AutoscalingFile.model_validate(data)
    except ValidationError as exc:
        raise _named_error(source, exc) from exc


def _parse(source: str, text: str) -> object:
    if PurePath(source).suffix.lower() not in (".yaml", ".yml"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise AutoscaleError(source, f"not valid JSON: {exc}") from exc
    try:
        import yaml
    except ImportError as exc:
        raise MissingExtraError(
            "autoscale", f"YAML autoscaling files need PyYAML: {install_hint('autoscale')}"
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AutoscaleError(source, f"not valid YAML: {exc}") from exc


def _named_error(source: str, exc: ValidationError) -> AutoscaleError:
    """The first problem, with the deployment and key it sits at (``defaults`` is reported as a key path)."""
    problem = exc.errors()[0]
    loc = [str(part) for part in problem["loc"]]
    deployment, key = None, ".".join(loc) or None
    if len(loc) >= 2 and loc[0] == "deployments":
        deployment, key = loc[1], ".".join(loc[2:]) or None
    reason = problem["msg"].removeprefix("Value error, ")
    return AutoscaleError(source, reason, deployment=deployment, key=key)


def serve_options(settings: DeploymentScaling) -> dict[str, Any]:
    """Keyword arguments of ``ray.serve.deployment`` (Ray Serve 2.x names) for one deployment.

    ``max_queued_requests`` is Serve's -1 for no limit; ``metrics_interval_s`` is still read by
    Serve's controller (deprecated there in favour of two environment variables).
    """
    return {
        "autoscaling_config": {
            "min_replicas": settings.min_replicas,
            "max_replicas": settings.max_replicas,
            "target_ongoing_requests": settings.target_ongoing_requests,
            "upscale_delay_s": settings.upscale_delay_s,
            "downscale_delay_s": settings.downscale_delay_s,
            "metrics_interval_s": settings.metrics_interval_s,
            "look_back_period_s": settings.look_back_period_s,
        },
        "max_ongoing_requests": settings.max_ongoing_requests,
        "max_queued_requests": settings.max_queued_requests if settings.max_queued_requests is not None else -1,
        "ray_actor_options": {"num_cpus": settings.num_cpus},
    }
