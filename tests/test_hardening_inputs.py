"""Issue 14, batch inputs and outputs: what a hostile manifest, folder or ``-o`` broke, kept fixed.

Before: manifests whose references share no folder wrote outside ``-o``; a latin-1 manifest gave
a ``UnicodeDecodeError`` traceback; a FIFO named ``x.pdf`` hung ``inspect``, ``ocr``,
``thumbnails`` and ``process``, and folder walks skipped FIFOs, dangling links and unreadable
folders silently; ``-o`` naming a file gave a ``FileExistsError`` traceback; a zero-page PDF said
"PDFium: Success"; Pillow's warnings on corrupt TIFFs went to stderr. Every command that could
hang runs under a timeout, so a regression fails instead of hanging CI.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from docfields import storage
from docfields.errors import AnnotationError, DocumentError, OutputError
from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr
from docfields.ocr.inputs import InputItem, list_inputs
from docfields.ocr.runner import output_for

DOCFIELDS = [sys.executable, "-m", "docfields.cli"]
PDFTEXT = BatchOcrOptions(workers=1, engine="pdftext")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command as a user runs it; a hang fails the test through the timeout."""
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    return subprocess.run([*DOCFIELDS, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def listing(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def pdf(shared_data: Path) -> bytes:
    return (shared_data / "pdfs" / "scotus-transcript-p1.pdf").read_bytes()


def test_manifest_refs_without_common_root_stay_inside_out(tmp_path, pdf):
    """``../other/e.pdf`` beside ``sub/a.pdf`` and an absolute path: all outputs land under ``-o``."""
    work = tmp_path / "work"
    for path in (work / "sub" / "a.pdf", tmp_path / "other" / "e.pdf", tmp_path / "abs" / "b.pdf"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)
    refs = ["sub/a.pdf", "../other/e.pdf", str(tmp_path / "abs" / "b.pdf"), "sub/../../other/e.pdf"]
    (work / "m.jsonl").write_text("".join(json.dumps({"raw-ref": ref}) + "\n" for ref in refs))
    before = listing(tmp_path)

    result = run("ocr", "m.jsonl", "-o", "out", "--engine", "pdftext", "--workers", "1", cwd=work)

    assert result.returncode == 0, result.stdout + result.stderr
    added = listing(tmp_path) - before
    assert added and all(name.startswith("work/out") for name in added), sorted(added)
    outputs = sorted(name for name in added if name.endswith("consolidated.json"))
    assert outputs == [f"work/out/{name}/consolidated.json" for name in ("abs/b.pdf", "other/e.pdf", "work/sub/a.pdf")]
    assert len(read_jsonl(work / "out" / "manifest.jsonl")) == 4  # both spellings of e.pdf keep their line


def test_urls_mixed_with_local_refs_stay_inside_out(tmp_path, pdf):
    import fsspec

    fsspec.filesystem("memory").pipe("/hardening/u.pdf", pdf)
    (tmp_path / "l.pdf").write_bytes(pdf)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"raw-ref": "memory://hardening/u.pdf"})
        + "\n"
        + json.dumps({"raw-ref": str(tmp_path / "l.pdf")})
        + "\n"
    )

    summary = run_batch_ocr(plan_batch_ocr(str(manifest), str(tmp_path / "out"), PDFTEXT), PDFTEXT)

    assert summary.processed == 2
    relative = f"file{tmp_path}/l.pdf"  # no common folder: each name starts with its protocol
    assert (tmp_path / "out" / "memory" / "hardening" / "u.pdf" / "consolidated.json").exists()
    assert (tmp_path / "out" / relative / "consolidated.json").exists()


def test_textract_ref_outside_out_is_not_written(tmp_path, pdf, caplog):
    """Decided: a manifest's textract-ref names the output only inside ``-o``; elsewhere it is ignored."""
    (tmp_path / "a.pdf").write_bytes(pdf)
    (tmp_path / "b.pdf").write_bytes(pdf)
    outside = tmp_path / "victim.json"
    lines = [
        {"raw-ref": str(tmp_path / "a.pdf"), "textract-ref": str(outside)},
        {"raw-ref": str(tmp_path / "b.pdf"), "textract-ref": "../escape.json"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"

    with caplog.at_level(logging.WARNING, logger="docfields.ocr.runner"):
        summary = run_batch_ocr(plan_batch_ocr(str(manifest), str(out), PDFTEXT), PDFTEXT)

    assert summary.processed == 2
    assert not outside.exists() and not (tmp_path / "escape.json").exists()
    written = [record["textract-ref"] for record in read_jsonl(out / "manifest.jsonl")]
    assert written == [str(out / "a.pdf" / "consolidated.json"), str(out / "b.pdf" / "consolidated.json")]
    assert f"{manifest} line 1: textract-ref {outside} is outside" in caplog.text


def test_textract_ref_inside_out_or_relative_to_it_is_used(tmp_path, pdf):
    item = InputItem(str(tmp_path / "a.pdf"), "a.pdf", {"textract-ref": "ocr/a.json"})
    assert output_for(str(tmp_path / "out"), item) == str(tmp_path / "out" / "ocr" / "a.json")
    onto_manifest = InputItem(str(tmp_path / "a.pdf"), "a.pdf", {"textract-ref": "manifest.jsonl"})
    assert output_for(str(tmp_path / "out"), onto_manifest) == str(tmp_path / "out" / "a.pdf" / "consolidated.json")


def test_output_escaping_through_a_symlink_is_renamed_inside_out(tmp_path):
    """A relative path that resolves outside (``out/sub`` links elsewhere) gets a stable safe name."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    first = output_for(str(out), InputItem("/data/sub/a.pdf", "sub/a.pdf"))
    other = output_for(str(out), InputItem("/other/sub/a.pdf", "sub/a.pdf"))

    assert storage.relative_inside(str(out), first) is not None
    assert first.startswith(str(out / "_outside")) and first.endswith("-a.pdf/consolidated.json")
    assert first == output_for(str(out), InputItem("/data/sub/a.pdf", "sub/a.pdf"))  # deterministic
    assert first != other  # unique per source


def test_output_that_cannot_be_placed_inside_out_is_a_failure_naming_the_line(tmp_path, pdf):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(tmp_path)  # out/sub/a.pdf/... would land in tmp_path/a.pdf/...
    (out / "_outside").symlink_to(tmp_path)  # and so would the safe name
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.pdf").write_bytes(pdf)
    (tmp_path / "z.pdf").write_bytes(pdf)
    manifest = tmp_path / "m.jsonl"
    refs = [str(tmp_path / "sub" / "a.pdf"), str(tmp_path / "z.pdf")]
    manifest.write_text("".join(json.dumps({"raw-ref": ref}) + "\n" for ref in refs))

    plan = plan_batch_ocr(str(manifest), str(out), PDFTEXT)

    assert [task.output for task in plan.tasks] == [str(out / "z.pdf" / "consolidated.json")]
    assert [problem.where for problem in plan.problems] == [f"{manifest} line 1"]
    assert "outside the output folder" in plan.problems[0].reason


def test_manifest_naming_a_symlink_loop_fails_that_document_only(tmp_path, pdf):
    """``Path.resolve`` raised RuntimeError on a looping symlink while the plan made references absolute."""
    (tmp_path / "loop.pdf").symlink_to(tmp_path / "loop.pdf")
    (tmp_path / "good.pdf").write_bytes(pdf)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"raw-ref": str(tmp_path / n)}) + "\n" for n in ("loop.pdf", "good.pdf")))

    summary = run_batch_ocr(plan_batch_ocr(str(manifest), str(tmp_path / "out"), PDFTEXT), PDFTEXT)

    assert (summary.processed, summary.failed) == (1, 1)
    [failure] = read_jsonl(tmp_path / "out" / "failures.jsonl")
    assert failure["raw-ref"] == str(tmp_path / "loop.pdf") and "symbolic links" in failure["error"]


def test_non_utf8_manifest_is_a_clear_error_naming_line_and_byte(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b'{"raw-ref": "a.pdf"}\n{"raw-ref": "caf\xe9.pdf"}\n')

    result = run("ocr", str(manifest), "-o", str(tmp_path / "out"))

    assert result.returncode == AnnotationError.exit_code, result.stderr
    assert f"{manifest} line 2" in result.stderr and "byte 37" in result.stderr and "UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_manifest_with_a_byte_order_mark_is_read(tmp_path, encoding):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"raw-ref": "café.pdf"}, ensure_ascii=False) + "\n", encoding=encoding)
    items, problems = list_inputs(str(manifest))
    assert [item.source for item in items] == ["café.pdf"] and problems == []


def test_manifest_line_with_a_raw_line_separator_stays_one_line(tmp_path):
    """``str.splitlines`` split on U+2028, which JSON allows unescaped inside a string."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"raw-ref": "a\u2028b.pdf"}, ensure_ascii=False) + "\n", encoding="utf-8")
    items, problems = list_inputs(str(manifest))
    assert [item.source for item in items] == ["a\u2028b.pdf"] and problems == []


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "x.pdf"
    os.mkfifo(path)
    return path


def test_fifo_fails_at_once_in_inspect_thumbnails_and_ocr(fifo, tmp_path):
    for args in (["inspect", str(fifo)], ["thumbnails", str(fifo), "-o", str(tmp_path / "t.npz")]):
        result = run(*args)
        assert result.returncode == DocumentError.exit_code, result.stderr
        assert f"{fifo}: is a FIFO" in result.stderr and "Traceback" not in result.stderr

    result = run("ocr", str(fifo), "-o", str(tmp_path / "out"), "--workers", "1")

    assert result.returncode == 2
    [failure] = read_jsonl(tmp_path / "out" / "failures.jsonl")
    assert failure["raw-ref"] == str(fifo) and "FIFO" in failure["error"] and failure["type"] == "DocumentError"


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail an in-process call that blocks (SIGALRM interrupts a blocked ``open``) instead of hanging."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_fifo_submitted_to_the_pipeline_fails_at_once(fifo, tmp_path):
    """What ``docfields process`` does first with each file (it hung on a FIFO)."""
    from docfields.pipeline import Pipeline, PipelineSettings

    pipeline = Pipeline(PipelineSettings(home=str(tmp_path / "home"), engine="pdftext"))
    with deadline(20), pytest.raises(DocumentError, match="FIFO"):
        pipeline.submit(str(fifo))


def test_folder_walk_reports_fifos_dangling_and_looping_symlinks_and_goes_on(tmp_path, pdf):
    corpus = tmp_path / "corpus"
    (corpus / "deep").mkdir(parents=True)
    (corpus / "good.pdf").write_bytes(pdf)
    os.mkfifo(corpus / "pipe.pdf")
    (corpus / "dangling.pdf").symlink_to(tmp_path / "nowhere.pdf")
    (corpus / "self.pdf").symlink_to(corpus / "self.pdf")
    (corpus / "deep" / "up").symlink_to(corpus)
    os.mkfifo(corpus / ".hidden-pipe")  # hidden entries stay silently skipped

    result = run("ocr", str(corpus), "-o", str(tmp_path / "out"), "--engine", "pdftext", "--workers", "1")

    assert result.returncode == 2, result.stdout + result.stderr
    assert (tmp_path / "out" / "good.pdf" / "consolidated.json").exists()
    failures = {
        Path(r["raw-ref"]).relative_to(corpus).as_posix(): r["error"]
        for r in read_jsonl(tmp_path / "out" / "failures.jsonl")
    }
    assert set(failures) == {"pipe.pdf", "dangling.pdf", "self.pdf", "deep/up"}
    assert "FIFO" in failures["pipe.pdf"] and "dangling" in failures["dangling.pdf"]
    assert "loop" in failures["self.pdf"] and "loop" in failures["deep/up"]
    assert "pipe.pdf" in result.stdout and "4 (see" in result.stdout  # printed, and counted in the summary


def test_glob_reports_a_fifo_it_matches(tmp_path, pdf):
    (tmp_path / "good.pdf").write_bytes(pdf)
    os.mkfifo(tmp_path / "pipe.pdf")
    items, problems = list_inputs(str(tmp_path / "*.pdf"))
    assert [item.relative for item in items] == ["good.pdf"]
    assert [(Path(p.where).name, "FIFO" in p.reason) for p in problems] == [("pipe.pdf", True)]


def test_unreadable_subfolder_is_reported(pdf):
    """Root reads any folder, so the listing runs in a child that drops to ``nobody`` when root."""
    with tempfile.TemporaryDirectory(dir="/tmp") as name:
        root = Path(name)
        root.chmod(0o755)
        (root / "open").mkdir()
        (root / "open" / "a.pdf").write_bytes(pdf)
        (root / "shut").mkdir()
        (root / "shut" / "b.pdf").write_bytes(pdf)
        (root / "shut").chmod(0)
        try:
            files, problems = _list_as_nobody(root)
        finally:
            (root / "shut").chmod(0o755)
    assert files == [str(root / "open" / "a.pdf")]
    assert problems == [(str(root / "shut"), "cannot list the folder: Permission denied")]


def _list_as_nobody(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (child process)
        os.close(read)
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        files, problems = storage.list_files(root)
        answer = [[str(f) for f in files], [(str(p.path), p.reason) for p in problems]]
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        data = handle.read()
    os.waitpid(child, 0)
    files, problems = json.loads(data)
    return files, [tuple(problem) for problem in problems]


def test_watch_logs_a_fifo_once_and_takes_the_other_files(tmp_path, pdf, caplog):
    from docfields.pipeline.watch import _Scanner

    (tmp_path / "good.pdf").write_bytes(pdf)
    os.mkfifo(tmp_path / "pipe.pdf")
    scanner = _Scanner(tmp_path, (), settle_seconds=0.0)
    with caplog.at_level(logging.WARNING, logger="docfields.pipeline.watch"):
        for _ in range(2):
            ready, _changing = scanner.stable()
            assert [candidate.path.name for candidate in ready] == ["good.pdf"]
    assert [r.getMessage() for r in caplog.records] == [
        f"skipped {tmp_path / 'pipe.pdf'}: is a FIFO (named pipe), not a regular file"
    ]


def test_output_option_naming_a_file_fails_early_with_a_clear_error(tmp_path, shared_data, pdf):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.pdf").write_bytes(pdf)
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    for args in (
        ["ocr", str(tmp_path / "in"), "-o", str(blocker), "--workers", "1"],
        ["thumbnails", str(shared_data / "ocr" / "phototest.tif"), "-o", str(blocker)],
    ):
        result = run(*args)
        assert result.returncode == OutputError.exit_code, result.stdout + result.stderr
        assert f"{blocker}: exists and is not a folder" in result.stderr and "Traceback" not in result.stderr
    assert blocker.read_text() == "not a folder"
    with pytest.raises(OutputError):  # the library function the CLI calls checks it, before listing inputs
        plan_batch_ocr(str(tmp_path / "missing-input"), str(blocker))


def test_a_file_in_the_way_of_an_output_subfolder_is_an_output_error(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file")
    with pytest.raises(OutputError, match=r"out/sub: exists and is not a folder"):
        storage.write_text_atomic(str(tmp_path / "out" / "sub" / "x" / "y.json"), "{}")


def test_zero_page_pdf_says_it_has_no_pages(tmp_path):
    import pypdfium2

    buffer = io.BytesIO()
    pypdfium2.PdfDocument.new().save(buffer)
    empty = tmp_path / "zero.pdf"
    empty.write_bytes(buffer.getvalue())

    result = run("inspect", str(empty))

    assert result.returncode == DocumentError.exit_code
    assert f"{empty}: PDF has no pages" in result.stderr and "Success" not in result.stderr


def corrupt_tiff() -> bytes:
    """A TIFF whose XResolution tag claims more data than the file holds (Pillow warns, then reads on)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "TIFF", dpi=(300, 300))
    data = bytearray(buffer.getvalue())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 282:  # XResolution
            struct.pack_into("<I", data, entry + 4, 10**6)
    return bytes(data)


def test_pillow_warnings_on_a_corrupt_tiff_are_logged_not_printed(tmp_path, caplog):
    from docfields.documents import open_document

    path = tmp_path / "corrupt.tif"
    path.write_bytes(corrupt_tiff())
    with caplog.at_level(logging.WARNING, logger="docfields.documents"), open_document(str(path)) as document:
        assert document.render(1).size == (40, 30)
    assert f"{path} (page 1): UserWarning: Tag data larger than file" in caplog.text

    result = run("inspect", str(path))
    thumbnails = run("thumbnails", str(path), "-o", str(tmp_path / "t.png"))

    assert result.returncode == 0 and thumbnails.returncode == 0, result.stderr + thumbnails.stderr
    assert "UserWarning" not in result.stderr + thumbnails.stderr and "warnings.warn" not in result.stderr
