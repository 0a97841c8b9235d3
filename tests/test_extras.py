"""A missing optional part (pip extra) is a one-line install hint and an exit code, never a traceback.

As docling's tests/test_backend_optional_dependencies.py: each case runs the real command in a
subprocess where an import hook makes the extra's package unimportable, as on a machine without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docfields.errors import MissingExtraError

BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv.pop(1).split(","))


class Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
from docfields.cli import main

sys.argv[0] = "docfields"
main()
"""


def run_without(blocked: str, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": "200"}  # a wide terminal: the hint is one line, unwrapped
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, blocked, *args], capture_output=True, text=True, timeout=120, env=environment
    )


@pytest.fixture
def scan(shared_data: Path, tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "scan.png").write_bytes((shared_data / "textract" / "single-page-1.png").read_bytes())
    return corpus


@pytest.mark.parametrize(
    ("blocked", "extra", "args"),
    [
        ("fastapi", "serve", ["serve", "--home", "{tmp}/home"]),
        ("torch", "ml", ["enrich", "{tmp}/in.json", "--model", "{tmp}/model", "-o", "{tmp}/out.json"]),
        ("torch", "ml", ["train", "ner", "--manifest", "m", "--fields", "f", "-o", "{tmp}/model"]),
        ("torch", "ml", ["train", "seq2seq", "--train", "t", "--eval", "e", "-o", "{tmp}/model"]),
        ("ray", "ray", ["ocr", "{corpus}", "-o", "{tmp}/out", "--ray", "local"]),
        ("torch", "ml", ["process", "{corpus}/scan.png", "--model", "{tmp}/model", "--home", "{tmp}/home"]),
        ("torch", "ml", ["watch", "{corpus}", "-o", "{tmp}/out", "--model", "{tmp}/model", "--once"]),
        ("torch", "ml", ["serve", "--home", "{tmp}/home", "--model", "{tmp}/model"]),
        ("ray", "ray", ["process", "{corpus}/scan.png", "--model", "{tmp}/model", "--ray", "local"]),
        ("matplotlib", "autoscale", ["autoscale", "simulate", "--trace", "t", "--policy", "serve", "--plot", "p"]),
    ],
)
def test_missing_extra_is_a_one_line_hint_with_an_exit_code(blocked, extra, args, scan, tmp_path):
    args = [arg.format(tmp=tmp_path, corpus=scan) for arg in args]
    result = run_without(blocked, *args)
    assert result.returncode == MissingExtraError.exit_code, result.stdout + result.stderr
    assert f"pip install 'docfields[{extra}]'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()  # nothing started before the check


@pytest.mark.parametrize(
    ("blocked", "engine", "extra"), [("rapidocr", "rapidocr", "rapidocr"), ("boto3", "textract", "aws")]
)
def test_missing_engine_extra_names_the_install_command(blocked, engine, extra, scan, tmp_path):
    result = run_without(blocked, "ocr", str(scan), "-o", str(tmp_path / "out"), "--engine", engine, "--workers", "1")
    assert result.returncode == 2, result.stdout + result.stderr  # the batch records the document as failed
    assert "Traceback" not in result.stdout + result.stderr
    failures = (tmp_path / "out" / "failures.jsonl").read_text()
    assert f"pip install 'docfields[{extra}]'" in failures


def test_engines_lists_an_engine_without_its_extra_as_unavailable():
    result = run_without("rapidocr", "engines")
    assert result.returncode == 0, result.stderr
    assert "rapidocr" in result.stdout and "unavailable" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
