"""The one stage seam and the executor protocol (issue 15, items 1 and 2, local half).

The stage table drives the plan, the artifact files and the facts; OCR options reach the engine
and the key; one configuration reader for both file shapes; a document keeps the configuration
it was submitted with; a normalizer service that does not answer is retried, then fails
clearly; the driver gives the same results through the executor protocol, and a call the
executor lost is claimed again.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.annotations import read_class_ids
from docfields.cli.main import app
from docfields.cli.pipeline import ocr_settings
from docfields.errors import OcrError
from docfields.fields import load_field_configuration
from docfields.ner import read_fields
from docfields.ocr.registry import check_engine_options, load_engine
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.pipeline.artifacts import ArtifactStore, artifact_key, bytes_sha256, file_sha256
from docfields.pipeline.executors import InlineExecutor, StageCall, StageOutcome
from docfields.pipeline.settings import DocState, StageState
from docfields.pipeline.stages import STAGES, FieldsStage, OcrStage, StageInput, plan_stages
from docfields.pipeline.store import Store
from docfields.samples import credit_card_fields
from docfields.serve import ServeSettings, create_app
from hardening_support import AsgiClient
from pipeline_support import credit_card_corpus, loopback_server, tiny_tagger

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return credit_card_corpus(tmp_path_factory.mktemp("corpus"), n=2, seed=5)


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> str:
    return tiny_tagger(corpus, tmp_path_factory.mktemp("model"))


def _settings(home: Path, model: str | None, **more: object) -> PipelineSettings:
    given: dict = {"engine": "pdftext", "review_threshold": 0.0, **more}
    return PipelineSettings(home=str(home), model=model, **given)


# -- the stage table -----------------------------------------------------------------------------


def test_the_stage_table_drives_the_plan_the_artifact_files_and_the_facts(tmp_path):
    names = [stage.name for stage in STAGES]
    assert names == ["ocr", "thumbnails", "enrich", "fields"]
    for settings in (_settings(tmp_path, None, thumbnails=False), _settings(tmp_path, "/models/m")):
        plan = plan_stages(settings)
        assert [row.name for row in plan] == names and [row.level for row in plan] == [s.level for s in STAGES]
        expected = [StageState.PENDING if s.runs(settings) else StageState.SKIPPED for s in STAGES]
        assert [row.state for row in plan] == expected
    assert [row.state for row in plan_stages(_settings(tmp_path, None, thumbnails=False))] == [
        "pending", "skipped", "skipped", "skipped"]  # fmt: skip
    store = ArtifactStore(tmp_path)
    for stage in STAGES:
        assert store.path(stage.name, "ab" * 32).name == f"{'ab' * 32}.{stage.extension}"
    ocr_output = json.dumps({"DocumentMetadata": {"Pages": 3}, "Blocks": []}).encode()
    assert OcrStage().facts(ocr_output, _settings(tmp_path, None), "ab" * 32).pages == 3
    result = {"Confidence": 0.2, "Fields": {"Date": {"NumDetections": 0}}}
    facts = FieldsStage().facts(json.dumps(result).encode(), _settings(tmp_path, None, review_threshold=0.5), "ab" * 32)
    assert facts.decision.status == DocState.IN_REVIEW and "Date" in facts.decision.review_reason
    assert facts.pages is None and facts.result == result


def test_states_are_enums_that_keep_the_stored_strings(corpus, tmp_path):
    pipeline = Pipeline(_settings(tmp_path, None))
    doc_id = pipeline.submit(str(corpus / "cc-0000.pdf"))
    pipeline.run_until_idle()
    status = pipeline.status(doc_id)
    assert status.status is DocState.DONE and status.stages[0].state is StageState.DONE
    assert json.loads(status.model_dump_json())["status"] == "done"
    rows = Store(tmp_path / "docfields.db")._query("SELECT status FROM documents")  # the stored strings
    assert [row["status"] for row in rows] == ["done"]


# -- OCR options ---------------------------------------------------------------------------------


def _ocr_key(home: Path, sha256: str, engine: str, options: dict) -> str:
    settings = PipelineSettings(home=str(home), engine=engine, engine_options=options)
    return OcrStage().key(StageInput("a.pdf", "/nowhere/a.pdf", sha256, settings, ArtifactStore(home)))


def test_the_ocr_key_holds_the_engine_options_and_model_version(tmp_path):
    sha = "0" * 64
    eng = _ocr_key(tmp_path, sha, "tesseract", {"languages": ["eng"]})
    assert eng == _ocr_key(tmp_path, sha, "tesseract", {})  # the defaults, spelled or not
    assert eng == _ocr_key(tmp_path, sha, "tesseract", {"languages": ["eng"], "dpi": 300})
    assert eng != _ocr_key(tmp_path, sha, "tesseract", {"languages": ["eng", "tha"]})
    assert eng != _ocr_key(tmp_path, sha, "tesseract", {"dpi": 200})
    options = check_engine_options("tesseract").model_dump_json()
    version = load_engine("tesseract").model_version
    assert version.startswith("docfields-tesseract-")
    assert eng == artifact_key("ocr", sha, "tesseract", options, version)


THAI_FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")  # Debian's fonts-tlwg-garuda-ttf (make setup)
BANK = "ธนาคาร"  # "bank"


def _thai_page(path: Path) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(THAI_FONT), 40)
    page = Image.new("RGB", (1400, 260), "white")
    draw = ImageDraw.Draw(page)
    draw.text((40, 40), f"สัญญาบัตรเครดิต {BANK}", font=font, fill="black")
    draw.text((40, 140), "Credit card agreement 2021", font=font, fill="black")
    page.save(path)
    return path


def test_process_languages_eng_tha_ocrs_a_thai_page(model, tmp_path):
    page = _thai_page(tmp_path / "thai.png")
    texts = {}
    for languages in ("eng", "eng+tha"):
        args = ["process", str(page), "--model", model, "--engine", "tesseract", "--languages", languages,
                "--home", str(tmp_path / "home")]  # fmt: skip
        outcome = CliRunner().invoke(app, args, catch_exceptions=False)
        assert outcome.exit_code == 0, outcome.output
        pipeline = Pipeline(_settings(tmp_path / "home", model))
        [status] = [s for s in pipeline.list() if languages.split("+") == _languages(pipeline, s.id)]
        ocr = json.loads(Path(pipeline.artifact_path(status.id, "ocr")).read_text(encoding="utf-8"))
        texts[languages] = "".join(b["Text"] for b in ocr["Blocks"] if b["BlockType"] == "WORD")
    assert BANK in texts["eng+tha"] and "agreement" in texts["eng+tha"]
    assert not any("\u0e00" <= c <= "\u0e7f" for c in texts["eng"])  # English alone reads no Thai letter
    assert "agreement" in texts["eng"]


def _languages(pipeline: Pipeline, doc_id: str) -> list[str]:
    settings = PipelineSettings.model_validate_json(pipeline.store.record(doc_id)["settings"])
    return settings.engine_options["languages"]


def test_process_languages_eng_tha_reach_tesseract_and_the_ocr_key(corpus, model, tmp_path):
    document = corpus / "cc-0000.pdf"
    args = ["process", str(document), "--model", model, "--engine", "tesseract", "--languages", "eng+tha",
            "--dpi", "150", "--home", str(tmp_path)]  # fmt: skip
    outcome = CliRunner().invoke(app, args, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    pipeline = Pipeline(_settings(tmp_path, model))
    [status] = pipeline.list()
    settings = PipelineSettings.model_validate_json(pipeline.store.record(status.id)["settings"])
    assert (settings.engine, settings.engine_options) == ("tesseract", {"languages": ["eng", "tha"], "dpi": 150})
    key = Path(pipeline.artifact_path(status.id, "ocr")).stem
    assert key == _ocr_key(tmp_path, file_sha256(document), "tesseract", {"languages": ["eng", "tha"], "dpi": 150})
    assert key != _ocr_key(tmp_path, file_sha256(document), "tesseract", {"dpi": 150})
    assert load_engine("tesseract", **settings.engine_options).options.languages == ("eng", "tha")


def test_languages_and_dpi_route_to_the_engine_that_takes_them_and_are_checked_at_once(tmp_path):
    assert ocr_settings("tesseract", "eng+tha", 200) == {
        "engine": "tesseract", "engine_options": {"languages": ["eng", "tha"], "dpi": 200}}  # fmt: skip
    auto = ocr_settings("auto", "eng,tha", None)
    assert auto["engine_options"] == {"fallback_options": {"languages": ["eng", "tha"]}}
    Pipeline(PipelineSettings(home=str(tmp_path / "auto"), **auto))
    with pytest.raises(OcrError, match="pdftext.*languages"):  # a flag the engine has not, refused by name
        Pipeline(PipelineSettings(home=str(tmp_path / "pdftext"), **ocr_settings("pdftext", "eng", None)))


# -- one configuration reader ---------------------------------------------------------------------


def _values(result: dict) -> dict:
    """A result's fields without their block ids (uuid4, new for every OCR run)."""
    return {name: (f.get("Value"), f["NumDetections"], f["Confidence"]) for name, f in result["Fields"].items()}


def test_the_one_reader_takes_both_shapes_in_the_tagger_annotations_fields_and_pipeline(corpus, model, tmp_path):
    entries = credit_card_fields()
    plain, wrapped = tmp_path / "plain.json", tmp_path / "wrapped.json"
    plain.write_text(json.dumps(entries))
    wrapped.write_text(json.dumps({"Fields": entries}))
    assert read_class_ids(str(wrapped)) == read_class_ids(str(plain))
    assert read_fields(str(wrapped)) == read_fields(str(plain)) == entries
    assert load_field_configuration(str(wrapped)) == load_field_configuration(str(plain))
    results = []
    for config in (plain, wrapped):
        pipeline = Pipeline(_settings(tmp_path / config.stem, model, fields=str(config)))
        doc_id = pipeline.submit(str(corpus / "cc-0000.pdf"))
        pipeline.run_until_idle()
        assert pipeline.status(doc_id).status == "done", pipeline.status(doc_id).error
        results.append(_values(pipeline.result(doc_id)))
    assert results[0] == results[1]
    assert set(results[0]) == {entry["Name"] for entry in entries if not entry.get("Ignore")}


def test_a_configuration_replaced_after_submission_does_not_mix_into_the_document(corpus, model, tmp_path):
    config = tmp_path / "fields.json"
    first = credit_card_fields()
    config.write_text(json.dumps(first))
    pipeline = Pipeline(_settings(tmp_path / "home", model, fields=str(config)))
    doc_id = pipeline.submit(str(corpus / "cc-0000.pdf"))
    replaced = [dict(entry, Ignore=True) for entry in first[:5]] + first[5:]
    config.write_text(json.dumps(replaced))  # as PUT /config/fields does, between submission and the run
    pipeline.run_until_idle()
    assert pipeline.status(doc_id).status == "done"
    assert first[0]["Name"] in pipeline.result(doc_id)["Fields"]  # the configuration it was submitted with
    record = pipeline.store.record(doc_id)
    stored = bytes_sha256(json.dumps(first).encode())
    assert PipelineSettings.model_validate_json(record["settings"]).fields_sha256 == stored
    assert record["artifacts"]["fields"] == artifact_key("fields", record["artifacts"]["enrich"], stored)
    later = pipeline.submit(str(corpus / "cc-0000.pdf"))
    pipeline.run_until_idle()
    assert first[0]["Name"] not in pipeline.result(later)["Fields"]


def test_put_config_fields_between_upload_and_run_does_not_mix_configurations(corpus, model, tmp_path):
    first = credit_card_fields()
    pipeline_settings = _settings(tmp_path / "home", model)
    app = create_app(ServeSettings(pipeline=pipeline_settings, workers=0))  # installs the model's configuration
    client = AsgiClient(app)
    pdf = {"content": (corpus / "cc-0000.pdf").read_bytes(), "headers": {"Content-Type": "application/pdf"}}
    before = client.post("/documents", params={"name": "before.pdf"}, **pdf).json()["id"]
    replaced = [dict(entry, Ignore=True) for entry in first[:5]] + first[5:]
    assert client.put("/config/fields", json=replaced).status_code == 200
    after = client.post("/documents", params={"name": "after.pdf"}, **pdf).json()["id"]
    app.state.pipeline.run_until_idle()
    assert first[0]["Name"] in client.get(f"/documents/{before}/result").json()["Fields"]
    assert first[0]["Name"] not in client.get(f"/documents/{after}/result").json()["Fields"]
    keys = [app.state.pipeline.store.record(doc_id)["artifacts"] for doc_id in (before, after)]
    assert keys[0]["enrich"] == keys[1]["enrich"] and keys[0]["fields"] != keys[1]["fields"]


# -- a normalizer service that does not answer -----------------------------------------------------


class _Unavailable(BaseHTTPRequestHandler):
    """Answers 503, or (``hang_up``) closes the connection without an answer; counts the requests."""

    requests = 0
    hang_up = False

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests += 1
        if type(self).hang_up:
            self.close_connection = True
            return
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def _unavailable_service(hang_up: bool) -> Iterator[str]:
    _Unavailable.requests, _Unavailable.hang_up = 0, hang_up
    with loopback_server(_Unavailable) as url:
        yield f"{url}/normalize"


@contextmanager
def _unused_port() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}/normalize"


def _with_service(url: str) -> list[dict]:
    plain = [{key: value for key, value in entry.items() if key != "Normalizer"} for entry in credit_card_fields()]
    return [dict(entry, NormalizerEndpoint=url, NormalizerPrompt="Normalize: ") for entry in plain]


SERVICES = {
    "answers 503": (lambda: _unavailable_service(hang_up=False), "answered HTTP 503"),
    "hangs up": (lambda: _unavailable_service(hang_up=True), "unreachable (RemoteDisconnected)"),
    "unused port": (_unused_port, "unreachable (URLError)"),
}


@pytest.mark.parametrize("kind", SERVICES)
def test_an_unavailable_normalizer_is_retried_then_fails_clearly(corpus, model, tmp_path, kind):
    start, message = SERVICES[kind]
    config = tmp_path / "fields.json"
    settings = _settings(tmp_path / "home", model, fields=str(config), max_attempts=3, retry_base_seconds=0.01)
    with start() as url:
        config.write_text(json.dumps(_with_service(url)))
        pipeline = Pipeline(settings)
        doc_id = pipeline.submit(str(corpus / "cc-0000.pdf"))
        pipeline.run_until_idle()
    status = pipeline.status(doc_id)
    assert status.status == "failed"
    assert status.error.startswith("fields: ") and url in status.error
    assert message in status.error
    fields = [a for a in pipeline.store.attempts(doc_id) if a["stage"] == "fields"]
    assert [a["outcome"] for a in fields] == ["retry", "retry", "failed"]
    assert pipeline.result(doc_id) is None
    assert pipeline.artifact_path(doc_id, "fields") is None  # no degraded result stored as final
    if kind != "unused port":
        assert _Unavailable.requests == 3  # one batched request per attempt


# -- the executor protocol -------------------------------------------------------------------------


def test_the_driver_through_an_executor_gives_the_results_of_local_workers(corpus, model, tmp_path):
    local = Pipeline(_settings(tmp_path / "local", model))
    driven = Pipeline(_settings(tmp_path / "driven", model), executor=InlineExecutor())
    ids = {}
    for pipeline in (local, driven):
        ids[id(pipeline)] = [pipeline.submit(str(path)) for path in sorted(corpus.iterdir())]
        pipeline.run_until_idle(workers=2)  # ignored with an executor: one driver here
    for mine, theirs in zip(ids[id(local)], ids[id(driven)], strict=True):
        assert _values(local.result(mine)) == _values(driven.result(theirs))
        assert local.store.record(mine)["artifacts"] == driven.store.record(theirs)["artifacts"]
        assert [s.attempts for s in driven.status(theirs).stages] == [1, 1, 1, 1]


class _LosesFirstCall:
    """An executor whose first call is lost (a dead Ray task, or a cluster that refused it); the others run inline."""

    slots = 1

    def __init__(self, refuse: bool) -> None:
        self.inline = InlineExecutor()
        self.refuse = refuse
        self.calls: list[StageCall] = []

    def submit(self, call: StageCall) -> Future[StageOutcome]:
        self.calls.append(call)
        if len(self.calls) > 1:
            return self.inline.submit(call)
        if self.refuse:
            raise RuntimeError("cluster gone")
        lost: Future[StageOutcome] = Future()
        lost.set_exception(ConnectionError("worker died"))
        return lost

    def close(self) -> None:
        self.inline.close()


@pytest.mark.parametrize("refuse", [False, True], ids=["future raises", "submit raises"])
def test_a_call_the_executor_lost_is_claimed_again_and_completed_once(corpus, tmp_path, refuse):
    executor = _LosesFirstCall(refuse)
    pipeline = Pipeline(_settings(tmp_path, None, retry_base_seconds=0.01), executor=executor)
    doc_id = pipeline.submit(str(corpus / "cc-0000.pdf"))
    pipeline.run_until_idle()
    assert pipeline.status(doc_id).status == "done"
    first = executor.calls[0]
    attempts = [a for a in pipeline.store.attempts(doc_id) if a["stage"] == first.stage]
    assert [a["outcome"] for a in attempts] == ["retry", "done"]
    assert "the executor lost the stage" in attempts[0]["error"]
    assert ("cluster gone" if refuse else "worker died") in attempts[0]["error"]
    assert [c.stage for c in executor.calls].count(first.stage) == 2
    assert first.key == Path(pipeline.artifact_path(doc_id, first.stage)).stem
