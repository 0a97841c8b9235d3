"""The service as a client sees it: httpx over loopback, against both ways of serving it.

``local``: ``docfields serve`` in a subprocess (real uvicorn). ``ray``: the same service on Ray Serve
in a private Ray of this process (``serve --ray``: the app as ingress, a deployment per model), the
same settings built directly. One server of each kind for the module (a tiny tagger built on the
spot, the pdftext engine, a 2 MiB request limit, a 2 s idle unload, an API token): upload -> poll ->
result, every stage endpoint, the limits and checks, the field configuration, metrics, the desk.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from docfields.fields import load_field_configuration
from docfields.ocr import ocr_document
from docfields.samples import credit_card_fields, generate_credit_card_corpus
from docfields.textract import iter_words, parse_textract
from serve_server import serve_cli, serve_on_ray

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The `metrics_interval_s`:DeprecationWarning"),  # still Ray 2.60's knob
]

TOKEN = "test-token-1"
AUTH = {"X-API-Key": TOKEN}
LIMIT = 2 * 2**20
FINAL = ("done", "in_review", "failed")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_credit_card_corpus(out, n=1, seed=3, scan_share=0)
    return out


@pytest.fixture(scope="module")
def pdf(corpus) -> bytes:
    return (corpus / "docs" / "cc-0000.pdf").read_bytes()


@pytest.fixture(scope="module")
def page_png(corpus) -> bytes:
    return sorted((corpus / "pages").glob("*.png"))[0].read_bytes()


@pytest.fixture(scope="module")
def tagger_dir(corpus, tmp_path_factory) -> Path:
    from docfields.ner import build_tagger

    words = [word.text for word in iter_words(ocr_document(str(corpus / "docs" / "cc-0000.pdf"), engine="pdftext"))]
    tagger = build_tagger("layoutlm-tiny", credit_card_fields(), words, seed=0)
    return tagger.save(tmp_path_factory.mktemp("model") / "cards")


REVIEWER, REVIEWER_PASSWORD = "rita", "correct horse battery"


#: Serve replicas share the one CPU the pipeline's stage actor leaves: four models at once.
RAY_SCALING = {"defaults": {"num_cpus": 0.2, "upscale_delay_s": 0, "metrics_interval_s": 0.5}}


@pytest.fixture(scope="module", params=["local", "ray"])
def server(request, tagger_dir, tmp_path_factory):
    from docfields.review import hash_password

    tmp = tmp_path_factory.mktemp("serve")
    (tmp / "review.json").write_text(json.dumps({"users": {REVIEWER: hash_password(REVIEWER_PASSWORD)}}))
    if request.param == "ray":
        yield from _served_on_ray(tmp, tagger_dir)
        return
    args = [
        "--home", str(tmp / "home"), "--model", f"cards={tagger_dir}", "--engine", "pdftext", "--workers", "1",
        "--max-request-mb", str(LIMIT / 2**20), "--idle-unload", "2", "--normalizer", "date:YYYY-MM-DD",
        "--review-threshold", "0", "--review-config", str(tmp / "review.json"),
    ]  # fmt: skip
    with serve_cli(args, log=tmp / "serve.log", env={"DOCFIELDS_API_TOKEN": TOKEN}) as url:
        yield url


def _served_on_ray(tmp: Path, tagger_dir: Path):
    """The settings the ``local`` variant's options make, deployed on Ray Serve."""
    from docfields.pipeline import PipelineSettings
    from docfields.review import load_review_settings
    from docfields.serve import ServeSettings

    (tmp / "scaling.json").write_text(json.dumps(RAY_SCALING))
    pipeline = PipelineSettings(home=str(tmp / "home"), model=str(tagger_dir), engine="pdftext", review_threshold=0)
    settings = ServeSettings(
        pipeline=pipeline, workers=1, api_token=TOKEN, max_request_bytes=LIMIT, models={"cards": str(tagger_dir)},
        normalizer="date:YYYY-MM-DD", idle_unload_seconds=2, review=load_review_settings(str(tmp / "review.json")),
        autoscaling=str(tmp / "scaling.json"),
    )  # fmt: skip
    with serve_on_ray(settings) as url:
        yield url


def on_ray(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs against the service on Ray Serve (its models live in replicas, not the ingress)."""
    return request.node.callspec.params["server"] == "ray"


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, headers=AUTH, timeout=180) as client:
        yield client


def upload(client: httpx.Client, data: bytes, name: str = "agreement.pdf", media: str = "application/pdf"):
    return client.post("/documents", content=data, headers={"Content-Type": media}, params={"name": name})


def wait_final(client: httpx.Client, doc_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/documents/{doc_id}").json()
        if status["status"] in FINAL:
            return status
        time.sleep(0.3)
    raise TimeoutError(f"document {doc_id} still {status['status']} after {timeout} s")


def model_field_names(tagger_dir: Path) -> list[str]:
    return [f["Name"] for f in json.loads((tagger_dir / "fields.json").read_text()) if not f.get("Ignore")]


def test_healthz_is_open_and_everything_else_needs_the_token(server):
    health = httpx.get(f"{server}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    for method, path in (("GET", "/config/fields"), ("GET", "/metrics"), ("POST", "/normalize"), ("GET", "/documents")):
        refused = httpx.request(method, f"{server}{path}")
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"] == "Bearer" and "X-API-Key" in refused.json()["detail"]
    assert httpx.get(f"{server}/config/fields", headers={"X-API-Key": "wrong"}).status_code == 401
    assert httpx.get(f"{server}/config/fields", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(f"{server}/config/fields", headers=AUTH).status_code == 200


def test_upload_then_poll_then_result(client, pdf, page_png, tagger_dir):
    submitted = upload(client, pdf)
    assert submitted.status_code == 202, submitted.text
    doc_id = submitted.json()["id"]
    assert submitted.json()["status"] == "queued" and submitted.headers["Location"] == f"/documents/{doc_id}"
    early = client.get(f"/documents/{doc_id}/result")  # the worker needs seconds to load its model
    assert early.status_code == 409 and early.json()["status"] in ("queued", "running")

    status = wait_final(client, doc_id)
    assert status["status"] == "done", status
    assert status["name"] == "agreement.pdf" and status["pages"] == 3
    assert [s["name"] for s in status["stages"]] == ["ocr", "thumbnails", "enrich", "fields"]
    assert all(s["state"] == "done" and s["seconds"] is not None for s in status["stages"])
    result = client.get(f"/documents/{doc_id}/result")
    assert result.status_code == 200
    assert list(result.json()["Fields"]) == model_field_names(tagger_dir)
    assert 0.0 <= result.json()["Confidence"] <= 1.0

    form = client.post("/documents", files={"file": ("scans/page.png", page_png, "image/png")})
    assert form.status_code == 202, form.text
    failed = wait_final(client, form.json()["id"])  # the service's engine, pdftext, reads no images
    assert failed["status"] == "failed" and failed["name"] == "page.png"  # a name, never a path
    assert "page.png" in failed["error"] and "pdftext" in failed["error"]
    no_result = client.get(f"/documents/{form.json()['id']}/result")
    assert no_result.status_code == 409 and no_result.json()["status"] == "failed"
    assert failed["error"] in no_result.json()["detail"]
    listed = {d["id"] for d in client.get("/documents").json()}
    assert {doc_id, form.json()["id"]} <= listed
    assert client.get("/documents/no-such-id").status_code == 404
    assert client.get("/documents/no-such-id/result").status_code == 404


def test_too_large_requests_get_413_before_the_body_is_read(client):
    declared = client.post("/documents", content=bytes(LIMIT + 1), headers={"Content-Type": "application/pdf"})
    assert declared.status_code == 413
    assert "Content-Length" in declared.json()["detail"] and f"{LIMIT:,} bytes" in declared.json()["detail"]

    def chunks():
        for _ in range(LIMIT // 2**16 + 8):
            yield bytes(2**16)

    streamed = client.post("/documents", content=chunks(), headers={"Content-Type": "application/pdf"})
    assert streamed.status_code == 413 and "received" in streamed.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_wrong_media_types_get_415_naming_the_accepted_ones(client, pdf):
    for path in ("/documents", "/thumbnails", "/ocr"):
        refused = client.post(path, content=pdf, headers={"Content-Type": "text/plain"})
        assert refused.status_code == 415, path
        assert "application/pdf" in refused.json()["detail"] and "multipart/form-data" in refused.json()["detail"]
    for path in ("/models/cards/invocations", "/normalize", "/config/fields"):
        method = "PUT" if path.startswith("/config") else "POST"
        refused = client.request(method, path, content=b"{}", headers={"Content-Type": "application/pdf"})
        assert refused.status_code == 415 and "application/json" in refused.json()["detail"], path


def test_corrupt_documents_get_422_naming_the_problem(client, pdf):
    before = len(client.get("/documents").json())
    truncated = upload(client, pdf[: len(pdf) // 2], name="broken.pdf")
    assert truncated.status_code == 422
    assert truncated.json()["detail"].startswith("broken.pdf: truncated or corrupt PDF")
    text = upload(client, b"Dear customer, your statement", name="letter.pdf")
    assert text.status_code == 422 and "unsupported file type" in text.json()["detail"]
    assert upload(client, b"").status_code == 422
    thumbnails = client.post("/thumbnails", content=pdf[:1000], headers={"Content-Type": "application/pdf"})
    assert thumbnails.status_code == 422 and "PDF" in thumbnails.json()["detail"]
    assert len(client.get("/documents").json()) == before


def test_bad_field_configurations_get_422_naming_field_and_key(client, tagger_dir):
    original = client.get("/config/fields").json()
    assert original == load_field_configuration(str(tagger_dir / "fields.json")).to_json_list()
    cases = [
        ([{"ClassId": 0, "Name": "Due Date", "Select": "biggest"}], "'Due Date' (index 0)", "Select"),
        ([{"ClassId": 0, "Name": "A"}, {"ClassId": 0, "Name": "B"}], "'B' (index 1)", "ClassId"),
        ([{"ClassId": 99, "Name": "Card Name"}], "'Card Name' (index 0)", "ClassId"),
        ([{"ClassId": 1, "Name": "Fee", "Colour": "red"}], "'Fee' (index 0)", "Colour"),
    ]
    for entries, field, key in cases:
        refused = client.put("/config/fields", json=entries)
        assert refused.status_code == 422, entries
        assert (refused.json()["field"], refused.json()["key"]) == (field, key)
        assert field in refused.json()["detail"] and key in refused.json()["detail"]
    not_json = client.put("/config/fields", content=b"[{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and "not JSON" in not_json.json()["detail"]
    assert client.get("/config/fields").json() == original


def test_a_new_field_configuration_applies_without_restart(client, pdf):
    original = client.get("/config/fields").json()
    changed = [dict(entry, Ignore=entry["ClassId"] > 1) for entry in original]
    changed[0]["Name"] = "Effective Date"
    try:
        stored = client.put("/config/fields", json=changed)
        assert stored.status_code == 200, stored.text
        assert client.get("/config/fields").json() == stored.json()
        doc_id = upload(client, pdf).json()["id"]
        assert wait_final(client, doc_id)["status"] == "done"
        fields = client.get(f"/documents/{doc_id}/result").json()["Fields"]
        assert list(fields) == ["Effective Date", original[1]["Name"]]
    finally:
        assert client.put("/config/fields", json=original).status_code == 200


def npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        return {key: loaded[key] for key in loaded.files}


def test_thumbnails_as_npz_png_and_jpeg(client, pdf, page_png):
    pdf_type, png_type = {"Content-Type": "application/pdf"}, {"Content-Type": "image/png"}
    many = client.post("/thumbnails", content=pdf, headers=pdf_type)
    assert many.status_code == 200 and many.headers["Content-Type"] == "application/x-npz"
    pages = npz_arrays(many.content)["images"]
    assert len(pages) == 3 and all(Image.open(io.BytesIO(bytes(p))).size == (224, 224) for p in pages)
    sized = client.post("/thumbnails", content=pdf, headers=pdf_type, params={"width": 100, "height": 50})
    assert Image.open(io.BytesIO(bytes(npz_arrays(sized.content)["images"][0]))).size == (100, 50)

    one = npz_arrays(client.post("/thumbnails", content=page_png, headers=png_type).content)
    assert one["image"].shape == (224, 224, 3) and one["image"].dtype == np.uint8
    png = client.post("/thumbnails", content=page_png, headers={**png_type, "Accept": "image/png"})
    assert png.headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(png.content)).size == (224, 224)
    jpeg = client.post("/thumbnails", content=page_png, headers={**png_type, "Accept": "image/jpeg"})
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"

    refused = client.post("/thumbnails", content=pdf, headers={**pdf_type, "Accept": "image/png"})
    assert refused.status_code == 422 and "has 3" in refused.json()["detail"]
    assert client.post("/thumbnails", content=pdf, headers={**pdf_type, "Accept": "text/html"}).status_code == 406
    for size in ({"width": 0}, {"height": 100_000}):
        assert client.post("/thumbnails", content=pdf, headers=pdf_type, params=size).status_code == 422


def test_ocr_returns_textract_json(client, pdf, corpus):
    answer = client.post("/ocr", content=pdf, headers={"Content-Type": "application/pdf"})
    assert answer.status_code == 200
    document = parse_textract(answer.json(), "<ocr answer>")
    assert answer.json()["DocumentMetadata"]["Pages"] == 3
    words = {word.text for word in iter_words(document)}
    truth = json.loads((corpus / "truth.jsonl").read_text().splitlines()[0])
    issuer_words = set(str(truth["fields"]["Provider Name"]).split())
    assert issuer_words and issuer_words <= words
    unknown = client.post("/ocr", content=pdf, headers={"Content-Type": "application/pdf"}, params={"engine": "x"})
    assert unknown.status_code == 422 and "tesseract" in unknown.json()["detail"]


def test_model_invocations_enrich_every_word(client, pdf):
    textract = client.post("/ocr", content=pdf, headers={"Content-Type": "application/pdf"}).json()
    enriched = client.post("/models/cards/invocations", json=textract)
    assert enriched.status_code == 200, enriched.text
    words = [b for b in enriched.json()["Blocks"] if b["BlockType"] == "WORD"]
    assert words and all(len(w["ClassificationProbabilities"]) == 20 for w in words)
    assert all(w["PredictedClass"] == int(np.argmax(w["ClassificationProbabilities"])) for w in words)

    page = client.post(
        "/models/cards/invocations", json={"Content": textract, "TargetPageNum": 2, "TargetPageOnly": True}
    )
    assert page.status_code == 200 and page.json()["DocumentMetadata"]["Pages"] == 1
    assert {b.get("Page", 1) for b in page.json()["Blocks"]} == {1}

    unknown = client.post("/models/nope/invocations", json=textract)
    assert unknown.status_code == 404 and "cards" in unknown.json()["detail"]
    assert client.get("/models").json() == {"models": ["cards"]}
    assert client.post("/models/cards/invocations", json=[1, 2]).status_code == 422
    bad = client.post("/models/cards/invocations", json={"Content": "not a document"})
    assert bad.status_code == 422 and "Content" in bad.json()["detail"]


def test_normalize_mirrors_the_input_shape(client):
    one = client.post("/normalize", json={"inputs": "March 4, 2021"})
    assert one.json() == {"generated_text": "2021-03-04", "needs_review": False}
    many = client.post("/normalize", json={"inputs": ["March 4, 2021", "2021/03/05", "not a date"]})
    assert many.json()["generated_text"][:2] == ["2021-03-04", "2021-03-05"]
    assert many.json()["needs_review"] == [False, False, True]
    other = client.post("/normalize", json={"inputs": ["March 4, 2021"]}, params={"normalizer": "date:DD/MM/YYYY"})
    assert other.json()["generated_text"] == ["04/03/2021"]
    missing = client.post("/normalize", json={"texts": ["March 4, 2021"]})
    assert missing.status_code == 422 and "inputs" in json.dumps(missing.json())
    unknown = client.post("/normalize", json={"inputs": "x"}, params={"normalizer": "rot13"})
    assert unknown.status_code == 422 and "not a normalizer" in unknown.json()["detail"]
    remote = client.post("/normalize", json={"inputs": "x"}, params={"normalizer": "http://127.0.0.1:9/normalize"})
    assert remote.status_code == 422


def test_normalize_reads_relative_dates_against_the_reference_date(client):
    texts = ["next Monday", "14 December"]
    flagged = client.post("/normalize", json={"inputs": texts})
    assert flagged.json()["needs_review"] == [True, True]
    dated = client.post("/normalize", json={"inputs": texts, "reference_date": "2024-12-27"})
    assert dated.json() == {"generated_text": ["2024-12-30", "2024-12-14"], "needs_review": [False, False]}
    bad = client.post("/normalize", json={"inputs": texts, "reference_date": "2024-13-01"})
    assert bad.status_code == 422 and "reference_date" in json.dumps(bad.json())


def metric(text: str, family: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^{re.escape(family)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_metrics_and_models_unloaded_after_idle(client, pdf, request):
    assert wait_final(client, upload(client, pdf).json()["id"])["status"] == "done"  # threshold 0: never review
    textract = client.post("/ocr", content=pdf, headers={"Content-Type": "application/pdf"}).json()
    assert client.post("/models/cards/invocations", json={"Content": textract, "TargetPageNum": 1}).status_code == 200
    loaded = client.get("/metrics").text
    assert metric(loaded, "docfields_model_call_seconds_count", deployment="tagger-cards") >= 1
    if on_ray(request):  # the tagger ran in its deployment's replica: nothing loaded in the ingress
        assert "docfields_models_loaded{" not in loaded  # its scale to zero: test_serve_ray.py
        return
    assert metric(loaded, "docfields_models_loaded", kind="tagger", name="cards") == 1.0
    assert client.get("/documents/no-such-id").status_code == 404

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = client.get("/metrics").text
        if metric(text, "docfields_models_loaded", kind="tagger", name="cards") is None:
            break
        time.sleep(0.25)
    assert metric(text, "docfields_models_loaded", kind="tagger", name="cards") is None
    assert metric(text, "docfields_model_unloads_total", kind="tagger", name="cards") >= 1
    assert metric(text, "docfields_model_loads_total", kind="tagger", name="cards") >= 1
    assert metric(text, "docfields_http_requests_total", method="GET", route="/documents/{doc_id}", status="404") >= 1
    assert (
        metric(text, "docfields_documents", status="done") >= 1
        and metric(text, "docfields_documents", status="queued") == 0
    )
    assert text.count("docfields_http_request_seconds_count") >= 3


def test_the_review_desk_is_served_with_its_own_login(server):
    """``--review-config`` mounts the desk; reviewers log in there, without the API token."""
    browser = httpx.Client(base_url=server, follow_redirects=False, timeout=60)
    assert browser.get("/review/").status_code == 303  # to the login page
    form = browser.get("/review/login")
    assert form.status_code == 200 and "password" in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    wrong = browser.post("/review/login", data={"csrf": csrf, "username": REVIEWER, "password": "guess"})
    assert wrong.status_code != 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', wrong.text).group(1)
    right = browser.post("/review/login", data={"csrf": csrf, "username": REVIEWER, "password": REVIEWER_PASSWORD})
    assert right.status_code == 303
    queue = browser.get("/review/")
    assert queue.status_code == 200 and REVIEWER in queue.text
    assert browser.get("/review/static/review.js").status_code == 200


def test_model_calls_are_recorded_as_a_trace_the_simulator_replays(client, server, page_png, tmp_path):
    """``GET /metrics/trace`` and ``docfields autoscale trace --from-service``: what was served, replayable."""
    from typer.testing import CliRunner

    from docfields.autoscale import read_trace, simulate
    from docfields.autoscale.policies import FixedPolicy
    from docfields.cli import app

    for _ in range(2):
        assert client.post("/thumbnails", content=page_png, headers={"Content-Type": "image/png"}).status_code == 200
    target = tmp_path / "thumbnails.jsonl"
    args = ["autoscale", "trace", "--from-service", server, "--deployment", "thumbnails", "--token", TOKEN]
    result = CliRunner().invoke(app, [*args, "-o", str(target)])
    assert result.exit_code == 0, result.output
    trace = read_trace(str(target))
    assert len(trace) >= 2 and list(trace.arrivals) == sorted(trace.arrivals)
    assert all(service > 0 for service in trace.services)
    assert simulate(trace, FixedPolicy(name="one", replicas=1)).served == len(trace)

    unknown = CliRunner().invoke(app, [*args[:4], "--deployment", "no-such", "--token", TOKEN, "-o", str(target)])
    assert unknown.exit_code == 17 and "no-such" in unknown.output and "thumbnails" in unknown.output
    assert client.get("/metrics/trace", params={"deployment": "no-such"}).status_code == 404
    assert metric(client.get("/metrics").text, "docfields_model_call_seconds_count", deployment="thumbnails") >= 2


def test_async_thumbnails_are_written_to_their_output_location(client, page_png):
    """``POST /async/thumbnails`` answers 202 at once; the run (in a replica, on Ray) writes the npz."""
    reply = client.post("/async/thumbnails", content=page_png, headers={"Content-Type": "image/png"},
                        params={"width": 32, "height": 48})  # fmt: skip
    assert reply.status_code == 202, reply.text
    invocation, output = reply.json()["InvocationId"], reply.json()["OutputLocation"]
    deadline = time.monotonic() + 120
    while (state := client.get(f"/async/{invocation}").json())["State"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["State"] == "succeeded", state
    assert npz_arrays(Path(output).read_bytes())["image"].shape == (48, 32, 3)
    assert client.post("/async/no-such", content=page_png, headers={"Content-Type": "image/png"}).status_code == 404
