"""Generated PDFs that cost memory to process, and the peak RSS of a child process.

Shared by tests/test_memory.py, tests/test_thumbnails.py and bench/memory_bench.py, so the test
and the benchmark measure the same documents the same way.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

DOCFIELDS = [sys.executable, "-m", "docfields.cli"]
WORDS = (
    "invoice total amount due payment account balance statement period interest rate annual fee "
    "credit card agreement customer number reference date signature address schedule terms"
).split()


def write_text_pdf(path: Path, pages: int, lines: int = 50, seed: int = 0) -> Path:
    """A born-digital PDF of ``pages`` letter pages, ``lines`` lines of seeded random words each."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen.canvas import Canvas

    rng = random.Random(seed)
    canvas = Canvas(str(path), pagesize=letter, pageCompression=1)
    for _ in range(pages):
        canvas.setFont("Helvetica", 9)
        for line in range(lines):
            text = " ".join(rng.choice(WORDS) for _ in range(12))
            canvas.drawString(40, 760 - line * 14.5, f"{text} {rng.randint(1, 99999):,}.{rng.randint(0, 99):02d}")
        canvas.showPage()
    canvas.save()
    return path


def write_shared_xobject_pdf(path: Path, pages: int) -> Path:
    """A PDF of a few kB whose ``pages`` pages all draw one form XObject: little file, much to render."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=letter)
    canvas.beginForm("page")
    canvas.setFont("Helvetica", 24)
    canvas.drawString(72, 700, "One page, drawn again and again")
    canvas.rect(72, 72, 468, 600)
    canvas.endForm()
    for _ in range(pages):
        canvas.doForm("page")
        canvas.showPage()
    canvas.save()
    return path


# Runs argv, then prints the child's ru_maxrss. The child is started from this small process on
# purpose: a child of a vfork/posix_spawn keeps its parent's RSS high-water mark through exec, so
# measured straight from a grown pytest process it would report the test process's peak.
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mib(argv: list[str]) -> float:
    """Run a command to its end; its peak resident set size in MiB (``ru_maxrss``, KiB on Linux)."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{argv} exited with {result.returncode}: {result.stderr[-2000:]}")
    return int(result.stdout) / 1024


def ocr_peak_rss_mib(pdf: Path, out: Path, engine: str = "auto") -> float:
    """Peak RSS of ``docfields ocr`` (the real CLI and batch runner) on one document, in one process."""
    return peak_rss_mib([*DOCFIELDS, "ocr", str(pdf), "-o", str(out), "--engine", engine, "--workers", "1"])


NPZ_SCRIPT = """
import sys
from docfields.documents import open_document
from docfields.thumbnails import ThumbnailOptions, make_thumbnails, thumbnails_to_npz
side = int(sys.argv[2])
with open_document(sys.argv[1]) as document:
    thumbnails_to_npz(make_thumbnails(document, ThumbnailOptions(width=side, height=side)))
"""


def npz_peak_rss_mib(pdf: Path, side: int) -> float:
    """Peak RSS of ``thumbnails_to_npz(make_thumbnails(...))`` (what ``POST /thumbnails`` does), in a child."""
    return peak_rss_mib([sys.executable, "-c", NPZ_SCRIPT, str(pdf), str(side)])
