"""Calibrated field confidence: the fit recovers known reliability, thresholds hold on fresh data, and
``calibrate_model`` fits on a held-out manifest and on reviews of a real pipeline home.

Synthetic tests draw outcomes whose true chance of being right is known (seeded); the end-to-end
tests train a tiny tagger for a few steps on two generated agreements (pdftext OCR), which leaves
some fields right and some wrong, and review one of them through the real pipeline.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from docfields.errors import ModelError
from docfields.fields.calibration import (
    CALIBRATION_FILE,
    FieldCalibration,
    Outcome,
    apply_temperature,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
)
from docfields.fields.result import FieldEvidence

TRUE_SLOPE, TRUE_SHIFT = 2.0, -1.5  # the chance a field is right: sigmoid(2 logit(raw) - 1.5)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def true_chance(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(TRUE_SLOPE * np.log(raw / (1.0 - raw)) + TRUE_SHIFT)))


def synthetic_outcomes(n: int, seed: int) -> tuple[list[Outcome], np.ndarray]:
    """``n`` found fields whose raw confidence overstates their chance of being right; and those chances."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.3, 0.999, n)
    chance = true_chance(raw)
    correct = rng.random(n) < chance
    outcomes = [
        Outcome(document=f"d{i}", field="Total", correct=bool(ok),
                evidence=FieldEvidence(confidence=r, detections=1, values=1, mention_confidence=r, agreement=1.0))
        for i, (r, ok) in enumerate(zip(raw, correct, strict=True))
    ]  # fmt: skip
    return outcomes, chance


@pytest.fixture(scope="module")
def fitted() -> FieldCalibration:
    return fit_calibration(synthetic_outcomes(4000, seed=1)[0])


def test_the_fitted_curve_recovers_a_known_reliability(fitted):
    fresh, chance = synthetic_outcomes(4000, seed=2)
    raw = np.array([o.evidence.confidence for o in fresh])
    correct = np.array([o.correct for o in fresh])
    calibrated = np.array([fitted.confidence(o.field, o.evidence) for o in fresh])
    assert expected_calibration_error(raw, correct) > 0.15  # the raw score promises far more than it keeps
    assert expected_calibration_error(calibrated, correct) < 0.03
    assert np.abs(calibrated - chance).mean() < 0.03  # close to the true chance, field by field


def test_cross_validated_confidences_come_from_curves_that_did_not_see_the_document():
    from docfields.fields.calibration import cross_validated_confidences

    outcomes, _ = synthetic_outcomes(2000, seed=6)
    correct = np.array([o.correct for o in outcomes])
    held_out = cross_validated_confidences(outcomes)
    assert expected_calibration_error(held_out, correct) < 0.04
    in_sample = fit_calibration(outcomes).outcome_confidences()
    assert not np.allclose(held_out, in_sample) and np.abs(held_out - in_sample).max() < 0.1
    one_sided = [o.model_copy(update={"correct": o.document != "d0"}) for o in outcomes[:10]]
    assert cross_validated_confidences(one_sided) is None  # a fold without a wrong outcome cannot be fitted


def test_thresholds_for_a_target_hold_on_fresh_data(fitted):
    fresh, _ = synthetic_outcomes(6000, seed=3)
    threshold = fitted.thresholds(0.95, ["Total"])["Total"]
    accepted = [o.correct for o in fresh if fitted.confidence(o.field, o.evidence) >= threshold]
    assert 0.2 < len(accepted) / len(fresh) < 0.9  # a real trade-off, neither everything nor nothing
    assert np.mean(accepted) >= 0.94  # the target, give or take the noise of fresh draws


def test_the_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(4)
    logits = rng.normal(0.0, 3.0, (6000, 5))
    honest = apply_temperature(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2.0)
    labels = np.array([rng.choice(5, p=row) for row in honest])
    overconfident = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert fit_temperature([overconfident[:3000], overconfident[3000:]], [labels[:3000], labels[3000:]]) == \
        pytest.approx(2.0, rel=0.08)  # fmt: skip


def test_one_sided_outcomes_are_refused():
    outcomes, _ = synthetic_outcomes(50, seed=5)
    with pytest.raises(ModelError, match="all 50 outcomes right"):
        fit_calibration([o.model_copy(update={"correct": True}) for o in outcomes])


# -- end to end: a held-out manifest, reviews of a pipeline home ---------------------------------------


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> tuple[Path, str]:
    """Two born-digital agreements and their annotations with ``textract-ref`` lines, as `docfields ocr` writes them."""
    from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr
    from docfields.samples.corpus import CorpusOptions, write_corpus

    root = tmp_path_factory.mktemp("heldout")
    write_corpus(root, CorpusOptions(n=2, seed=5, scan_share=0.0))
    options = BatchOcrOptions(engine="pdftext", workers=1)
    plan = plan_batch_ocr(str(root / "annotations.manifest.jsonl"), str(root / "ocr"), options)
    return root, run_batch_ocr(plan, options).manifest


@pytest.fixture(scope="module")
def trained(heldout, tmp_path_factory):
    """A tiny tagger trained for a few steps, validated (and so calibrated) on the held-out manifest."""
    from docfields.ner import NerTrainOptions, train_ner

    root, manifest = heldout
    output = tmp_path_factory.mktemp("trained") / "tagger"
    options = NerTrainOptions(manifest=manifest, validation_manifest=manifest, fields=str(root / "fields.json"),
                              output=str(output), base="layoutlm-tiny", max_steps=3, batch_size=8, max_length=128,
                              learning_rate=5e-3, vocab_size=500, seed=1, review_target=0.9)  # fmt: skip
    return train_ner(options), output


@pytest.mark.slow
def test_training_with_validation_saves_the_calibration_the_tagger_loads(trained):
    from docfields.ner import Tagger

    result, output = trained
    report = result.calibration
    assert report.calibration == str(output / CALIBRATION_FILE)
    calibration = FieldCalibration.load(output)
    assert calibration.temperature == pytest.approx(report.temperature) and not math.isclose(report.temperature, 1.0)
    assert Tagger.load(output).temperature == pytest.approx(report.temperature)
    assert {o.source for o in calibration.outcomes} == {"heldout"} and len(calibration.outcomes) == 2 * 16
    assert report.sources["heldout"].outcomes == 2 * 16 and report.target == 0.9  # the review load at its target
    assert Path(report.reliability_plot).parent == output and Path(report.review_load_plot).is_file()


@pytest.mark.slow
def test_calibrate_on_a_manifest_writes_the_calibration_and_valid_plots(trained, heldout, tmp_path):
    from docfields.fields.heldout import calibrate_model

    _, output = trained
    model = tmp_path / "tagger"
    shutil.copytree(output, model, ignore=shutil.ignore_patterns("checkpoints", CALIBRATION_FILE))
    report = calibrate_model(model, manifest=heldout[1], plots_dir=str(tmp_path / "plots"), target=0.95)
    assert report.sources["heldout"].documents == 2 and report.sources["heldout"].outcomes == 2 * 16
    assert 0 < report.sources["heldout"].correct < report.sources["heldout"].outcomes
    assert report.temperature == pytest.approx(FieldCalibration.load(output).temperature)  # the training run's fit
    assert report.calibration == str(model / CALIBRATION_FILE) and report.ece_calibrated < report.ece_raw
    assert report.accepted_accuracy is None or report.accepted_accuracy >= 0.95
    for plot in (report.reliability_plot, report.review_load_plot):
        assert plot.startswith(str(tmp_path / "plots")) and open(plot, "rb").read(8) == PNG_SIGNATURE
        with Image.open(plot) as image:
            image.load()
            assert image.format == "PNG" and image.size[0] >= 400


@pytest.mark.slow
def test_a_model_without_calibration_loads_at_temperature_one(trained, heldout, tmp_path):
    from docfields.ner import Tagger, load_examples

    _, output = trained
    shutil.copytree(output, tmp_path / "old", ignore=shutil.ignore_patterns("checkpoints", CALIBRATION_FILE))
    old = Tagger.load(tmp_path / "old")
    assert old.temperature == 1.0
    pages = load_examples(heldout[1], 19)[:1]
    plain = old.predict(pages)[0]
    calibrated = Tagger.load(output)
    assert np.allclose(calibrated.predict(pages)[0], apply_temperature(plain, calibrated.temperature))


@pytest.mark.slow
def test_reviews_refit_the_calibration(trained, heldout, tmp_path):
    from docfields.fields.heldout import calibrate_model
    from docfields.review.flowback import FieldAnswer, ReviewAnswers, apply_review
    from review_support import Corpus, pipeline_in_review

    _, model = trained
    before = FieldCalibration.load(model)
    root = heldout[0]
    home = tmp_path / "home"
    pipeline, ids = pipeline_in_review(Corpus(root, str(model), {}), home, {"cc-0000": root / "docs" / "cc-0000.pdf"})
    doc_id = ids["cc-0000"]
    result = pipeline.result(doc_id)
    single = sorted(name for name, field in result["Fields"].items() if "Values" not in field)
    wrong, left = single[0], single[1:]  # the reviewer corrects one field and leaves the others as they are
    answers = ReviewAnswers(fields={wrong: FieldAnswer(present=True, value=f"not {result['Fields'][wrong]['Value']}")})
    pipeline.complete_review(doc_id, apply_review(result, answers, "ana", 20.0))

    report = calibrate_model(model, reviews_home=str(home), plots_dir=str(tmp_path))
    after = FieldCalibration.load(model)
    assert report.sources["review"].documents == 1 and report.sources["heldout"].outcomes == len(before.outcomes)
    assert after.temperature == before.temperature  # reviews keep the word temperature
    reviewed = {o.field: o.correct for o in after.outcomes if o.source == "review"}
    assert reviewed[wrong] is False and all(reviewed[name] for name in left)
    assert after.weights != before.weights  # refitted
    again = calibrate_model(model, reviews_home=str(home), plots_dir=str(tmp_path))  # reviews are not counted twice
    assert again.sources["review"].outcomes == report.sources["review"].outcomes


def test_audit_samples_give_audit_outcomes():
    from docfields.pipeline.routing import AUDIT_REASON
    from docfields.review.outcomes import review_source

    assert review_source(AUDIT_REASON) == "audit"
    assert review_source("confidence 0.41 below the review threshold 0.5") == review_source(None) == "review"


def test_calibrate_refuses_bad_input(tmp_path):
    from typer.testing import CliRunner

    from docfields.cli import app
    from docfields.fields.heldout import calibrate_model

    model = tmp_path / "tagger"
    model.mkdir()
    (model / "docfields_ner.json").write_text("{}")
    with pytest.raises(ModelError, match="a manifest.*or reviews"):
        calibrate_model(model)
    with pytest.raises(ModelError, match="not a docfields tagger directory"):
        calibrate_model(tmp_path, manifest="heldout.jsonl")
    result = CliRunner().invoke(app, ["calibrate", "--model", str(tmp_path), "--reviews", str(tmp_path)])
    assert result.exit_code == ModelError.exit_code and "not a docfields tagger directory" in result.output
    result = CliRunner().invoke(app, ["calibrate", "--model", str(model), "--reviews", str(tmp_path)])
    assert result.exit_code == 13 and "no pipeline here" in result.output  # ReviewError: the home, not the model
