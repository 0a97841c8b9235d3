"""The pipeline's SQLite store: exclusive claims across processes, leases, retries, statuses and timings."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from docfields.errors import PipelineError, UnknownDocumentError
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.pipeline.store import NewDocument, StagePlan, Store
from docfields.samples.corpus import CorpusOptions, write_corpus
from docfields.textract import iter_pages, read_textract
from docfields.thumbnails import thumbnails_from_npz

FULL_PLAN = (StagePlan("ocr", 0), StagePlan("thumbnails", 0), StagePlan("enrich", 1), StagePlan("fields", 2))
OCR_ONLY = (StagePlan("ocr", 0), StagePlan("thumbnails", 0, "skipped"), StagePlan("enrich", 1, "skipped"),
            StagePlan("fields", 2, "skipped"))  # fmt: skip


def add(store: Store, doc_id: str, plan: tuple[StagePlan, ...] = FULL_PLAN, key: str | None = None) -> str:
    return store.add_document(NewDocument(doc_id, f"{doc_id}.pdf", "0" * 64, f"/nowhere/{doc_id}.pdf", "{}", plan, key))


def claim_everything(database: str, worker: str, out: str, barrier) -> None:
    """A worker process that claims and completes stages until no document is left."""
    store = Store(database)
    claimed = []
    barrier.wait(60)  # all workers start claiming together
    while store.active_count():
        claim = store.claim(worker, lease_seconds=60, max_attempts=3)
        if claim is None:
            continue
        claimed.append([claim.document_id, claim.stage])
        time.sleep(0.002)  # some work, so that claims interleave
        assert store.complete(claim, f"key-{claim.document_id}-{claim.stage}", 0.0, reused=False)
    Path(out).write_text(json.dumps(claimed))


def test_claims_are_exclusive_across_processes_and_follow_the_stage_order(tmp_path):
    database = str(tmp_path / "docfields.db")
    store = Store(database)
    ids = [add(store, f"doc{i:02d}") for i in range(25)]
    context = multiprocessing.get_context("spawn")
    outs = [str(tmp_path / f"claimed-{i}.json") for i in range(4)]
    barrier = context.Barrier(len(outs))
    workers = [context.Process(target=claim_everything, args=(database, f"w{i}", out, barrier))
               for i, out in enumerate(outs)]  # fmt: skip
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    claimed = [tuple(item) for out in outs for item in json.loads(Path(out).read_text())]
    assert len(claimed) == len(set(claimed)) == 4 * len(ids)  # every stage exactly once
    assert sum(1 for out in outs if json.loads(Path(out).read_text())) >= 2  # the work was shared
    for doc_id in ids:
        status = store.document(doc_id)
        assert status.status == "done"
        stages = {s.name: s for s in status.stages}
        assert all(s.attempts == 1 and s.state == "done" for s in stages.values())
        assert stages["enrich"].started >= max(stages["ocr"].finished, stages["thumbnails"].finished)
        assert stages["fields"].started >= stages["enrich"].finished


def test_an_expired_lease_is_reclaimed_and_the_lost_worker_cannot_complete(tmp_path):
    store = Store(tmp_path / "docfields.db")
    add(store, "a", OCR_ONLY)
    first = store.claim("w1", lease_seconds=10, max_attempts=3, now=1000.0)
    assert first is not None and first.attempt == 1
    assert store.claim("w2", lease_seconds=10, max_attempts=3, now=1005.0) is None  # leased
    assert store.renew("w1", lease_seconds=10, now=1008.0) == 1  # heartbeat: now leased until 1018
    assert store.claim("w2", lease_seconds=10, max_attempts=3, now=1015.0) is None
    second = store.claim("w2", lease_seconds=10, max_attempts=3, now=1019.0)
    assert second is not None and (second.stage, second.attempt) == ("ocr", 2)
    assert not store.complete(first, "late", 1.0, reused=False)  # fenced: w1 lost the stage
    assert store.complete(second, "key", 2.0, reused=False)
    status = store.document("a")
    assert status.status == "done" and status.stages[0].attempts == 2
    assert [a["outcome"] for a in store.attempts("a")] == ["lost", "done"]
    assert status.stages[0].seconds == 2.0


def test_a_stage_whose_workers_keep_dying_fails_the_document(tmp_path):
    store = Store(tmp_path / "docfields.db")
    add(store, "a", OCR_ONLY)
    for attempt in range(3):
        assert store.claim(f"w{attempt}", lease_seconds=1, max_attempts=3, now=100.0 + 10 * attempt) is not None
    assert store.claim("w9", lease_seconds=1, max_attempts=3, now=200.0) is None
    status = store.document("a")
    assert status.status == "failed" and "lost 3 times" in status.error


def test_retries_wait_for_their_backoff_and_permanent_errors_fail_the_document(tmp_path):
    store = Store(tmp_path / "docfields.db")
    add(store, "a")
    claim = store.claim("w1", lease_seconds=60, max_attempts=3, now=100.0)
    assert claim.stage == "ocr"
    assert store.fail(claim, "a.pdf: OSError: disk busy", retry_in=10.0, now=101.0)
    other = store.claim("w1", lease_seconds=60, max_attempts=3, now=102.0)
    assert other.stage == "thumbnails"  # the retry waits; other work goes on
    assert store.complete(other, "thumbs", 0.1, reused=False, now=102.5)
    assert store.claim("w1", lease_seconds=60, max_attempts=3, now=105.0) is None
    assert store.next_event(now=105.0) == pytest.approx(111.0)
    retried = store.claim("w1", lease_seconds=60, max_attempts=3, now=112.0)
    assert (retried.stage, retried.attempt) == ("ocr", 2)
    assert store.fail(retried, "a.pdf: not a PDF", retry_in=None, now=113.0)
    status = store.document("a")
    assert status.status == "failed" and status.error == "ocr: a.pdf: not a PDF"
    assert [s.state for s in status.stages] == ["failed", "done", "skipped", "skipped"]
    assert [(a["outcome"], a["error"]) for a in store.attempts("a") if a["stage"] == "ocr"] == [
        ("retry", "a.pdf: OSError: disk busy"), ("failed", "a.pdf: not a PDF")]  # fmt: skip
    assert store.active_count() == 0


def test_idempotency_keys_wal_mode_and_unknown_documents(tmp_path):
    store = Store(tmp_path / "docfields.db")
    assert add(store, "a", key="k1") == "a"
    assert add(store, "b", key="k1") == "a"
    assert store.find_key("k1") == "a" and store.find_key("k2") is None
    seen = store.last_change()
    assert seen >= 1 and store.changed_after(seen) == ([], seen)
    store.claim("w1", lease_seconds=60, max_attempts=3)
    changed, latest = store.changed_after(seen)
    assert [(d.id, d.status) for d in changed] == [("a", "running")] and latest > seen
    assert len(store.documents()) == 1
    with sqlite3.connect(tmp_path / "docfields.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM stages").fetchone()[0] == 4
    with pytest.raises(UnknownDocumentError, match="nope"):
        store.document("nope")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root, CorpusOptions(n=2, seed=3, scan_share=0.0))
    return root / "docs"


def test_a_pipeline_run_records_status_pages_timings_and_artifacts(tmp_path, corpus):
    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext"))
    doc_id = pipeline.submit(str(corpus / "cc-0000.pdf"))
    assert pipeline.status(doc_id).status == "queued"
    seen = []
    pipeline.run_until_idle(on_change=seen.append)
    status = pipeline.status(doc_id)
    assert status.status == "done" and status.error is None and status.confidence is None
    assert seen and seen[-1].status == "done"
    stages = {s.name: s for s in status.stages}
    for name in ("ocr", "thumbnails"):
        stage = stages[name]
        assert stage.state == "done" and stage.attempts == 1 and not stage.reused
        assert stage.seconds > 0 and stage.started <= stage.finished
    assert stages["enrich"].state == stages["fields"].state == "skipped"
    ocr = read_textract(pipeline.artifact_path(doc_id, "ocr"))
    assert status.pages == len(list(iter_pages(ocr))) >= 1
    thumbnails = thumbnails_from_npz(Path(pipeline.artifact_path(doc_id, "thumbnails")).read_bytes())
    assert len(thumbnails) == status.pages and thumbnails[0].size == (224, 224)
    assert pipeline.artifact_path(doc_id, "enrich") is None
    assert Path(pipeline.document_path(doc_id)).read_bytes() == (corpus / "cc-0000.pdf").read_bytes()
    assert pipeline.result(doc_id) is None  # no model, no fields
    assert [d.id for d in pipeline.list("done")] == [doc_id] and pipeline.list("failed") == []
    with pytest.raises(PipelineError, match="unknown stage"):
        pipeline.artifact_path(doc_id, "ner")
