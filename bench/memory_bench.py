"""Peak memory of ``docfields ocr`` on long born-digital PDFs, and of a large npz of thumbnails.

1. ``docfields ocr FILE -o OUT --engine auto --workers 1`` (the real CLI and batch runner, one
   subprocess per run) on generated text PDFs of 30, 150 and 300 pages, 50 lines of text a
   page: the peak resident set size of that child (``ru_maxrss`` from ``os.wait4``) and MiB per
   page. Memory that grows with pages would reach tens of GB at the 5,000-page limit.
2. The npz thumbnails (``thumbnails_to_npz(make_thumbnails(...))``, what ``POST /thumbnails``
   does) of a PDF whose 40 pages all draw one shared XObject, in a child process.

The documents and the measurement come from tests/memory_support.py, which tests/test_memory.py
uses too. Benchmarks assert nothing; this prints tables.

    .venv/bin/python bench/memory_bench.py [--pages 30 150 300] [--engine auto] [--sides 1024 2048]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from memory_support import (  # noqa: E402
    npz_peak_rss_mib,
    ocr_peak_rss_mib,
    write_shared_xobject_pdf,
    write_text_pdf,
)

NPZ_PAGES = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[30, 150, 300])
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--sides", type=int, nargs="+", default=[1024, 2048])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        print(f"docfields ocr --engine {args.engine}: generated text PDFs, 50 lines a page")
        print(f"{'pages':>6} {'peak RSS MiB':>13} {'MiB/page':>9}")
        for pages in args.pages:
            pdf = write_text_pdf(folder / f"text-{pages}.pdf", pages)
            peak = ocr_peak_rss_mib(pdf, folder / f"out-{pages}", args.engine)
            print(f"{pages:>6} {peak:>13.0f} {peak / pages:>9.2f}")
        pdf = write_shared_xobject_pdf(folder / "shared-xobject.pdf", NPZ_PAGES)
        print(f"\nnpz thumbnails of {NPZ_PAGES} pages sharing one XObject ({pdf.stat().st_size:,} bytes)")
        print(f"{'side':>6} {'peak RSS MiB':>13}")
        for side in args.sides:
            print(f"{side:>6} {npz_peak_rss_mib(pdf, side):>13.0f}")


if __name__ == "__main__":
    main()
