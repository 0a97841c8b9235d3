"""Scaling policies the simulator replays a trace against: the original's, Ray Serve's, always-on.

Each policy is an options object with a ``controller()`` that makes the decisions of one run: the
simulator calls ``decide(now, view)`` every ``tick_s`` seconds and applies the replica count it
returns. The rules, and where they come from:

- ``SageMakerPolicy`` (the original's notebook recipe, upstream spec 8.3): target tracking on
  ApproximateBacklogSizePerInstance = 4 through CloudWatch alarms on 1-minute datapoints (AWS's
  target-tracking alarms: 3 datapoints above the target to scale out, 15 below 90% of it to scale
  in), scale-out cooldown 240 s, scale-in 300 s; plus the step policy "HasBacklogWithoutCapacity
  average >= 0.9 over one minute -> +1 instance" (cooldown 150 s). With no instance there is no
  per-instance datapoint, so target tracking alone never wakes a scaled-to-zero endpoint.
  Datapoints reach the alarms ``metric_delay_periods`` late. Instances start in minutes.
- ``ServePolicy`` (Ray Serve 2.x, ``ray/serve/autoscaling_policy.py``): every metrics interval,
  desired = ceil(ongoing / target) within [min, max]; a change is applied once wanted for
  upscale/downscale delay (wall-clock, reset when the direction flips); below 2 replicas the
  1 -> 0 step has its own hold; at zero replicas a request starts one at once.
- ``FixedPolicy``: always-on, the cost baseline.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from docfields.autoscale.settings import DeploymentScaling, load_autoscaling
from docfields.errors import AutoscaleError


@dataclass(frozen=True)
class ClusterView:
    """What a controller sees at a tick; the ``*_seconds`` are integrals since the start of the run.

    ``replicas`` counts replicas wanted (starting or ready, not retiring); ``ready`` those serving.
    """

    replicas: int
    ready: int
    in_system: int
    backlog_seconds: float
    ready_seconds: float
    backlog_without_capacity_seconds: float


class Controller(Protocol):
    """The decisions of one run of a policy."""

    def decide(self, now: float, view: ClusterView) -> int:
        """The replica count to have from ``now`` on."""
        ...


class SageMakerPolicy(BaseModel):
    """The original's autoscaling of an asynchronous SageMaker endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "sagemaker"
    min_instances: int = Field(0, ge=0)
    max_instances: int = Field(5, ge=1)
    target_backlog_per_instance: float = Field(4.0, gt=0)
    scale_out_cooldown_s: float = Field(240.0, ge=0)
    scale_in_cooldown_s: float = Field(300.0, ge=0)
    period_s: float = Field(60.0, gt=0, description="CloudWatch metric period.")
    scale_out_datapoints: int = Field(3, ge=1, description="Target tracking's high alarm: N of N above target.")
    scale_in_datapoints: int = Field(15, ge=1, description="Target tracking's low alarm: N of N below 90%.")
    metric_delay_periods: int = Field(1, ge=0, description="Periods before a datapoint reaches the alarms.")
    step_policy: bool = Field(True, description="HasBacklogWithoutCapacity -> +1 (without it: never wakes).")
    step_threshold: float = Field(0.9, gt=0, description="The step alarm's threshold on the period average.")
    step_cooldown_s: float = Field(150.0, ge=0)
    instance_start_s: float = Field(300.0, ge=0, description="Instance start ('several minutes').")

    @property
    def tick_s(self) -> float:
        """Alarms are evaluated once per metric period."""
        return self.period_s

    @property
    def start_s(self) -> float:
        """Seconds from a scale-out to a serving instance."""
        return self.instance_start_s

    @property
    def initial_replicas(self) -> int:
        """Instances at the start of the run."""
        return self.min_instances

    def queue_limit(self, ready: int) -> int | None:
        """An async endpoint's queue has no limit."""
        return None

    def controller(self) -> SageMakerController:
        """Fresh alarm and cooldown state for one run."""
        return SageMakerController(self)


@dataclass
class SageMakerController:
    """CloudWatch datapoints, alarm windows and cooldown clocks of one run."""

    policy: SageMakerPolicy
    backlog_per_instance: list[float | None] = field(default_factory=list)
    mean_backlog: list[float] = field(default_factory=list)
    without_capacity: list[float] = field(default_factory=list)
    last_view: ClusterView | None = None
    last_scale_out: float = -math.inf
    last_scale_in: float = -math.inf
    last_step: float = -math.inf

    def decide(self, now: float, view: ClusterView) -> int:
        """Close the period's datapoints, then let the step, high and low alarms act in that order."""
        self._record_period(view)
        policy, replicas = self.policy, view.replicas
        visible = len(self.mean_backlog) - policy.metric_delay_periods
        if visible <= 0:
            return replicas
        if policy.step_policy and self.without_capacity[visible - 1] >= policy.step_threshold:
            if now - self.last_step >= policy.step_cooldown_s and replicas < policy.max_instances:
                self.last_step = now
                return replicas + 1
        wanted = self._tracked_capacity(visible)
        if wanted is None:
            return replicas
        if wanted > replicas and now - self.last_scale_out >= policy.scale_out_cooldown_s:
            self.last_scale_out = now
            return wanted
        if wanted < replicas and now - self.last_scale_in >= policy.scale_in_cooldown_s:
            self.last_scale_in = now
            return wanted
        return replicas

    def _record_period(self, view: ClusterView) -> None:
        before = self.last_view or ClusterView(0, 0, 0, 0.0, 0.0, 0.0)
        period = self.policy.period_s
        ready = view.ready_seconds - before.ready_seconds
        backlog = view.backlog_seconds - before.backlog_seconds
        # No instance in service: the per-instance metric has no datapoint (the alarm lacks data).
        self.backlog_per_instance.append(backlog / ready if ready > 0 else None)
        self.mean_backlog.append(backlog / period)
        self.without_capacity.append(
            (view.backlog_without_capacity_seconds - before.backlog_without_capacity_seconds) / period
        )
        self.last_view = view

    def _tracked_capacity(self, visible: int) -> int | None:
        """Target tracking: the capacity that brings the backlog per instance to the target, if an alarm fires."""
        policy = self.policy
        target = policy.target_backlog_per_instance
        high = self.backlog_per_instance[max(0, visible - policy.scale_out_datapoints) : visible]
        low = self.backlog_per_instance[max(0, visible - policy.scale_in_datapoints) : visible]
        fires_high = len(high) == policy.scale_out_datapoints and all(v is not None and v > target for v in high)
        fires_low = len(low) == policy.scale_in_datapoints and all(v is not None and v < 0.9 * target for v in low)
        if not (fires_high or fires_low):
            return None
        wanted = math.ceil(self.mean_backlog[visible - 1] / target)
        return min(policy.max_instances, max(policy.min_instances, wanted))


class ServePolicy(BaseModel):
    """Ray Serve's autoscaling of one deployment, with the settings of an autoscaling file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "serve"
    settings: DeploymentScaling = Field(default_factory=DeploymentScaling)
    replica_start_s: float = Field(
        2.0,
        ge=0,
        description="Replica process start (measured: 2.3-3.0 s from request to serving at metrics_interval_s=1, "
        "of which up to one interval is the wait for the next decision, simulated separately).",
    )
    model_load_s: float = Field(0.0, ge=0, description="The model's own load time, added to the start.")

    @property
    def tick_s(self) -> float:
        """The controller decides once per metrics interval."""
        return self.settings.metrics_interval_s

    @property
    def start_s(self) -> float:
        """Seconds from a decision to a serving replica."""
        return self.replica_start_s + self.model_load_s

    @property
    def initial_replicas(self) -> int:
        """Replicas at the start of the run."""
        return self.settings.min_replicas

    def queue_limit(self, ready: int) -> int | None:
        """Requests that may wait: each ready replica's own queue plus ``max_queued_requests`` at the caller."""
        limit = self.settings.max_queued_requests
        return None if limit is None else limit + ready * (self.settings.max_ongoing_requests - 1)

    def controller(self) -> ServeController:
        """Fresh delay state for one run."""
        return ServeController(self.settings)


@dataclass
class ServeController:
    """Serve's decision with its delay timestamp (``_apply_delay_logic``), on the load averaged over
    ``look_back_period_s`` (one sample per metrics tick)."""

    settings: DeploymentScaling
    wanting_since: float | None = None
    direction: int = 0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, now: float, view: ClusterView) -> int:
        """Bootstrap at zero, else hold a change for its delay before applying it."""
        settings, current = self.settings, view.replicas
        self.samples.append((now, view.in_system))
        while self.samples[0][0] <= now - settings.look_back_period_s:
            self.samples.popleft()
        if current == 0 and view.in_system > 0:
            self.wanting_since, self.direction = None, 0
            return max(1, settings.min_replicas)
        load = sum(count for _, count in self.samples) / len(self.samples)
        desired = math.ceil(load / settings.target_ongoing_requests)
        desired = min(settings.max_replicas, max(settings.min_replicas, desired))
        direction = (desired > current) - (desired < current)
        if direction != self.direction:
            self.wanting_since, self.direction = (now if direction else None), direction
        if direction == 0:
            return current
        if direction < 0 and current > 1:
            desired = max(1, desired)  # to zero only from one replica
        delay = settings.upscale_delay_s if direction > 0 else settings.downscale_delay_s
        if self.wanting_since is not None and now - self.wanting_since >= delay:
            self.wanting_since, self.direction = None, 0
            return desired
        return current


class FixedPolicy(BaseModel):
    """Always-on: a fixed number of replicas, ready from the start (the cost baseline)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "always-on"
    replicas: int = Field(5, ge=1)

    tick_s: float = 3600.0
    start_s: float = 0.0

    @property
    def initial_replicas(self) -> int:
        """All replicas, from the start."""
        return self.replicas

    def queue_limit(self, ready: int) -> int | None:
        """No limit."""
        return None

    def controller(self) -> FixedController:
        """Keeps the count."""
        return FixedController(self.replicas)


@dataclass(frozen=True)
class FixedController:
    """Never changes the replica count."""

    replicas: int

    def decide(self, now: float, view: ClusterView) -> int:
        """The fixed count."""
        return self.replicas


Policy = SageMakerPolicy | ServePolicy | FixedPolicy

#: Policies named on the command line; anything else must be an autoscaling file.
POLICY_NAMES = ("sagemaker", "sagemaker-target-only", "serve", "always-on")


def resolve_policy(
    spec: str,
    deployment: str | None = None,
    replica_start_s: float = 2.0,
    model_load_s: float = 0.0,
    instance_start_s: float = 300.0,
    replicas: int = 5,
) -> Policy:
    """The policy a ``--policy`` value names: one of ``POLICY_NAMES`` or an autoscaling file (Serve).

    For a file, ``deployment`` picks the entry (not needed when there is one); ``replica_start_s`` and
    ``model_load_s`` apply to Serve, ``instance_start_s`` to the original's, ``replicas`` to always-on.
    """
    if spec in ("sagemaker", "sagemaker-target-only"):
        return SageMakerPolicy(name=spec, instance_start_s=instance_start_s, step_policy=spec == "sagemaker")
    if spec == "always-on":
        return FixedPolicy(name=f"always-on ({replicas})", replicas=replicas)
    if spec == "serve":
        return ServePolicy(replica_start_s=replica_start_s, model_load_s=model_load_s)
    if PurePath(spec).suffix.lower() not in (".yaml", ".yml", ".json"):
        known = ", ".join(POLICY_NAMES)
        raise AutoscaleError(spec, f"unknown policy; known: {known}, or an autoscaling file (.yaml, .yml, .json)")
    name, settings = _file_deployment(spec, deployment)
    return ServePolicy(
        name=f"serve {name}", settings=settings, replica_start_s=replica_start_s, model_load_s=model_load_s
    )


def _file_deployment(source: str, deployment: str | None) -> tuple[str, DeploymentScaling]:
    """The named deployment of an autoscaling file, or its only one."""
    scaling = load_autoscaling(source)
    names = sorted(scaling.deployments)
    if deployment is None and len(names) == 1:
        deployment = names[0]
    if deployment not in scaling.deployments:
        listed = ", ".join(names) or "none"
        problem = "no such deployment" if deployment else "name one with --deployment"
        raise AutoscaleError(source, f"{problem} (deployments: {listed})", deployment)
    return deployment, scaling.deployments[deployment]
