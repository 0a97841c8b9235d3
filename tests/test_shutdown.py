"""SIGTERM (systemd's default stop, ``timeout``, ``kill -TERM -- -PGID``) ends ``serve`` and ``process``.

Before (issue 14): SIGTERM to the service's process group killed the pipeline worker while it
slept in a shared multiprocessing Event, and the server then waited for ever in "Waiting for
application shutdown". Now workers stop on SIGTERM and give their stage back, the server's
shutdown is bounded, and a restart (or a rerun of ``process``) finishes every document.

Each test starts its own processes in a new session and signals only that session's group.
The bounds below are bounds on a hang, not timings: a healthy stop takes a second or two.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from docfields.ner import build_tagger
from docfields.samples import credit_card_fields
from serve_server import free_port, wait_healthy

pytestmark = pytest.mark.slow

EXIT_BOUND = 30.0  # seconds a stopped server or `process` may take to be gone (the service allows itself 10 + 10)
DOCFIELDS = [sys.executable, "-m", "docfields.cli"]


def default_signals() -> None:
    """In the child: SIGINT and SIGTERM as a terminal would leave them (a background job inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``docfields ARGS`` in a new session (its own process group), output to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen([*DOCFIELDS, *args], stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=default_signals)  # fmt: skip


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while being read
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def wait_gone(process: subprocess.Popen[bytes], log: Path) -> int:
    """Wait until the process and every process of its group are gone; its exit code."""
    try:
        code = process.wait(EXIT_BOUND)
        wait_for(lambda: not group_members(process.pid), EXIT_BOUND, "the process group to be empty")
    except (subprocess.TimeoutExpired, AssertionError):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"still running {EXIT_BOUND} s after SIGTERM; output:\n{log.read_text(errors='replace')}")
    return code


def stages(home: Path) -> list[tuple[str, str, str]]:
    """(document, stage, state) of every stage in the store, read as any client would."""
    with sqlite3.connect(home / "docfields.db", timeout=30) as conn:
        return conn.execute("SELECT document_id, name, state FROM stages ORDER BY document_id, name").fetchall()


def documents(home: Path) -> dict[str, str]:
    if not (home / "docfields.db").is_file():
        return {}
    with sqlite3.connect(home / "docfields.db", timeout=30) as conn:
        return dict(conn.execute("SELECT id, status FROM documents").fetchall())


def ocr_running(home: Path) -> bool:
    try:
        return any(s[1:] == ("ocr", "running") for s in stages(home))
    except sqlite3.OperationalError:  # no store yet, or its tables not yet created
        return False


def make_pdf(path: Path, pages: int) -> Path:
    """A text PDF that Tesseract OCRs page by page (rendered at 300 dpi): seconds of work to interrupt."""
    pdf = canvas.Canvas(str(path), pagesize=letter)
    for page in range(pages):
        for line in range(30):
            pdf.drawString(72, 740 - 22 * line, f"{path.stem} page {page + 1} line {line + 1}: the annual fee is 95")
        pdf.showPage()
    pdf.save()
    return path


@pytest.mark.parametrize("target", ["process group", "server only"])
def test_sigterm_stops_serve_within_a_bound_and_a_restart_finishes_the_document(target, tmp_path):
    home, log = tmp_path / "home", tmp_path / "serve.log"
    document = make_pdf(tmp_path / "long.pdf", 4)

    def serve() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home), "--engine", "tesseract"]
        server = start(args, log)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, 120, lambda: server.poll() is None)
        return server, url

    server, url = serve()
    try:
        answer = httpx.post(f"{url}/documents", content=document.read_bytes(),
                            headers={"Content-Type": "application/pdf"}, params={"name": "long.pdf"})  # fmt: skip
        assert answer.status_code == 202, answer.text
        wait_for(lambda: ocr_running(home), 120, "the worker to start the OCR")
    finally:
        if target == "process group":
            os.killpg(server.pid, signal.SIGTERM)
        else:
            server.send_signal(signal.SIGTERM)
        wait_gone(server, log)
    assert "Application shutdown complete" in log.read_text()
    assert ("ocr", "running") not in [s[1:] for s in stages(home)]  # the stage was given back, not left leased

    server, url = serve()  # the restart
    try:
        doc_id = answer.json()["id"]
        wait_for(lambda: httpx.get(f"{url}/documents/{doc_id}").json()["status"] == "done", 240, "the document")
        assert httpx.get(f"{url}/documents/{doc_id}").json()["pages"] == 4
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        wait_gone(server, log)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    words = "Card Name Gold Annual fee 95 dollars page line the is".split()
    tagger = build_tagger("layoutlm-tiny", credit_card_fields(), words, seed=0, vocab_size=100)
    return str(tagger.save(tmp_path_factory.mktemp("model") / "tagger"))


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_to_the_process_group_of_process_exits_130_and_a_rerun_finishes(workers, model, tmp_path):
    home, out, log = tmp_path / "home", tmp_path / "out", tmp_path / "process.log"
    files = [str(make_pdf(tmp_path / f"doc{i}.pdf", 1)) for i in range(2)]
    args = ["process", *files, "--model", model, "--engine", "tesseract", "--workers", str(workers),
            "--home", str(home), "-o", str(out), "--review-threshold", "0"]  # fmt: skip

    process = start(args, log)
    try:
        wait_for(lambda: ocr_running(home) or process.poll() is not None, 180, "the OCR to start")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = wait_gone(process, log)
    assert code == 130, log.read_text(errors="replace")
    assert "rerun the same command to resume" in log.read_text()
    submitted = documents(home)
    assert len(submitted) == len(files)
    assert "running" not in [state for _, _, state in stages(home)]  # every stage given back

    rerun = subprocess.run([*DOCFIELDS, *args], capture_output=True, text=True, timeout=600,
                           preexec_fn=default_signals)  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert documents(home).keys() == submitted.keys()  # the rerun resumed the same documents
    assert set(documents(home).values()) == {"done"}
    assert sorted(path.name for path in out.iterdir()) == [f"doc{i}.result.json" for i in range(2)]
