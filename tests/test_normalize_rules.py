"""Rule normalizer ``date:<TARGET>``, the hybrid's validation, the registry and the service client.

No model is trained here: the hybrid is tested with scripted generators, so each validation
rule is checked against the exact output that should trip it.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from docfields.errors import NormalizerError, NormalizerUnavailableError, UnknownNormalizerError
from docfields.normalize import (
    DateRuleNormalizer,
    HybridDateNormalizer,
    NormalizedValue,
    load_format_table,
    normalize_texts,
    parse_date,
    resolve_normalizer,
)
from docfields.normalize.patterns import render_date

TARGETS = [f.name for f in load_format_table().targets]
MOMENT = datetime(2000, 12, 31, 13, 45, 10)


class Scripted:
    """A generator that answers from a dict (or raises), recording what it was asked."""

    def __init__(self, answers: dict[str, str] | None = None, error: Exception | None = None):
        self.answers, self.error, self.asked = answers or {}, error, []

    def generate(self, texts):
        self.asked.extend(texts)
        if self.error:
            raise self.error
        return [self.answers.get(t.split(": ", 1)[-1], "garbage") for t in texts]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fmt", load_format_table().formats, ids=lambda f: f.name)
def test_every_observed_format_to_every_target(fmt, target):
    text = render_date(MOMENT, fmt.pattern)
    result = DateRuleNormalizer(target).normalize_one(text)
    expected = render_date(MOMENT, DateRuleNormalizer(target).pattern)
    assert result.status == "ok", result.reason
    assert result.value == expected and not result.needs_review


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Dec 31st 2000", "2000-12-31"),
        ("31 December 2000", "2000-12-31"),
        ("December 31, 2000 at 5pm", "2000-12-31"),
        ("Sunday, Dec 31 00", "2000-12-31"),
        ("Sept. 1st, 1999", "1999-09-01"),
        ("31.12.2000", "2000-12-31"),
        ("2000-12-31T13:45:10", None),
        ("20001231", "2000-12-31"),
        ("13/04/21", "2021-04-13"),
        ("04/13/21", "2021-04-13"),
        ("04/04/21", "2021-04-04"),
    ],
)
def test_common_spellings(text, expected):
    result = DateRuleNormalizer("YYYY-MM-DD").normalize_one(text)
    assert result.value == expected


def test_ambiguous_without_policy_gives_both_readings():
    result = DateRuleNormalizer("YYYY-MM-DD").normalize_one("03/04/21")
    assert result.status == "ambiguous" and result.needs_review and result.value is None
    assert result.candidates == ["2021-03-04", "2021-04-03"]


@pytest.mark.parametrize("order,expected", [("MDY", "2021-03-04"), ("DMY", "2021-04-03")])
def test_order_policy_settles_ambiguity(order, expected):
    assert DateRuleNormalizer("YYYY-MM-DD", order=order).normalize_one("03/04/21").value == expected


def test_policy_does_not_override_an_impossible_reading():
    assert DateRuleNormalizer("YYYY-MM-DD", order="MDY").normalize_one("13/04/21").value == "2021-04-13"


def test_weekday_settles_or_contradicts():
    # 2021-03-04 was a Thursday, 2021-04-03 a Saturday.
    rules = DateRuleNormalizer("YYYY-MM-DD")
    assert rules.normalize_one("Thu 03/04/21").value == "2021-03-04"
    assert rules.normalize_one("Saturday 03/04/21").value == "2021-04-03"
    assert rules.normalize_one("Monday 03/04/21").status == "unparsed"


@pytest.mark.parametrize("pivot,expected", [(50, "2049-01-02"), (30, "1949-01-02"), (49, "1949-01-02")])
def test_two_digit_year_pivot(pivot, expected):
    assert DateRuleNormalizer("YYYY-MM-DD", year_pivot=pivot).normalize_one("Jan 2nd 49").value == expected


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello world", "unknown word"),
        ("12/31", "no reference date"),
        ("02/30/2021", "no such date"),
        ("25:00 01/02/2000", "no such time"),
        ("2021-13-45", "no such date"),
        ("1" * 5000, "too long"),
        ("Dec", "found 0 numbers"),
        ("€12/12/12", "unexpected"),
    ],
)
def test_bad_inputs_are_unparsed_with_a_reason(text, reason):
    result = DateRuleNormalizer("YYYY-MM-DD").normalize_one(text)
    assert result.status == "unparsed" and result.value is None and result.needs_review
    assert reason in result.reason


def test_other_target_spellings():
    assert normalize_texts("date:%d.%m.%Y", ["Dec 31st 2000"])[0].value == "31.12.2000"
    assert normalize_texts("date:DDDD MMM Do YYYY", ["2000-12-31"])[0].value == "Sunday Dec 31st 2000"
    with pytest.raises(NormalizerError, match="no year"):
        DateRuleNormalizer("DD/MM")


def test_parse_date_keeps_the_time():
    parsed = parse_date("11:07PM 02/02/2026")
    assert parsed.status == "ok" and parsed.has_time and parsed.candidates[0].hour == 23


# --- hybrid -------------------------------------------------------------------------------


def test_hybrid_uses_rules_when_certain_and_model_otherwise():
    model = Scripted({"05:13 03/04/21": "2021-04-03"})
    hybrid = HybridDateNormalizer("YYYY-MM-DD", model)
    rule_result, model_result = hybrid.normalize(["13/04/21", "05:13 03/04/21"])
    assert (rule_result.source, rule_result.value) == ("rule", "2021-04-13")
    assert (model_result.source, model_result.value, model_result.status) == ("model", "2021-04-03", "ok")
    assert model.asked == ["Convert dates to YYYY-MM-DD: 05:13 03/04/21"]


@pytest.mark.parametrize(
    "text,output,reason",
    [
        ("03/04/21", "2021-02-30", "not a date in YYYY-MM-DD"),
        ("03/04/21", "21-3-4", "not a date in YYYY-MM-DD"),
        ("03/04/21", "2021-05-06", "none of the readings"),
        ("31-12-2000 x", "2000-12-30", "digits of the input"),
        ("3l/12/2OOO", "1999-12-31", "digits of the input"),
    ],
)
def test_hybrid_flags_invalid_model_output(text, output, reason):
    result = HybridDateNormalizer("YYYY-MM-DD", Scripted({text: output})).normalize([text])[0]
    assert result.status == "invalid" and result.needs_review and result.value is None
    assert result.generated == output and reason in result.reason


def test_hybrid_accepts_a_valid_repair_of_noisy_text():
    text = "31-12-2000 x"
    result = HybridDateNormalizer("YYYY-MM-DD", Scripted({text: "2000-12-31"})).normalize([text])[0]
    assert (result.status, result.value, result.source) == ("ok", "2000-12-31", "model")


def test_hybrid_does_not_ask_the_model_about_text_without_digits():
    model = Scripted()
    results = HybridDateNormalizer("YYYY-MM-DD", model).normalize(["", "hello", "x" * 10000])
    assert model.asked == [] and all(r.status == "unparsed" for r in results)


def test_hybrid_survives_a_failing_model():
    model = Scripted(error=NormalizerError("http://x: down"))
    result = HybridDateNormalizer("YYYY-MM-DD", model).normalize(["03/04/21"])[0]
    assert result.status == "failed" and "down" in result.reason


# --- registry and service client ----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/broken":
            reply = {"generated_text": ["only one"]}
        else:
            reply = {"generated_text": [f" {t.upper()} " for t in body["inputs"]]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def service():
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_service_normalizer_speaks_the_contract(service):
    results = resolve_normalizer(f"{service}/normalize", prompt="p: ").normalize(["a", "b"])
    assert [r.value for r in results] == ["P: A", "P: B"]
    assert all(r.source == "service" for r in results)


def test_a_bad_answer_fails_its_values_and_no_answer_is_an_unavailable_service(service):
    broken = resolve_normalizer(f"{service}/broken").normalize(["a", "b"])
    assert all(r.status == "failed" and "generated_text" in r.reason for r in broken)
    # A service that does not answer is not a verdict on the texts: the caller retries later.
    with pytest.raises(NormalizerUnavailableError, match="127.0.0.1:9"):
        resolve_normalizer("http://127.0.0.1:9/none").normalize(["a"])


def test_hybrid_with_a_service_model(service):
    hybrid = resolve_normalizer(f"date:YYYY-MM-DD;model={service}/normalize")
    result = hybrid.normalize(["03/04/21"])[0]
    # The fake service echoes the prompt upper-cased: not a date, so it is flagged.
    assert result.status == "invalid" and result.generated.startswith("CONVERT DATES")


@pytest.mark.parametrize(
    "spec,message",
    [
        ("nonsense", "not a normalizer"),
        ("date:YYYY-MM-DD;colour=red", "unknown option"),
        ("date:YYYY-MM-DD;order=YMD", "MDY or DMY"),
        ("date:YYYY-MM-DD;pivot=x", "whole number"),
    ],
)
def test_unknown_specs_are_explained(spec, message):
    with pytest.raises(UnknownNormalizerError, match=message):
        resolve_normalizer(spec)


def test_rule_spec_options():
    normalizer = resolve_normalizer("date:DD/MM/YYYY;order=MDY;pivot=30")
    assert normalizer.normalize(["03/04/29", "03/04/31"])[0].value == "04/03/2029"
    assert normalizer.normalize(["03/04/31"])[0].value == "04/03/1931"


def test_values_serialize_with_needs_review():
    value = NormalizedValue(raw="x", status="unparsed", source="rule", reason="r")
    assert value.model_dump()["needs_review"] is True and value.text == "x"
