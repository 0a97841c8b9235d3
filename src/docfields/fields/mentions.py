"""Mentions: runs of consecutive words the tagger gave the same field class.

Words are walked in reading order (PAGEs, their LINEs, each LINE's WORDs). A word's class is its
``PredictedClass`` when that class is a configured, non-ignored field; any other word (another
class, an ignored one, no prediction) ends the open mention. A mention may continue onto the
next line only when that line is *adjacent* (``lines_adjacent``): a value wrapped onto the next
line stays one mention, while the same class found again further down the page, in another
column, or on the next page starts a new one. Mentions never cross pages, so ``page_num`` is
the page of the mention's own words, and the mention still open at the end of a page (or of the
document) is emitted. The original did neither (spec section 5.2, [obs]).

Confidence: a word is right only if both the tagger's class and the OCR's text are right. Taking
the two as independent gives their product (``PredictedClassConfidence``, 0..1, times the WORD's
``Confidence`` converted from 0..100 by ``confidence_to_unit``; a missing one counts as 1). A
mention is as weak as its weakest word: the minimum over its words. The original compared a 0..1
with a 0..100 number, so the OCR side never counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from docfields.errors import TextractFormatError
from docfields.textract import (
    Block,
    BoundingBox,
    TextractDocument,
    confidence_to_unit,
    iter_pages,
    line_words,
    page_lines,
    union_bbox,
)

MAX_LINE_GAP = 1.5  # the next line's top may be at most this many line heights below the previous bottom
MAX_LINE_OVERLAP = 0.5  # ... and at most this many line heights above it (tight leading, descenders)
LEFT_TOLERANCE = 0.05  # lines starting this close (fraction of page width) count as aligned


@dataclass(frozen=True)
class Mention:
    """Consecutive words of one class on one page, grouped by line, in reading order."""

    class_id: int
    page_num: int
    lines: tuple[tuple[Block, ...], ...]
    confidence: float
    index: int  # position among all mentions of the document: "first" and "last" compare it

    @property
    def words(self) -> list[Block]:
        """The words of all lines, in reading order."""
        return [word for line in self.lines for word in line]

    @property
    def text(self) -> str:
        """Words joined by spaces, lines by newlines."""
        return "\n".join(" ".join(word.text or "" for word in line) for line in self.lines)

    @property
    def block_ids(self) -> list[str]:
        """The WORD Ids."""
        return [word.id for word in self.words]

    @property
    def ocr_confidence(self) -> float | None:
        """The lowest OCR confidence (0..1) of its words; None when no word has one."""
        known = [confidence_to_unit(word.confidence) for word in self.words if word.confidence is not None]
        return min((_unit(value) for value in known), default=None)

    def bounding_box(self) -> BoundingBox:
        """The union of the words' boxes, in fractions of the page."""
        boxes = []
        for word in self.words:
            if word.geometry is None:
                raise TextractFormatError(f"WORD {word.id} (page {self.page_num}): Geometry: missing")
            boxes.append(word.geometry.bounding_box)
        return union_bbox(boxes)


def _unit(value: object) -> float:
    return min(max(float(value), 0.0), 1.0) if isinstance(value, int | float) else 1.0


def word_confidence(word: Block) -> float:
    """Tagger confidence (0..1) times OCR confidence (0..100 on the block, made 0..1)."""
    model = _unit((word.model_extra or {}).get("PredictedClassConfidence"))
    ocr = _unit(confidence_to_unit(word.confidence)) if word.confidence is not None else 1.0
    return model * ocr


def word_class(word: Block, field_ids: frozenset[int]) -> int | None:
    """The word's ``PredictedClass`` if it is one of ``field_ids``, else None ("other")."""
    predicted = (word.model_extra or {}).get("PredictedClass")
    if isinstance(predicted, int) and not isinstance(predicted, bool) and predicted in field_ids:
        return predicted
    return None


def lines_adjacent(previous: Block, line: Block) -> bool:
    """Whether ``line`` (next in reading order) continues ``previous``: the test for wrapped values.

    Adjacent means: the line's top lies between half a line height above and ``MAX_LINE_GAP``
    line heights below the previous line's bottom (the previous line's height is the unit), and
    the two overlap horizontally or start within ``LEFT_TOLERANCE`` of the page width of each
    other. A line on the same row (a table cell to the right) is not adjacent, nor is a line
    further down. Lines without geometry are never adjacent.
    """
    if previous.geometry is None or line.geometry is None:
        return False
    a, b = previous.geometry.bounding_box, line.geometry.bounding_box
    gap = b.top - (a.top + a.height)
    if not -MAX_LINE_OVERLAP * a.height <= gap <= MAX_LINE_GAP * a.height:
        return False
    overlaps = b.left < a.left + a.width and a.left < b.left + b.width
    return overlaps or abs(b.left - a.left) <= LEFT_TOLERANCE


class _OpenMention:
    """The mention being built while walking a page."""

    def __init__(self, class_id: int, word: Block) -> None:
        self.class_id = class_id
        self.lines: list[list[Block]] = [[word]]

    def close(self, page_num: int, index: int) -> Mention:
        words = [word for line in self.lines for word in line]
        return Mention(
            class_id=self.class_id,
            page_num=page_num,
            lines=tuple(tuple(line) for line in self.lines),
            confidence=min(word_confidence(word) for word in words),
            index=index,
        )


def _page_runs(document: TextractDocument, page: Block, field_ids: frozenset[int]) -> Iterator[_OpenMention]:
    """Runs of same-class words on one page; a run crosses a line break only into an adjacent line."""
    current: _OpenMention | None = None
    previous: Block | None = None
    for line in page_lines(document, page):
        words = line_words(document, line)
        if not words:
            continue
        if current is not None and (previous is None or not lines_adjacent(previous, line)):
            yield current
            current = None
        for position, word in enumerate(words):
            cls = word_class(word, field_ids)
            if current is not None and cls == current.class_id:
                if position == 0:
                    current.lines.append([])
                current.lines[-1].append(word)
                continue
            if current is not None:
                yield current
            current = _OpenMention(cls, word) if cls is not None else None
        previous = line
    if current is not None:
        yield current


def find_mentions(document: TextractDocument, field_ids: frozenset[int]) -> list[Mention]:
    """Every mention of the fields ``field_ids``, in reading order, each on one page.

    >>> find_mentions(enriched, frozenset({0, 14}))[0].text  # doctest: +SKIP
    'Platinum Rewards'
    """
    mentions: list[Mention] = []
    for ordinal, page in enumerate(iter_pages(document), 1):
        page_num = page.page or ordinal  # synchronous Textract omits Page on one-page documents
        for run in _page_runs(document, page, field_ids):
            mentions.append(run.close(page_num, len(mentions)))
    return mentions
