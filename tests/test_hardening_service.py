"""Regression tests of issue 14 for the service and the review desk: what a hostile client broke.

- SSRF: ``PUT /config/fields`` naming a normalizer URL made the server POST there and copy the
  answer into the result's ``Warnings``; ``/normalize?normalizer=<path>`` told which server paths
  exist. Now URLs must be on the operator's allow-list (API and pipeline worker both check),
  remote text never reaches a message, and clients name only rules and exposed models.
- ``/models/{name}/invocations`` answered 500 for NaN or 1e308 geometry and 200 for boxes
  outside the page or dangling CHILD ids; enrichment values out of range changed confidences.
- The review desk: a cookie kept working after logout; one address could lock out everyone
  behind the same proxy.

Everything runs in-process (httpx ``ASGITransport``) against real parts: a real HTTP server on
127.0.0.1 that records whether it was called, a real (untrained) tagger, a real SQLite store.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from docfields.errors import TextractFormatError
from docfields.fields import extract_fields, parse_field_configuration
from docfields.normalize.registry import exposed_normalizer_spec, resolve_normalizer, url_allowed
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.review.auth import SESSION_COOKIE
from docfields.review.settings import ReviewSettings
from docfields.review.web import mount_review
from docfields.serve import ServeSettings, create_app
from docfields.textract import parse_textract, read_textract, textract_to_dict
from hardening_support import AsgiClient, enriched, ocr_document, recording_server, word_index
from hardening_support import tagger_service as serve_tiny_tagger
from review_support import PASSWORDS, hidden_value, review_settings_dict

SECRET = "internal-admin-secret-4711"  # what a service behind the server would answer


def service(tmp_path, **options) -> AsgiClient:
    """The app without workers, in-process."""
    home = str(tmp_path / "home")
    return AsgiClient(create_app(ServeSettings(pipeline=PipelineSettings(home=home), workers=0, **options)))


def date_field(**normalizer: str) -> list[dict[str, object]]:
    date = {"ClassId": 1, "Name": "Date", "Select": "first", **normalizer}
    return [{"ClassId": 0, "Name": "Other", "Ignore": True}, date]


# -- 6. SSRF ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("normalizer", "key"),
    [
        ({"Normalizer": "{url}/normalize"}, "Normalizer"),
        ({"NormalizerEndpoint": "{url}/normalize", "NormalizerPrompt": "date: "}, "NormalizerEndpoint"),
        ({"Normalizer": "date:YYYY-MM-DD;model={url}/normalize"}, "Normalizer"),
    ],
)
def test_config_naming_a_url_off_the_allow_list_is_refused_and_the_url_never_called(tmp_path, normalizer, key):
    with recording_server(body={"generated_text": [SECRET]}) as remote:
        configured = {k: v.format(url=remote.url) for k, v in normalizer.items()}
        with service(tmp_path, normalizer_urls=["http://127.0.0.1:1/normalize"]) as client:
            refused = client.put("/config/fields", json=date_field(**configured))
            assert refused.status_code == 422, refused.text
            assert (refused.json()["field"], refused.json()["key"]) == ("'Date' (index 1)", key)
            assert "--normalizer-url" in refused.json()["detail"]
            assert client.get("/config/fields").status_code == 404  # nothing was installed
    assert remote.calls == []


def test_config_naming_an_allowed_url_is_accepted(tmp_path):
    with recording_server() as remote, service(tmp_path, normalizer_urls=[f"{remote.url}/v1/"]) as client:
        accepted = client.put("/config/fields", json=date_field(Normalizer=f"{remote.url}/v1/normalize"))
        assert accepted.status_code == 200, accepted.text
        lookalike = client.put("/config/fields", json=date_field(Normalizer=f"{remote.url}/v1/../admin"))
        assert lookalike.status_code == 422 and lookalike.json()["key"] == "Normalizer"
    assert remote.calls == []  # accepting a configuration calls nothing


def test_url_allow_list_compares_scheme_host_port_and_path_segments():
    prefixes = ["http://normalizer:8080/api"]
    assert url_allowed("http://normalizer:8080/api/normalize", prefixes)
    assert url_allowed("http://NORMALIZER:8080/api", prefixes)
    for url in ("http://normalizer:8080/apix", "http://normalizer:8081/api/n", "https://normalizer:8080/api/n",
                "http://normalizer:8080.evil/api/n", "http://normalizer:8080@evil/api/n", "http://evil/api/n",
                "http://normalizer:8080/api/%2e%2e/admin", "http://normalizer:8080/api/n\r\nX: 1"):  # fmt: skip
        assert not url_allowed(url, prefixes), url
    assert not url_allowed("http://127.0.0.1/normalize", [])


def test_the_fields_stage_never_calls_a_url_off_the_allow_list_even_from_a_config_on_disk():
    with recording_server(body={"generated_text": [SECRET]}) as remote:
        config = parse_field_configuration(date_field(Normalizer=f"{remote.url}/normalize"))
        document = parse_textract(enriched({"03/04/2021": 1}))
        result = extract_fields(document, config, allowed_urls=[])
    assert remote.calls == []
    date = result.fields["Date"]
    assert date.detections[0].text == "03/04/2021"  # the raw text, kept
    assert any("not an allowed normalizer URL" in warning for warning in result.warnings or [])


def test_a_service_setting_carries_its_allow_list_to_the_pipeline_workers(tmp_path):
    settings = ServeSettings(pipeline=PipelineSettings(home=str(tmp_path)), normalizer_urls=["http://127.0.0.1:9/"])
    assert settings.pipeline.normalizer_urls == ["http://127.0.0.1:9/"]
    assert ServeSettings(pipeline=PipelineSettings(home=str(tmp_path))).pipeline.normalizer_urls == []
    with pytest.raises(ValidationError, match="normalizer URL prefix"):
        ServeSettings(normalizer_urls=["file:///etc/"])


def test_a_stored_configuration_naming_a_url_off_the_allow_list_fails_at_start(tmp_path):
    from docfields.errors import FieldConfigError

    (tmp_path / "home").mkdir()
    config = date_field(Normalizer="http://127.0.0.1:9/normalize")
    (tmp_path / "home" / "fields.json").write_text(json.dumps(config))
    with pytest.raises(FieldConfigError) as error:
        create_app(ServeSettings(pipeline=PipelineSettings(home=str(tmp_path / "home")), workers=0))
    assert (error.value.field, error.value.key) == ("'Date' (index 1)", "Normalizer")


@pytest.mark.parametrize(
    ("status", "headers"),
    [(500, {}), (200, {}), (302, {"Location": "{other}/steal"})],
    ids=["error", "bad-shape", "redirect"],
)
def test_a_normalizer_services_answer_never_reaches_the_warnings_nor_a_redirect_target(status, headers):
    with recording_server(body={"generated_text": [SECRET]}) as other:
        answer = {"detail": SECRET} if status != 302 else {}
        located = {k: v.format(other=other.url) for k, v in headers.items()}
        with recording_server(status=status, body=answer, headers=located) as remote:
            config = parse_field_configuration(date_field(Normalizer=f"{remote.url}/normalize"))
            result = extract_fields(parse_textract(enriched({"03/04/2021": 1})), config, allowed_urls=[remote.url])
    assert remote.calls == [("POST", "/normalize")] and other.calls == []
    warnings = " ".join(result.warnings or [])
    assert SECRET not in warnings and f"{remote.url}/normalize" in warnings
    assert result.fields["Date"].detections[0].text == "03/04/2021"


@pytest.mark.parametrize("asked", ["/tmp", "/no/such/folder", "../../etc", "date:YYYY-MM-DD;model=/tmp",
                                   "http://127.0.0.1:9/normalize", "C:\\models\\x"])  # fmt: skip
def test_normalize_accepts_only_rules_and_exposed_models_and_does_not_tell_which_paths_exist(tmp_path, asked):
    with service(tmp_path, normalizer="date:YYYY-MM-DD") as client:
        refused = client.post("/normalize", json={"inputs": "4 March 2021"}, params={"normalizer": asked})
    assert refused.status_code == 422
    detail = refused.json()["detail"].replace(repr(asked), "<name>")
    assert detail == (
        "<name> is not a normalizer of this service: use date:<FORMAT> (e.g. date:YYYY-MM-DD), "
        "money:<CURRENCY> or percent, optionally with ;model=NAME, or a model NAME; models: none"
    )


def test_normalize_maps_exposed_model_names_and_still_takes_rules(tmp_path):
    models = {"dates": str(tmp_path / "dates-model")}
    assert exposed_normalizer_spec("dates", models) == models["dates"]
    assert exposed_normalizer_spec("date:YYYY-MM-DD;order=DMY;model=dates", models) == (
        f"date:YYYY-MM-DD;order=DMY;model={models['dates']}"
    )
    with service(tmp_path, normalizer_models=models) as client:
        params = {"normalizer": "date:YYYY-MM-DD;order=DMY"}
        rule = client.post("/normalize", json={"inputs": "03/04/21"}, params=params)
        assert rule.json()["generated_text"] == "2021-04-03"


@pytest.mark.parametrize("named", ["{existing}", "/no/such/folder", "../../etc", "date:YYYY-MM-DD;model={existing}"])
def test_config_naming_a_server_folder_is_refused_whether_it_exists_or_not(tmp_path, named):
    existing = tmp_path / "some-model"
    existing.mkdir()
    with service(tmp_path) as client:
        refused = client.put("/config/fields", json=date_field(Normalizer=named.format(existing=existing)))
        assert refused.status_code == 422, refused.text
        assert refused.json()["key"] == "Normalizer"
        assert "is not a normalizer of this service" in refused.json()["detail"]
        assert client.get("/config/fields").status_code == 404


def test_config_takes_exposed_model_names_and_what_the_operator_installed(tmp_path):
    models = {"dates": str(tmp_path / "dates-model")}
    operator_dir = str(tmp_path / "operator-model")
    (tmp_path / "operator-model").mkdir()
    (tmp_path / "fields.json").write_text(json.dumps(date_field(Normalizer=operator_dir)))
    with service(tmp_path, normalizer_models=models, fields=str(tmp_path / "fields.json")) as client:
        installed = client.get("/config/fields").json()
        assert client.put("/config/fields", json=installed).status_code == 200  # GET then PUT round-trips
        named = client.put("/config/fields", json=date_field(Normalizer="date:YYYY-MM-DD;model=dates"))
        assert named.status_code == 200, named.text
        assert named.json()[1]["Normalizer"] == f"date:YYYY-MM-DD;model={models['dates']}"


def test_serve_refuses_a_normalizer_url_prefix_that_is_no_http_url(tmp_path):
    command = [sys.executable, "-m", "docfields.cli", "serve", "--home", str(tmp_path / "home"), "--port", "0",
               "--normalizer-url", "file:///etc/"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "normalizer URL prefix" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_line_resolves_a_users_own_url_without_an_allow_list():
    assert resolve_normalizer("http://127.0.0.1:9/normalize").name == "http://127.0.0.1:9/normalize"


# -- 7. Textract JSON through the invocations endpoint, and enrichment values ----------------------------


@pytest.fixture(scope="module")
def tagger_service(tmp_path_factory):
    with serve_tiny_tagger(tmp_path_factory.mktemp("tagger")) as client:
        yield client


def post_json(client: AsgiClient, url: str, data: object):
    """POST JSON as Python writes it: NaN and Infinity literals included (httpx's json= refuses them)."""
    return client.post(url, content=json.dumps(data), headers={"Content-Type": "application/json"})


def _mutated(path: tuple[str, ...], value: object) -> tuple[dict, int]:
    data = textract_to_dict(ocr_document())
    index = word_index(data, "Total")
    target = data["Blocks"][index]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data, index


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("Geometry", "BoundingBox", "Left"), math.nan, "Geometry.BoundingBox.Left"),
        (("Geometry", "BoundingBox", "Width"), 1e308, "Geometry.BoundingBox.Width"),
        (("Geometry", "BoundingBox", "Top"), -0.5, "Geometry.BoundingBox.Top"),
        (("Confidence",), math.inf, "Confidence"),
        (("Relationships",), [{"Type": "CHILD", "Ids": ["no-such-block"]}], "Relationships[0].Ids[0]"),
    ],
    ids=["nan", "huge", "negative", "inf-confidence", "dangling-child"],
)
def test_invocations_refuse_what_the_cli_refuses_with_422_naming_block_and_key(tagger_service, path, value, key):
    data, index = _mutated(path, value)
    answer = post_json(tagger_service, "/models/tiny/invocations", data)
    assert answer.status_code == 422, answer.text
    block_id = data["Blocks"][index]["Id"]
    assert f"Blocks[{index}] (Id {block_id}): {key}" in answer.json()["detail"]
    wrapped = post_json(tagger_service, "/models/tiny/invocations", {"Content": data})
    assert wrapped.status_code == 422 and "<request>.Content" in wrapped.json()["detail"]


def test_invocations_still_enrich_a_valid_document(tagger_service):
    answer = tagger_service.post("/models/tiny/invocations", json=textract_to_dict(ocr_document()))
    assert answer.status_code == 200, answer.text
    words = [b for b in answer.json()["Blocks"] if b["BlockType"] == "WORD"]
    assert words and all(0 <= w["PredictedClass"] < len(w["ClassificationProbabilities"]) for w in words)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("PredictedClass", 999, "PredictedClass: 999 outside 0..2"),
        ("PredictedClass", -1, "PredictedClass: -1 is not a class index"),
        ("PredictedClass", True, "PredictedClass: True is not a class index"),
        ("PredictedClassConfidence", 5.0, "PredictedClassConfidence: 5.0 outside 0..1"),
        ("PredictedClassConfidence", math.nan, "PredictedClassConfidence: nan outside 0..1"),
        ("ClassificationProbabilities", [0.5, 0.5], "ClassificationProbabilities: 2 values"),
        ("ClassificationProbabilities", [0.1, 1.7, 0.2], "ClassificationProbabilities[1]: 1.7 outside 0..1"),
        ("ClassificationProbabilities", "high", "ClassificationProbabilities: str, not a list"),
    ],
)
def test_enrichment_values_out_of_range_are_refused_naming_block_and_key(tmp_path, key, value, message):
    data = enriched({"03/04/2021": 1, "12.50": 2})
    index = word_index(data, "12.50")
    data["Blocks"][index][key] = value
    config = parse_field_configuration(date_field() + [{"ClassId": 2, "Name": "Total", "Select": "first"}])
    with pytest.raises(TextractFormatError) as error:
        extract_fields(parse_textract(copy.deepcopy(data)), config, source="doc.enriched.json")
    assert f"doc.enriched.json: Blocks[{index}] (Id {data['Blocks'][index]['Id']}): {message}" in str(error.value)
    path = tmp_path / "doc.enriched.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TextractFormatError, match=message.replace("[", r"\[").replace("(", r"\(")):
        read_textract(str(path))  # the CLI's reader refuses it too


def test_valid_enrichment_still_extracts(tmp_path):
    config = parse_field_configuration(date_field() + [{"ClassId": 2, "Name": "Total", "Select": "first"}])
    result = extract_fields(parse_textract(enriched({"03/04/2021": 1, "12.50": 2})), config)
    assert result.fields["Total"].detections[0].text == "12.50"
    assert result.fields["Total"].confidence == pytest.approx(0.9 * 0.95)


# -- 8. the review desk: logout ends the session, the throttle locks out only the guesser ----------------


def review_desk(home) -> FastAPI:
    """The desk alone, on a pipeline with nothing in review; its sessions live in ``home``."""
    app = FastAPI()
    settings = ReviewSettings.model_validate(review_settings_dict())
    mount_review(app, Pipeline(PipelineSettings(home=str(home))), settings)
    return app


def sign_in(client: AsgiClient, name: str, password: str):
    csrf = hidden_value(client.get("/review/login").text, "csrf")
    return client.post("/review/login", data={"csrf": csrf, "username": name, "password": password})


def test_a_session_cookie_stops_working_at_logout_even_after_a_restart(tmp_path):
    app = review_desk(tmp_path / "home")
    with AsgiClient(app) as laptop, AsgiClient(app) as phone:
        assert sign_in(laptop, "alice", PASSWORDS["alice"]).status_code == 303
        assert sign_in(phone, "alice", PASSWORDS["alice"]).status_code == 303
        queue = laptop.get("/review/")
        assert queue.status_code == 200
        copied = laptop.cookies[SESSION_COOKIE]
        assert laptop.post("/review/logout", data={"csrf": hidden_value(queue.text, "csrf")}).status_code == 303
        assert phone.get("/review/").status_code == 200  # only the session that logged out ends
        kept = phone.cookies[SESSION_COOKIE]
    replay = {"Cookie": f"{SESSION_COOKIE}={copied}"}
    with AsgiClient(app) as thief:
        refused = thief.get("/review/", headers=replay)
        assert refused.status_code == 303 and "/review/login" in refused.headers["location"]
    with AsgiClient(review_desk(tmp_path / "home")) as restarted:  # same home, same secret key
        assert restarted.get("/review/", headers=replay).status_code == 303
        assert restarted.get("/review/", headers={"Cookie": f"{SESSION_COOKIE}={kept}"}).status_code == 200


def test_failed_sign_ins_from_one_address_do_not_lock_out_colleagues_behind_it(tmp_path):
    app = review_desk(tmp_path / "home")
    with AsgiClient(app, address="127.0.0.5") as attacker, AsgiClient(app, address="127.0.0.5") as colleague:
        for name in ("alice", "alice", "alice", "alice", "alice", "admin", "root"):
            assert sign_in(attacker, name, "guess").status_code == 401
        assert sign_in(attacker, "alice", PASSWORDS["alice"]).status_code == 429  # alice from here: throttled
        assert sign_in(colleague, "bob", PASSWORDS["bob"]).status_code == 303  # bob behind the same proxy


def test_failed_sign_ins_against_an_account_elsewhere_do_not_lock_out_its_owner(tmp_path):
    app = review_desk(tmp_path / "home")
    with AsgiClient(app, address="127.0.0.5") as attacker, AsgiClient(app, address="127.0.0.6") as owner:
        for _ in range(5):
            assert sign_in(attacker, "alice", "guess").status_code == 401
        assert sign_in(attacker, "alice", "guess").status_code == 429
        assert sign_in(owner, "alice", PASSWORDS["alice"]).status_code == 303
