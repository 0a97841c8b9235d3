"""The docfields command as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DOCFIELDS = [sys.executable, "-m", "docfields.cli"]
REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*DOCFIELDS, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("ocr", "thumbnails", "inspect", "engines"):
        assert command in result.stdout


def test_cli_start_imports_no_heavy_library():
    heavy = ("torch", "transformers", "numpy", "pypdfium2", "PIL", "tesserocr", "rapidocr", "boto3")
    code = f"import sys, docfields.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_inspect_reports_pages_and_text_layer(shared_data):
    result = run("inspect", str(shared_data / "pdfs" / "f1040nr.pdf"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "pdf" and report["pages"] == 5
    assert all(p["text_layer"].startswith("usable") for p in report["page_reports"])
    image = json.loads(run("inspect", str(shared_data / "pdfs" / "grayscale-image.pdf"), "--json").stdout)
    assert image["page_reports"][0]["text_layer"].startswith("not usable")


def test_bad_input_exits_with_a_clear_error(shared_data, tmp_path):
    encrypted = run("inspect", str(shared_data / "pdfs" / "libreoffice-writer-password.pdf"))
    assert encrypted.returncode == 3
    assert "libreoffice-writer-password.pdf" in encrypted.stderr and "password" in encrypted.stderr
    assert "Traceback" not in encrypted.stderr
    opened = run("inspect", str(shared_data / "pdfs" / "libreoffice-writer-password.pdf"), "--password", "openpassword")
    assert opened.returncode == 0, opened.stderr
    missing = run("inspect", str(tmp_path / "nope.pdf"))
    assert missing.returncode != 0 and "nope.pdf" in missing.stderr
    bad_option = run(
        "thumbnails", str(shared_data / "ocr" / "phototest.tif"), "-o", str(tmp_path / "x.png"), "--size", "big"
    )
    assert bad_option.returncode == 2 and "--size" in bad_option.stderr


def test_thumbnails_command_writes_npz(shared_data, tmp_path):
    out = tmp_path / "thumbs.npz"
    result = run("thumbnails", str(shared_data / "textract" / "textractor-multipage-doc.pdf"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    with np.load(out, allow_pickle=False) as data:
        assert list(data.keys()) == ["images"] and len(data["images"]) == 2


def test_ocr_command_exit_codes(shared_data, tmp_path):
    good = tmp_path / "in"
    good.mkdir()
    (good / "a.pdf").write_bytes((shared_data / "pdfs" / "scotus-transcript-p1.pdf").read_bytes())
    ok = run("ocr", str(good), "-o", str(tmp_path / "out"), "--workers", "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pdftext 1" in ok.stdout
    (good / "b.pdf").write_bytes(b"")
    partial = run("ocr", str(good), "-o", str(tmp_path / "out"), "--workers", "1")
    assert partial.returncode == 2
    assert "1 processed" not in partial.stdout and "1 already done" in partial.stdout
    assert "b.pdf" in (tmp_path / "out" / "failures.jsonl").read_text()
    unknown = run("ocr", str(good), "-o", str(tmp_path / "o2"), "--engine", "nonesuch")
    assert unknown.returncode == 6 and "known engines" in unknown.stderr


def test_engines_command_shows_each_engine(tmp_path):
    result = run("engines")
    assert result.returncode == 0
    assert "docfields-tesseract-" in result.stdout and "docfields-pdftext-" in result.stdout
    assert "no AWS credentials" in result.stdout  # the test environment has none: a clear reason, not a crash


@pytest.mark.slow
def test_make_demo_script_runs_end_to_end(tmp_path):
    """The job `make demo` runs, made small: every step succeeds and leaves its outputs; a rerun reuses them."""
    script = REPO / "examples" / "demo.sh"
    small = {"DEMO_TRAIN_DOCS": "6", "DEMO_HELDOUT_DOCS": "2", "DEMO_TRAIN_MINUTES": "0.3"}
    env = {**os.environ, "COLUMNS": "200", **small}
    result = subprocess.run(["bash", str(script), str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=900, env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    demo = tmp_path / "demo"
    assert len(list((demo / "samples-ocr").rglob("consolidated.json"))) == 4
    with np.load(demo / "thumbnails" / "sample-invoice.npz", allow_pickle=False) as data:
        assert data["image"].shape == (224, 224, 3)
    assert "2000-12-31" in result.stdout
    manifest = (demo / "train-ocr" / "manifest.jsonl").read_text().splitlines()
    assert manifest and all("textract-ref" in json.loads(line) for line in manifest)
    assert (demo / "model" / "config.json").is_file()
    results = sorted((demo / "results").glob("*.json"))  # <id>.result.json, or .in-review.json for review
    assert [p.name.split(".")[0] for p in results] == ["cc-0000", "cc-0001"]
    assert all("Fields" in json.loads(p.read_text()) for p in results)
    assert "Field accuracy against the ground truth (2 documents)" in result.stdout
    again = subprocess.run(["bash", str(script), str(demo)], capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and f"reusing {demo / 'model'}" in again.stdout


def test_error_naming_a_path_with_brackets_is_printed_verbatim(tmp_path):
    """A message is text, not Rich markup: "[/x]" in a path crashed the error printer with a MarkupError."""
    missing = tmp_path / "scans[/b]" / "x[red].pdf"
    result = run("inspect", str(missing))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "scans[/b]" in result.stderr and "x[red].pdf" in result.stderr


def test_an_error_naming_a_long_path_stays_on_one_line_in_a_narrow_terminal(tmp_path):
    missing = tmp_path / ("a-folder-with-a-long-name-" * 4) / "document.pdf"
    result = subprocess.run([*DOCFIELDS, "inspect", str(missing)], capture_output=True, text=True, timeout=300,
                            env={"COLUMNS": "40", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode != 0
    assert str(missing) in result.stderr  # not broken by a newline at 40 columns
