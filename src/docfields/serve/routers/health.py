"""``/healthz`` (open, for load balancers) and ``/metrics`` (Prometheus; behind the token if any)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from docfields import __version__
from docfields.serve.dependencies import get_metrics
from docfields.serve.metrics import ServeMetrics
from docfields.serve.security import require_token

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"], dependencies=[Depends(require_token)])


class Health(BaseModel):
    """The service is up."""

    status: str = Field(examples=["ok"])
    version: str = Field(description="docfields version")


@router.get("/healthz", summary="Liveness check (no token needed)", response_model=Health)
def healthz() -> Health:
    """Answers as soon as the service accepts requests."""
    return Health(status="ok", version=__version__)


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"}},
)
def metrics(registry: Annotated[ServeMetrics, Depends(get_metrics)]) -> Response:
    """Requests and latency by route, documents by status, models loaded, loads and unloads."""
    body, content_type = registry.render()
    return Response(body, media_type=content_type)


@metrics_router.get(
    "/metrics/trace",
    summary="Recorded model calls of one deployment, as a request trace for the simulator",
    response_class=Response,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "`docfields autoscale simulate --trace` input"},
        404: {"description": "No call recorded for that deployment (the recorded ones are listed)"},
    },
)
def call_trace(
    registry: Annotated[ServeMetrics, Depends(get_metrics)],
    deployment: Annotated[str, Query(description="thumbnails, ocr-<engine>, tagger-<name>, normalizer[-<name>]")],
) -> Response:
    """Every model call kept since the start (arrival, duration), to replay against a scaling policy."""
    from docfields.autoscale.trace import trace_to_jsonl

    trace = registry.call_trace(deployment)
    if trace is None:
        known = ", ".join(registry.recorded_deployments()) or "none yet"
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no call of {deployment!r} recorded; recorded: {known}")
    return Response(trace_to_jsonl(trace), media_type="application/x-ndjson")
