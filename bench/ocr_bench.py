"""OCR benchmark: docfields against the original method, side by side in one run.

Prints, for the same pages:
1. seconds per page of our ``tesseract`` engine (PDFium in memory + tesserocr) against the
   original method (pdf2image/poppler 300 DPI PNG file, then pytesseract.image_to_data into a
   DataFrame), one process each, and whether both read the same words;
2. the batch runner's pages/s with 1 and 2 workers;
3. ``rapidocr`` on the same pages, so users can choose;
4. ``auto`` on born-digital PDFs against OCR of the same pages, with word accuracy against the
   text layer as an independent extractor (poppler's pdftotext) reads it;
5. word accuracy and CER against ground truth (Tesseract's phototest page).

Benchmarks assert nothing. Run: ``make bench`` or ``.venv/bin/python bench/ocr_bench.py``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # as the original's batch job, and as ours

from docfields.documents import open_document  # noqa: E402
from docfields.ocr import BatchOcrOptions, load_engine, plan_batch_ocr, run_batch_ocr  # noqa: E402
from docfields.ocr.accuracy import character_error_rate, word_accuracy  # noqa: E402
from docfields.textract import iter_words  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# (file, page): born-digital pages of different kinds (prose, transcript, form, table, invoice)
PAGES = [
    ("pdfs/scotus-transcript-p1.pdf", 1),
    ("pdfs/federal-register-2020-17221.pdf", 2),
    ("pdfs/f1040nr.pdf", 1),
    ("pdfs/nics-background-checks-2015-11.pdf", 1),
    ("textract/sample-invoice.pdf", 1),
]


def single_page_pdfs(data: Path, pages: list[tuple[str, int]], folder: Path) -> list[Path]:
    """Cut each benchmark page into its own PDF so every method sees exactly the same input."""
    import pypdfium2

    paths = []
    for index, (name, page) in enumerate(pages):
        single = pypdfium2.PdfDocument.new()
        single.import_pages(pypdfium2.PdfDocument(data / name), [page - 1])
        path = folder / f"{index:02d}-{Path(name).stem}-p{page}.pdf"
        single.save(path)
        paths.append(path)
    return paths


def original_words(pdf: Path, workspace: Path) -> list[str]:
    """The original method: pdf2image to a 300-DPI PNG file, then pytesseract into a DataFrame."""
    import pytesseract
    from pdf2image import convert_from_path
    from PIL import Image

    png = convert_from_path(pdf, dpi=300, output_folder=workspace, fmt="png", paths_only=True)[0]
    frame = pytesseract.image_to_data(Image.open(png), lang="eng", output_type=pytesseract.Output.DATAFRAME)
    frame["text"] = frame["text"].astype(str)
    words = frame[(frame.level == 5) & (frame.text.str.strip() != "") & (frame.text != "nan")]
    return [w.strip() for w in words.text]


def engine_words(engine_name: str, pdf: Path, **options) -> list[str]:
    engine = load_engine(engine_name, **options)
    try:
        with open_document(str(pdf)) as document:
            return [w.text for w in iter_words(engine.process(document))]
    finally:
        engine.close()


def timed(function, *args, **kwargs):
    gc.collect()  # no method pays for the garbage of the one timed before it
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def bag_accuracy(predicted: list[str], reference: list[str]) -> float:
    """Share of reference words found, order ignored (extractors order columns differently)."""
    return sum((Counter(predicted) & Counter(reference)).values()) / max(1, len(reference))


def measure_engines(pdfs: list[Path], workspace: Path) -> dict[str, dict[str, list]]:
    results: dict[str, dict[str, list]] = {
        m: {"seconds": [], "words": []} for m in ("original", "tesseract", "rapidocr", "auto")
    }
    engines = {name: load_engine(name) for name in ("tesseract", "rapidocr", "auto")}
    for engine in engines.values():  # warm-up: model loading is not per-page cost
        with open_document(str(pdfs[0])) as document:
            engine.process(document)
    original_words(pdfs[0], workspace)
    for pdf in pdfs:
        words, seconds = timed(original_words, pdf, workspace)
        results["original"]["seconds"].append(seconds)
        results["original"]["words"].append(words)
        for name, engine in engines.items():
            gc.collect()
            start = time.perf_counter()
            with open_document(str(pdf)) as document:
                result = engine.process(document)
            results[name]["seconds"].append(time.perf_counter() - start)
            results[name]["words"].append([w.text for w in iter_words(result)])
        print(
            f"  {pdf.name}: original {results['original']['seconds'][-1]:.2f} s, "
            f"tesseract {results['tesseract']['seconds'][-1]:.2f} s, "
            f"rapidocr {results['rapidocr']['seconds'][-1]:.2f} s, "
            f"auto {results['auto']['seconds'][-1] * 1000:.1f} ms",
            flush=True,
        )
    return results


def batch_scaling(pdfs: list[Path], workspace: Path) -> dict[int, float]:
    """Pages/s of the batch runner over every page twice (pool start-up included, as a user sees it)."""
    for pdf in pdfs:
        shutil.copy(pdf, pdf.with_name(f"copy-{pdf.name}"))
    rates = {}
    for workers in (1, 2):
        options = BatchOcrOptions(engine="tesseract", workers=workers, force=True)
        summary = run_batch_ocr(
            plan_batch_ocr(str(pdfs[0].parent), str(workspace / f"batch-{workers}"), options), options
        )
        rates[workers] = summary.pages / summary.seconds
    return rates


def text_layer_reference(pdf: Path) -> list[str]:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split()


def ground_truth(data: Path) -> list[tuple[str, float, float]]:
    image = data / "ocr" / "phototest.tif"
    reference = (data / "ocr" / "phototest.txt").read_text()
    rows = []
    for name in ("tesseract", "rapidocr"):
        words = engine_words(name, image)
        rows.append((name, word_accuracy(words, reference.split()), character_error_rate(" ".join(words), reference)))
    import pytesseract
    from PIL import Image

    text = pytesseract.image_to_string(Image.open(image), lang="eng")
    rows.append(
        (
            "original (pytesseract)",
            word_accuracy(text.split(), reference.split()),
            character_error_rate(text, reference),
        )
    )
    return rows


def report(results, rates, references, truth) -> None:
    mean = {m: statistics.fmean(r["seconds"]) for m, r in results.items()}
    print("\n== 1. Tesseract: seconds per page (300 DPI, 1 process) ==")
    print(f"{'method':<44}{'s/page':>8}{'stdev':>8}")
    for label, key in (
        ("original (pdf2image PNG file + pytesseract)", "original"),
        ("docfields tesseract (PDFium + tesserocr)", "tesseract"),
    ):
        print(f"{label:<44}{mean[key]:>8.2f}{statistics.pstdev(results[key]['seconds']):>8.2f}")
    print(f"speed-up: {mean['original'] / mean['tesseract']:.2f}x (target >= 1.7x)")
    pairs = list(zip(results["tesseract"]["words"], results["original"]["words"], strict=True))
    bag = [bag_accuracy(ours, theirs) for ours, theirs in pairs]
    ordered = [word_accuracy(ours, theirs) for ours, theirs in pairs]
    print(
        "same words, ours against the original's output (Tesseract 5.5.4 in tesserocr vs Debian's 5.3.0): "
        f"bag {statistics.fmean(bag):.4f} (min {min(bag):.4f}), in reading order {statistics.fmean(ordered):.4f}"
    )
    print("\n== 2. Batch runner, tesseract engine ==")
    print(f"1 worker {rates[1]:.3f} pages/s, 2 workers {rates[2]:.3f} pages/s: scaling {rates[2] / rates[1]:.2f}x")
    print("\n== 3. RapidOCR on the same pages ==")
    print(f"rapidocr {mean['rapidocr']:.2f} s/page vs tesseract {mean['tesseract']:.2f} s/page")
    print("\n== 4. auto on born-digital PDFs vs OCR of the same pages ==")
    print(
        f"auto {mean['auto'] * 1000:.1f} ms/page; tesseract {mean['tesseract']:.2f} s/page: "
        f"{mean['tesseract'] / mean['auto']:.0f}x faster (target >= 100x)"
    )
    print(f"{'method':<12}{'bag word accuracy vs pdftotext':>32}")
    for key in ("auto", "tesseract", "rapidocr", "original"):
        accuracy = [bag_accuracy(w, ref) for w, ref in zip(results[key]["words"], references, strict=True)]
        total = sum(a * len(r) for a, r in zip(accuracy, references, strict=True)) / sum(len(r) for r in references)
        print(f"{key:<12}{total:>32.4f}")
    print("\n== 5. Against ground truth (phototest.tif) ==")
    print(f"{'engine':<26}{'word accuracy':>14}{'CER':>8}")
    for name, accuracy, cer in truth:
        print(f"{name:<26}{accuracy:>14.4f}{cer:>8.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared/data folder")
    parser.add_argument("--quick", action="store_true", help="two pages only (a smoke run)")
    args = parser.parse_args()
    pages = PAGES[:2] if args.quick else PAGES
    workspace = Path(tempfile.mkdtemp(prefix="docfields-ocr-bench-"))
    try:
        (workspace / "pages").mkdir()
        pdfs = single_page_pdfs(args.data, pages, workspace / "pages")
        print(f"{len(pdfs)} pages, {os.cpu_count()} cores; per page:", flush=True)
        results = measure_engines(pdfs, workspace)
        rates = batch_scaling(pdfs, workspace)
        references = [text_layer_reference(pdf) for pdf in pdfs]
        report(results, rates, references, ground_truth(args.data))
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
