"""A worker process killed with SIGKILL in the middle of a stage: nothing lost, nothing duplicated.

Real worker processes, real Tesseract OCR slow enough to be caught running, a real ``kill -9``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from docfields.pipeline import Pipeline, PipelineSettings

pytestmark = pytest.mark.slow


def make_pdf(path: Path, pages: int, tag: str) -> str:
    pdf = canvas.Canvas(str(path), pagesize=letter)
    for page in range(pages):
        for line in range(12):
            pdf.drawString(72, 720 - 24 * line, f"{tag} page {page + 1} line {line + 1}: the annual fee is 95 dollars")
        pdf.showPage()
    pdf.save()
    return str(path)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stage(pipeline: Pipeline, doc_id: str, name: str):
    return next(s for s in pipeline.status(doc_id).stages if s.name == name)


def test_kill_9_during_ocr_loses_nothing_duplicates_nothing_and_redoes_no_finished_stage(tmp_path):
    settings = PipelineSettings(home=str(tmp_path / "home"), engine="tesseract", lease_seconds=1.5,
                                poll_seconds=0.1)  # fmt: skip
    pipeline = Pipeline(settings)
    first = pipeline.submit(make_pdf(tmp_path / "first.pdf", 1, "first"))
    slow = pipeline.submit(make_pdf(tmp_path / "slow.pdf", 4, "slow"))
    last = pipeline.submit(make_pdf(tmp_path / "last.pdf", 1, "last"))

    pool = pipeline.start_workers(1)
    try:
        wait_for(lambda: stage(pipeline, slow, "ocr").state == "running", 120, "the slow OCR to start")
        time.sleep(0.3)  # well inside the 4-page OCR
        os.kill(pool.pids[0], signal.SIGKILL)
        pool.join(10)
    finally:
        pool.stop(timeout=5)
    assert pool.processes[0].exitcode == -signal.SIGKILL
    assert pipeline.status(first).status == "done"  # finished before the kill
    assert stage(pipeline, slow, "ocr").state == "running"  # its worker is dead; its lease will expire
    attempts_before = {doc: pipeline.store.attempts(doc) for doc in (first, slow, last)}

    with pipeline.start_workers(1) as restarted:  # the restart
        wait_for(lambda: all(pipeline.status(d).final for d in (first, slow, last)), 120, "all documents")
    assert restarted.alive() == 0

    for doc_id in (first, slow, last):
        assert pipeline.status(doc_id).status == "done"
    assert pipeline.store.attempts(first) == attempts_before[first]  # nothing of it was redone
    assert all(s.attempts == 1 for s in pipeline.status(first).stages if s.state == "done")
    assert stage(pipeline, slow, "ocr").attempts == 2
    slow_ocr = [a for a in pipeline.store.attempts(slow) if a["stage"] == "ocr"]
    assert [a["outcome"] for a in slow_ocr] == ["lost", "done"] and slow_ocr[0]["worker"] != slow_ocr[1]["worker"]
    assert stage(pipeline, slow, "thumbnails").attempts == 1
    assert stage(pipeline, last, "ocr").attempts == 1
    assert pipeline.status(slow).pages == 4

    with sqlite3.connect(tmp_path / "home" / "docfields.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM stages").fetchone()[0] == 3 * 4
        done = conn.execute("SELECT COUNT(*) FROM attempts WHERE outcome IN ('done', 'reused')").fetchone()[0]
        assert done == 3 * 2  # ocr and thumbnails of each document completed exactly once
    artifacts = tmp_path / "home" / "artifacts"
    assert len(list(artifacts.rglob("*.json"))) == 3 and len(list(artifacts.rglob("*.npz"))) == 3
    assert not list(artifacts.rglob("*.tmp"))


def test_run_until_idle_with_worker_processes_reports_every_document(tmp_path):
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext", poll_seconds=0.1))
    ids = [pipeline.submit(make_pdf(tmp_path / f"doc{i}.pdf", 1, f"doc{i}")) for i in range(4)]
    finals: dict[str, str] = {}
    pipeline.run_until_idle(workers=2, on_change=lambda s: s.final and finals.setdefault(s.id, s.status))
    assert finals == {doc_id: "done" for doc_id in ids}
    workers = {a["worker"] for doc_id in ids for a in pipeline.store.attempts(doc_id)}
    assert workers and all(f":{os.getpid()}:" not in worker for worker in workers)  # worked in child processes
    assert pipeline.store.active_count() == 0
