"""Review routing: a target accuracy (calibrated thresholds), the raw rule, the audit sample, the desk, /metrics.

The decision and the desk's flags are checked on results written here (a field just under its
threshold, fields above theirs), then through the real pipeline with a tiny untrained tagger:
once with a ``calibration.json`` fitted on synthetic outcomes (the thresholds are the
calibration's for the target), once without one (the raw rule, and a warning saying why), and
once behind the real service with every done document audited, reviewed on the desk, and counted
in ``/metrics``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import httpx
import numpy as np
import pytest

from docfields.fields.calibration import FieldCalibration, Outcome, fields_below_threshold, fit_calibration
from docfields.fields.result import ExtractionResult, FieldEvidence
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.pipeline.routing import AUDIT_REASON, audit_drawn, decide
from docfields.review.views import field_views
from review_support import PASSWORDS, hidden_value, review_settings_dict, shared_corpus
from serve_server import serve_app

IDENTITIES = [hashlib.sha256(f"document {i}".encode()).hexdigest() for i in range(2000)]
NOT_DRAWN = next(identity for identity in IDENTITIES if not audit_drawn(identity, 0.5))  # a document audit passes by


def _field(class_id: int, value: str, raw: float, calibrated: float | None = None, threshold: float | None = None,
           optional: bool = False) -> dict:  # fmt: skip
    detections = [{"ClassId": class_id, "ClassName": "x", "Confidence": raw, "Blocks": ["w1"], "PageNum": 1,
                   "Text": value, "BoundingBox": {"Width": 0.1, "Height": 0.02, "Left": 0.1, "Top": 0.1}}] * bool(value)
    field = {"ClassId": class_id, "Confidence": raw, "NumDetections": len(detections), "SortOrder": class_id,
             "NumDetectedValues": len(detections), "Value": value, "Detections": detections}  # fmt: skip
    if optional:
        field["Optional"] = True
    if calibrated is not None:
        field["CalibratedConfidence"] = calibrated
    if threshold is not None:
        field["ReviewThreshold"] = threshold
    return field


def _result(fields: dict[str, dict]) -> dict:
    return {"Confidence": min(f["Confidence"] for f in fields.values()), "Fields": fields}


def _targeted(penalty: float = 0.83) -> dict:
    """Three fields under a 0.99 target: 'APR - Penalty' at ``penalty`` against its 0.97 threshold."""
    return _result({
        "Card Name": _field(0, "Gold Card", 0.31, calibrated=0.996, threshold=0.95),
        "APR - Penalty": _field(1, "29.99%", 0.62, calibrated=penalty, threshold=0.97),
        "Late Fee": _field(2, "", 0.0, calibrated=0.999, threshold=0.9, optional=True),
    })  # fmt: skip


def _settings(**more: object) -> PipelineSettings:
    return PipelineSettings(home="unused", **more)


# -- the decision ---------------------------------------------------------------------------------


def test_under_a_target_only_fields_below_their_threshold_send_a_document_to_review():
    settings = _settings(review_target=0.99, review_threshold=1.0, audit_rate=0.5)
    routed = decide(_targeted(), settings, NOT_DRAWN)
    assert routed.status == "in_review"
    assert routed.review_reason == "1 field below the 0.99 target: APR - Penalty 0.83 < 0.97"
    accepted = decide(_targeted(penalty=0.97), settings, NOT_DRAWN)  # raw confidences 0.0..0.62: the raw rule is off
    assert accepted.status == "done" and accepted.review_reason is None
    missing = _targeted()
    missing["Fields"]["Card Name"] = _field(0, "", 0.0, calibrated=0.2, threshold=0.95)
    per_field = settings.model_copy(update={"review_target": {"Card Name": 0.99}})
    assert decide(missing, per_field, NOT_DRAWN).review_reason == (
        "2 fields below the target: Card Name (missing) 0.20 < 0.95, APR - Penalty 0.83 < 0.97")


def test_without_thresholds_the_raw_rule_decides_as_before():
    plain = _result({"Card Name": _field(0, "Gold Card", 0.4), "Date": _field(1, "", 0.0)})
    assert decide(plain, _settings(review_threshold=0.5, audit_rate=0.0), NOT_DRAWN).review_reason == (
        "mandatory field Date missing")
    plain = _result({"Card Name": _field(0, "Gold Card", 0.4), "Date": _field(1, "2024-01-01", 0.45)})
    assert decide(plain, _settings(review_threshold=0.5, audit_rate=0.0), NOT_DRAWN).review_reason == (
        "confidence 0.40 < 0.5")
    assert decide(plain, _settings(review_threshold=0.4, audit_rate=0.0), NOT_DRAWN).status == "done"


def test_the_audit_sample_is_drawn_at_the_rate_from_the_identity_alone():
    for rate in (0.02, 0.25):
        share = np.mean([audit_drawn(identity, rate) for identity in IDENTITIES])
        assert abs(share - rate) < 4 * np.sqrt(rate * (1 - rate) / len(IDENTITIES)), (rate, share)
    drawn = [identity for identity in IDENTITIES if audit_drawn(identity, 0.02)]
    assert all(audit_drawn(identity, 0.02) and audit_drawn(identity, 0.1) for identity in drawn)  # same, and nested
    accepted = _targeted(penalty=0.99)
    settings = _settings(review_target=0.99, audit_rate=0.02)
    decisions = {decide(accepted, settings, identity).review_reason for identity in drawn}
    assert decisions == {AUDIT_REASON}
    assert decide(_targeted(), settings, drawn[0]).review_reason.startswith("1 field below")  # its own reason wins
    assert decide(accepted, settings.model_copy(update={"audit_rate": 0.0}), drawn[0]).status == "done"


# -- settings: keys, the API's change, the CLI's flag ------------------------------------------------


def test_the_rule_counts_in_the_keys_only_when_set_and_a_change_can_clear_a_target():
    import typer

    from docfields.cli.pipeline import parse_review_target
    from docfields.errors import PipelineConfigError
    from docfields.pipeline.settings import PipelineConfig
    from docfields.pipeline.stages import result_key
    from docfields.serve import ServeSettings
    from docfields.serve.routers.config import changed_configuration, parse_pipeline_change

    plain = _settings()
    changes = ({}, {"review_target": None, "audit_rate": 0.02}, {"review_target": 0.99}, {"audit_rate": 0.1})
    keys = {result_key("ab" * 32, plain.model_copy(update=change)) for change in changes}
    assert len(keys) == 3  # the defaults leave earlier documents' keys; a target or another rate makes new ones
    current = PipelineConfig.from_settings(plain.model_copy(update={"review_target": 0.99}))
    service = ServeSettings(pipeline=plain)
    cleared = changed_configuration(parse_pipeline_change({"review_target": None}), current, service)
    kept = changed_configuration(parse_pipeline_change({"audit_rate": 0.1}), current, service)
    assert (cleared.review_target, kept.review_target, kept.audit_rate) == (None, 0.99, 0.1)
    with pytest.raises(PipelineConfigError, match="review_target"):
        parse_pipeline_change({"review_target": {"Card Name": 1.5}})
    assert parse_review_target('{"Card Name": 0.99}') == {"Card Name": 0.99}
    assert (parse_review_target("0.95"), parse_review_target("none"), parse_review_target(None)) == (0.95, None, None)
    for bad in ("1.5", "high", '{"Card Name": "high"}'):
        with pytest.raises(typer.BadParameter, match="a number in 0..1 or a JSON object"):
            parse_review_target(bad)


def test_a_pipeline_json_written_before_the_review_target_keeps_the_start_options(tmp_path):
    from docfields.serve import ServeSettings
    from docfields.serve.routers.config import restore_pipeline_configuration

    pipeline = Pipeline(PipelineSettings(home=str(tmp_path), engine="pdftext", review_target=0.99, audit_rate=0.05))
    older = {"thumbnails": True, "engine": "pdftext", "engine_options": {}, "model": None, "tagger": None,
             "review_threshold": 0.3}  # fmt: skip
    pipeline.layout.pipeline_config.write_text(json.dumps(older))
    restore_pipeline_configuration(pipeline, ServeSettings(pipeline=pipeline.settings))
    assert (pipeline.settings.review_threshold, pipeline.settings.review_target, pipeline.settings.audit_rate) == (
        0.3, 0.99, 0.05)


# -- the desk -------------------------------------------------------------------------------------


def test_the_desk_marks_just_the_fields_below_their_threshold_and_nothing_in_an_audit():
    views = {view.name: view for view in field_views(_targeted(), threshold=0.5)}
    assert [name for name, view in views.items() if view.flagged] == ["APR - Penalty"]
    assert (views["APR - Penalty"].percent, views["APR - Penalty"].calibrated, views["APR - Penalty"].threshold) == (
        62, 83, 97)
    assert not any(view.flagged for view in field_views(_targeted(), threshold=0.5, audit=True))
    raw = _result({"Card Name": _field(0, "Gold Card", 0.4), "Date": _field(1, "2024-01-01", 0.8)})
    assert [view.name for view in field_views(raw, threshold=0.5) if view.flagged] == ["Card Name"]
    assert field_views(raw, threshold=0.5)[0].calibrated is None


# -- the pipeline ---------------------------------------------------------------------------------


UNCERTAIN = "Card Name"


def _synthetic_calibration(fields: list[str], seed: int = 0) -> FieldCalibration:
    """A calibration fitted on outcomes of every field, right but for ``UNCERTAIN``'s, whatever their evidence."""
    rng = np.random.default_rng(seed)
    outcomes = []
    for i in range(20 * len(fields)):
        confidence, detections = float(rng.uniform(0.0, 1.0)), int(rng.integers(0, 3))
        evidence = FieldEvidence(confidence=confidence * bool(detections), detections=detections, values=detections,
                                 mention_confidence=confidence, agreement=1.0 * bool(detections))  # fmt: skip
        field = fields[i % len(fields)]
        outcomes.append(Outcome(document=f"d{i}", field=field, evidence=evidence, correct=field != UNCERTAIN))
    return fit_calibration(outcomes, fitted_on={"synthetic": len(outcomes)})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return shared_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def calibrated_model(corpus, tmp_path_factory) -> tuple[str, FieldCalibration, list[str]]:
    model = tmp_path_factory.mktemp("calibrated") / "tagger"
    shutil.copytree(corpus.model, model)
    names = [f["Name"] for f in json.loads((model / "fields.json").read_text()) if not f.get("Ignore")]
    calibration = _synthetic_calibration(names)
    calibration.save(model)
    return str(model), calibration, names


@pytest.mark.slow
def test_a_document_with_one_uncertain_field_goes_to_review_with_just_that_field_marked(corpus, calibrated_model,
                                                                                       tmp_path):  # fmt: skip
    model, calibration, names = calibrated_model
    target = {name: 1.0 if name == UNCERTAIN else 0.5 for name in names}
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path), model=model, engine="pdftext", thumbnails=False,
                                         review_target=target, review_threshold=1.0, audit_rate=0.0))  # fmt: skip
    doc_id = pipeline.submit(str(corpus.doc("cc-0000")))
    pipeline.run_until_idle()
    status, result = pipeline.status(doc_id), pipeline.result(doc_id)
    checked = ExtractionResult.from_json_dict(result)
    thresholds = calibration.thresholds(target, names)
    for name, field in checked.fields.items():  # the thresholds are the calibration's for the target
        assert field.calibrated_confidence == pytest.approx(calibration.confidence(name, field.evidence))
        assert field.review_threshold == pytest.approx(thresholds[name])
    assert fields_below_threshold(checked) == [UNCERTAIN]  # the raw threshold 1.0 would have marked every field
    low = checked.fields[UNCERTAIN]
    missing = " (missing)" if not result["Fields"][UNCERTAIN].get("NumDetections") else ""  # a tiny tagger may miss it
    assert status.status == "in_review" and status.review_reason == (
        f"1 field below the target: {UNCERTAIN}{missing} {low.calibrated_confidence:.2f} < {low.review_threshold:.2f}")
    assert [view.name for view in field_views(result, threshold=1.0) if view.flagged] == [UNCERTAIN]
    assert not [warning for warning in result.get("Warnings", []) if "calibration" in warning]


@pytest.mark.slow
def test_a_model_without_calibration_keeps_the_raw_rule_and_says_why_a_target_is_ignored(corpus, tmp_path):
    settings = PipelineSettings(home=str(tmp_path), model=corpus.model, engine="pdftext", thumbnails=False,
                                review_target=0.99, review_threshold=0.0, audit_rate=0.0)  # fmt: skip
    assert FieldCalibration.load(corpus.model) is None
    pipeline = Pipeline(settings)
    doc_id = pipeline.submit(str(corpus.doc("cc-0000")))
    pipeline.run_until_idle()
    result = pipeline.result(doc_id)
    assert pipeline.status(doc_id).status == "done"  # the raw rule at 0.0
    assert not any("CalibratedConfidence" in field or "ReviewThreshold" in field for field in result["Fields"].values())
    (warning,) = [warning for warning in result["Warnings"] if "calibration" in warning]
    assert warning.startswith("model tagger has no calibration: docfields calibrate --model ") and "raw rule" in warning


# -- the service: an audited document reviewed on the desk, counted in /metrics ---------------------


@pytest.mark.slow
def test_metrics_export_the_measured_accuracy_of_audited_fields(corpus, tmp_path):
    from docfields.review.settings import ReviewSettings
    from docfields.serve import ServeSettings, create_app

    pipeline_settings = PipelineSettings(home=str(tmp_path / "home"), model=corpus.model, engine="pdftext",
                                         thumbnails=False, review_threshold=0.0, audit_rate=1.0)  # fmt: skip
    settings = ServeSettings(pipeline=pipeline_settings, workers=0, api_token="t0ken",
                             review=ReviewSettings.model_validate(review_settings_dict()))  # fmt: skip
    app = create_app(settings)
    pipeline = app.state.pipeline
    doc_id = pipeline.submit(str(corpus.doc("cc-0001")))
    pipeline.run_until_idle()
    assert pipeline.status(doc_id).review_reason == AUDIT_REASON
    with serve_app(app) as url:
        before = httpx.get(f"{url}/metrics", headers={"X-API-Key": "t0ken"}).text
        assert "docfields_audited_fields_total 0.0" in before and "docfields_audited_field_accuracy" not in before
        desk = httpx.Client(base_url=url, timeout=60)
        login = {"csrf": hidden_value(desk.get("/review/login").text, "csrf"), "username": "alice",
                 "password": PASSWORDS["alice"], "next": "/review/"}  # fmt: skip
        assert desk.post("/review/login", data=login).status_code == 303
        assert AUDIT_REASON in desk.get("/review/").text  # the queue row's reason
        page = desk.get(f"/review/tasks/{doc_id}").text
        assert AUDIT_REASON in page and " flagged" not in page
        result = pipeline.result(doc_id)
        form = {"csrf": hidden_value(page, "csrf"), "opened": hidden_value(page, "opened")}
        changed = next(name for name, field in result["Fields"].items() if "Value" in field)
        for name, field in result["Fields"].items():
            multi = "Values" in field
            values = [v["Value"] for v in field["Values"]] if multi else [field["Value"]] * bool(field["Value"])
            if name == changed:
                values = ["corrected by the reviewer"]
            form |= {f"field-present-{name}": "on"} if values else {}
            form[f"field-multival-{name}" if multi else f"field-value-{name}"] = values
        assert desk.post(f"/review/tasks/{doc_id}", data=form).status_code == 303
        after = httpx.get(f"{url}/metrics", headers={"X-API-Key": "t0ken"}).text
    fields = len(result["Fields"])
    assert pipeline.result(doc_id)["Review"]["ChangedFields"] == [changed]
    assert f"docfields_audited_fields_total {float(fields)}" in after
    assert f"docfields_audited_fields_correct_total {float(fields - 1)}" in after
    accuracy = float(re.search(r"^docfields_audited_field_accuracy (\S+)$", after, re.M).group(1))
    assert accuracy == pytest.approx((fields - 1) / fields)
