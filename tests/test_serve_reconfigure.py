"""Runtime reconfiguration (issue 16, item 3): ``/config/pipeline``, ``docfields config``, named normalizer
endpoints and ``fields export --format original``.

The service runs for real (uvicorn on 127.0.0.1, in a thread of this process so a test can drive its
pipeline's queue), with two small taggers built on the spot; the pipeline's workers are off
(``workers=0``) and the test runs the queue itself, so the order of submissions and changes is the
test's, never a timing.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from docfields.errors import FieldConfigError
from docfields.fields import ExtractionResult
from docfields.fields.config import (
    export_original,
    load_field_configuration,
    parse_field_configuration,
    resolve_endpoint_names,
)
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.samples import credit_card_fields
from pipeline_support import credit_card_corpus, loopback_server, tiny_tagger
from serve_server import serve_app

TOKEN = "reconfigure-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROMPT = "Convert dates to YYYY-MM-DD: "

# The original's FieldConfiguration constructor arguments, PascalCase (aws-samples/
# amazon-textract-transformer-pipeline, pipeline/postprocessing/fn-postprocess/util/config.py at
# 8b12404dc56580dbe74e1c31b153c9c67aabbdc1; its from_dict passes every key to the constructor, so
# any other key is a TypeError there).
ORIGINAL_KEYS = {"ClassId", "Name", "Ignore", "Optional", "Select", "AnnotationGuidance", "NormalizerEndpoint",
                 "NormalizerPrompt"}  # fmt: skip
ORIGINAL_SELECT = {"confidence", "first", "last", "longest", "shortest"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "docfields.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=120)  # fmt: skip


def with_endpoint(name: str) -> list[dict]:
    """The credit card configuration with every field normalized by the endpoint ``name`` (as the original's)."""
    plain = [{key: value for key, value in entry.items() if key != "Normalizer"} for entry in credit_card_fields()]
    return [dict(entry, NormalizerEndpoint=name, NormalizerPrompt=PROMPT) for entry in plain]


# -- named normalizer endpoints ------------------------------------------------------------------


def test_a_registered_endpoint_name_loads_and_resolves_to_its_target():
    config = parse_field_configuration(with_endpoint("date-norm-endpoint"),
                                       endpoints={"date-norm-endpoint": "http://127.0.0.1:9/n"})  # fmt: skip
    assert config.fields[0].normalizer_endpoint == "date-norm-endpoint"  # the name stays in the configuration
    resolved = resolve_endpoint_names(config, {"date-norm-endpoint": "http://127.0.0.1:9/n"})
    assert {spec.normalizer_endpoint for spec in resolved.fields} == {"http://127.0.0.1:9/n"}


def test_an_unknown_endpoint_name_names_the_field_the_key_and_the_known_names():
    with pytest.raises(FieldConfigError) as caught:
        parse_field_configuration(with_endpoint("date-norm-endpoint"), source="cfg.json",
                                  endpoints={"other-endpoint": "http://127.0.0.1:9/n", "b-endpoint": "/m"})  # fmt: skip
    error = caught.value
    assert (error.field, error.key) == ("'Agreement Effective Date' (index 0)", "NormalizerEndpoint")
    assert "'date-norm-endpoint' is not a registered normalizer endpoint name (known: b-endpoint, other-endpoint)" in (
        str(error))  # fmt: skip


def test_fields_check_loads_the_originals_configuration_with_its_endpoint_names(tmp_path):
    path = tmp_path / "original.json"
    path.write_text(json.dumps(with_endpoint("date-norm-endpoint")))
    refused = run_cli("fields", "check", str(path))
    assert refused.returncode == FieldConfigError.exit_code
    assert "NormalizerEndpoint: 'date-norm-endpoint' is not a registered normalizer endpoint name (known: none)" in (
        refused.stderr)  # fmt: skip
    checked = run_cli("fields", "check", str(path), "--normalizer-endpoint", "date-norm-endpoint=http://127.0.0.1:9/n")
    assert checked.returncode == 0, checked.stderr
    assert "19 fields" in checked.stdout and "date-norm-endpoint" in checked.stdout


def test_the_service_resolves_endpoints_to_allowed_urls_and_normalizer_deployments(tmp_path):
    from docfields.serve import ServeSettings

    settings = ServeSettings(normalizer_urls=["http://127.0.0.1:9000/"], normalizer_models={"dates": str(tmp_path)},
                             normalizer_endpoints={"url-endpoint": "http://127.0.0.1:9000/normalize",
                                                   "model-endpoint": "normalizer-dates"})  # fmt: skip
    assert settings.pipeline.normalizer_endpoints == {"url-endpoint": "http://127.0.0.1:9000/normalize",
                                                      "model-endpoint": str(tmp_path)}  # fmt: skip
    with pytest.raises(ValidationError, match="url-endpoint: http://127.0.0.1:9001/n is not inside the allowed"):
        ServeSettings(normalizer_urls=["http://127.0.0.1:9000/"],
                      normalizer_endpoints={"url-endpoint": "http://127.0.0.1:9001/n"})  # fmt: skip
    with pytest.raises(ValidationError, match=r"'normalizer-other' is neither .* \(deployments: normalizer-dates;"):
        ServeSettings(normalizer_models={"dates": str(tmp_path)}, normalizer_endpoints={"e": "normalizer-other"})


# -- export to the original's format ---------------------------------------------------------------


def test_export_writes_exactly_the_originals_keys_and_warns_for_what_it_cannot_say(tmp_path, caplog):
    entries = credit_card_fields()
    entries[1] = {key: value for key, value in entries[1].items() if key != "Normalizer"}  # its rule: percent
    entries[1] |= {"NormalizerEndpoint": "date-norm-endpoint", "NormalizerPrompt": PROMPT}
    config = parse_field_configuration(entries, endpoints={"date-norm-endpoint": "http://127.0.0.1:9/n"})
    rules = [spec.name for spec in config.fields if spec.normalizer]
    assert rules, "the sample configuration has Normalizer rules to drop"
    out = tmp_path / "original.json"
    with caplog.at_level(logging.WARNING, logger="docfields"):
        export_original(config, str(out))
    written = json.loads(out.read_text())
    assert [entry["ClassId"] for entry in written] == [spec.class_id for spec in config.fields]
    for entry in written:
        assert set(entry) <= ORIGINAL_KEYS, entry
        assert bool(entry.get("NormalizerEndpoint")) == bool(entry.get("NormalizerPrompt"))  # the original's xor rule
        assert entry.get("Select") is None or entry["Select"].lower() in ORIGINAL_SELECT
    assert written[1]["NormalizerEndpoint"] == "date-norm-endpoint" and written[1]["NormalizerPrompt"] == PROMPT
    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert all(any(repr(name) in message for message in warned) for name in rules)
    assert not any(repr(config.fields[1].name) in message for message in warned)
    assert list(tmp_path.iterdir()) == [out]  # written atomically: no temporary file left


def test_fields_export_command_writes_the_original_format(tmp_path):
    source = tmp_path / "fields.json"
    source.write_text(json.dumps(credit_card_fields()))
    result = run_cli("fields", "export", "--format", "original", str(source), str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    assert len(written) == 19 and all(set(entry) <= ORIGINAL_KEYS for entry in written)
    logged = " ".join(result.stdout.split())  # the CLI's log handler writes to the console, wrapped
    assert "WARNING field 'Agreement Effective Date': its normalizer 'date:YYYY-MM-DD;order=MDY' cannot be" in logged


# -- the service: /config/pipeline -----------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return credit_card_corpus(tmp_path_factory.mktemp("corpus"), n=2, seed=7)


@pytest.fixture(scope="module")
def taggers(corpus, tmp_path_factory) -> dict[str, str]:
    """Two taggers of the same classes: ``cards`` and ``cards-v2`` (another seed, other weights)."""
    from docfields.ner import build_tagger
    from docfields.ocr import ocr_document
    from docfields.textract import iter_words

    first = tiny_tagger(corpus, tmp_path_factory.mktemp("cards"))
    texts = [word.text for path in sorted(corpus.iterdir())
             for word in iter_words(ocr_document(str(path), engine="pdftext"))]  # fmt: skip
    second = build_tagger("layoutlm-tiny", credit_card_fields(), texts, seed=1, vocab_size=500)
    return {"cards": first, "cards-v2": str(second.save(tmp_path_factory.mktemp("cards-v2") / "tagger"))}


def service_settings(home: Path, taggers: dict[str, str], **more: object):
    from docfields.serve import ServeSettings

    pipeline = PipelineSettings(home=str(home), model=taggers["cards"], engine="pdftext", review_threshold=0.0)
    return ServeSettings(pipeline=pipeline, workers=0, api_token=TOKEN, models=taggers, **more)


@contextmanager
def service(settings) -> Iterator[tuple[str, Pipeline]]:
    from docfields.serve import create_app

    app = create_app(settings)
    with serve_app(app) as url:
        yield url, app.state.pipeline


def upload(url: str, path: Path) -> str:
    reply = httpx.post(f"{url}/documents", content=path.read_bytes(), timeout=30,
                       headers={**AUTH, "Content-Type": "application/pdf"}, params={"name": path.name})  # fmt: skip
    assert reply.status_code in (200, 201, 202), reply.text
    return reply.json()["id"]


def stored_settings(pipeline: Pipeline, doc_id: str) -> PipelineSettings:
    return PipelineSettings.model_validate_json(pipeline.store.record(doc_id)["settings"])


@pytest.mark.slow
def test_reconfiguration_switches_the_tagger_between_two_documents(corpus, taggers, tmp_path):
    first, second = sorted(corpus.iterdir())
    with service(service_settings(tmp_path / "home", taggers)) as (url, pipeline):
        assert httpx.get(f"{url}/config/pipeline", headers=AUTH).json()["tagger"] == "cards"
        before = upload(url, first)  # queued, not started: the change below must not reach it
        reply = httpx.put(f"{url}/config/pipeline", json={"tagger": "cards-v2", "review_threshold": 0.25},
                          headers=AUTH)  # fmt: skip
        assert reply.status_code == 200, reply.text
        view = reply.json()
        assert (view["tagger"], view["review_threshold"]) == ("cards-v2", 0.25)
        assert view["deployments"]["tagger"] == "tagger-cards-v2" and "model" not in view  # no server path
        after = upload(url, second)
        pipeline.run_until_idle()
        results = {doc: pipeline.result(doc) for doc in (before, after)}  # done, or in review (threshold 0.25)
    assert stored_settings(pipeline, before).model == taggers["cards"]
    assert stored_settings(pipeline, after).model == taggers["cards-v2"]
    assert stored_settings(pipeline, after).review_threshold == 0.25
    assert results[before]["Producer"] == {"Tagger": "cards", "Engine": "pdftext", "EngineOptions": {}}
    assert results[after]["Producer"] == {"Tagger": "cards-v2", "Engine": "pdftext", "EngineOptions": {}}
    assert ExtractionResult.from_json_dict(results[after]).to_json_dict()["Producer"] == results[after]["Producer"]
    older = {key: value for key, value in results[after].items() if key != "Producer"}  # as results before it
    assert ExtractionResult.from_json_dict(older).producer is None


@pytest.mark.slow
def test_ocr_without_an_engine_uses_the_pipelines_current_engine(corpus, taggers, tmp_path):
    """``/ocr`` follows ``PUT /config/pipeline``: the recorded calls name the engine's deployment."""
    pdf = sorted(corpus.iterdir())[0].read_bytes()
    with service(service_settings(tmp_path / "home", taggers)) as (url, _):
        ocr = {"content": pdf, "headers": {**AUTH, "Content-Type": "application/pdf"}, "timeout": 120}
        assert httpx.post(f"{url}/ocr", **ocr).status_code == 200
        reply = httpx.put(f"{url}/config/pipeline", json={"engine": "tesseract", "engine_options": {"dpi": 100}},
                          headers=AUTH)  # fmt: skip
        assert reply.status_code == 200, reply.text
        assert httpx.post(f"{url}/ocr", **ocr).status_code == 200

        def calls(deployment: str) -> int:
            reply = httpx.get(f"{url}/metrics/trace", params={"deployment": deployment}, headers=AUTH)
            return len(reply.text.splitlines()) - 1 if reply.status_code == 200 else 0  # the first line: window

        assert (calls("ocr-pdftext"), calls("ocr-tesseract")) == (1, 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"tagger": "/etc"}, "tagger"),  # a client never names a server folder
        ({"tagger": "no-such-model"}, "tagger"),
        ({"review_threshold": 1.5}, "review_threshold"),
        ({"engine": "no-such-engine"}, "engine"),
        ({"engine": "tesseract", "engine_options": {"dpi": "high"}}, "engine_options"),
        ({"taggr": "cards"}, "taggr"),
        ({"thumbnails": "sometimes"}, "thumbnails"),
    ],
)
def test_a_bad_change_is_a_422_naming_the_key_and_changes_nothing(taggers, tmp_path, change, key):
    with service(service_settings(tmp_path / "home", taggers)) as (url, pipeline):
        before = httpx.get(f"{url}/config/pipeline", headers=AUTH).json()
        reply = httpx.put(f"{url}/config/pipeline", json=change, headers=AUTH)
        after = httpx.get(f"{url}/config/pipeline", headers=AUTH).json()
    assert reply.status_code == 422, reply.text
    assert f": {key}: " in reply.json()["detail"]
    assert after == before
    assert not (tmp_path / "home" / "pipeline.json").exists()


@pytest.mark.slow
def test_config_set_against_a_running_service_and_a_restart_keeps_it(taggers, tmp_path):
    settings = service_settings(tmp_path / "home", taggers)
    env = {"DOCFIELDS_API_TOKEN": TOKEN}
    with service(settings) as (url, _):
        result = run_cli("config", "set", "--url", url, "--tagger", "cards-v2", "--review-threshold", "0.7",
                         "--review-target", '{"Card Name": 0.99}', "--audit-rate", "0.1", env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["tagger"] == "cards-v2"
        refused = run_cli("config", "set", "--url", url, "--tagger", "nope", env=env)
        assert refused.returncode == 18
        assert "tagger: 'nope' is not a tagger of this service (taggers: cards, cards-v2" in refused.stderr
        unauthorized = run_cli("config", "show", "--url", url, env={"DOCFIELDS_API_TOKEN": ""})
        assert unauthorized.returncode == 18 and "HTTP 401" in unauthorized.stderr
    stored = json.loads((tmp_path / "home" / "pipeline.json").read_text())
    assert (stored["tagger"], stored["review_threshold"]) == ("cards-v2", 0.7)
    assert (stored["review_target"], stored["audit_rate"]) == ({"Card Name": 0.99}, 0.1)
    with service(settings) as (url, pipeline):  # the restart: same start options, the change kept
        shown = run_cli("config", "show", "--url", url, "--token", TOKEN)
        assert pipeline.settings.model == taggers["cards-v2"]
    assert shown.returncode == 0, shown.stderr
    assert (json.loads(shown.stdout)["tagger"], json.loads(shown.stdout)["review_threshold"]) == ("cards-v2", 0.7)
    assert pipeline.settings.review_target == {"Card Name": 0.99} and json.loads(shown.stdout)["audit_rate"] == 0.1


# -- a named endpoint in the service's pipeline ------------------------------------------------------


class _Normalizer(BaseHTTPRequestHandler):
    """A normalizer service on loopback: answers each input with ``NORMALIZED``, records the inputs."""

    inputs: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"]
        type(self).inputs.extend(batch)
        body = json.dumps({"generated_text": ["NORMALIZED"] * len(batch)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def normalizer_service() -> Iterator[str]:
    _Normalizer.inputs = []
    with loopback_server(_Normalizer) as url:
        yield url


@pytest.mark.slow
def test_a_named_endpoint_calls_the_url_registered_under_its_name(corpus, taggers, tmp_path):
    fields = tmp_path / "original.json"
    fields.write_text(json.dumps(with_endpoint("date-norm-endpoint")))
    with normalizer_service() as base:
        settings = service_settings(tmp_path / "home", taggers, fields=str(fields), normalizer_urls=[f"{base}/"],
                                    normalizer_endpoints={"date-norm-endpoint": f"{base}/normalize"})  # fmt: skip
        with service(settings) as (url, pipeline):
            installed = httpx.get(f"{url}/config/fields", headers=AUTH).json()
            doc = upload(url, sorted(corpus.iterdir())[0])
            pipeline.run_until_idle()
            result = httpx.get(f"{url}/documents/{doc}/result", headers=AUTH).json()
    assert {entry["NormalizerEndpoint"] for entry in installed} == {"date-norm-endpoint"}  # kept as the name
    assert _Normalizer.inputs and all(text.startswith(PROMPT) for text in _Normalizer.inputs)
    values = [value for field in result["Fields"].values() for value in [field, *field.get("Values", [])]]
    detections = [detection for value in values for detection in value.get("Detections", [])]
    assert detections and all(d["Text"] == "NORMALIZED" and "RawText" in d for d in detections)
    assert load_field_configuration(str(fields), {"date-norm-endpoint": "x"}).fields[0].normalizer_prompt == PROMPT


@pytest.mark.slow
def test_fields_extract_resolves_a_named_endpoint_and_a_model_trained_on_it_serves(corpus, taggers, tmp_path):
    """``fields extract --normalizer-endpoint`` calls the name's URL; a tagger whose fields.json holds endpoint
    names (trained on the original's configuration) passes the service's ClassId check."""
    from typer.testing import CliRunner

    from docfields.cli import app
    from docfields.ner import enrich
    from docfields.ner.model import Tagger
    from docfields.ocr import ocr_document
    from docfields.serve.routers.config import check_against_model
    from docfields.textract import write_textract

    fields = tmp_path / "original.json"
    fields.write_text(json.dumps(with_endpoint("date-norm-endpoint")))
    enriched = tmp_path / "doc.enriched.json"
    document = ocr_document(str(sorted(corpus.iterdir())[0]), engine="pdftext")
    write_textract(enrich(document, Tagger.load(taggers["cards"])), str(enriched))
    args = ["fields", "extract", str(enriched), "--fields", str(fields), "-o", str(tmp_path / "out")]
    unknown = CliRunner().invoke(app, args)
    assert unknown.exit_code != 0 and "date-norm-endpoint" in unknown.output
    with normalizer_service() as base:
        result = CliRunner().invoke(app, [*args, "--normalizer-endpoint", f"date-norm-endpoint={base}/normalize"])
    assert result.exit_code == 0, result.output
    assert _Normalizer.inputs and all(text.startswith(PROMPT) for text in _Normalizer.inputs)
    assert "NORMALIZED" in (tmp_path / "out" / "doc.enriched.result.json").read_text()

    model = tmp_path / "model"
    model.mkdir()
    (model / "fields.json").write_text(fields.read_text())  # as `train ner` on that configuration stores it
    check_against_model(load_field_configuration(str(fields), {"date-norm-endpoint": "x"}), str(model), "fields")
