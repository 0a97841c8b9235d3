"""Issue 14 regressions of the pipeline, ``process`` and uploads.

Before: ``process`` run again on the same files, or one file uploaded several times at once,
made a new document (and review task) each time; ``process a/x.pdf b/x.pdf`` named the results
``x`` and ``x-2`` in input order, and they did not say which file they came from; a 404 showed
the database's absolute path; ``process -o FILE`` ended in a traceback.

The tagger is a tiny untrained LayoutLM built on the spot: these tests check the pipeline's
bookkeeping, not the model's accuracy.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from docfields.errors import UnknownDocumentError
from docfields.fields import ExtractionResult
from docfields.pipeline import Pipeline, PipelineSettings, process_files
from docfields.samples import credit_card_fields
from docfields.serve import ServeSettings, create_app
from pipeline_support import credit_card_corpus, tiny_tagger
from serve_server import serve_app

pytestmark = pytest.mark.slow  # documents go through OCR, a tagger and field extraction


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return credit_card_corpus(tmp_path_factory.mktemp("corpus"), n=3, seed=7)


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> str:
    return tiny_tagger(corpus, tmp_path_factory.mktemp("model"))


def run_process(*args: str, home: Path) -> Result:
    from docfields.cli.main import app

    result = CliRunner().invoke(app, ["process", *args, "--engine", "pdftext", "--home", str(home)],
                                env={"COLUMNS": "400"})  # fmt: skip
    return result


def count(home: Path, where: str = "1") -> int:
    with sqlite3.connect(home / "docfields.db") as conn:
        return conn.execute(f"SELECT COUNT(*) FROM documents WHERE {where}").fetchone()[0]


def test_process_run_three_times_on_the_same_files_reuses_its_documents_and_says_so(corpus, model, tmp_path):
    home, files = tmp_path / "home", [str(path) for path in sorted(corpus.glob("*.pdf"))]
    args = (*files, "--model", model, "--review-threshold", "1", "-o", str(tmp_path / "out"))
    first = run_process(*args, home=home)
    assert first.exit_code == 0, first.output
    assert "already processed" not in first.output
    ids = {status.name: status.id for status in Pipeline(PipelineSettings(home=str(home))).list()}
    assert len(ids) == len(files) and count(home, "status = 'in_review'") == len(files)

    for _ in range(2):
        again = run_process(*args, home=home)
        assert again.exit_code == 0, again.output
        for path in files:
            assert f"{path}: already processed as {ids[Path(path).name]}" in again.output
        assert f"0 done, {len(files)} in review, 0 failed" in again.output
    assert count(home) == len(files)  # was 3 rows per file after three runs
    assert count(home, "status = 'in_review'") == len(files)  # one review task per file, not one per run


def test_new_content_or_changed_settings_make_a_new_document_and_a_rerun_of_each_reuses_it(corpus, model, tmp_path):
    home, source = tmp_path / "home", tmp_path / "doc.pdf"
    fields = credit_card_fields()
    fields[0]["Ignore"] = True
    edited = tmp_path / "fields.json"
    edited.write_text(json.dumps(fields))
    runs = [
        ("cc-0000.pdf", ("--review-threshold", "1")),
        ("cc-0001.pdf", ("--review-threshold", "1")),  # new content under the same name
        ("cc-0001.pdf", ("--review-threshold", "0")),  # what decides review changed
        ("cc-0001.pdf", ("--review-threshold", "0", "--fields", str(edited))),  # another field configuration
    ]
    for n, (name, options) in enumerate(runs, start=1):
        shutil.copyfile(corpus / name, source)
        for _ in range(2):
            result = run_process(str(source), "--model", model, *options, home=home)
            assert result.exit_code == 0, result.output
        assert count(home) == n, f"after run {n} ({name} {options})"


def test_a_failed_document_is_retried_by_a_resubmission_while_a_done_one_is_reused(corpus, tmp_path):
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext", thumbnails=False))
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage, no xref")
    good, bad = pipeline.submit_once(str(corpus / "cc-0000.pdf")), pipeline.submit_once(str(corrupt))
    pipeline.run_until_idle()
    assert (pipeline.status(good.id).status, pipeline.status(bad.id).status) == ("done", "failed")

    good_again, bad_again = pipeline.submit_once(str(corpus / "cc-0000.pdf")), pipeline.submit_once(str(corrupt))
    assert good_again.reused and good_again.id == good.id
    assert not bad_again.reused and bad_again.id != bad.id
    assert pipeline.status(bad.id).status == "failed"  # the failed attempt keeps its record
    assert pipeline.submit_once(str(corrupt)).id == bad_again.id  # while the retry is queued, it is reused


def test_four_concurrent_uploads_of_one_file_make_one_document_and_one_review_task(corpus, model, tmp_path):
    settings = ServeSettings(workers=0, pipeline=PipelineSettings(home=str(tmp_path / "home"), engine="pdftext",
                                                                   model=model, review_threshold=1.0))  # fmt: skip
    app = create_app(settings)
    data = (corpus / "cc-0002.pdf").read_bytes()
    barrier = threading.Barrier(4)

    def upload(url: str) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=120) as client:
            barrier.wait(30)  # the four requests leave together
            return client.post("/documents", content=data, headers={"Content-Type": "application/pdf"},
                               params={"name": "statement.pdf"})  # fmt: skip

    with serve_app(app) as url, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(upload, [url] * 4))
        later = httpx.post(f"{url}/documents", content=data, headers={"Content-Type": "application/pdf"},
                           params={"name": "again.pdf"}, timeout=120)  # fmt: skip
    assert len({answer.json()["id"] for answer in [*answers, later]}) == 1, [a.text for a in answers]
    assert sorted(answer.status_code for answer in answers) == [200, 200, 200, 202]
    assert sorted(answer.json()["reused"] for answer in answers) == [False, True, True, True]
    assert later.status_code == 200 and later.json()["reused"] is True
    assert all(answer.headers["Location"] == f"/documents/{later.json()['id']}" for answer in [*answers, later])

    pipeline = app.state.pipeline
    pipeline.run_until_idle()
    assert [status.id for status in pipeline.list()] == [later.json()["id"]]
    assert len(pipeline.review_tasks()) == 1


def test_results_of_same_named_files_are_named_by_path_whatever_the_order_and_name_their_source(
    corpus, model, tmp_path
):
    inputs = {"a/x.pdf": "cc-0000.pdf", "b/x.pdf": "cc-0001.pdf", "c/y.pdf": "cc-0002.pdf"}
    for target, name in inputs.items():
        (tmp_path / "in" / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / name, tmp_path / "in" / target)
    files = [str(tmp_path / "in" / target) for target in inputs]
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext", model=model,
                                         review_threshold=0.0))  # fmt: skip
    written = {}
    for order, listed in (("forward", files), ("backward", files[::-1])):
        out = tmp_path / order
        summary = process_files(pipeline, listed, out=str(out))
        assert summary.count("done") == 3
        written[order] = {path.name: json.loads(path.read_text()) for path in out.iterdir()}
    assert written["forward"] == written["backward"]  # same names, same contents, whatever the order
    expected = {"a__x.pdf.result.json": "a/x.pdf", "b__x.pdf.result.json": "b/x.pdf", "y.result.json": "c/y.pdf"}
    assert {name: result["Source"] for name, result in written["forward"].items()} == {
        name: str((tmp_path / "in" / source).resolve()) for name, source in expected.items()
    }
    for result in written["forward"].values():
        ExtractionResult.from_json_dict(result)  # the Result contract's reader accepts the added key


def test_an_unknown_document_answers_404_without_server_paths(tmp_path):
    home = tmp_path / "secret-home"
    app = create_app(ServeSettings(workers=0, pipeline=PipelineSettings(home=str(home), engine="pdftext")))

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            return await client.get(path)

    for path in ("/documents/no-such-id", "/documents/no-such-id/result"):
        answer = asyncio.run(get(path))
        assert answer.status_code == 404
        assert "no-such-id" in answer.json()["detail"]
        assert "secret-home" not in answer.text and "docfields.db" not in answer.text
    with pytest.raises(UnknownDocumentError) as error:
        app.state.pipeline.status("no-such-id")
    assert str(home) not in str(error.value)


def test_process_output_naming_an_existing_file_exits_12_before_any_work(corpus, model, tmp_path):
    home, target = tmp_path / "home", tmp_path / "results.json"
    target.write_text("not a folder")
    result = run_process(str(corpus / "cc-0000.pdf"), "--model", model, "-o", str(target), home=home)
    assert result.exit_code == 12, result.output
    assert isinstance(result.exception, SystemExit)  # an error message, no traceback
    assert "exists and is not a folder" in result.output and "results.json" in result.output
    assert target.read_text() == "not a folder"
    assert count(home) == 0  # checked before anything was submitted


def test_a_transaction_left_open_by_an_interrupt_does_not_block_the_next_write(corpus, tmp_path):
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext"))
    pipeline.store._conn().execute("BEGIN IMMEDIATE")  # as when Ctrl-C or SIGTERM lands between BEGIN and its try
    submission = pipeline.submit_once(str(corpus / "cc-0000.pdf"))
    assert pipeline.status(submission.id).status == "queued"
