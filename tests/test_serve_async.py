"""Async invocations (``/async``): uploads and input locations, webhooks, limits, and a restart in between.

The webhook receiver is a real HTTP server on 127.0.0.1 that checks nothing itself: the tests
verify each call's signature with the secret, as a receiver would. A ``GatedModels`` backend holds
model calls until the test opens its gate, so "still queued" and "running" are states the test
sets up, never a race it hopes to win.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from docfields.errors import CapacityError
from docfields.pipeline import PipelineSettings
from docfields.pipeline.settings import HomeLayout
from docfields.serve import app as app_module
from docfields.serve.app import create_app
from docfields.serve.calls import LocalModels, ModelSpec
from docfields.serve.invocations import MAX_ATTEMPTS, InvocationRequest, InvocationStore
from docfields.serve.models import ModelCache
from docfields.serve.settings import ServeSettings
from docfields.serve.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from serve_server import serve_app

SECRET = "hook-secret"
FINAL = ("succeeded", "failed")


@dataclass
class Receiver:
    """Webhook calls received: (path, headers, body); paths in ``fail_first`` answer 500 once first."""

    url: str
    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    fail_first: set[str] = field(default_factory=set)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, path: str, count: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        """The first ``count`` calls to ``path`` (fails the test if they do not come)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.to(path)) >= count, timeout)
        found = self.to(path)
        assert len(found) >= count, f"{path}: {len(found)} webhook call(s), expected {count}"
        return found

    def to(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in list(self.calls) if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port."""
    found = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with found.changed:
                found.calls.append((self.path, dict(self.headers), body))
                failing = self.path in found.fail_first
                found.fail_first.discard(self.path)
                found.changed.notify_all()
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def service_settings(tmp_path: Path, receiver_url: str | None = None, **changes: Any) -> ServeSettings:
    """A service without pipeline workers; webhooks allowed under ``<receiver>/hooks`` when a receiver is given."""
    hooks = {"webhook_urls": [f"{receiver_url}/hooks"], "webhook_secret": SECRET} if receiver_url else {}
    return ServeSettings(
        pipeline=PipelineSettings(home=str(tmp_path / "home")),
        workers=0,
        allowed_roots=[str(tmp_path / "data")],
        **hooks,
        **changes,
    )


def png(width: int = 320, height: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_state(get: Callable[[str], Any], invocation_id: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    """Poll ``GET /async/{id}`` until its state is one of ``states``; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = get(f"/async/{invocation_id}").json()
        if answer["State"] in states or time.monotonic() > deadline:
            assert answer["State"] in states, answer
            return answer
        time.sleep(0.05)


def check_signature(headers: dict[str, str], body: bytes) -> None:
    """The receiver's check: HMAC-SHA256 of '<timestamp>.<body>' under the shared secret."""
    timestamp = headers[TIMESTAMP_HEADER]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], f"sha256={expected}")
    assert abs(time.time() - int(timestamp)) < 300


class GatedModels(LocalModels):
    """The real in-process backend, each call held until ``gate`` is set; ``entered`` counts the calls held."""

    def __init__(self, replicas: int = 1) -> None:
        super().__init__(ModelCache(0))
        self.gate = threading.Event()
        self.entered = 0
        self.replicas = replicas

    def call(self, spec: ModelSpec, work: Callable[..., Any], *args: Any) -> Any:
        self.entered += 1
        self.gate.wait(120)
        return super().call(spec, work, *args)

    def max_replicas(self, deployment: str) -> int:
        """As many replicas as the test says each deployment may have (Serve: the autoscaling file's)."""
        return self.replicas


class FullOnceModels(LocalModels):
    """The real in-process backend behind a deployment whose queue is full at the first call (as Ray Serve's is)."""

    def __init__(self) -> None:
        super().__init__(ModelCache(0))
        self.calls = 0

    def call(self, spec: ModelSpec, work: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise CapacityError(spec.deployment, "1 request(s) queued, the limit", retry_after=1)
        return super().call(spec, work, *args)


# -- end to end on a real server ----------------------------------------------------------------


def test_success_and_error_webhooks_arrive_signed_and_failures_are_retried(tmp_path, receiver):
    receiver.fail_first.add("/hooks/done")  # the first call fails: the service must call again
    with serve_app(create_app(service_settings(tmp_path, receiver.url))) as url, httpx.Client(base_url=url) as client:
        hooks = {"success_url": f"{receiver.url}/hooks/done", "error_url": f"{receiver.url}/hooks/error"}
        good = client.post("/async/thumbnails", params=hooks, content=png(), headers={"content-type": "image/png"})
        bad = client.post("/async/thumbnails", params={**hooks, "name": "scan-17.png"}, content=b"not an image",
                          headers={"content-type": "application/octet-stream"})  # fmt: skip
        assert good.status_code == bad.status_code == 202
        assert good.headers["location"] == f"/async/{good.json()['InvocationId']}"

        [(failed_headers, failed_body), (headers, body)] = receiver.wait_for("/hooks/done", 2)
        [(error_headers, error_body)] = receiver.wait_for("/hooks/error", 1)
        for sent_headers, sent_body in ((failed_headers, failed_body), (headers, body), (error_headers, error_body)):
            check_signature(sent_headers, sent_body)
        done, error = json.loads(body), json.loads(error_body)
        assert json.loads(failed_body) == done  # the retry sends the same outcome
        assert (done["InvocationId"], done["State"]) == (good.json()["InvocationId"], "succeeded")
        assert (error["InvocationId"], error["State"]) == (bad.json()["InvocationId"], "failed")
        assert "scan-17.png" in error["Error"]
        assert np.load(done["OutputLocation"])["image"].shape == (224, 224, 3)
        assert not receiver.to("/hooks/error")[1:] and not [b for _, b in receiver.to("/hooks/done")[2:]]

        deadline = time.monotonic() + 30
        while (status := client.get(f"/async/{done['InvocationId']}").json())["Webhook"] is None:
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status["Webhook"].startswith("delivered: HTTP 204 at attempt 2")


@pytest.mark.slow
def test_a_50_mib_document_goes_through_async_thumbnails(tmp_path):
    document = tmp_path / "data" / "big.tif"
    document.parent.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, size=(3500, 5000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(document, format="TIFF")  # uncompressed: 52.5 MB
    assert document.stat().st_size > 50 * 2**20
    with serve_app(create_app(service_settings(tmp_path))) as url, httpx.Client(base_url=url, timeout=120) as client:
        with document.open("rb") as body:
            answer = client.post("/async/thumbnails", params={"width": 300, "height": 210, "fit": "letterbox"},
                                 content=body, headers={"content-type": "image/tiff"})  # fmt: skip
        assert answer.status_code == 202, answer.text
        upload = Path(answer.json()["OutputLocation"]).parent / "input"
        status = wait_state(client.get, answer.json()["InvocationId"], FINAL, timeout=300)
        assert status["State"] == "succeeded", status["Error"]
        assert np.load(status["OutputLocation"])["image"].shape == (210, 300, 3)
        assert not upload.exists()  # the upload goes once the invocation is final


@pytest.mark.slow
def test_invocations_queued_when_the_service_stops_run_after_a_restart(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "SHUTDOWN_SECONDS", 0.2)  # the held run is given back at once
    settings = service_settings(tmp_path, invocations_per_replica=1)
    gated = GatedModels()
    with serve_app(create_app(settings, models=gated)) as url, httpx.Client(base_url=url) as client:
        ids = [client.post("/async/thumbnails", content=png(), headers={"content-type": "image/png"}).json()
               ["InvocationId"] for _ in range(3)]  # fmt: skip
        wait_state(client.get, ids[0], ("running",))
        assert [client.get(f"/async/{i}").json()["State"] for i in ids[1:]] == ["queued", "queued"]
    gated.gate.set()  # the interrupted run ends after the stop: its outcome must not count

    store = InvocationStore(HomeLayout.from_settings(settings.pipeline).database)
    stopped = [store.invocation(i) for i in ids]
    assert [(s.state, s.attempts) for s in stopped if s] == [("queued", 0)] * 3

    with serve_app(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        restarted = [wait_state(client.get, i, FINAL) for i in ids]
    assert [(s["State"], s["Attempts"]) for s in restarted] == [("succeeded", 1)] * 3
    assert all(np.load(s["OutputLocation"])["image"].shape == (224, 224, 3) for s in restarted)


# -- in-process (TestClient) ----------------------------------------------------------------------


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    (tmp_path / "data").mkdir()
    with TestClient(create_app(service_settings(tmp_path, "http://127.0.0.1:9"))) as test_client:
        yield test_client


def test_webhooks_outside_the_allow_list_are_refused_naming_them(client, tmp_path):
    for url in ("http://127.0.0.1:9/elsewhere", "http://127.0.0.1:10/hooks", "http://127.0.0.1:9/hooks/../admin",
                "http://127.0.0.1:9@evil.example/hooks"):  # fmt: skip
        answer = client.post("/async/thumbnails", params={"error_url": url}, content=png(),
                             headers={"content-type": "image/png"})  # fmt: skip
        assert answer.status_code == 422 and url in answer.json()["detail"], (url, answer.text)
    assert not list((tmp_path / "home" / "async").iterdir())  # refused before the upload was stored
    with TestClient(create_app(service_settings(tmp_path / "other"))) as unsigned:
        answer = unsigned.post("/async/thumbnails", params={"success_url": "http://127.0.0.1:9/hooks/x"},
                               content=png(), headers={"content-type": "image/png"})  # fmt: skip
    assert answer.status_code == 422 and "--webhook-secret" in answer.json()["detail"]


def test_locations_outside_the_allowed_roots_are_refused_naming_them(client, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png())
    (tmp_path / "data" / "link.png").symlink_to(outside)
    for location in (str(outside), str(tmp_path / "data" / "link.png"), f"{tmp_path}/data/../secret.png"):
        answer = client.post("/async/thumbnails", json={"input": location})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith(f"input {location}: outside the allowed roots")
    answer = client.post("/async/thumbnails", params={"output": str(tmp_path / "out.npz")}, content=png(),
                         headers={"content-type": "image/png"})  # fmt: skip
    assert answer.status_code == 422 and f"output {tmp_path / 'out.npz'}: outside" in answer.json()["detail"]
    other = tmp_path / "home" / "async" / "0123" / "input"  # another invocation's upload
    answer = client.post("/async/thumbnails", params={"output": str(other)}, content=png(),
                         headers={"content-type": "image/png"})  # fmt: skip
    assert answer.status_code == 422 and f"output {other}: outside" in answer.json()["detail"]
    answer = client.post("/async/thumbnails", json={"input": "https://example.com/a.png"})
    assert answer.status_code == 422 and "https://example.com/a.png" in answer.json()["detail"]
    answer = client.post("/async/thumbnails", json={"input": str(tmp_path / "data" / "missing.png")})
    assert answer.status_code == 422 and "missing.png" in answer.json()["detail"]


def test_an_input_location_and_options_in_json_write_to_the_named_output(client, tmp_path):
    (tmp_path / "data" / "page.png").write_bytes(png(400, 100))
    output = tmp_path / "data" / "out" / "page.npz"
    answer = client.post("/async/thumbnails", json={"input": str(tmp_path / "data" / "page.png"),
                                                     "output": str(output), "width": 64, "height": 32})  # fmt: skip
    assert answer.status_code == 202 and answer.json()["OutputLocation"] == str(output)
    status = wait_state(client.get, answer.json()["InvocationId"], FINAL)
    assert status["State"] == "succeeded" and status["InputLocation"] == str(tmp_path / "data" / "page.png")
    assert np.load(output)["image"].shape == (32, 64, 3)
    answer = client.post("/async/thumbnails", params={"width": 10}, json={"width": 20, "input": "x"})
    assert answer.status_code == 422 and "width" in answer.json()["detail"]


def test_ocr_of_a_multipart_upload_writes_textract_json(client):
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Annual percentage rate 19.99%")
    page.save()
    answer = client.post("/async/ocr-pdftext", files={"file": ("terms.pdf", buffer.getvalue(), "application/pdf")})
    assert answer.status_code == 202, answer.text
    status = wait_state(client.get, answer.json()["InvocationId"], FINAL)
    assert status["State"] == "succeeded", status["Error"]
    result = json.loads(Path(status["OutputLocation"]).read_text())
    assert status["OutputLocation"].endswith(".json")
    assert [b["Text"] for b in result["Blocks"] if b["BlockType"] == "WORD"][:3] == ["Annual", "percentage", "rate"]


def test_unknown_deployments_and_ids_are_404(client):
    answer = client.post("/async/ocr-nothing", content=png(), headers={"content-type": "image/png"})
    assert answer.status_code == 404
    assert "ocr-nothing" in answer.json()["detail"] and "thumbnails, ocr-" in answer.json()["detail"]
    assert client.get("/async/0123").status_code == 404
    answer = client.post("/async/ocr-pdftext", params={"width": 10}, content=png(),
                         headers={"content-type": "image/png"})  # fmt: skip
    assert answer.status_code == 422 and "ocr-pdftext makes no thumbnails" in answer.json()["detail"]


def test_an_upload_over_the_request_limit_is_413_and_leaves_nothing(tmp_path):
    settings = service_settings(tmp_path, max_request_bytes=2**20)
    with TestClient(create_app(settings)) as test_client:
        answer = test_client.post("/async/thumbnails", content=iter([b"\0" * 2**19] * 4),
                                  headers={"content-type": "image/tiff"})  # fmt: skip
    assert answer.status_code == 413
    assert not list((tmp_path / "home" / "async").iterdir())


@pytest.mark.parametrize("replicas", [1, 2])
def test_at_most_n_invocations_per_replica_of_a_deployment_run_at_once(tmp_path, replicas):
    gated, limit = GatedModels(replicas), 2 * replicas
    with TestClient(create_app(service_settings(tmp_path, invocations_per_replica=2), models=gated)) as test_client:
        ids = [test_client.post("/async/thumbnails", content=png(), headers={"content-type": "image/png"})
               .json()["InvocationId"] for _ in range(limit + 2)]  # fmt: skip
        for invocation in ids[:limit]:
            wait_state(test_client.get, invocation, ("running",))
        assert [test_client.get(f"/async/{i}").json()["State"] for i in ids[limit:]] == ["queued", "queued"]
        assert gated.entered == limit
        gated.gate.set()
        assert [wait_state(test_client.get, i, FINAL)["State"] for i in ids] == ["succeeded"] * (limit + 2)
    assert gated.entered == limit + 2


def test_a_run_whose_runner_died_is_taken_over_and_fails_after_max_attempts(tmp_path):
    store = InvocationStore(tmp_path / "docfields.db")
    run = InvocationRequest("i1", "thumbnails", "/in/scan.png", "scan.png", False, "/out/scan.npz")
    store.add_invocation(run, now=0)
    assert store.claim_invocation("a", {"thumbnails"}, now=1) is None  # the deployment is at its limit
    first = store.claim_invocation("a", (), now=1)
    assert first is not None and store.claim_invocation("b", (), now=2) is None  # leased to a
    owners = [store.claim_invocation(owner, (), now=100.0 * n) for n, owner in enumerate("bc", start=1)]
    assert [job.owner for job in owners if job] == ["b", "c"]
    assert store.claim_invocation("d", (), now=1000) is None
    failed = store.invocation("i1")
    assert failed is not None and (failed.state, failed.attempts) == ("failed", MAX_ATTEMPTS)
    assert failed.error == f"scan.png: its run was lost {MAX_ATTEMPTS} times (the service stopped or died)"
    assert not store.finish_invocation(first, None)  # a runner that lost its lease cannot overwrite the outcome


@pytest.mark.slow
def test_ocr_output_chained_into_a_tagger_by_location_and_a_json_upload(tmp_path):
    from pipeline_support import credit_card_corpus, tiny_tagger

    corpus = credit_card_corpus(tmp_path / "corpus", n=1, seed=3)
    settings = service_settings(tmp_path, models={"cards": tiny_tagger(corpus, tmp_path)})
    with TestClient(create_app(settings)) as test_client:
        pdf = (corpus / "cc-0000.pdf").read_bytes()
        ocr = test_client.post("/async/ocr-pdftext", content=pdf, headers={"content-type": "application/pdf"})
        textract = wait_state(test_client.get, ocr.json()["InvocationId"], FINAL)["OutputLocation"]
        by_location = test_client.post("/async/tagger-cards", params={"input": textract})  # an earlier output
        uploaded = test_client.post("/async/tagger-cards", content=Path(textract).read_bytes(),
                                    headers={"content-type": "application/json"})  # fmt: skip
        statuses = [wait_state(test_client.get, r.json()["InvocationId"], FINAL) for r in (by_location, uploaded)]
        bad = test_client.post("/async/tagger-cards", params={"name": "page.json"}, json=[1, 2])
        failed = wait_state(test_client.get, bad.json()["InvocationId"], FINAL)
    assert [s["State"] for s in statuses] == ["succeeded", "succeeded"], statuses
    for status in statuses:
        blocks = json.loads(Path(status["OutputLocation"]).read_text())["Blocks"]
        words = [block for block in blocks if block["BlockType"] == "WORD"]
        assert words and all("PredictedClass" in word for word in words)
    assert failed["State"] == "failed" and failed["Error"].startswith("page.json: a tagger takes a JSON object")


def test_a_run_refused_by_a_full_deployment_is_queued_again_not_failed(tmp_path):
    backend = FullOnceModels()
    with TestClient(create_app(service_settings(tmp_path), models=backend)) as test_client:
        answer = test_client.post("/async/thumbnails", content=png(), headers={"content-type": "image/png"})
        status = wait_state(test_client.get, answer.json()["InvocationId"], FINAL)
    assert (status["State"], status["Attempts"], backend.calls) == ("succeeded", 1, 2)
