"""Text flowed onto reportlab pages, with the box of every field-value word recorded as it is drawn.

Ground truth is only as good as its boxes, so they are not guessed after the fact: a line is
drawn with ``drawString`` in one call, and each word's box is computed from the same font
metrics reportlab uses to place it (standard PDF fonts, no kerning, so widths add up exactly).
A box spans the word's advance width and the font's ascent and descent, which contains the
glyph boxes a PDF text layer or an OCR engine reports for the word.

Paragraphs that hold a field value are kept on one page and in one column, so every mention of a
value lies on a single page, as SageMaker Ground Truth annotates one page at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

Align = Literal["left", "right", "center"]
Border = Literal["grid", "rules", "none"]


@dataclass(frozen=True)
class Span:
    """A run of text; ``field`` names the field the text is a value of (None for plain text).

    Plain text next to a value must be separated from it by whitespace: a value glued to
    punctuation ("19.99%,") would make a word whose text is not the value.
    """

    text: str
    field: str | None = None


@dataclass(frozen=True)
class TextStyle:
    """Font, size in points, line distance in points, and alignment inside the available width."""

    font: str = "Helvetica"
    size: float = 10.0
    leading: float = 12.5
    align: Align = "left"


@dataclass(frozen=True)
class WordBox:
    """A drawn word: its text, 1-based page, and box in PDF points (origin at the bottom left)."""

    text: str
    page: int
    left: float
    bottom: float
    right: float
    top: float


@dataclass(frozen=True)
class Mention:
    """One printed occurrence of a field value: its words, grouped by printed line."""

    field: str
    text: str
    page: int
    lines: tuple[tuple[WordBox, ...], ...]


@dataclass(frozen=True)
class _Token:
    text: str
    mention: int | None
    break_after: bool = False


@dataclass(frozen=True)
class _Line:
    tokens: tuple[_Token, ...]
    width: float


def _check_spans(spans: Sequence[Span]) -> None:
    """Refuse a value glued to its neighbour's text: the template is wrong, not the input."""
    for left, right in itertools.pairwise(spans):
        if (left.field or right.field) and left.text and right.text:
            if not (left.text[-1].isspace() or right.text[0].isspace()):
                raise ValueError(f"field value glued to its neighbour: {left.text!r} + {right.text!r}")


class Flow:
    """Flows paragraphs and tables down columns and across pages of one reportlab canvas.

    Args:
        canvas: The canvas to draw on; ``finish`` saves it.
        margins: Left, top, right, bottom margins in points.
        columns: Number of text columns (1 or 2).
        on_page_end: Called before a page is closed (footers); it may call ``draw_at``.
        on_page_start: Called when a page after the first opens (running headers).
    """

    def __init__(
        self,
        canvas: Canvas,
        margins: tuple[float, float, float, float],
        columns: int = 1,
        gap: float = 18.0,
        on_page_end: Callable[[Flow], None] | None = None,
        on_page_start: Callable[[Flow], None] | None = None,
    ) -> None:
        self.canvas = canvas
        self.page_width, self.page_height = canvas._pagesize
        self.margins = margins
        self.columns = columns
        self.gap = gap
        self.on_page_end = on_page_end
        self.on_page_start = on_page_start
        self.page = 1
        self.column = 0
        self.y = self.page_height - margins[1]
        self.columns_top = self.y
        self._mention_ids = itertools.count()
        self._fields: dict[int, tuple[str, str]] = {}
        self._words: dict[int, list[tuple[int, WordBox]]] = {}
        self._line_ids = itertools.count()

    # geometry ------------------------------------------------------------------------------

    @property
    def column_width(self) -> float:
        """Width of one column in points."""
        left, _, right, _ = self.margins
        usable = self.page_width - left - right
        return (usable - self.gap * (self.columns - 1)) / self.columns

    @property
    def x(self) -> float:
        """Left edge of the current column."""
        return self.margins[0] + self.column * (self.column_width + self.gap)

    @property
    def bottom(self) -> float:
        """Lowest y a line may reach."""
        return self.margins[3]

    def set_columns(self, columns: int) -> None:
        """Switch between one and two columns below what is already drawn."""
        if self.column:
            self.new_page()
        self.columns = columns
        self.columns_top = self.y

    def space(self, points: float) -> None:
        """Leave vertical space (nothing at the top of a column)."""
        if self.y < self.columns_top:
            self.y -= points

    def ensure(self, height: float) -> None:
        """Move to the next column or page unless ``height`` points fit below the current line."""
        if self.y - height < self.bottom and self.y < self.columns_top:
            self.next_column()

    def next_column(self) -> None:
        """Continue at the top of the next column, or of a new page after the last column."""
        if self.column + 1 < self.columns:
            self.column += 1
            self.y = self.columns_top
        else:
            self.new_page()

    def new_page(self) -> None:
        """Close the current page (footer first) and open the next one."""
        if self.on_page_end is not None:
            self.on_page_end(self)
        self.canvas.showPage()
        self.page += 1
        self.column = 0
        self.y = self.columns_top = self.page_height - self.margins[1]
        if self.on_page_start is not None:
            self.on_page_start(self)

    # text ------------------------------------------------------------------------------------

    def tokens(self, spans: Sequence[Span]) -> list[_Token]:
        """Split spans into words; each field span becomes one mention with its own id.

        A ``"\\n"`` inside a span forces a line break after the word before it.
        """
        _check_spans(spans)
        tokens: list[_Token] = []
        for span in spans:
            mention = None
            if span.field is not None:
                mention = next(self._mention_ids)
                self._fields[mention] = (span.field, " ".join(span.text.split()))
                self._words[mention] = []
            parts = span.text.split("\n")
            for number, part in enumerate(parts):
                tokens.extend(_Token(word, mention) for word in part.split())
                if number < len(parts) - 1 and tokens:
                    tokens[-1] = replace(tokens[-1], break_after=True)
        return tokens

    def layout(self, tokens: Sequence[_Token], style: TextStyle, width: float) -> list[_Line]:
        """Break tokens into lines no wider than ``width`` (a longer word gets a line of its own)."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        space = stringWidth(" ", style.font, style.size)
        lines: list[_Line] = []
        current: list[_Token] = []
        used = 0.0
        for token in tokens:
            word = stringWidth(token.text, style.font, style.size)
            if current and used + space + word > width:
                lines.append(_Line(tuple(current), used))
                current, used = [], 0.0
            used += (space if current else 0.0) + word
            current.append(token)
            if token.break_after:
                lines.append(_Line(tuple(current), used))
                current, used = [], 0.0
        if current:
            lines.append(_Line(tuple(current), used))
        return lines

    def draw_line(self, line: _Line, style: TextStyle, x: float, baseline: float, width: float) -> None:
        """Draw one line with ``drawString`` and record the boxes of its field words."""
        from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth

        if style.align == "right":
            x += width - line.width
        elif style.align == "center":
            x += (width - line.width) / 2
        self.canvas.setFont(style.font, style.size)
        self.canvas.drawString(x, baseline, " ".join(t.text for t in line.tokens))
        ascent, descent = getAscentDescent(style.font, style.size)
        top, bottom = baseline + max(ascent, 0.75 * style.size), baseline + min(descent, -0.2 * style.size)
        space = stringWidth(" ", style.font, style.size)
        line_id = next(self._line_ids)
        for token in line.tokens:
            right = x + stringWidth(token.text, style.font, style.size)
            if token.mention is not None:
                box = WordBox(token.text, self.page, x, bottom, right, top)
                self._words[token.mention].append((line_id, box))
            x = right + space

    def paragraph(self, spans: Sequence[Span], style: TextStyle, space_after: float = 4.0, indent: float = 0.0) -> None:
        """Flow a paragraph down the current column; one holding a field value is kept together."""
        tokens = self.tokens(spans)
        width = self.column_width - indent
        lines = self.layout(tokens, style, width)
        height = len(lines) * style.leading
        column_height = self.columns_top - self.bottom
        if any(t.mention is not None for t in tokens) and height <= column_height:
            self.ensure(height)
        for line in lines:
            self.ensure(style.leading)
            self.draw_line(line, style, self.x + indent, self.y - style.size * 0.8, width)
            self.y -= style.leading
        self.space(space_after)

    def draw_at(self, spans: Sequence[Span], style: TextStyle, x: float, baseline: float, width: float) -> float:
        """Draw spans at a fixed place outside the flow (headers, footers); returns the next baseline."""
        for line in self.layout(self.tokens(spans), style, width):
            self.draw_line(line, style, x, baseline, width)
            baseline -= style.leading
        return baseline

    def rule(self, weight: float = 0.6, space: float = 4.0) -> None:
        """A horizontal line across the current column."""
        self.ensure(space * 2)
        self.canvas.setLineWidth(weight)
        self.canvas.line(self.x, self.y - space, self.x + self.column_width, self.y - space)
        self.y -= space * 2

    def table(
        self,
        rows: Sequence[Sequence[Sequence[Span]]],
        widths: Sequence[float],
        styles: Sequence[TextStyle],
        border: Border = "grid",
        header: bool = False,
        padding: float = 4.0,
    ) -> None:
        """Draw a table across the current column; a row that does not fit moves on whole.

        Args:
            rows: Rows of cells; a cell is a list of spans.
            widths: Column widths as shares of the column width (they sum to 1).
            styles: One text style per table column.
            border: Grid lines, horizontal rules between rows, or none.
            header: Shade the first row.
            padding: Space between a cell's border and its text, in points.
        """
        total = self.column_width
        col_widths = [w * total for w in widths]
        for index, row in enumerate(rows):
            cells = [
                self.layout(self.tokens(cell), style, width - 2 * padding)
                for cell, style, width in zip(row, styles, col_widths, strict=True)
            ]
            height = max(len(lines) * style.leading for lines, style in zip(cells, styles, strict=True)) + 2 * padding
            self.ensure(height)
            self._draw_row(cells, styles, col_widths, height, padding, border, header and index == 0)
            self.y -= height
        self.space(6.0)

    def _draw_row(
        self,
        cells: list[list[_Line]],
        styles: Sequence[TextStyle],
        widths: list[float],
        height: float,
        padding: float,
        border: Border,
        shaded: bool,
    ) -> None:
        canvas, x, top = self.canvas, self.x, self.y
        if shaded:
            canvas.setFillGray(0.88)
            canvas.rect(x, top - height, sum(widths), height, stroke=0, fill=1)
            canvas.setFillGray(0)
        canvas.setLineWidth(0.5)
        if border == "grid":
            for width in widths:
                canvas.rect(x, top - height, width, height, stroke=1, fill=0)
                x += width
            x = self.x
        elif border == "rules":
            canvas.line(x, top - height, x + sum(widths), top - height)
        for lines, style, width in zip(cells, styles, widths, strict=True):
            baseline = top - padding - style.size * 0.8
            for line in lines:
                self.draw_line(line, style, x + padding, baseline, width - 2 * padding)
                baseline -= style.leading
            x += width

    def finish(self) -> list[Mention]:
        """Close the last page, save the canvas and return every mention drawn, in drawing order."""
        if self.on_page_end is not None:
            self.on_page_end(self)
        self.canvas.showPage()
        self.canvas.save()
        mentions = []
        for mention_id, words in self._words.items():
            field, text = self._fields[mention_id]
            pages = sorted({box.page for _, box in words})
            for page in pages:  # a value split across pages (a paragraph longer than a column)
                on_page = [(line, box) for line, box in words if box.page == page]
                if len(pages) > 1:
                    text = " ".join(box.text for _, box in on_page)
                lines = [tuple(box for _, box in group) for _, group in itertools.groupby(on_page, key=lambda w: w[0])]
                mentions.append(Mention(field, text, page, tuple(lines)))
        return mentions
