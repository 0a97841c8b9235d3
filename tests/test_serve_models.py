"""The service's parts without a tagger: the model cache (lazy loads, idle unloads, one user at a
time), settings and field installation, content negotiation, error statuses, and an app served
by real uvicorn in a thread; plus the CLI's start (no FastAPI at ``docfields --help``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi import HTTPException
from pydantic import ValidationError

from docfields.cli.serve import parse_model_option
from docfields.errors import DocumentError, DocumentLimitError, FieldConfigError, ModelError, UnknownDocumentError
from docfields.pipeline import PipelineSettings
from docfields.serve import ModelCache, ServeSettings, create_app, error_status, prepare_settings
from docfields.serve.routers.thumbnails import choose_media_type
from serve_server import serve_app


class Model:
    """Something to load: records whether it was closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_model_loads_once_and_is_reused():
    cache, built = ModelCache(idle_seconds=60), []

    def load() -> Model:
        built.append(Model("a"))
        return built[-1]

    with cache.use("tagger", "a", load) as first:
        pass
    with cache.use("tagger", "a", load) as second:
        assert [m.kind + "/" + m.name for m in cache.loaded()] == ["tagger/a"] and cache.loaded()[0].in_use
    assert first is second and len(built) == 1 and cache.loads[("tagger", "a")] == 1


def test_idle_models_are_unloaded_by_the_background_thread_and_closed():
    cache = ModelCache(idle_seconds=0.2)
    cache.start()
    try:
        with cache.use("ocr", "tesseract", lambda: Model("t"), Model.close) as model:
            pass
        assert cache.loaded()
        assert wait_until(lambda: not cache.loaded())
        assert model.closed and cache.unloads[("ocr", "tesseract")] == 1
        with cache.use("ocr", "tesseract", lambda: Model("t2"), Model.close) as again:
            assert again is not model  # loaded anew on the next use
        assert cache.loads[("ocr", "tesseract")] == 2
    finally:
        cache.close()
    assert again.closed and not cache.loaded()


def test_a_model_in_use_is_not_unloaded_however_long_the_request():
    cache = ModelCache(idle_seconds=0.05)
    cache.start()
    try:
        with cache.use("tagger", "busy", lambda: Model("b"), Model.close) as model:
            time.sleep(0.4)
            assert not model.closed and cache.loaded()[0].in_use
        assert wait_until(lambda: model.closed)
    finally:
        cache.close()


def test_zero_idle_seconds_keeps_models_until_close():
    cache = ModelCache(idle_seconds=0)
    cache.start()
    with cache.use("tagger", "kept", lambda: Model("k"), Model.close) as model:
        pass
    time.sleep(0.1)
    assert cache.unload_idle() == [] and not model.closed
    cache.close()
    assert model.closed and cache.unloads[("tagger", "kept")] == 1


def test_a_failed_load_leaves_nothing_and_the_next_use_retries():
    cache, attempts = ModelCache(idle_seconds=60), []

    def load() -> Model:
        attempts.append(1)
        if len(attempts) == 1:
            raise ModelError("models/x: not a docfields tagger directory (no config.json)")
        return Model("x")

    with pytest.raises(ModelError), cache.use("tagger", "x", load):
        pass
    assert cache.loaded() == [] and cache.loads[("tagger", "x")] == 0
    with cache.use("tagger", "x", load) as model:
        assert model.name == "x"
    assert len(attempts) == 2


def test_concurrent_requests_load_once_and_take_turns():
    cache, loads, active, overlaps = ModelCache(idle_seconds=60), [], [], []

    def load() -> Model:
        loads.append(1)
        time.sleep(0.1)
        return Model("shared")

    def request() -> None:
        with cache.use("tagger", "shared", load):
            active.append(1)
            overlaps.append(len(active))
            time.sleep(0.02)
            active.pop()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and max(overlaps) == 1 and len(overlaps) == 6


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [(None, "application/x-npz"), ("*/*", "application/x-npz"), ("image/jpg", "image/jpeg"),
     ("text/html, image/png;q=0.9", "image/png"), ("application/x-npz", "application/x-npz")],
)  # fmt: skip
def test_accept_header_picks_the_first_type_we_make(accept, chosen):
    assert choose_media_type(accept) == chosen


def test_accept_header_without_a_type_we_make_is_406():
    with pytest.raises(HTTPException) as refused:
        choose_media_type("text/html")
    assert refused.value.status_code == 406 and "application/x-npz" in refused.value.detail


def test_errors_map_to_statuses():
    assert error_status(DocumentError("a.pdf", "corrupt PDF")) == 422
    assert error_status(DocumentLimitError("a.pdf", "too many pages")) == 413
    assert error_status(UnknownDocumentError("no document with id 'x'")) == 404
    assert error_status(ModelError("models/x: broken")) == 503
    assert error_status(FieldConfigError("<fields>", "bad", "'A' (index 0)", "Select")) == 422


def test_model_options_and_settings_are_checked():
    assert parse_model_option("cards=models/cards") == ("cards", "models/cards")
    assert parse_model_option("models/receipts/") == ("receipts", "models/receipts/")
    with pytest.raises(ValidationError, match="model name"):
        ServeSettings(models={"../etc": "models/x"})
    with pytest.raises(ValidationError, match="extra"):
        ServeSettings(port=8000)


def model_dir(tmp_path, class_ids: list[int]):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "fields.json").write_text(json.dumps([{"ClassId": i, "Name": f"Field {i}"} for i in class_ids]))
    return folder


def test_the_models_field_configuration_is_installed_in_home(tmp_path):
    model = model_dir(tmp_path, [0, 1, 2])
    settings = ServeSettings(pipeline=PipelineSettings(home=str(tmp_path / "home"), model=str(model)))
    prepared = prepare_settings(settings)
    stored = json.loads((tmp_path / "home" / "fields.json").read_text())
    assert [entry["Name"] for entry in stored] == ["Field 0", "Field 1", "Field 2"]
    assert prepared.pipeline.fields == settings.fields_path

    explicit = tmp_path / "fields.json"
    explicit.write_text(json.dumps([{"ClassId": 1, "Name": "Total"}]))
    prepare_settings(settings.model_copy(update={"fields": str(explicit)}))
    prepare_settings(settings)  # a restart without --fields keeps the stored configuration
    assert json.loads((tmp_path / "home" / "fields.json").read_text()) == [{"ClassId": 1, "Name": "Total"}]


def test_a_stored_configuration_that_does_not_fit_the_model_fails_at_start(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "fields.json").write_text(json.dumps([{"ClassId": 7, "Name": "Old"}]))
    model = model_dir(tmp_path, [0, 1])
    settings = ServeSettings(pipeline=PipelineSettings(home=str(tmp_path / "home"), model=str(model)))
    with pytest.raises(FieldConfigError) as error:
        prepare_settings(settings)
    assert (error.value.field, error.value.key) == ("'Old' (index 0)", "ClassId")


def test_an_app_without_token_or_workers_queues_uploads_and_documents_itself(tmp_path, shared_data):
    settings = ServeSettings(pipeline=PipelineSettings(home=str(tmp_path / "home"), engine="pdftext"), workers=0)
    app = create_app(settings)
    pdf = (shared_data / "pdfs" / "f1040nr.pdf").read_bytes()
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        docs = client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = client.get("/openapi.json").json()
        operations = [op for path in spec["paths"].values() for op in path.values()]
        assert len(operations) >= 12 and all(op.get("summary") for op in operations)
        assert "application/pdf" in spec["paths"]["/documents"]["post"]["requestBody"]["content"]
        submitted = client.post("/documents", content=pdf, headers={"Content-Type": "application/pdf"})
        assert submitted.status_code == 202 and submitted.json()["status"] == "queued"
        assert client.get(f"/documents/{submitted.json()['id']}/result").status_code == 409
        queued = client.get("/documents", params={"status": "queued"}).json()
        assert [d["id"] for d in queued] == [submitted.json()["id"]]
        assert client.get("/documents", params={"status": "queued-ish"}).status_code == 422
        assert 'docfields_documents{status="queued"} 1.0' in client.get("/metrics").text
        assert client.get("/config/fields").status_code == 404  # no model, no configuration yet
    assert app.state.pipeline.status(submitted.json()["id"]).status == "queued"  # nobody worked on it


def test_cli_start_imports_no_web_framework():
    code = (
        "import sys, docfields.cli; print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_cli_serve_fails_clearly_on_a_missing_model(tmp_path):
    command = [sys.executable, "-m", "docfields.cli", "serve", "--home", str(tmp_path / "home"),
               "--model", f"cards={tmp_path / 'nowhere'}", "--port", "0"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == ModelError.exit_code
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr
