"""OCR on real receipt scans, scored at its place: today's engines on ../shared/data/sroie/ (issue 17's baseline).

Each engine reads every receipt image; its LINE blocks are matched one to one with the truth lines
by box IoU >= 0.5 (docTR's end-to-end protocol, at line level: the truth has line boxes), and a
pair counts when its text is equal. Prints line recall, precision, the CER of located lines, and
seconds per page, per engine. Benchmarks assert nothing.

    .venv/bin/python bench/ocr_sroie_bench.py [--limit 60] [--engines tesseract,rapidocr]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per page, as the batch runner

from PIL import Image  # noqa: E402

from docfields.documents import open_document  # noqa: E402
from docfields.ocr import load_engine  # noqa: E402
from docfields.ocr.accuracy import MatchScore, match_boxes  # noqa: E402
from docfields.textract import NormBox, iter_pages, page_lines  # noqa: E402

SROIE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sroie"


def truth_lines(csv: Path, width: int, height: int) -> list[tuple[NormBox, str]]:
    """``x1,y1,...,x4,y4,text`` rows as page-fraction boxes (the quadrilateral's bounding box)."""
    lines = []
    for row in csv.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = row.split(",", 8)
        if len(parts) < 9:
            continue
        xs, ys = [float(v) for v in parts[0:8:2]], [float(v) for v in parts[1:8:2]]
        box = NormBox(min(xs) / width, min(ys) / height, (max(xs) - min(xs)) / width, (max(ys) - min(ys)) / height)
        lines.append((box, parts[8]))
    return lines


def predicted_lines(engine, image: Path) -> list[tuple[NormBox, str]]:
    with open_document(str(image)) as document:
        result = engine.process(document)
    lines = []
    for page in iter_pages(result):
        for line in page_lines(result, page):
            b = line.geometry.bounding_box
            lines.append((NormBox(b.left, b.top, b.width, b.height), line.text or ""))
    return lines


def pooled(scores: list[MatchScore]) -> MatchScore:
    """One score over all receipts (sums of counts; CER weighted by located lines)."""
    located = sum(s.located for s in scores)
    cer = sum(s.matched_cer * s.located for s in scores) / located if located else 0.0
    return MatchScore(sum(s.truth for s in scores), sum(s.predicted for s in scores), located,
                      sum(s.exact for s in scores), cer)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--engines", default="tesseract,rapidocr")
    args = parser.parse_args()
    images = sorted((SROIE / "images").glob("*.jpg"))[: args.limit]
    print(f"{len(images)} SROIE receipts; line boxes matched at IoU >= 0.5, exact text")
    print("| engine | line recall | line precision | CER of located lines | s/page |")
    print("|---|---:|---:|---:|---:|")
    for name in args.engines.split(","):
        engine = load_engine(name)
        scores, start = [], time.perf_counter()
        for image in images:
            with Image.open(image) as opened:
                width, height = opened.size
            truth = truth_lines(SROIE / "lines" / f"{image.stem}.csv", width, height)
            scores.append(match_boxes(predicted_lines(engine, image), truth))
        seconds = (time.perf_counter() - start) / len(images)
        engine.close()
        total = pooled(scores)
        print(f"| {name} | {total.recall:.3f} | {total.precision:.3f} | {total.matched_cer:.3f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
