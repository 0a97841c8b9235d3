"""``docfields serve --ray``: real Ray Serve on 127.0.0.1, deployments scaling from and back to zero.

One private Ray and one Serve deployment for the module (2 CPUs, no pipeline workers); the
autoscaling file gives short delays, so scaling is observed in seconds. Asserts are on states
(replica counts from ``serve.status()``, HTTP statuses), never on timings.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from docfields.cli import app
from docfields.errors import AutoscaleError
from docfields.pipeline import PipelineSettings
from docfields.samples import generate_credit_card_corpus
from docfields.serve import ServeSettings
from serve_server import serve_on_ray

pytestmark = [
    pytest.mark.slow,
    # metrics_interval_s: deprecated in Ray 2.60, and still what bounds a cold start there (serving.py)
    pytest.mark.filterwarnings("ignore:The `metrics_interval_s`:DeprecationWarning"),
]

FAST = {"upscale_delay_s": 0, "downscale_delay_s": 2, "metrics_interval_s": 0.5, "num_cpus": 0.5}
BURST = {"max_replicas": 2, "target_ongoing_requests": 1, "max_ongoing_requests": 1, "max_queued_requests": 1}
SCALING = {"defaults": FAST, "deployments": {"thumbnails": BURST}}


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("corpus")
    generate_credit_card_corpus(out, n=1, seed=3, scan_share=0)
    return (out / "docs" / "cc-0000.pdf").read_bytes()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-ray")
    (tmp / "scaling.json").write_text(json.dumps(SCALING))
    settings = ServeSettings(
        pipeline=PipelineSettings(home=str(tmp / "home"), engine="pdftext"),
        workers=0,
        normalizer="date:YYYY-MM-DD",
        autoscaling=str(tmp / "scaling.json"),
    )
    with serve_on_ray(settings) as url:
        yield url


def running(deployment: str) -> int:
    """Replicas of ``deployment`` in the RUNNING state now."""
    from ray import serve

    states = serve.status().applications["docfields"].deployments[deployment].replica_states
    return states.get("RUNNING", 0)


def wait_for_replicas(deployment: str, count: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running(deployment) != count:
        time.sleep(0.2)
    return running(deployment)


def test_a_request_at_zero_replicas_is_served_then_the_deployment_returns_to_zero(service):
    assert wait_for_replicas("normalizer", 0) == 0
    answer = httpx.post(f"{service}/normalize", json={"inputs": "March 4, 2021"}, timeout=120)
    assert answer.status_code == 200 and answer.json()["generated_text"] == "2021-03-04"
    assert running("normalizer") == 1  # started by the request (Serve's cold-start path), not yet idle
    assert wait_for_replicas("normalizer", 0) == 0  # downscale_delay_s 2 in the test's file


def test_a_burst_scales_to_max_and_requests_beyond_the_queue_get_429(service, pdf):
    def thumbnails(_: int) -> httpx.Response:
        params = {"width": 1200, "height": 1200}
        return httpx.post(f"{service}/thumbnails", content=pdf, params=params,
                          headers={"Content-Type": "application/pdf"}, timeout=120)  # fmt: skip

    answers: list[httpx.Response] = []
    seen: set[int] = set()
    with ThreadPoolExecutor(6) as pool:
        for _ in range(40):  # bounded: at most 40 bursts of 12 requests
            answers += pool.map(thumbnails, range(12))
            seen.add(running("thumbnails"))
            if 2 in seen and any(a.status_code == 429 for a in answers):
                break
    assert max(seen) == 2  # scaled up to max_replicas, never beyond
    assert {a.status_code for a in answers} == {200, 429}
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "CapacityError" and "thumbnails" in refused.json()["detail"]


def test_the_cli_refuses_a_bad_autoscaling_file_before_ray_starts(tmp_path: Path):
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    for text, deployment, key in (
        ('{"deployments": {"thumbnails": {"max_replicas": 0}}}', "thumbnails", "max_replicas"),
        ('{"deployments": {"tesseract": {"max_replicas": 2}}}', "tesseract", "ocr-tesseract"),
    ):
        bad.write_text(text)
        args = ["serve", "--ray", "local", "--autoscaling", str(bad), "--home", str(tmp_path / "home")]
        result = runner.invoke(app, args)
        assert result.exit_code == AutoscaleError.exit_code, result.output
        message = " ".join(result.output.split())
        assert f"deployment {deployment}:" in message and key in message and "bad.json" in message
    alone = runner.invoke(app, ["serve", "--autoscaling", str(bad), "--home", str(tmp_path / "home")])
    assert alone.exit_code == 2 and "--ray" in alone.output
