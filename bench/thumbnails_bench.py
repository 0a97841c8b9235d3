"""Pages per second of docfields thumbnails against the original pipeline's method.

The original (``notebooks/preproc/textract_transformers``) rasterised every PDF page with
pdf2image / poppler at 300 dpi into PNG files in a work folder, then opened each PNG with
Pillow, resized it to 224 x 224 (bicubic) and saved it as PNG. docfields renders each page
directly at thumbnail scale with PDFium. Both run here in one process on the same pages of
``<data>/pdfs/*.pdf`` (encrypted files are skipped), after a warm-up, timed with
``time.perf_counter``. The benchmark asserts nothing; it prints a table.

    .venv/bin/python bench/thumbnails_bench.py [--data DIR] [--runs 5] [--original-runs 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from docfields.documents import open_document
from docfields.errors import DocumentError
from docfields.thumbnails import write_thumbnails

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZE = (224, 224)


@dataclass(frozen=True)
class Result:
    """Timings of one method: seconds per run over the same pages."""

    method: str
    pages: int
    seconds: list[float]

    @property
    def pages_per_second(self) -> float:
        return self.pages / statistics.mean(self.seconds)


def find_pdfs(data: Path) -> list[tuple[Path, int]]:
    """Every readable PDF under data/pdfs with its page count; encrypted ones are skipped."""
    found = []
    for path in sorted((data / "pdfs").glob("*.pdf")):
        try:
            with open_document(path) as document:
                found.append((path, document.page_count))
        except DocumentError as exc:
            print(f"skipped {exc}")
    return found


def original_method(
    pdf: Path, work: Path, first: int | None = None, last: int | None = None
) -> None:
    """pdf2image at 300 dpi to PNG files, then Pillow open + bicubic resize + PNG save."""
    from pdf2image import convert_from_path

    pages = convert_from_path(
        pdf,
        dpi=300,
        output_folder=work,
        fmt="png",
        paths_only=True,
        first_page=first,
        last_page=last,
    )
    for page in pages:
        with Image.open(page) as image:
            image.resize(SIZE, Image.Resampling.BICUBIC).save(Path(page).with_suffix(".thumb.png"))


def docfields_folder(pdf: Path, work: Path) -> None:
    """docfields: one 224 x 224 PNG file per page (render at thumbnail scale, encode, write)."""
    write_thumbnails(str(pdf), str(work / pdf.stem))


def docfields_npz(pdf: Path, work: Path) -> None:
    """docfields: one application/x-npz file per document, the pipeline's default format."""
    write_thumbnails(str(pdf), str(work / f"{pdf.stem}.npz"))


def time_method(
    name: str, run: Callable[[Path, Path], None], found: list[tuple[Path, int]], runs: int
) -> Result:
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="thumbs-bench-") as work:
            start = time.perf_counter()
            for pdf, _ in found:
                run(pdf, Path(work))
            seconds.append(time.perf_counter() - start)
    return Result(name, sum(count for _, count in found), seconds)


def print_table(results: list[Result], note: str) -> None:
    print(f"\n{'method':<44} {'pages':>6} {'seconds':>16} {'pages/s':>9}")
    for result in results:
        mean = statistics.mean(result.seconds)
        if len(result.seconds) > 1:
            timing = f"{mean:.3f} ± {statistics.stdev(result.seconds):.3f}"
        else:
            timing = f"{mean:.3f} (1 run)"
        print(f"{result.method:<44} {result.pages:>6} {timing:>16} {result.pages_per_second:>9.1f}")
    original = results[0]
    for result in results[1:]:
        ratio = result.pages_per_second / original.pages_per_second
        print(f"ratio {result.method} / original: {ratio:.0f}x (target: at least 50x)")
    print(note)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared/data folder")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the docfields methods")
    parser.add_argument("--original-runs", type=int, default=1, help="timed runs of the original")
    args = parser.parse_args(argv)

    found = find_pdfs(args.data)
    pdfs = [path for path, _ in found]
    total = sum(count for _, count in found)
    print(f"{len(pdfs)} PDFs, {total} pages: {', '.join(path.name for path in pdfs)}")
    with tempfile.TemporaryDirectory(prefix="thumbs-warmup-") as work:  # load libraries, caches
        original_method(pdfs[0], Path(work), first=1, last=1)
        docfields_folder(pdfs[0], Path(work))
        docfields_npz(pdfs[0], Path(work))
    results = [
        time_method(
            "original: pdf2image 300 dpi PNG + PIL resize",
            original_method,
            found,
            args.original_runs,
        ),
        time_method("docfields: PNG file per page", docfields_folder, found, args.runs),
        time_method("docfields: one .npz per document", docfields_npz, found, args.runs),
    ]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    note = (
        f"1 process, same pages for every method, after a warm-up; seconds = mean ± std over "
        f"{args.original_runs} original / {args.runs} docfields runs; "
        f"{os.cpu_count()} CPUs, load average {load} (other jobs share this machine)"
    )
    print_table(results, note)


if __name__ == "__main__":
    main()
