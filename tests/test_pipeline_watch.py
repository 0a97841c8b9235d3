"""Folder watch: good files give outputs, bad ones go to quarantine with a reason, nothing is done twice."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.pipeline import Pipeline, PipelineSettings, WatchOptions, watch_folder
from docfields.pipeline.watch import _Scanner
from docfields.samples.corpus import CorpusOptions, write_corpus

CORRUPT = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> and then nothing a PDF reader could use"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root, CorpusOptions(n=3, seed=11, scan_share=0.0))
    return root / "docs"


def age(path: Path, seconds: float = 60.0) -> None:
    """Make a file look finished: untouched for a while."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def inbox(tmp_path, corpus) -> Path:
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(corpus / "cc-0000.pdf", folder / "good.pdf")
    shutil.copy(corpus / "cc-0001.pdf", folder / "sub" / "nested.pdf")
    (folder / "bad.pdf").write_bytes(CORRUPT)
    (folder / "empty.png").write_bytes(b"")
    shutil.copy(corpus / "cc-0002.pdf", folder / ".hidden.pdf")
    shutil.copy(corpus / "cc-0002.pdf", folder / "download.pdf.part")
    for path in folder.rglob("*"):
        age(path)
    return folder


def test_watch_once_delivers_results_quarantines_bad_files_and_never_redoes_a_file(inbox, tmp_path, corpus):
    from docfields.cli.main import app

    out, home = tmp_path / "out", tmp_path / "home"
    runner = CliRunner()
    args = ["watch", str(inbox), "-o", str(out), "--once", "--engine", "pdftext", "--home", str(home)]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 2, first.output  # files were quarantined
    assert "4 new file(s): 2 done, 2 quarantined" in first.output
    ocr = json.loads((out / "good.textract.json").read_text())
    assert ocr["DocumentMetadata"]["Pages"] >= 1
    assert (out / "sub" / "nested.textract.json").is_file()
    quarantine = out / "quarantine"
    assert (quarantine / "bad.pdf").read_bytes() == CORRUPT and not (inbox / "bad.pdf").exists()
    assert "bad.pdf" in (quarantine / "bad.pdf.reason.txt").read_text()
    assert "empty file" in (quarantine / "empty.png.reason.txt").read_text()
    assert (inbox / "good.pdf").exists()  # good files stay where they were
    assert not list(out.rglob("*hidden*")) and not list(out.rglob("download*"))

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 new file(s)" in again.output
    pipeline = Pipeline(PipelineSettings(home=str(home), engine="pdftext"))
    assert len(pipeline.list()) == 4

    shutil.copy(corpus / "cc-0002.pdf", inbox / "late.pdf")
    age(inbox / "late.pdf")
    third = runner.invoke(app, args)
    assert third.exit_code == 0 and "1 new file(s): 1 done" in third.output, third.output
    assert (out / "late.textract.json").is_file() and len(pipeline.list()) == 5


def test_a_file_still_being_written_is_not_taken(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    growing = folder / "scan.pdf"
    growing.write_bytes(b"%PDF-1.7\n")
    scanner = _Scanner(folder, (), settle_seconds=0.3)
    assert scanner.stable() == ([], 1)
    time.sleep(0.2)
    with growing.open("ab") as handle:
        handle.write(b"more bytes of a slow copy")
    assert scanner.stable() == ([], 1)  # it changed: wait again
    time.sleep(0.35)
    ready, changing = scanner.stable()
    assert [c.path for c in ready] == [growing] and changing == 0


def test_the_watch_loop_picks_up_new_files_until_stopped(tmp_path, corpus):
    folder, out = tmp_path / "inbox", tmp_path / "out"
    folder.mkdir()
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext", thumbnails=False))
    stop, events = threading.Event(), []
    options = WatchOptions(out=str(out), interval=0.1, settle_seconds=0.2)
    thread = threading.Thread(target=lambda: watch_folder(pipeline, str(folder), options, stop, events.append))
    thread.start()
    try:
        time.sleep(0.3)
        shutil.copy(corpus / "cc-0001.pdf", folder / "arrived.pdf")
        deadline = time.monotonic() + 60
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert [(e.document.name, e.document.status) for e in events] == [("arrived.pdf", "done")]
    assert Path(events[0].output) == out / "arrived.textract.json" and Path(events[0].output).is_file()


@pytest.mark.slow
def test_documents_in_review_are_delivered_once_reviewed(tmp_path, corpus):
    from docfields.ner import build_tagger
    from docfields.samples import credit_card_fields

    model = build_tagger("layoutlm-tiny", credit_card_fields(), ["annual fee", "card"], seed=0, vocab_size=100)
    model_dir = str(model.save(tmp_path / "model"))
    folder, out = tmp_path / "inbox", tmp_path / "out"
    folder.mkdir()
    shutil.copy(corpus / "cc-0002.pdf", folder / "agreement.pdf")
    age(folder / "agreement.pdf")
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext", model=model_dir,
                                         review_threshold=1.0))  # fmt: skip
    options = WatchOptions(out=str(out), once=True)
    first = watch_folder(pipeline, str(folder), options)
    assert (first.submitted, first.done, first.in_review) == (1, 0, 1)
    assert not (out / "agreement.result.json").exists()

    [task] = pipeline.review_tasks()
    reviewed = {**pipeline.result(task.id), "Review": {"Reviewer": "ana", "TimeSpentInSeconds": 3.0,
                                                       "ChangedFields": [], "ReviewedAt": "2024-05-01T10:00:00Z"}}
    pipeline.complete_review(task.id, reviewed)
    second = watch_folder(pipeline, str(folder), options)
    assert (second.submitted, second.done, second.in_review) == (0, 1, 0)
    assert json.loads((out / "agreement.result.json").read_text())["Review"]["Reviewer"] == "ana"
