"""Where a reviewed value is printed: the OCR words that spell it, for box annotations.

A value is found in one of three ways. When the model read it right, its detections name the
WORD blocks (``Blocks``) and those are used as they are. Otherwise the page words are searched
for the value, compared without case and whitespace and ignoring punctuation around it (OCR
splits ``$25.00,`` and ``Up to`` differently from how a reviewer types them); every occurrence
is kept, since a provider's name in the header and in the footer are both that field. When two
fields claim the same words ("Up to $25.00" printed for two different fees), the field whose
detection sat there keeps them (``resolve_claims``). A value not printed as such (a normalized
date) is where the field's detections are, if they all read one same text.

Each found occurrence is a ``Span`` of words; its boxes are one per text line, since a box
spanning two lines would cover the words between them and label them too.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from docfields.review.flowback import same_text
from docfields.textract import Block, BoundingBox, TextractDocument, iter_pages, line_words, page_lines, union_bbox

_PUNCTUATION = string.punctuation + "“”‘’«»…–—•·"
Source = Literal["detection", "search", "raw", "none"]


@dataclass(frozen=True)
class PageWord:
    """One OCR word with its page, its line (numbered across the document) and its search key."""

    block: Block
    box: BoundingBox
    page: int
    line: int
    key: str


@dataclass(frozen=True)
class Claim:
    """A field's claim on some words: its class, the span, and whether a detection of it sat there."""

    class_id: int
    span: Span
    near: bool


@dataclass(frozen=True)
class Span:
    """Consecutive words of one page that spell a value."""

    page: int
    words: tuple[PageWord, ...]

    def line_boxes(self) -> list[BoundingBox]:
        """One box (page fractions) per text line the span covers, in reading order."""
        lines: dict[int, list[BoundingBox]] = {}
        for word in self.words:
            lines.setdefault(word.line, []).append(word.box)
        return [union_bbox(boxes) for boxes in lines.values()]

    def overlaps(self, detection: Mapping[str, Any]) -> bool:
        """Tell whether the span and a result detection share some area on the same page."""
        if int(detection.get("PageNum", 0)) != self.page:
            return False
        box = detection.get("BoundingBox") or {}
        left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
        right, bottom = left + float(box.get("Width", 0.0)), top + float(box.get("Height", 0.0))
        mine = union_bbox(word.box for word in self.words)
        width = min(right, mine.left + mine.width) - max(left, mine.left)
        height = min(bottom, mine.top + mine.height) - max(top, mine.top)
        return width > 0 and height > 0


def _line_words(document: TextractDocument, line: Block, page: int, line_number: int) -> list[PageWord]:
    """The words of a line that have a box (a word without one cannot be annotated)."""
    return [
        PageWord(block, block.geometry.bounding_box, page, line_number, compact(block.text or ""))
        for block in line_words(document, line)
        if block.geometry is not None
    ]


def compact(text: str) -> str:
    """The search key of a text: case-folded, without whitespace."""
    return "".join(text.casefold().split())


class WordIndex:
    """The words of a Textract document in reading order, by page, and by block id."""

    def __init__(self, document: TextractDocument) -> None:
        self.pages: dict[int, list[PageWord]] = {}
        self.by_id: dict[str, PageWord] = {}
        lines = 0
        for page_number, page in enumerate(iter_pages(document), start=1):
            words = self.pages.setdefault(page_number, [])
            for line in page_lines(document, page):
                lines += 1
                words.extend(_line_words(document, line, page_number, lines))
            self.by_id.update((word.block.id, word) for word in words)

    @property
    def page_count(self) -> int:
        """Number of PAGE blocks."""
        return len(self.pages)

    def spans_of_blocks(self, block_ids: Iterable[str]) -> list[Span]:
        """The words a detection names, as one span per page (unknown ids are skipped)."""
        by_page: dict[int, list[PageWord]] = {}
        for block_id in block_ids:
            word = self.by_id.get(block_id)
            if word is not None:
                by_page.setdefault(word.page, []).append(word)
        return [Span(page, tuple(words)) for page, words in by_page.items()]

    def find(self, value: str) -> list[Span]:
        """Every non-overlapping occurrence of ``value`` in the page words, in reading order."""
        target = compact(value).strip(_PUNCTUATION)
        if not target:
            return []
        spans = []
        for page, words in self.pages.items():
            start = 0
            while start < len(words):
                end = _match_end(words, start, target)
                if end is None:
                    start += 1
                    continue
                spans.append(Span(page, tuple(words[start : end + 1])))
                start = end + 1
        return spans


def _match_end(words: Sequence[PageWord], start: int, target: str) -> int | None:
    """Index of the last word of an occurrence of ``target`` starting at word ``start``, or None.

    Punctuation before the first word and after the last one is ignored.
    """
    text = words[start].key.lstrip(_PUNCTUATION)
    if not text or not (target.startswith(text) or text.startswith(target)):
        return None
    end = start
    while len(text) < len(target) and end + 1 < len(words):
        end += 1
        text += words[end].key
        if not (target.startswith(text) or text.startswith(target)):
            return None
    if text.startswith(target) and not text[len(target) :].strip(_PUNCTUATION):
        return end
    return None


def raw_text(detection: Mapping[str, Any]) -> str:
    """The text a detection read from the page (before any normalizer), whitespace collapsed."""
    return " ".join(str(detection.get("RawText") or detection.get("Text") or "").split())


def _only_reading(detections: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The detections, if they all read one same raw text; none otherwise."""
    raws = {raw_text(d) for d in detections}
    return list(detections) if len(raws) == 1 and "" not in raws else []


def locate_value(
    index: WordIndex,
    value: str,
    detections: Sequence[Mapping[str, Any]],
    field_detections: Sequence[Mapping[str, Any]],
    single: bool,
) -> tuple[list[Span], Source]:
    """Where ``value`` is printed, and how it was found (the ``Source``).

    1. ``detection``: detections of the value whose ``Text`` is the value: the model read it
       right, their ``Blocks`` are the words.
    2. ``search``: the value is spelled by page words: every occurrence.
    3. ``raw``: the value is not printed as such (a normalized form such as an ISO date) and
       the single-value field's detections all read one raw text: that reading is the value.
    4. ``none``: not found.

    Args:
        index: the document's words.
        value: the reviewed value.
        detections: the model's detections of this value.
        field_detections: every detection of the field.
        single: whether the field is single-value (rule 3 applies to those only: a multi-value
            field's readings cannot be paired with its values).
    """
    exact = [d for d in detections if same_text(str(d.get("Text", "")), value)]
    spans = [span for d in exact for span in index.spans_of_blocks(d.get("Blocks") or [])]
    if spans:
        return spans, "detection"
    found = index.find(value)
    if found:
        return found, "search"
    reading = _only_reading(field_detections) if single else []
    spans = [span for d in reading for span in index.spans_of_blocks(d.get("Blocks") or [])]
    return (spans, "raw") if spans else ([], "none")


def correction_sources(
    value: str, spans: Sequence[Span], source: Source, field_detections: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Raw texts the reviewed ``value`` corrects: sources of (raw text -> value) normalizer pairs.

    Found through matching detections, the model was right: nothing to learn. Found in the
    words, the detections overlapping it read that place differently. Found as the field's only
    reading (``raw``), that reading is what the value normalizes.
    """
    if source == "search":
        candidates = [raw_text(d) for d in field_detections if any(span.overlaps(d) for span in spans)]
    elif source == "raw":
        candidates = [raw_text(d) for d in field_detections]
    else:
        candidates = []
    unique = list(dict.fromkeys(c for c in candidates if c))
    return [c for c in unique if not same_text(c, value)]


def claims_for(
    class_id: int, spans: Sequence[Span], source: Source, field_detections: Sequence[Mapping[str, Any]]
) -> list[Claim]:
    """A field's claims on the spans of one value; spans taken from detections are near by definition."""
    return [
        Claim(class_id, span, source != "search" or any(span.overlaps(d) for d in field_detections)) for span in spans
    ]


def resolve_claims(claims: Iterable[Claim]) -> list[Claim]:
    """Drop claims on words other fields claim from nearer: the field whose detection sat there keeps them.

    When no claimant, or every claimant, had a detection there, all claims stay (the label rule
    then gives the words to the lowest class id).
    """
    by_words: dict[tuple[int, tuple[str, ...]], list[Claim]] = {}
    for claim in claims:
        key = (claim.span.page, tuple(word.block.id for word in claim.span.words))
        by_words.setdefault(key, []).append(claim)
    kept = []
    for rivals in by_words.values():
        near = [claim for claim in rivals if claim.near]
        kept.extend(near if near and len({c.class_id for c in rivals}) > 1 else rivals)
    return kept
