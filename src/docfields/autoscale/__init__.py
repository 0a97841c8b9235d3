"""Autoscaling: the autoscaling file of ``serve --ray`` and a simulator of scaling policies.

``load_autoscaling`` reads and validates the per-deployment settings and ``serve_options`` turns
them into Ray Serve deployment options. ``simulate(trace, policy)`` replays a request trace against
the original's SageMaker policy, Ray Serve's, or always-on, and reports cost (replica-seconds),
latency percentiles and the longest wait at zero capacity. Nothing here imports Ray.
"""

from docfields.autoscale.policies import POLICY_NAMES, FixedPolicy, SageMakerPolicy, ServePolicy, resolve_policy
from docfields.autoscale.settings import AutoscalingFile, DeploymentScaling, load_autoscaling, serve_options
from docfields.autoscale.simulate import SimulationReport, TimelinePoint, simulate
from docfields.autoscale.trace import TRACE_KINDS, Trace, generate_trace, read_trace, write_trace

__all__ = [
    "POLICY_NAMES",
    "TRACE_KINDS",
    "AutoscalingFile",
    "DeploymentScaling",
    "FixedPolicy",
    "SageMakerPolicy",
    "ServePolicy",
    "SimulationReport",
    "TimelinePoint",
    "Trace",
    "generate_trace",
    "load_autoscaling",
    "read_trace",
    "resolve_policy",
    "serve_options",
    "simulate",
    "write_trace",
]
