"""Page images with word and line truth, for OCR benchmarks, and how to read and score an engine on them.

Two sets (issue 17):

- ``sroie_pages``: real receipt scans (``shared/data/sroie``) with line truth; word truth is cut from
  each line box in proportion to character counts (``accuracy.split_line``). The truth is written
  all in capitals, so its pages are scored case-folded (``TruthPage.casefold``).
- ``degraded_pages``: born-digital pages (the shared PDFs and generated credit card agreements)
  rendered at low resolution, blurred a little, noised and saved as JPEG without a DPI tag, as
  real low-resolution scans often are; truth is the PDF's text layer (``pdftext``), whose boxes
  are fractions of the same page.

Other bench scripts import this module (``bench/`` is on ``sys.path`` when a script there runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from docfields.documents import open_document
from docfields.ocr import load_engine
from docfields.ocr.accuracy import MatchScore, exact_matches, match_boxes, split_line
from docfields.ocr.base import OcrEngine
from docfields.textract import Block, NormBox, TextractDocument, iter_pages, line_words, page_lines

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SROIE = SHARED_DATA / "sroie"
# (file under shared/data, page): born-digital pages of different kinds (prose, transcript, form, table, invoice)
BORN_DIGITAL_PAGES = [
    ("pdfs/scotus-transcript-p1.pdf", 1),
    ("pdfs/federal-register-2020-17221.pdf", 2),
    ("pdfs/f1040nr.pdf", 1),
    ("pdfs/nics-background-checks-2015-11.pdf", 1),
    ("textract/sample-invoice.pdf", 1),
]
DEMO_DOCUMENTS = 3  # generated credit card agreements (letter, grid and two-column layouts), page 1 each
DEGRADED_DPIS = (100, 150, 300)  # 300: the control, same JPEG and noise at the resolution Tesseract expects
JPEG_QUALITY = 70
BLUR = 0.4  # Gaussian radius in pixels: scanner optics, mild
NOISE = 4.0  # standard deviation of the sensor noise, in grey levels

Item = tuple[NormBox, str]


@dataclass(frozen=True)
class TruthPage:
    """One page image with its truth; ``group`` names the table it is reported in."""

    group: str
    name: str
    image: Path
    words: tuple[Item, ...]
    lines: tuple[Item, ...]
    casefold: bool


@dataclass(frozen=True)
class Reading:
    """What an engine read on one page: words (with confidence 0..100 and the engine that read the page:
    ``auto`` names the one it chose) and lines."""

    words: tuple[Item, ...]
    confidences: tuple[float, ...]
    engines: tuple[str, ...]
    lines: tuple[Item, ...]


@dataclass(frozen=True)
class PageScore:
    """Word-level and line-level scores of one reading against its page's truth."""

    words: MatchScore
    lines: MatchScore


@dataclass(frozen=True)
class WordOutcome:
    """One predicted word, for confidence calibration: did a word read at this confidence come out right?"""

    engine: str
    confidence: float
    exact: bool


def sroie_truth_lines(csv: Path, width: int, height: int) -> list[Item]:
    """``x1,y1,...,x4,y4,text`` rows (text may hold commas) as page-fraction boxes of the quadrilaterals."""
    lines = []
    for row in csv.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = row.split(",", 8)
        if len(parts) < 9 or not parts[8].strip():
            continue
        xs, ys = [float(v) for v in parts[0:8:2]], [float(v) for v in parts[1:8:2]]
        box = NormBox(min(xs) / width, min(ys) / height, (max(xs) - min(xs)) / width, (max(ys) - min(ys)) / height)
        lines.append((box, parts[8]))
    return lines


def sroie_pages(limit: int | None = None, root: Path = SROIE) -> list[TruthPage]:
    """The SROIE receipts (the first ``limit`` by name), scored case-folded since their truth is all capitals."""
    from PIL import Image

    pages = []
    for image in sorted((root / "images").glob("*.jpg"))[:limit]:
        with Image.open(image) as opened:
            width, height = opened.size
        lines = sroie_truth_lines(root / "lines" / f"{image.stem}.csv", width, height)
        words = [word for box, text in lines for word in split_line(box, text)]
        pages.append(TruthPage("sroie", image.stem, image, tuple(words), tuple(lines), casefold=True))
    return pages


def born_digital_sources(
    data: Path = SHARED_DATA, demo_documents: int = DEMO_DOCUMENTS
) -> list[tuple[str, bytes, int]]:
    """(name, PDF bytes, page) of the born-digital pages degraded: the shared PDFs, then generated agreements."""
    from docfields.samples.corpus import CorpusOptions, generate_document

    sources = [(f"{Path(file).stem}-p{page}", (data / file).read_bytes(), page) for file, page in BORN_DIGITAL_PAGES]
    for index in range(demo_documents):
        document = generate_document(index, CorpusOptions(seed=0), scan=False)
        sources.append((f"{document.doc_id}-{document.truth['layout']}-p1", document.data, 1))
    return sources


def degraded_pages(
    folder: Path, limit: int | None = None, dpis: Iterable[int] = DEGRADED_DPIS, data: Path = SHARED_DATA
) -> list[TruthPage]:
    """Each born-digital source page (the first ``limit``) rendered at each of ``dpis``, blurred, noised and
    written to ``folder`` as JPEG without a DPI tag; truth is the page's text layer."""
    import numpy as np

    from docfields.samples.scans import ScanDefects, degrade_page, encode_jpeg

    text_layer = load_engine("pdftext")
    defects = ScanDefects(angle=0.0, blur=BLUR, noise=NOISE)
    pages = []
    for index, (name, pdf, number) in enumerate(born_digital_sources(data)[:limit]):
        with open_document(pdf, name=name) as document:
            truth = reading(text_layer.process(document, [number]))
            for dpi in dpis:
                image = document.render(number, dpi=dpi, grayscale=True)
                scanned = degrade_page(image, defects, grayscale=True, noise_rng=np.random.default_rng([index, dpi]))
                path = folder / f"{name}-{dpi}dpi.jpg"
                path.write_bytes(encode_jpeg(scanned, JPEG_QUALITY))
                group = f"degraded {dpi} dpi" + (" (control)" if dpi >= 300 else "")
                pages.append(TruthPage(group, f"{name}@{dpi}", path, truth.words, truth.lines, casefold=False))
    return pages


def _item(block: Block) -> Item:
    box = block.geometry.bounding_box if block.geometry else None
    return (NormBox(box.left, box.top, box.width, box.height) if box else NormBox(0, 0, 0, 0)), block.text or ""


def reading(result: TextractDocument) -> Reading:
    """Words and lines of an OCR result, each word with its confidence and the engine of its page."""
    words, confidences, engines, lines = [], [], [], []
    for page in iter_pages(result):
        engine = str(getattr(page, "Engine", None) or "")
        for line in page_lines(result, page):
            lines.append(_item(line))
            for word in line_words(result, line):
                words.append(_item(word))
                confidences.append(word.confidence if word.confidence is not None else 0.0)
                engines.append(engine)
    return Reading(tuple(words), tuple(confidences), tuple(engines), tuple(lines))


def read(engine: OcrEngine, page: TruthPage) -> Reading:
    """The engine's reading of one page image (opened as any user's file is)."""
    with open_document(str(page.image)) as document:
        return reading(engine.process(document))


def score(found: Reading, page: TruthPage) -> PageScore:
    """Word and line recall / precision at IoU >= 0.5 with equal text (case-folded where the truth asks)."""
    return PageScore(
        match_boxes(found.words, page.words, casefold=page.casefold),
        match_boxes(found.lines, page.lines, casefold=page.casefold),
    )


def page_outcomes(found: Reading, page: TruthPage) -> list[WordOutcome]:
    """Per predicted word: the engine that read it, its raw confidence, and whether it is exactly a truth word."""
    exact = exact_matches(found.words, page.words, casefold=page.casefold)
    return [WordOutcome(*outcome) for outcome in zip(found.engines, found.confidences, exact, strict=True)]

