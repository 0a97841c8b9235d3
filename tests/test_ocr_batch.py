"""Batch OCR over folders, globs and manifests: outputs, failures, skipping, resume, URLs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr
from docfields.textract import iter_words, read_textract

DOCFIELDS = [sys.executable, "-m", "docfields.cli"]


@pytest.fixture
def corpus(shared_data: Path, tmp_path: Path) -> Path:
    """Two good documents, three bad ones, and hidden files that must be ignored."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    shutil.copy(shared_data / "pdfs" / "scotus-transcript-p1.pdf", root / "transcript.pdf")
    shutil.copy(shared_data / "ocr" / "phototest.tif", root / "sub" / "scan.tif")
    shutil.copy(shared_data / "ocr" / "phototest.tif", root / ".hidden" / "skip.tif")
    (root / ".dotfile.pdf").write_bytes(b"")
    (root / "empty.pdf").write_bytes(b"")
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(300))
    (root / "sub" / "notes.txt").write_text("not a document\n")
    return root


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_relative_paths_give_a_manifest_readable_from_any_folder(corpus, tmp_path, monkeypatch):
    """Relative output folders still give absolute references: readers resolve against the manifest."""
    from docfields.annotations import resolve_ref

    monkeypatch.chdir(tmp_path)
    shutil.copy(corpus / "transcript.pdf", tmp_path / "t.pdf")
    options = BatchOcrOptions(workers=1)
    run_batch_ocr(plan_batch_ocr("t.pdf", "rel/out", options), options)
    record = read_jsonl(tmp_path / "rel" / "out" / "manifest.jsonl")[0]
    assert Path(record["raw-ref"]).is_absolute() and Path(record["textract-ref"]).is_absolute()
    monkeypatch.chdir("/")
    assert read_textract(resolve_ref(record["textract-ref"], str(tmp_path / "rel" / "out"), None)).blocks


def test_folder_batch_writes_outputs_manifest_and_failures(corpus, tmp_path):
    out = tmp_path / "out"
    options = BatchOcrOptions(workers=1)
    summary = run_batch_ocr(plan_batch_ocr(str(corpus), str(out), options), options)

    assert (summary.documents, summary.processed, summary.failed, summary.skipped) == (5, 2, 3, 0)
    assert summary.pages_per_engine == {"pdftext": 1, "tesseract": 1}
    transcript = read_textract(str(out / "transcript.pdf" / "consolidated.json"))
    assert any(w.text == "SUPREME" for w in iter_words(transcript))
    assert (out / "sub" / "scan.tif" / "consolidated.json").exists()
    assert not list(out.rglob("skip.tif"))

    manifest = read_jsonl(out / "manifest.jsonl")
    assert [Path(r["raw-ref"]).name for r in manifest] == ["scan.tif", "transcript.pdf"]
    assert all(Path(r["textract-ref"]).exists() for r in manifest)
    failures = {Path(r["raw-ref"]).name: r for r in read_jsonl(out / "failures.jsonl")}
    assert set(failures) == {"empty.pdf", "corrupt.pdf", "notes.txt"}
    assert "empty.pdf" in failures["empty.pdf"]["error"] and "empty" in failures["empty.pdf"]["error"].lower()
    assert failures["notes.txt"]["type"] == "DocumentError"
    assert "unsupported" in failures["notes.txt"]["error"]


def test_rerun_skips_finished_documents_and_force_redoes_them(corpus, tmp_path):
    out = tmp_path / "out"
    options = BatchOcrOptions(workers=1, engine="pdftext")
    run_batch_ocr(plan_batch_ocr(str(corpus / "transcript.pdf"), str(out), options), options)
    target = out / "transcript.pdf" / "consolidated.json"
    first = target.stat().st_mtime_ns

    again = run_batch_ocr(plan_batch_ocr(str(corpus / "transcript.pdf"), str(out), options), options)
    assert (again.processed, again.skipped) == (0, 1)
    assert target.stat().st_mtime_ns == first
    assert len(read_jsonl(out / "manifest.jsonl")) == 1

    forced = BatchOcrOptions(workers=1, engine="pdftext", force=True)
    redo = run_batch_ocr(plan_batch_ocr(str(corpus / "transcript.pdf"), str(out), forced), forced)
    assert (redo.processed, redo.skipped) == (1, 0)
    assert target.stat().st_mtime_ns > first


def test_glob_and_manifest_inputs(corpus, tmp_path):
    options = BatchOcrOptions(workers=1, engine="auto")
    by_glob = plan_batch_ocr(str(corpus / "**" / "*.tif"), str(tmp_path / "g"), options)
    assert [Path(t.source).name for t in by_glob.tasks] == ["scan.tif"]
    assert by_glob.tasks[0].output == str(tmp_path / "g" / "sub" / "scan.tif" / "consolidated.json")

    manifest = tmp_path / "in.manifest.jsonl"
    explicit = tmp_path / "m" / "elsewhere" / "t.json"  # inside OUT: one outside is not written to
    lines = [
        json.dumps({"raw-ref": str(corpus / "transcript.pdf"), "page-num": 1, "textract-ref": str(explicit)}),
        "{not json",
        json.dumps({"source-ref": "no raw-ref here"}),
        json.dumps({"raw-ref": str(corpus / "sub" / "scan.tif")}),
    ]
    manifest.write_text("\n".join(lines) + "\n")
    plan = plan_batch_ocr(str(manifest), str(tmp_path / "m"), options)
    summary = run_batch_ocr(plan, options)
    assert summary.processed == 2 and summary.failed == 2
    assert explicit.exists()  # a manifest's own textract-ref inside OUT wins
    assert (tmp_path / "m" / "sub" / "scan.tif" / "consolidated.json").exists()
    out_manifest = read_jsonl(tmp_path / "m" / "manifest.jsonl")
    assert out_manifest[0]["page-num"] == 1  # input keys are kept
    problems = [r["raw-ref"] for r in read_jsonl(tmp_path / "m" / "failures.jsonl")]
    assert problems == [f"{manifest} line 2", f"{manifest} line 3"]


def test_fsspec_urls_for_input_and_output(corpus):
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.pipe("/in/transcript.pdf", (corpus / "transcript.pdf").read_bytes())
    options = BatchOcrOptions(workers=1, engine="pdftext")
    summary = run_batch_ocr(plan_batch_ocr("memory://in", "memory://out", options), options)
    assert summary.processed == 1
    data = json.loads(memory.cat("/out/transcript.pdf/consolidated.json"))
    assert data["DocumentMetadata"]["Pages"] == 1
    assert (
        json.loads(memory.cat("/out/manifest.jsonl"))["textract-ref"] == "memory://out/transcript.pdf/consolidated.json"
    )


def test_process_pool_gives_the_same_words_as_in_process(corpus, tmp_path):
    results = {}
    for workers in (1, 2):
        options = BatchOcrOptions(workers=workers)
        run_batch_ocr(plan_batch_ocr(str(corpus), str(tmp_path / str(workers)), options), options)
        results[workers] = [
            [w.text for w in iter_words(read_textract(str(p)))]
            for p in sorted((tmp_path / str(workers)).rglob("consolidated.json"))
        ]
    assert results[1] == results[2] and len(results[1]) == 2


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(shared_data, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    documents = 16  # enough that work is left when a slow machine sees the first output late
    for i in range(documents):
        shutil.copy(shared_data / "pdfs" / "scotus-transcript-p1.pdf", corpus / f"doc{i}.pdf")
    out = tmp_path / "out"
    command = [*DOCFIELDS, "ocr", str(corpus), "-o", str(out), "--engine", "tesseract", "--workers", "2"]
    # A terminal's Ctrl-C: the child must not inherit an ignored SIGINT (background jobs of a
    # non-interactive shell, such as a CI script started with `&`, run with SIGINT ignored).
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(out.rglob("consolidated.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted" in output
    done = len(list(out.rglob("consolidated.json")))
    assert 1 <= done < documents
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{documents - done} processed, {done} already done" in rerun.stdout
    assert len(read_jsonl(out / "manifest.jsonl")) == documents


def test_per_page_manifest_reads_each_document_once_and_keeps_every_line(shared_data, tmp_path):
    """Regression: a manifest with one line per page made one OCR job per page and lost page lines."""
    pdf = shared_data / "textract" / "textractor-multipage-doc.pdf"
    manifest = tmp_path / "pages.manifest.jsonl"
    lines = [{"raw-ref": str(pdf), "page-num": n, "label": {"annotations": [], "image_size": [{}]}} for n in (1, 2)]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    options = BatchOcrOptions(workers=1, engine="pdftext")
    plan = plan_batch_ocr(str(manifest), str(tmp_path / "out"), options)
    assert len(plan.tasks) == 1
    summary = run_batch_ocr(plan, options)
    assert (summary.processed, summary.pages) == (1, 2)
    written = read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert [r["page-num"] for r in written] == [1, 2]
    assert written[0]["textract-ref"] == written[1]["textract-ref"]
    assert all("label" in r for r in written)
