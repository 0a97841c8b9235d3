"""The Amazon Textract JSON model every docfields stage reads and writes.

Contract (DESIGN.md): ``DocumentMetadata.Pages`` and a flat list of ``Blocks``. PAGE, LINE and WORD
blocks carry ``Id``, ``BlockType``, ``Page`` (1-based), ``Confidence`` (0..100), ``Text``,
``TextType`` and ``Geometry`` (``BoundingBox`` in 0..1 of the page, origin top-left, and a 4-point
``Polygon``), linked PAGE -> LINEs -> WORDs by CHILD relationships; words off any LINE are invisible
to every reader. Unknown keys and block types (KEY_VALUE_SET, LAYOUT_*, ``EntityTypes``, the
enrichment keys) are kept and no absent key is added, so read -> write gives the same JSON.
Reading order: PAGEs in order, LINEs in their PAGE's CHILD order, WORDs in their LINE's. Boxes live
in page fractions, LayoutLM 0..1000 integers and pixels; each converter names both spaces.

>>> page = OcrPage(lines=(OcrLine(words=(OcrWord("Total", 98.0, NormBox(0.1, 0.1, 0.2, 0.05)),)),),
...                engine="pdftext")
>>> [w.text for w in iter_words(build_document([page], "docfields-pdftext-1"))]
['Total']
"""

from __future__ import annotations

import gc
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError
from pydantic.alias_generators import to_pascal
from pydantic_core import to_json

from docfields import storage
from docfields.errors import DocumentError, TextractFormatError

BOX_TOLERANCE = 0.005  # how far a BoundingBox may stray outside 0..1, as real Textract's do
UNIT_TOLERANCE = 1e-6  # float rounding a 0..1 probability may show
LAYOUTLM_SCALE = 1000
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version and variant bits of a UUID
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


class _TextractModel(BaseModel):
    """PascalCase on the wire, snake_case in Python, unknown keys kept."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="allow")


class BoundingBox(_TextractModel):
    """Axis-aligned box in fractions (0..1) of the page, origin top-left."""

    width: float
    height: float
    left: float
    top: float


class Point(_TextractModel):
    """One polygon vertex in fractions of the page."""

    x: float
    y: float


class Geometry(_TextractModel):
    """Where a block sits: its box, and a polygon (TL, TR, BR, BL for boxes we build)."""

    bounding_box: BoundingBox
    polygon: list[Point] = Field(default_factory=list)


class Relationship(_TextractModel):
    """A typed link from one block to others (CHILD, VALUE, ...)."""

    type: str
    ids: list[str] = Field(default_factory=list)


class Block(_TextractModel):
    """One Textract block; ``block_type`` is any string so unknown types survive."""

    id: str
    block_type: str
    confidence: float | None = None
    text: str | None = None
    text_type: str | None = None
    page: int | None = None
    geometry: Geometry | None = None
    relationships: list[Relationship] | None = None


class DocumentMetadata(_TextractModel):
    """Document-level metadata; ``pages`` must equal the number of PAGE blocks."""

    pages: int


class TextractDocument(_TextractModel):
    """A whole Textract response (or a docfields OCR result) with a cached Id index."""

    document_metadata: DocumentMetadata
    blocks: list[Block]
    detect_document_text_model_version: str | None = None
    warnings: list[str] | None = None
    _index: tuple[list[Block], int, dict[str, Block]] | None = PrivateAttr(default=None)

    def block_index(self) -> dict[str, Block]:
        """Blocks by Id, built once and rebuilt when ``blocks`` is replaced or changes length."""
        blocks, cached = self.blocks, self._index
        if cached is None or cached[0] is not blocks or cached[1] != len(blocks):
            self._index = cached = (blocks, len(blocks), {block.id: block for block in blocks})
        return cached[2]


@dataclass(frozen=True)
class NormBox:
    """A box in fractions (0..1) of the page, as an OCR engine reports it."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class OcrWord:
    """One recognized word; ``confidence`` is 0..100 like Textract's."""

    text: str
    confidence: float
    box: NormBox
    text_type: str = "PRINTED"


@dataclass(frozen=True)
class OcrLine:
    """Words of one line in reading order; ``confidence`` None means the mean of its words."""

    words: tuple[OcrWord, ...]
    confidence: float | None = None


@dataclass(frozen=True)
class OcrPage:
    """Lines of one page in reading order, the name of the engine that read it, and what ran and why.

    ``details`` becomes the PAGE block's ``OcrDetails`` key (resolution, clean-up steps, the engine
    choice of ``auto``): readers of Textract JSON ignore it, people debugging a page read it.
    """

    lines: tuple[OcrLine, ...]
    engine: str
    details: dict[str, Any] = field(default_factory=dict, compare=False)


BoxLike = BoundingBox | NormBox  # both have left/top/width/height in one space


def _edges(box: BoxLike) -> tuple[float, float, float, float]:
    return box.left, box.top, box.left + box.width, box.top + box.height


def _from_edges(left: float, top: float, right: float, bottom: float) -> BoundingBox:
    return BoundingBox(left=left, top=top, width=right - left, height=bottom - top)


def _scaled(edges: Sequence[float], sizes: Sequence[int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (min(max(round(v * n), 0), n) for v, n in zip(edges, sizes, strict=True))
    return x0, y0, x1, y1


def bbox_to_polygon(box: BoxLike) -> list[Point]:
    """Four corners TL, TR, BR, BL: the polygon Textract gives an upright box."""
    left, top, right, bottom = _edges(box)
    corners = ((left, top), (right, top), (right, bottom), (left, bottom))
    return [Point(x=x, y=y) for x, y in corners]


def polygon_to_bbox(points: Sequence[Point]) -> BoundingBox:
    """Smallest upright box around a polygon: x gives Left/Width, y Top/Height (not swapped)."""
    xs, ys = [p.x for p in points], [p.y for p in points]
    return _from_edges(min(xs), min(ys), max(xs), max(ys))


def union_bbox(boxes: Iterable[BoxLike]) -> BoundingBox:
    """Smallest box covering all ``boxes``: a LINE's geometry from its WORDs."""
    edges = zip(*(_edges(box) for box in boxes), strict=True)
    lefts, tops, rights, bottoms = edges  # ValueError when there is no box
    return _from_edges(min(lefts), min(tops), max(rights), max(bottoms))


def normalized_to_layoutlm(box: BoxLike) -> tuple[int, int, int, int]:
    """Page fractions to LayoutLM's ``[x0, y0, x1, y1]`` integers, clamped to 0..1000."""
    return _scaled(_edges(box), (LAYOUTLM_SCALE,) * 4)


def layoutlm_to_normalized(box: Sequence[int]) -> BoundingBox:
    """LayoutLM ``[x0, y0, x1, y1]`` (0..1000) back to page fractions."""
    return _from_edges(*(v / LAYOUTLM_SCALE for v in box))


def normalized_to_pixels(box: BoxLike, width: int, height: int) -> tuple[int, int, int, int]:
    """Page fractions to pixel ``(left, top, right, bottom)``, clamped to the image for cropping."""
    return _scaled(_edges(box), (width, height, width, height))


def pixels_to_normalized(left: float, top: float, right: float, bottom: float, width: int, height: int) -> BoundingBox:
    """Pixel edges in a ``width`` x ``height`` image to page fractions (annotation boxes)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} x {height}")
    return _from_edges(left / width, top / height, right / width, bottom / height)


def confidence_to_unit(confidence: float) -> float:
    """Textract's 0..100 block confidence to the 0..1 used in results."""
    return confidence / 100.0


def confidence_to_percent(confidence: float) -> float:
    """A 0..1 confidence to Textract's 0..100."""
    return confidence * 100.0


def iter_pages(document: TextractDocument) -> Iterator[Block]:
    """PAGE blocks in document order."""
    return (block for block in document.blocks if block.block_type == "PAGE")


def _children(document: TextractDocument, block: Block, block_type: str) -> list[Block]:
    """CHILD blocks of one type, in relationship order; dangling ids are skipped."""
    index = document.block_index()
    ids = [i for rel in block.relationships or () if rel.type == "CHILD" for i in rel.ids]
    children = (index.get(child_id) for child_id in ids)
    return [child for child in children if child and child.block_type == block_type]


def page_lines(document: TextractDocument, page: Block) -> list[Block]:
    """LINE blocks of a PAGE, in its CHILD order."""
    return _children(document, page, "LINE")


def line_words(document: TextractDocument, line: Block) -> list[Block]:
    """WORD blocks of a LINE, in its CHILD order."""
    return _children(document, line, "WORD")


def iter_words(document: TextractDocument) -> Iterator[Block]:
    """Every WORD in reading order: page, then LINE, then WORD (loose words are ignored)."""
    for page in iter_pages(document):
        for line in page_lines(document, page):
            yield from line_words(document, line)


def page_words(document: TextractDocument, page_number: int) -> list[Block]:
    """WORDs of the ``page_number``-th PAGE block (1-based), in reading order."""
    pages = list(iter_pages(document))
    if not 1 <= page_number <= len(pages):
        raise IndexError(f"page {page_number} not in 1..{len(pages)}")
    lines = page_lines(document, pages[page_number - 1])
    return [word for line in lines for word in line_words(document, line)]


def _clamped_edges(box: NormBox) -> tuple[float, float, float, float]:
    left, top, right, bottom = (min(max(v, 0.0), 1.0) for v in _edges(box))
    return left, top, max(right, left), max(bottom, top)


def _clamp_confidence(confidence: float) -> float:
    return min(max(float(confidence), 0.0), 100.0)


def _geometry(left: float, top: float, right: float, bottom: float) -> dict[str, Any]:
    """Wire-format Geometry: the builder makes plain dicts and validates the document once,
    which is about twice as fast as building a model per block."""
    corners = ((left, top), (right, top), (right, bottom), (left, bottom))
    return {
        "BoundingBox": {"Width": right - left, "Height": bottom - top, "Left": left, "Top": top},
        "Polygon": [{"X": x, "Y": y} for x, y in corners],
    }


def _new_ids() -> Iterator[str]:
    """Random (version 4) UUID strings, 256 per ``os.urandom`` call: one system call per id, as
    ``uuid.uuid4`` makes, was a fifth of the time to build a dense page. A generator per document,
    so forked processes never share a buffer."""
    while True:
        pool = os.urandom(16 * 256)
        for offset in range(0, len(pool), 16):
            number = int.from_bytes(pool[offset : offset + 16]) & _UUID_CLEAR | _UUID_SET
            digits = f"{number:032x}"
            yield f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _block(
    block_type: str, page: int, edges: tuple[float, float, float, float], ids: Iterator[str], **keys: Any
) -> dict[str, Any]:
    return {"BlockType": block_type, "Id": next(ids), "Page": page, "Geometry": _geometry(*edges), **keys}


def _line_blocks(line: OcrLine, page: int, ids: Iterator[str]) -> list[dict[str, Any]]:
    """The LINE block followed by its WORDs; nothing when no word has text."""
    words = [(word, _clamped_edges(word.box)) for word in line.words if word.text.strip()]
    if not words:
        return []
    word_blocks = [
        _block(
            "WORD",
            page,
            edges,
            ids,
            Text=word.text.strip(),
            TextType=word.text_type,
            Confidence=_clamp_confidence(word.confidence),
        )
        for word, edges in words
    ]
    mean = fmean(block["Confidence"] for block in word_blocks)
    edges = (
        min(e[0] for _, e in words),
        min(e[1] for _, e in words),
        max(e[2] for _, e in words),
        max(e[3] for _, e in words),
    )
    line_block = _block(
        "LINE",
        page,
        edges,
        ids,
        Text=" ".join(block["Text"] for block in word_blocks),
        Confidence=_clamp_confidence(mean if line.confidence is None else line.confidence),
        Relationships=[{"Type": "CHILD", "Ids": [block["Id"] for block in word_blocks]}],
    )
    return [line_block, *word_blocks]


def _page_blocks(page: OcrPage, number: int, ids: Iterator[str]) -> list[dict[str, Any]]:
    """The PAGE block (full-page geometry, "Engine" and "OcrDetails" keys) followed by its lines."""
    extra = {"OcrDetails": page.details} if page.details else {}
    page_block = _block("PAGE", number, (0.0, 0.0, 1.0, 1.0), ids, Engine=page.engine, **extra)
    content = [block for line in page.lines for block in _line_blocks(line, number, ids)]
    line_ids = [block["Id"] for block in content if block["BlockType"] == "LINE"]
    if line_ids:
        page_block["Relationships"] = [{"Type": "CHILD", "Ids": line_ids}]
    return [page_block, *content]


def build_document(pages: Sequence[OcrPage], model_version: str) -> TextractDocument:
    """Turn engine records into Textract JSON that trp and textractor load.

    Blocks per page: PAGE, then each LINE followed by its WORDs. Empty words and lines are
    dropped, boxes clamped into the page, ids are uuid4 strings. ``model_version`` becomes
    ``DetectDocumentTextModelVersion`` (``docfields-<engine>-<version>``).
    """
    with _gc_paused():
        ids = _new_ids()
        blocks = [block for n, page in enumerate(pages, 1) for block in _page_blocks(page, n, ids)]
        data = {"DocumentMetadata": {"Pages": len(pages)}, "Blocks": blocks, **_closing_keys(model_version)}
        return TextractDocument.model_validate(data)


def _closing_keys(model_version: str) -> dict[str, str]:
    """The top-level keys after ``Blocks`` in docfields' OCR output."""
    return {"DetectDocumentTextModelVersion": model_version, "JobStatus": "SUCCEEDED"}


_PAGE_BLOCKS = TypeAdapter(list[Block])


def _page_blocks_json(blocks: list[Block]) -> bytes:
    """A page's blocks as ``write_textract`` serializes them, without the list's brackets."""
    return _PAGE_BLOCKS.dump_json(blocks, by_alias=True, exclude_unset=True)[1:-1]


def write_textract_pages(pages: Iterable[OcrPage], page_count: int, model_version: str, url: str) -> Counter[str]:
    """Write what ``write_textract(build_document(pages, model_version), url)`` writes, one page at a time.

    A document's blocks as models cost about 4.5 MB a page (1.7 GB at 300 pages, 30 GB at the
    5,000-page limit); here each page's blocks are built, validated, serialized and dropped before
    the next page is read, so memory holds one page whatever the length. The file appears whole
    or not at all (``storage.open_atomic``), even when the process is killed. The pages must
    number ``page_count`` (``DocumentMetadata.Pages`` is written first), else ``ValueError``.
    Returns how many pages each engine read (``OcrPage.engine``).
    """
    engines: Counter[str] = Counter()
    ids = _new_ids()
    with storage.open_atomic(url) as handle:
        handle.write(to_json({"DocumentMetadata": {"Pages": page_count}})[:-1] + b',"Blocks":[')
        for number, page in enumerate(pages, 1):
            with _gc_paused():
                blocks = _PAGE_BLOCKS.validate_python(_page_blocks(page, number, ids))
            handle.write((b"," if number > 1 else b"") + _page_blocks_json(blocks))
            engines[page.engine] += 1
        if engines.total() != page_count:
            raise ValueError(f"{url}: {engines.total()} pages written, {page_count} declared")
        handle.write(b"]," + to_json(_closing_keys(model_version))[1:])
    return engines


def concat_documents(documents: Sequence[TextractDocument], model_version: str | None = None) -> TextractDocument:
    """Join per-page (or per-chunk) responses into one document, renumbering ``Page``.

    Other top-level keys are merged as the original consolidated paginated results: lists
    (``Warnings``) are concatenated, scalars from later documents win.
    """
    with _gc_paused():  # a copy through JSON is ~20x faster than model_copy(deep=True)
        copies = [TextractDocument.model_validate_json(_to_json(d)) for d in documents]
    blocks: list[Block] = []
    keys: dict[str, Any] = {}
    pages = 0
    for copied in copies:
        for block in copied.blocks:
            block.page = pages + (block.page or 1)
        blocks += copied.blocks
        pages += sum(1 for _ in iter_pages(copied))
        keys.update(copied.model_extra or {})
    versions = [model_version, *(d.detect_document_text_model_version for d in documents)]
    if any(version is not None for version in versions):
        keys["DetectDocumentTextModelVersion"] = next(v for v in versions if v is not None)
    if any(document.warnings is not None for document in documents):
        keys["Warnings"] = [warning for d in documents for warning in d.warnings or ()]
    return TextractDocument(document_metadata=DocumentMetadata(pages=pages), blocks=blocks, **keys)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while making many models: its rescans make big parses 5x slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _join_loc(parts: Sequence[int | str]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _describe_validation_error(exc: ValidationError, raw: dict[str, Any]) -> str:
    """Pydantic errors rewritten as ``Blocks[i] (Id x): Key.Path: message``."""
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        where = _join_loc(loc)
        if len(loc) >= 2 and loc[0] == "Blocks" and isinstance(loc[1], int):
            block = raw["Blocks"][loc[1]]
            block_id = block.get("Id") if isinstance(block, dict) else None
            where = f"Blocks[{loc[1]}] (Id {block_id}): {_join_loc(loc[2:]) or 'block'}"
        problems.append(f"{where}: {error['msg']}")
    return _summarize(problems)


def _summarize(problems: list[str]) -> str:
    shown = problems[:5]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more problem(s)" if more > 0 else "")


def parse_textract(data: bytes | str | dict[str, Any], source: str = "<json>") -> TextractDocument:
    """Parse JSON text, bytes or an already-loaded dict into a TextractDocument.

    Only the schema is checked here (types, required keys); ``validate_textract`` checks the
    semantics. Errors name ``source``, the block and the key. A dict is not copied: unknown
    nested values (``ResponseMetadata`` ...) stay shared with it.
    """
    try:
        with _gc_paused():
            raw = data if isinstance(data, dict) else json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise TextractFormatError(f"{source}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or "Blocks" not in raw:
        found = ", ".join(sorted(raw)[:8]) if isinstance(raw, dict) else type(raw).__name__
        raise TextractFormatError(f"{source}: not Textract JSON, no 'Blocks' (found: {found})")
    try:
        with _gc_paused():
            return TextractDocument.model_validate(raw)
    except ValidationError as exc:
        raise TextractFormatError(f"{source}: {_describe_validation_error(exc, raw)}") from exc


def read_textract(url: str, validate: bool = True) -> TextractDocument:
    """Read Textract JSON from a local path or fsspec URL; every error names the file.

    With ``validate`` (the default) ``validate_textract`` runs too: broken files fail here.
    """
    try:
        data = storage.read_bytes(url)
    except OSError as exc:
        raise DocumentError(url, f"cannot read Textract JSON: {exc}") from exc
    document = parse_textract(data, source=url)
    if validate:
        validate_textract(document, source=url)
    return document


def _to_json(document: TextractDocument, indent: int | None = None) -> str:
    return document.model_dump_json(by_alias=True, exclude_unset=True, indent=indent)


def textract_to_dict(document: TextractDocument) -> dict[str, Any]:
    """Plain JSON-ready dict with PascalCase keys and only the keys that were set."""
    return document.model_dump(by_alias=True, exclude_unset=True)


def write_textract(document: TextractDocument, url: str, indent: int | None = None) -> None:
    """Write atomically, so an interrupted batch never leaves half a file that looks finished."""
    storage.write_bytes_atomic(url, _to_json(document, indent).encode("utf-8"))


_LINE_KEYS = ("text", "confidence", "geometry")
_REQUIRED_KEYS = {"PAGE": ("geometry",), "LINE": _LINE_KEYS, "WORD": (*_LINE_KEYS, "text_type")}


def _required_problems(block: Block) -> Iterator[str]:
    """Keys trp and textractor read without checking, on PAGE / LINE / WORD blocks."""
    for name in _REQUIRED_KEYS.get(block.block_type, ()):
        if getattr(block, name) is None:
            yield f"{to_pascal(name)}: missing on a {block.block_type} block"
    if block.block_type == "WORD" and block.text is not None and not block.text.strip():
        yield "Text: empty on a WORD block"
    fields = block.geometry.model_fields_set if block.geometry else {"polygon"}
    if block.block_type in _REQUIRED_KEYS and "polygon" not in fields:
        yield "Geometry.Polygon: missing"


def _box_problems(box: BoundingBox) -> Iterator[str]:
    low, high = -BOX_TOLERANCE, 1.0 + BOX_TOLERANCE
    _, _, right, bottom = _edges(box)
    values = {"Left": box.left, "Top": box.top, "Width": box.width, "Height": box.height}
    values |= {"Left + Width": right, "Top + Height": bottom}
    for key, value in values.items():
        if not low <= value <= high:
            yield f"Geometry.BoundingBox.{key}: {value} outside 0..1"


def _relationship_problems(block: Block, ids: dict[str, int]) -> Iterator[str]:
    for r, relationship in enumerate(block.relationships or ()):
        for k, child_id in enumerate(relationship.ids if relationship.type == "CHILD" else ()):
            if child_id not in ids:
                yield f"Relationships[{r}].Ids[{k}]: CHILD id {child_id!r} names no block"


def _unit_problem(value: object) -> str | None:
    """Why ``value`` is no probability (a finite number in 0..1), or None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"{value!r} is not a number"
    if not -UNIT_TOLERANCE <= value <= 1.0 + UNIT_TOLERANCE:  # NaN fails this too
        return f"{value} outside 0..1"
    return None


def _probability_problems(probabilities: object, num_labels: int | None) -> Iterator[str]:
    key = "ClassificationProbabilities"
    if not isinstance(probabilities, list):
        yield f"{key}: {type(probabilities).__name__}, not a list of numbers"
        return
    if len(probabilities) != num_labels:
        yield f"{key}: {len(probabilities)} values, where the document's first enriched block has {num_labels}"
    problem = next(((k, p) for k, v in enumerate(probabilities) if (p := _unit_problem(v))), None)
    if problem is not None:
        yield f"{key}[{problem[0]}]: {problem[1]}"


def _enrichment_problems(block: Block, num_labels: int | None) -> Iterator[str]:
    """The enrichment keys of a block, checked against the contract: consumers trust them for confidences."""
    extra = block.model_extra or {}
    if "ClassificationProbabilities" in extra:
        yield from _probability_problems(extra["ClassificationProbabilities"], num_labels)
    predicted = extra.get("PredictedClass")
    if "PredictedClass" in extra and (not isinstance(predicted, int) or isinstance(predicted, bool) or predicted < 0):
        yield f"PredictedClass: {predicted!r} is not a class index (a whole number >= 0)"
    elif isinstance(predicted, int) and num_labels is not None and predicted >= num_labels:
        yield f"PredictedClass: {predicted} outside 0..{num_labels - 1} (ClassificationProbabilities has {num_labels})"
    if "PredictedClassConfidence" in extra and (problem := _unit_problem(extra["PredictedClassConfidence"])):
        yield f"PredictedClassConfidence: {problem}"


def _num_labels(document: TextractDocument) -> int | None:
    """How many classes the document's enrichment has: the first ``ClassificationProbabilities``' length."""
    for block in document.blocks:
        probabilities = (block.model_extra or {}).get("ClassificationProbabilities")
        if isinstance(probabilities, list):
            return len(probabilities)
    return None


def _block_problems(block: Block, ids: dict[str, int], pages: int) -> Iterator[str]:
    yield from _required_problems(block)
    if block.confidence is not None and not 0.0 <= block.confidence <= 100.0:
        yield f"Confidence: {block.confidence} outside 0..100"
    if block.page is not None and not 1 <= block.page <= pages:
        yield f"Page: {block.page} outside 1..{pages}"
    if block.geometry is not None:
        yield from _box_problems(block.geometry.bounding_box)
    yield from _relationship_problems(block, ids)


def _labelled(document: TextractDocument, problems: Callable[[int, Block], Iterator[str]]) -> Iterator[str]:
    """``problems`` of every block, each prefixed with how every message names a block."""
    for i, block in enumerate(document.blocks):
        for problem in problems(i, block):
            yield f"Blocks[{i}] (Id {block.id}): {problem}"


def _document_problems(document: TextractDocument) -> Iterator[str]:
    declared = document.document_metadata.pages
    found = sum(1 for _ in iter_pages(document))
    if declared != found:
        yield f"DocumentMetadata.Pages: {declared}, but there are {found} PAGE blocks"
    ids: dict[str, int] = {}
    for i, block in enumerate(document.blocks):
        ids.setdefault(block.id, i)
    num_labels = _num_labels(document)

    def problems(i: int, block: Block) -> Iterator[str]:
        if ids[block.id] != i:
            yield f"Id: duplicate of Blocks[{ids[block.id]}]"
        yield from _block_problems(block, ids, declared)
        yield from _enrichment_problems(block, num_labels)

    yield from _labelled(document, problems)


def _raise_problems(problems: Iterable[str], source: str) -> None:
    found = list(problems)
    if found:
        raise TextractFormatError(f"{source}: {_summarize(found)}")


def validate_textract(document: TextractDocument, source: str = "<json>") -> None:
    """Check what the schema cannot: page count, links, ranges, unique ids, required keys, enrichment.

    Raises TextractFormatError naming ``source``, the block (index and Id) and the key.
    """
    _raise_problems(_document_problems(document), source)


def validate_enrichment(document: TextractDocument, source: str = "<json>") -> None:
    """Check only the enrichment keys (``PredictedClass`` within the classes, confidences and
    probabilities in 0..1, one ``ClassificationProbabilities`` length): what fields extraction trusts.

    Raises TextractFormatError naming ``source``, the block (index and Id) and the key.
    """
    num_labels = _num_labels(document)
    _raise_problems(_labelled(document, lambda _, block: _enrichment_problems(block, num_labels)), source)
