"""Whole-pipeline runs: bad files fail by name while others complete, review, artifact reuse, retries.

The tagger is a tiny untrained LayoutLM built on the spot: these tests check the pipeline's
mechanics (stages, decisions, reuse), not the model's accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.errors import DocumentError, OcrError, PipelineError, ResultFormatError, UnknownDocumentError
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.pipeline.artifacts import ArtifactStore
from docfields.pipeline.executors import is_transient
from docfields.pipeline.stages import StageInput, _rate_limited, rate_limiter
from docfields.samples import credit_card_fields
from pipeline_support import credit_card_corpus, tiny_tagger

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return credit_card_corpus(tmp_path_factory.mktemp("corpus"), n=2, seed=5)


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> str:
    return tiny_tagger(corpus, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    corrupt, empty = root / "corrupt.pdf", root / "empty.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage, no xref, no trailer")
    empty.write_bytes(b"")
    return {"corrupt": corrupt, "empty": empty}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("home"))


def test_bad_files_fail_with_their_name_while_the_others_complete(corpus, model, bad_files, home):
    pipeline = Pipeline(PipelineSettings(home=home, engine="auto", model=model, review_threshold=0.0))
    good = [pipeline.submit(str(corpus / "cc-0000.pdf")), pipeline.submit(str(corpus / "cc-0001.pdf"))]
    corrupt = pipeline.submit(str(bad_files["corrupt"]))
    empty = pipeline.submit(str(bad_files["empty"]))
    pipeline.run_until_idle()
    for doc_id in good:
        status = pipeline.status(doc_id)
        assert status.status == "done", status.error
        assert [s.state for s in status.stages] == ["done"] * 4
        result = pipeline.result(doc_id)
        assert set(result) >= {"Confidence", "Fields"} and 0.0 <= result["Confidence"] <= 1.0
        assert status.confidence == pytest.approx(result["Confidence"])
        assert json.loads((Path(home) / "results" / f"{doc_id}.json").read_text()) == result
        enriched = json.loads(Path(pipeline.artifact_path(doc_id, "enrich")).read_text())
        assert any("PredictedClass" in block for block in enriched["Blocks"] if block["BlockType"] == "WORD")
    for doc_id, name in ((corrupt, "corrupt.pdf"), (empty, "empty.pdf")):
        status = pipeline.status(doc_id)
        assert status.status == "failed" and name in status.error and status.error.startswith("ocr: ")
        assert pipeline.result(doc_id) is None
        assert {s.name: s.state for s in status.stages}["enrich"] == "skipped"
    assert "empty file" in pipeline.status(empty).error
    assert pipeline.status_counts() == {"done": 2, "failed": 2}


def test_resubmission_reuses_every_artifact_and_a_new_field_configuration_only_redoes_fields(corpus, model, home):
    pipeline = Pipeline(PipelineSettings(home=home, engine="auto", model=model, review_threshold=0.0))
    first = next(d for d in pipeline.list("done") if d.name == "cc-0000.pdf")
    again = pipeline.submit(str(corpus / "cc-0000.pdf"))
    assert again != first.id
    pipeline.run_until_idle()
    status = pipeline.status(again)
    assert status.status == "done"
    assert all(stage.reused and stage.attempts == 1 for stage in status.stages)
    assert pipeline.result(again) == pipeline.result(first.id)
    assert pipeline.artifact_path(again, "ocr") == pipeline.artifact_path(first.id, "ocr")

    fields = credit_card_fields()
    fields[0]["Ignore"] = True
    config = Path(home) / "fields-changed.json"
    config.write_text(json.dumps(fields))
    changed = Pipeline(PipelineSettings(home=home, engine="auto", model=model, fields=str(config),
                                        review_threshold=0.0))  # fmt: skip
    third = changed.submit(str(corpus / "cc-0000.pdf"))
    changed.run_until_idle()
    reused = {stage.name: stage.reused for stage in changed.status(third).stages}
    assert reused == {"ocr": True, "thumbnails": True, "enrich": True, "fields": False}
    assert fields[0]["Name"] not in changed.result(third)["Fields"]


def test_low_confidence_goes_to_review_and_complete_review_moves_it_to_done(corpus, model, home):
    pipeline = Pipeline(PipelineSettings(home=home, engine="auto", model=model, review_threshold=1.0))
    doc_id = pipeline.submit(str(corpus / "cc-0001.pdf"), name="agreement-1.pdf")
    pipeline.run_until_idle()
    status = pipeline.status(doc_id)
    assert status.status == "in_review"
    assert status.review_reason.startswith(("confidence", "mandatory field"))
    assert status.confidence < 1.0
    assert [d.id for d in pipeline.review_tasks()] == [doc_id]
    assert not (Path(home) / "results" / f"{doc_id}.json").exists()
    proposed = pipeline.result(doc_id)
    assert "Review" not in proposed and "Fields" in proposed

    with pytest.raises(ResultFormatError, match=doc_id):
        pipeline.complete_review(doc_id, {"Fields": {}})
    reviewed = {**proposed, "Confidence": 1.0, "Review": {"Reviewer": "ana", "TimeSpentInSeconds": 12.5,
                                                          "ChangedFields": [], "ReviewedAt": "2024-05-01T10:00:00Z"}}
    pipeline.complete_review(doc_id, reviewed)
    done = pipeline.status(doc_id)
    assert done.status == "done" and done.confidence == 1.0
    assert pipeline.result(doc_id) == reviewed
    assert pipeline.review_tasks() == []
    with pytest.raises(PipelineError, match="status is done"):
        pipeline.complete_review(doc_id, reviewed)
    with pytest.raises(UnknownDocumentError):
        pipeline.complete_review("no-such-id", reviewed)


def test_transient_errors_are_retried_with_backoff_then_fail(corpus, tmp_path):
    home = tmp_path / "home"
    settings = PipelineSettings(home=str(home), engine="pdftext", thumbnails=False, max_attempts=2,
                                retry_base_seconds=0.05)  # fmt: skip
    pipeline = Pipeline(settings)
    (home / "artifacts" / "ocr").write_text("a file where the OCR folder should be")  # writes fail: OSError
    recovered = pipeline.submit(str(corpus / "cc-0000.pdf"))

    def unblock(status) -> None:  # after the first failed attempt, the disk "comes back"
        if status.id == recovered and status.stages[0].error:
            (home / "artifacts" / "ocr").unlink(missing_ok=True)

    pipeline.run_until_idle(on_change=unblock)
    status = pipeline.status(recovered)
    assert status.status == "done" and status.stages[0].attempts == 2
    assert [a["outcome"] for a in pipeline.store.attempts(recovered)] == ["retry", "done"]

    (home / "artifacts" / "ocr").rename(home / "artifacts" / "ocr-moved")
    (home / "artifacts" / "ocr").write_text("blocked again")
    failing = pipeline.submit(str(corpus / "cc-0001.pdf"))
    pipeline.run_until_idle()
    status = pipeline.status(failing)
    assert status.status == "failed" and status.stages[0].attempts == 2
    assert "cc-0001.pdf" in status.error and "exists and is not a folder" in status.error  # OutputError, from the OS
    attempts = pipeline.store.attempts(failing)
    assert [a["outcome"] for a in attempts] == ["retry", "failed"]
    assert attempts[1]["started"] >= attempts[0]["finished"] + 0.05  # the backoff was waited


def test_error_classes_and_settings_checks(tmp_path):
    assert is_transient(OSError("disk")) and is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert not is_transient(DocumentError("a.pdf", "corrupt")) and not is_transient(ValueError("bug"))
    busy = OcrError("ratelimit.db: rate limiter database: database is locked")
    busy.__cause__ = sqlite3.OperationalError("database is locked")
    assert is_transient(busy) and not is_transient(OcrError("a.pdf (page 2): Amazon Textract failed"))
    with pytest.raises(DocumentError, match="missing.pdf"):
        Pipeline(PipelineSettings(home=str(tmp_path))).submit(str(tmp_path / "missing.pdf"))
    with pytest.raises(Exception, match="unknown OCR engine 'nope'"):
        Pipeline(PipelineSettings(home=str(tmp_path), engine="nope"))
    with pytest.raises(Exception, match="not a tagger directory"):
        Pipeline(PipelineSettings(home=str(tmp_path), model=str(tmp_path)))


def test_process_command_prints_fields_writes_results_and_exits_2_on_failures(corpus, model, bad_files, tmp_path):
    from docfields.cli.main import app

    out, home = tmp_path / "out", tmp_path / "home"
    runner = CliRunner()
    args = ["process", str(corpus / "cc-0000.pdf"), str(bad_files["corrupt"]), "--model", model, "-o", str(out),
            "--review-threshold", "0"]  # fmt: skip
    result = runner.invoke(app, args, env={"DOCFIELDS_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "failed corrupt.pdf" in result.output and "cc-0000.pdf: done" in result.output
    assert "Card Name" in result.output  # the table of fields
    written = json.loads((out / "cc-0000.result.json").read_text())
    assert set(written) >= {"Confidence", "Fields"}
    assert not (out / "corrupt.result.json").exists()
    assert (home / "docfields.db").is_file()  # DOCFIELDS_HOME was used

    review = runner.invoke(app, ["process", str(corpus / "cc-0001.pdf"), "--model", model, "-o", str(out),
                                 "--review-threshold", "1", "--home", str(home)])  # fmt: skip
    assert review.exit_code == 0, review.output
    assert "cc-0001.pdf: in review" in review.output and "0 done, 1 in review, 0 failed" in review.output
    assert not (out / "cc-0001.result.json").exists()  # not a final result until reviewed
    pending = json.loads((out / "cc-0001.in-review.json").read_text())
    assert set(pending) >= {"Confidence", "Fields"} and "Review" not in pending


def test_textract_ocr_takes_a_slot_of_the_shared_rate_limiter(tmp_path):
    settings = PipelineSettings(home=str(tmp_path), engine="textract", ocr_concurrency=2, ocr_starts_per_second=50)
    data = StageInput("a.pdf", "/nowhere/a.pdf", "0" * 64, settings, ArtifactStore(tmp_path), holder="w1/doc1")
    limiter = rate_limiter(settings)
    assert limiter.path == tmp_path.resolve() / "ratelimit.db" and limiter.max_in_flight == 2
    with _rate_limited(data):
        assert [h.holder for h in limiter.holders()] == ["w1/doc1"]
    assert limiter.holders() == []
    local = dataclasses.replace(data, settings=PipelineSettings(home=str(tmp_path), engine="tesseract"))
    with _rate_limited(local):
        assert limiter.holders() == []  # only Textract is limited
