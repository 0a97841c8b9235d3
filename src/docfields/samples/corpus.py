"""The demo corpus: synthetic credit card agreements with their ground truth, written to a folder.

``generate_credit_card_corpus`` writes, under ``OUT``::

    docs/<id>.pdf                 born-digital agreements (text layer)
    docs/<id>.jpg|.tif|.pdf       scans (one-page JPEG, multi-page TIFF, or image-only PDF)
    pages/<id>-<page:04d>.png     page images the boxes refer to (``source-ref``): grayscale for
                                  born-digital pages and gray scans, RGB for colour scans
    truth.jsonl                   per document: id, file, scan, format, layout, pages, dpi, fields
                                  (name -> value, a list for Card Name), normalized (ISO dates,
                                  APRs as numbers), mentions (field, page, text, pixel boxes),
                                  scan_details (dpi, JPEG quality, per-page angle, blur, noise)
    annotations.manifest.jsonl    per page: raw-ref, source-ref, page-num, label, label-metadata
    fields.json                   the 19-field configuration (ClassId, Name, Ignore, Optional, ...)
    corpus.json                   the options the corpus was made with (regenerate it bit for bit)

Manifest paths are absolute (local) or full URLs, like the original's ``s3://`` URIs, so that
``docfields ocr OUT/annotations.manifest.jsonl -o OCR`` works from any working directory; moving
the folder means regenerating it. ``truth.jsonl`` paths are relative to ``OUT``.

The label attribute is ``label`` with SageMaker Ground Truth bounding boxes in the pixels of the
page image: one box per printed line of a value (per short run of words on a turned scan), so
that a word takes a value's class when a box covers at least half of it. ``label-metadata`` has
the real output's keys; the boxes are generated, so ``human-annotated`` is ``"no"``, every
object's confidence is 1, and ``creation-date`` is fixed so that a seed gives identical files. Each document comes
from its own random generator seeded by (seed, index): document 7 is the same in a corpus of 10
and in one of 1,000; which documents are scans depends on ``n``.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from docfields import storage
from docfields.samples.flow import Mention
from docfields.samples.layouts import LAYOUTS, RenderedAgreement, draw_agreement
from docfields.samples.scans import (
    SCAN_DPIS,
    PageGeometry,
    degrade_page,
    draw_defects,
    encode_jpeg,
    images_to_tiff,
    jpegs_to_pdf,
    mention_boxes,
    tiff_frames,
)
from docfields.samples.values import CARD_NAME, draw_agreement_values

logger = logging.getLogger(__name__)

LABEL_ATTRIBUTE = "label"
JOB_NAME = "labeling-job/docfields-samples"
CREATION_DATE = "2024-01-01T00:00:00.000000"  # fixed, so that a seed gives identical manifests
_PNG_LEVEL = 1  # zlib level: pages are written once and read a few times; level 1 halves the time


class CorpusOptions(BaseModel):
    """What corpus to generate; written beside it as ``corpus.json``."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(60, ge=1, le=100_000, description="Number of documents.")
    seed: int = Field(0, ge=0, description="Seed of every random choice: same seed, same corpus.")
    scan_share: float = Field(0.25, ge=0, le=1, description="Share of documents rendered as scans.")
    dpi: int = Field(150, ge=72, le=300, description="Resolution of born-digital page images (scans: 150, 175 or 200).")
    prefix: str = Field("cc", pattern=r"^[A-Za-z0-9_-]+$", description="Document ids are <prefix>-<index:04d>.")


class CorpusSummary(BaseModel):
    """What was written."""

    out: str
    documents: int
    scans: int
    pages: int
    boxes: int
    layouts: dict[str, int]
    formats: dict[str, int]
    seconds: float
    truth: str
    manifest: str
    fields: str


@dataclass(frozen=True)
class GeneratedPage:
    """One page: PNG image, size in pixels, depth in channels, boxes as (class_id, left, top, width, height)."""

    number: int
    png: bytes
    size: tuple[int, int]
    depth: int
    boxes: tuple[tuple[int, int, int, int, int], ...]


@dataclass(frozen=True)
class GeneratedDocument:
    """One document in memory: file bytes, page images with boxes, and its truth record."""

    doc_id: str
    filename: str
    data: bytes
    pages: tuple[GeneratedPage, ...]
    truth: dict[str, Any]


@cache
def _field_config_text() -> str:
    return resources.files("docfields.samples").joinpath("fields.json").read_text(encoding="utf-8")


def credit_card_fields() -> list[dict[str, Any]]:
    """The original's 19-field credit card configuration (PascalCase keys, as in ``fields.json``)."""
    return json.loads(_field_config_text())


@cache
def _class_ids() -> dict[str, int]:
    return {field["Name"]: field["ClassId"] for field in credit_card_fields()}


@cache
def _class_names() -> dict[int, str]:
    return {class_id: name for name, class_id in _class_ids().items()}


def _png(image: Any) -> bytes:
    """PNG bytes of a page image in its own mode: L (depth 1) for born-digital pages and gray scans, else RGB."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=_PNG_LEVEL)
    return buffer.getvalue()


def _page_boxes(
    mentions: list[Mention], geometry: PageGeometry
) -> tuple[list[list[list[int]]], list[tuple[int, int, int, int, int]]]:
    """Boxes per mention ([[left, top, width, height], ...]) and the page's (class_id, box) rows."""
    ids = _class_ids()
    per_mention, rows = [], []
    for mention in mentions:
        boxes = mention_boxes(mention, geometry)
        per_mention.append([[b.left, b.top, b.width, b.height] for b in boxes])
        rows.extend((ids[mention.field], b.left, b.top, b.width, b.height) for b in boxes)
    return per_mention, rows


@dataclass(frozen=True)
class _PageImage:
    png: bytes
    geometry: PageGeometry
    depth: int


def _page_image(image: Any, geometry: PageGeometry) -> _PageImage:
    return _PageImage(_png(image), geometry, len(image.getbands()))


@dataclass(frozen=True)
class _Rendition:
    """A document as written: file kind and bytes, page images, their dpi, and scan details."""

    kind: str
    data: bytes
    pages: list[_PageImage]
    dpi: int
    details: dict[str, Any] | None = None


def _born_digital(rendered: RenderedAgreement, dpi: int) -> _Rendition:
    from docfields.documents import open_document

    pages = []
    with open_document(rendered.pdf, name="<generated>") as document:
        for number in range(1, document.page_count + 1):
            image = document.render(number, dpi=dpi, grayscale=True)  # the templates draw in black and grays
            pages.append(_page_image(image, PageGeometry(rendered.page_size[1], dpi, image.size)))
    return _Rendition("pdf", rendered.pdf, pages, dpi)


def _scan(rendered: RenderedAgreement, rng: random.Random, noise_seed: list[int]) -> _Rendition:
    """Scan every page, then save the pages as one JPEG, a JPEG-compressed TIFF or an image-only PDF.

    The page images are decoded back from what the file holds, so they are the pixels OCR reads.
    """
    import numpy as np
    from PIL import Image

    from docfields.documents import open_document

    dpi, quality, grayscale = rng.choice(SCAN_DPIS), rng.randrange(45, 86), rng.random() < 0.7
    kind = rng.choice(("jpg", "tif", "pdf") if rendered.pages == 1 else ("tif", "pdf"))
    noise_rng = np.random.default_rng(noise_seed)
    degraded, defects = [], []
    with open_document(rendered.pdf, name="<generated>") as document:
        for number in range(1, document.page_count + 1):
            defects.append(draw_defects(rng))
            image = document.render(number, dpi=dpi, grayscale=grayscale)
            degraded.append(degrade_page(image, defects[-1], grayscale, noise_rng))
    if kind == "tif":
        data = images_to_tiff(degraded, dpi, quality)
        images = tiff_frames(data)
    else:
        jpegs = [encode_jpeg(image, quality) for image in degraded]
        data = jpegs[0] if kind == "jpg" else jpegs_to_pdf(jpegs, dpi)
        images = [Image.open(io.BytesIO(jpeg)) for jpeg in jpegs]
    height = rendered.page_size[1]
    pages = [
        _page_image(image, PageGeometry(height, dpi, image.size, d.angle))
        for image, d in zip(images, defects, strict=True)
    ]
    details = {"dpi": dpi, "jpeg_quality": quality, "grayscale": grayscale, "pages": [vars(d) for d in defects]}
    return _Rendition(kind, data, pages, dpi, details)


def _field_values(mentions: tuple[Mention, ...]) -> dict[str, str | list[str]]:
    """Field name -> value as printed (a list for multi-value fields or values printed differently)."""
    ids = _class_ids()
    texts: dict[str, list[str]] = {}
    for mention in mentions:
        seen = texts.setdefault(mention.field, [])
        if mention.text not in seen:
            seen.append(mention.text)
    ordered = sorted(texts, key=ids.__getitem__)
    return {name: texts[name] if name == CARD_NAME or len(texts[name]) > 1 else texts[name][0] for name in ordered}


def _annotate(rendered: RenderedAgreement, rendition: _Rendition) -> tuple[list[GeneratedPage], list[dict[str, Any]]]:
    """Each page with its boxes, and each mention with its page, text and boxes (for truth.jsonl)."""
    ids = _class_ids()
    pages, mentions = [], []
    for number, image in enumerate(rendition.pages, start=1):
        on_page = [m for m in rendered.mentions if m.page == number]
        per_mention, rows = _page_boxes(on_page, image.geometry)
        pages.append(GeneratedPage(number, image.png, image.geometry.image_size, image.depth, tuple(rows)))
        for mention, boxes in zip(on_page, per_mention, strict=True):
            record = {"field": mention.field, "class_id": ids[mention.field], "page": number}
            mentions.append({**record, "text": mention.text, "boxes": boxes})
    return pages, mentions


def generate_document(index: int, options: CorpusOptions, scan: bool) -> GeneratedDocument:
    """Generate document ``index`` of a corpus in memory (deterministic in seed and index).

    >>> doc = generate_document(0, CorpusOptions(seed=7), scan=False)
    >>> doc.filename, doc.truth["layout"] in LAYOUTS
    ('docs/cc-0000.pdf', True)
    """
    rng = random.Random(f"docfields-samples:{options.seed}:{index}")
    agreement = draw_agreement_values(rng)
    rendered = draw_agreement(agreement, rng.choice(LAYOUTS), rng)
    rendition = _scan(rendered, rng, [options.seed, index]) if scan else _born_digital(rendered, options.dpi)
    pages, mentions = _annotate(rendered, rendition)
    doc_id = f"{options.prefix}-{index:04d}"
    truth = {
        "id": doc_id,
        "file": f"docs/{doc_id}.{rendition.kind}",
        "scan": scan,
        "format": rendition.kind,
        "layout": rendered.layout,
        "pages": len(pages),
        "dpi": rendition.dpi,
        "fields": _field_values(rendered.mentions),
        "normalized": agreement.normalized,
        "mentions": mentions,
        "scan_details": rendition.details,
    }
    return GeneratedDocument(doc_id, truth["file"], rendition.data, tuple(pages), truth)


def _manifest_lines(document: GeneratedDocument, root: str) -> list[str]:
    """One SageMaker Ground Truth output line per page (``label`` + ``label-metadata``)."""
    names = _class_names()
    lines = []
    for page in document.pages:
        annotations = [{"class_id": c, "top": t, "left": x, "height": h, "width": w} for c, x, t, w, h in page.boxes]
        class_map = {str(c): names[c] for c, *_ in page.boxes}
        record = {
            "raw-ref": storage.join(root, document.filename),
            "source-ref": storage.join(root, "pages", f"{document.doc_id}-{page.number:04d}.png"),
            "page-num": page.number,
            LABEL_ATTRIBUTE: {
                "image_size": [{"width": page.size[0], "height": page.size[1], "depth": page.depth}],
                "annotations": annotations,
            },
            f"{LABEL_ATTRIBUTE}-metadata": {
                "objects": [{"confidence": 1} for _ in annotations],
                "class-map": class_map,
                "type": "groundtruth/object-detection",
                "human-annotated": "no",
                "creation-date": CREATION_DATE,
                "job-name": JOB_NAME,
                "adjustment-status": "unadjusted",
            },
        }
        lines.append(json.dumps(record))
    return lines


def _root(out: str | Path) -> str:
    return storage.absolute(str(out)).rstrip("/")


def _scan_indexes(options: CorpusOptions) -> set[int]:
    count = round(options.n * options.scan_share)
    return set(random.Random(f"docfields-samples:{options.seed}:scans").sample(range(options.n), count))


def generate_credit_card_corpus(
    out: str | Path, n: int = 60, seed: int = 0, *, scan_share: float = 0.25, dpi: int = 150
) -> CorpusSummary:
    """Write a corpus of ``n`` synthetic credit card agreements with ground truth under ``out``.

    Args:
        out: Output folder (local path or fsspec URL); files of the same names are overwritten,
            others (say, from an earlier, larger corpus) are left, so use a fresh folder.
        n: Number of documents.
        seed: Same seed, same corpus, byte for byte.
        scan_share: Share of documents rendered as scans (JPEG, TIFF or image-only PDF).
        dpi: Resolution of born-digital page images.

    >>> summary = generate_credit_card_corpus("demo-corpus", n=60, seed=7)  # doctest: +SKIP
    >>> summary.documents, summary.scans  # doctest: +SKIP
    (60, 15)
    """
    options = CorpusOptions(n=n, seed=seed, scan_share=scan_share, dpi=dpi)
    return write_corpus(out, options)


def write_corpus(out: str | Path, options: CorpusOptions) -> CorpusSummary:
    """Generate and write the corpus described by ``options`` (see the module docstring)."""
    start, root = time.perf_counter(), _root(out)
    scans = _scan_indexes(options)
    truth_lines, manifest_lines = [], []
    layouts: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    pages = boxes = 0
    for index in range(options.n):
        document = generate_document(index, options, index in scans)
        storage.write_bytes_atomic(storage.join(root, document.filename), document.data)
        for page in document.pages:
            name = f"{document.doc_id}-{page.number:04d}.png"
            storage.write_bytes_atomic(storage.join(root, "pages", name), page.png)
            boxes += len(page.boxes)
        pages += len(document.pages)
        layouts[document.truth["layout"]] += 1
        formats[document.truth["format"]] += 1
        truth_lines.append(json.dumps(document.truth))
        manifest_lines.extend(_manifest_lines(document, root))
        logger.debug("generated %s (%d pages)", document.filename, len(document.pages))
    paths = {name: storage.join(root, name) for name in ("truth.jsonl", "annotations.manifest.jsonl", "fields.json")}
    storage.write_text_atomic(paths["truth.jsonl"], "".join(line + "\n" for line in truth_lines))
    storage.write_text_atomic(paths["annotations.manifest.jsonl"], "".join(line + "\n" for line in manifest_lines))
    storage.write_text_atomic(paths["fields.json"], _field_config_text())
    storage.write_text_atomic(storage.join(root, "corpus.json"), options.model_dump_json(indent=2) + "\n")
    seconds = time.perf_counter() - start
    logger.info("wrote %d documents (%d scans, %d pages) to %s in %.1f s", options.n, len(scans), pages, root, seconds)
    return CorpusSummary(
        out=root, documents=options.n, scans=len(scans), pages=pages, boxes=boxes, layouts=dict(layouts),
        formats=dict(formats), seconds=seconds, truth=paths["truth.jsonl"],
        manifest=paths["annotations.manifest.jsonl"], fields=paths["fields.json"],
    )  # fmt: skip
