"""Page templates of a credit card agreement, drawn with reportlab onto a born-digital PDF.

Four templates in the spirit of the CFPB corpus, each simple on its own; variety comes from
combining them with a theme (font family and size, page size, one or two prose columns, table
borders, footer) and from shuffling the order of table rows and prose sections:

- ``schumer``: the regulated pricing table ("Interest Rates and Interest Charges", "Fees") at
  the top of page 1, then the agreement's prose;
- ``two-column``: a centred title block, then every value inside two columns of prose;
- ``letter``: a letter head with the provider's address, a borderless account summary with
  right-aligned values, then prose;
- ``grid``: a form-like grid of label / value pairs, four cells to a row, then prose.

Every value is drawn through ``Flow``, which records the boxes of its words.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass

from docfields.errors import DocfieldsError
from docfields.samples.flow import Align, Border, Flow, Mention, Span, TextStyle
from docfields.samples.prose import boilerplate_paragraph, card_sentence, field_sentence, section_titles
from docfields.samples.values import (
    AGREEMENT_DATE,
    APR_BALANCE_TRANSFERS,
    APR_CASH_ADVANCES,
    APR_GENERAL,
    APR_INTRO,
    APR_OTHER,
    APR_PENALTY,
    APR_PURCHASES,
    CARD_NAME,
    FEE_ANNUAL,
    FEE_BALANCE_TRANSFER,
    FEE_FOREIGN,
    FEE_LATE,
    FEE_OTHER,
    FEE_RETURNED,
    LOCAL_TERMS,
    MIN_PAYMENT,
    PROVIDER_ADDRESS,
    PROVIDER_NAME,
    AgreementValues,
)

LAYOUTS = ("schumer", "two-column", "letter", "grid")
MAX_PAGES = 6
_FONTS = (("Helvetica", "Helvetica-Bold"), ("Times-Roman", "Times-Bold"), ("Courier", "Courier-Bold"))
_PAGE_SIZES = ((612.0, 792.0), (612.0, 792.0), (612.0, 792.0), (612.0, 1008.0), (595.28, 841.89))
_TARGET_PAGES = (1, 2, 2, 3, 3, 3, 4, 4, 5, 6)

_APR_LABELS = {
    APR_INTRO: "Introductory APR",
    APR_PURCHASES: "Annual Percentage Rate (APR) for Purchases",
    APR_BALANCE_TRANSFERS: "APR for Balance Transfers",
    APR_CASH_ADVANCES: "APR for Cash Advances",
    APR_PENALTY: "Penalty APR and When It Applies",
    APR_GENERAL: "Annual Percentage Rate (APR)",
}
_APR_NOTES = {
    APR_INTRO: " introductory APR for the first 12 billing cycles after account opening.",
    APR_PURCHASES: " This APR will vary with the market based on the Prime Rate.",
    APR_BALANCE_TRANSFERS: " This APR will vary with the market based on the Prime Rate.",
    APR_CASH_ADVANCES: " This APR will vary with the market based on the Prime Rate.",
    APR_PENALTY: " This APR may be applied to your account if you make a late payment.",
    APR_GENERAL: " for purchases, balance transfers and cash advances.",
}
_FEE_LABELS = {
    FEE_ANNUAL: "Annual Fee",
    FEE_BALANCE_TRANSFER: "Balance Transfer",
    FEE_FOREIGN: "Foreign Transaction",
    FEE_LATE: "Late Payment",
    FEE_RETURNED: "Returned Payment",
}
_SHORT_LABELS = {
    APR_INTRO: "Intro APR", APR_PURCHASES: "Purchase APR", APR_BALANCE_TRANSFERS: "Transfer APR",
    APR_CASH_ADVANCES: "Cash APR", APR_PENALTY: "Penalty APR", APR_GENERAL: "Standard APR",
    FEE_ANNUAL: "Annual Fee", FEE_BALANCE_TRANSFER: "Transfer Fee", FEE_LATE: "Late Fee",
    FEE_RETURNED: "Returned Payment", FEE_FOREIGN: "Foreign Fee",
}  # fmt: skip
_APRS = (APR_INTRO, APR_PURCHASES, APR_GENERAL, APR_BALANCE_TRANSFERS, APR_CASH_ADVANCES, APR_PENALTY, APR_OTHER)
_FEES = (FEE_ANNUAL, FEE_BALANCE_TRANSFER, FEE_OTHER, FEE_FOREIGN, FEE_LATE, FEE_RETURNED)


@dataclass(frozen=True)
class Theme:
    """How a document looks, independently of its template."""

    regular: str
    bold: str
    size: float
    page_size: tuple[float, float]
    margin: float
    columns: int
    border: Border
    footer: int
    running_header: bool
    target_pages: int

    def style(self, scale: float = 1.0, bold: bool = False, align: Align = "left") -> TextStyle:
        """A text style of this theme, ``scale`` times the body size."""
        size = round(self.size * scale, 1)
        return TextStyle(self.bold if bold else self.regular, size, round(size * 1.25, 1), align)


@dataclass(frozen=True)
class RenderedAgreement:
    """A born-digital agreement: its PDF bytes, the mentions drawn, pages and page size in points."""

    pdf: bytes
    mentions: tuple[Mention, ...]
    pages: int
    page_size: tuple[float, float]
    layout: str


def draw_theme(rng: random.Random, layout: str) -> Theme:
    """A random look; two prose columns only where the template's first page allows it."""
    regular, bold = rng.choice(_FONTS)
    size = rng.choice((8.5, 9.0, 9.5, 10.0, 10.5)) - (0.5 if regular == "Courier" else 0.0)
    columns = 2 if layout == "two-column" else rng.choice((1, 1, 2))
    return Theme(
        regular=regular,
        bold=bold,
        size=size,
        page_size=rng.choice(_PAGE_SIZES),
        margin=rng.choice((40.0, 50.0, 60.0, 72.0)),
        columns=columns,
        border=rng.choice(("grid", "grid", "rules")),  # type: ignore[arg-type]
        footer=rng.randrange(3),
        running_header=rng.random() < 0.4,
        target_pages=rng.choice(_TARGET_PAGES),
    )


def draw_agreement(agreement: AgreementValues, layout: str, rng: random.Random) -> RenderedAgreement:
    """Draw one agreement with template ``layout`` (one of ``LAYOUTS``) and a random theme.

    >>> from docfields.samples.values import draw_agreement_values
    >>> rng = random.Random(3)
    >>> rendered = draw_agreement(draw_agreement_values(rng), "schumer", rng)
    >>> rendered.pdf[:5], 1 <= rendered.pages <= MAX_PAGES
    (b'%PDF-', True)
    """
    try:
        from reportlab.pdfgen.canvas import Canvas
    except ImportError as exc:
        raise DocfieldsError("the demo corpus is drawn with reportlab: pip install 'reportlab>=4.0'") from exc
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    theme = draw_theme(rng, layout)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=theme.page_size, invariant=1, pageCompression=1)
    canvas.setTitle(f"{agreement.card_names[0]} Cardholder Agreement")
    canvas.setAuthor("docfields samples (synthetic)")
    margins = (theme.margin, theme.margin, theme.margin, theme.margin + 18)
    flow = Flow(canvas, margins, columns=1, on_page_end=_footer(agreement, theme))
    if theme.running_header:
        flow.on_page_start = _running_header(agreement, theme)
    _TEMPLATES[layout](flow, agreement, theme, rng)
    mentions = flow.finish()
    return RenderedAgreement(buffer.getvalue(), tuple(mentions), flow.page, theme.page_size, layout)


# page furniture -------------------------------------------------------------------------------


def _footer(agreement: AgreementValues, theme: Theme) -> Callable[[Flow], None]:
    style = theme.style(0.8, align="center")

    def draw(flow: Flow) -> None:
        spans = [Span(f"Page {flow.page}")]
        if theme.footer == 1:
            spans = [Span(agreement.provider, PROVIDER_NAME), Span(f" | Page {flow.page}")]
        elif theme.footer == 2:
            spans = [Span(f"Page {flow.page} | Effective "), Span(agreement.date.text, AGREEMENT_DATE)]
        width = flow.page_width - 2 * theme.margin
        flow.draw_at(spans, style, theme.margin, theme.margin * 0.6, width)

    return draw


def _running_header(agreement: AgreementValues, theme: Theme) -> Callable[[Flow], None]:
    style = theme.style(0.8, align="right")

    def draw(flow: Flow) -> None:
        spans = [Span(agreement.card_names[0], CARD_NAME), Span(" Cardholder Agreement")]
        top = flow.page_height - theme.margin * 0.6
        flow.draw_at(spans, style, theme.margin, top, flow.page_width - 2 * theme.margin)

    return draw


# building blocks ------------------------------------------------------------------------------


def _title(flow: Flow, agreement: AgreementValues, theme: Theme, align: Align = "left") -> None:
    card = agreement.card_names[0]
    flow.paragraph([Span(agreement.provider, PROVIDER_NAME)], theme.style(1.6, bold=True, align=align), 2)
    if len(agreement.card_names) > 1:
        spans = [Span(card, CARD_NAME), Span(" and "), Span(agreement.card_names[1], CARD_NAME)]
    else:
        spans = [Span(card, CARD_NAME)]
    flow.paragraph([*spans, Span(" Cardholder Agreement")], theme.style(1.3, bold=True, align=align), 2)


def _date_line(flow: Flow, agreement: AgreementValues, theme: Theme, rng: random.Random, align: Align = "left") -> None:
    label = rng.choice(("Effective Date: ", "Effective ", "Agreement effective as of ", "Rev. "))
    flow.paragraph([Span(label), Span(agreement.date.text, AGREEMENT_DATE)], theme.style(align=align), 6)


def _address_block(flow: Flow, agreement: AgreementValues, theme: Theme, align: Align = "left") -> None:
    flow.paragraph([Span(agreement.address, PROVIDER_ADDRESS)], theme.style(0.95, align=align), 6)


def _section(flow: Flow, title: str, paragraphs: list[list[Span]], theme: Theme) -> None:
    flow.ensure(theme.style(1.1).leading * 4)
    flow.paragraph([Span(title)], theme.style(1.1, bold=True), 2)
    for spans in paragraphs:
        flow.paragraph(spans, theme.style(), 5)


def _write_body(flow: Flow, theme: Theme, rng: random.Random, carried: list[list[Span]]) -> None:
    """Boilerplate sections with the value-carrying sentences spread among them, until the target page."""
    titles = section_titles(rng)
    per_page = 4 if theme.columns == 1 else 6
    spread = max(1, min(len(titles), round(theme.target_pages * per_page * 0.6)))
    extra: dict[int, list[list[Span]]] = {}
    for spans in carried:
        extra.setdefault(rng.randrange(spread), []).append(spans)
    index = 0
    while index < spread or (flow.page < theme.target_pages and index < 4 * len(titles)):
        title = titles[index % len(titles)]
        paragraphs: list[list[Span]] = [[Span(boilerplate_paragraph(title, rng))] for _ in range(rng.randint(1, 3))]
        for spans in extra.get(index, []):
            at = rng.randrange(len(paragraphs) + 1)
            if at < len(paragraphs) and rng.random() < 0.5:  # inside a boilerplate paragraph
                paragraphs[at] = [*paragraphs[at], Span(" "), *spans]
            else:
                paragraphs.insert(at, spans)
        _section(flow, title, paragraphs, theme)
        index += 1


def _carried(agreement: AgreementValues, fields: list[str], rng: random.Random) -> list[list[Span]]:
    """Prose sentences for the given fields that the agreement has, plus the usual mentions."""
    sentences = [field_sentence(name, agreement, rng) for name in fields if agreement.has(name)]
    sentences.append(field_sentence(PROVIDER_NAME, agreement, rng))
    if rng.random() < 0.7:
        sentences.append(card_sentence(rng.choice(agreement.card_names)))
    if agreement.has(MIN_PAYMENT) and MIN_PAYMENT not in fields:
        sentences.append(field_sentence(MIN_PAYMENT, agreement, rng))
    return sentences


def _local_terms(flow: Flow, agreement: AgreementValues, theme: Theme) -> None:
    if agreement.has(LOCAL_TERMS):
        _section(flow, "State Notices", [[Span(agreement.values[LOCAL_TERMS], LOCAL_TERMS)]], theme)


def _cell(agreement: AgreementValues, name: str, note: str = "") -> list[Span]:
    spans = [Span(agreement.values[name].replace("\n", " "), name)]
    return [*spans, Span(note)] if note else spans


def _row_label(agreement: AgreementValues, name: str, labels: dict[str, str]) -> str:
    return agreement.labels.get(name) or labels[name]


# templates ------------------------------------------------------------------------------------


def _schumer(flow: Flow, agreement: AgreementValues, theme: Theme, rng: random.Random) -> None:
    _title(flow, agreement, theme)
    _address_block(flow, agreement, theme)
    _date_line(flow, agreement, theme, rng)
    label_style, value_style = theme.style(0.95, bold=True), theme.style(0.95)
    aprs = [n for n in _APRS if agreement.has(n)]
    rows = [[[Span(_row_label(agreement, n, _APR_LABELS))], _cell(agreement, n, _APR_NOTES.get(n, ""))] for n in aprs]
    fees = [n for n in _FEES if agreement.has(n)]
    rng.shuffle(fees)
    rows_fees = [[[Span(_row_label(agreement, n, _FEE_LABELS))], _cell(agreement, n)] for n in fees]
    for title, table in (("Interest Rates and Interest Charges", rows), ("Fees", rows_fees)):
        if table:
            flow.paragraph([Span(title)], theme.style(1.15, bold=True), 3)
            flow.table(table, (0.38, 0.62), (label_style, value_style), border=theme.border)
    flow.set_columns(theme.columns)
    _write_body(flow, theme, rng, _carried(agreement, [], rng))
    _local_terms(flow, agreement, theme)


def _two_column(flow: Flow, agreement: AgreementValues, theme: Theme, rng: random.Random) -> None:
    _title(flow, agreement, theme, align="center")
    _date_line(flow, agreement, theme, rng, align="center")
    flow.rule()
    flow.set_columns(2)
    fields = [*_APRS, *_FEES]
    carried = _carried(agreement, fields, rng)
    carried.append(field_sentence(PROVIDER_ADDRESS, agreement, rng))
    _write_body(flow, theme, rng, carried)
    _local_terms(flow, agreement, theme)


def _letter(flow: Flow, agreement: AgreementValues, theme: Theme, rng: random.Random) -> None:
    align: Align = rng.choice(("left", "right"))
    flow.paragraph([Span(agreement.provider, PROVIDER_NAME)], theme.style(1.4, bold=True, align=align), 2)
    _address_block(flow, agreement, theme, align=align)
    flow.paragraph([Span(agreement.date.text, AGREEMENT_DATE)], theme.style(align="right"), 10)
    flow.paragraph([Span("Dear Cardmember,")], theme.style(), 4)
    cards = agreement.card_names
    welcome = [Span("Thank you for opening your "), Span(cards[0], CARD_NAME), Span(" account.")]
    if len(cards) > 1:
        welcome += [Span(" This Agreement also applies to the "), Span(cards[1], CARD_NAME), Span(" card.")]
    flow.paragraph(welcome, theme.style())
    names = [n for n in (*_APRS, *_FEES) if agreement.has(n)]
    rng.shuffle(names)
    labels = {**_APR_LABELS, **_FEE_LABELS}
    rows = [[[Span(_row_label(agreement, n, labels))], _cell(agreement, n)] for n in names]
    flow.paragraph([Span("Account Summary")], theme.style(1.15, bold=True), 3)
    styles = (theme.style(), theme.style(bold=True, align="right"))
    flow.table(rows, (0.55, 0.45), styles, border="rules" if theme.border == "rules" else "none")
    flow.set_columns(theme.columns)
    _write_body(flow, theme, rng, _carried(agreement, [], rng))
    _local_terms(flow, agreement, theme)


def _grid(flow: Flow, agreement: AgreementValues, theme: Theme, rng: random.Random) -> None:
    _title(flow, agreement, theme)
    _date_line(flow, agreement, theme, rng)
    names = [n for n in (*_APRS, *_FEES) if agreement.has(n) and n not in (APR_OTHER, FEE_OTHER)]
    rng.shuffle(names)
    names.append(PROVIDER_ADDRESS)
    labels = {**_SHORT_LABELS, PROVIDER_ADDRESS: "Mail Payments To"}
    cells = [([Span(labels[n])], _cell(agreement, n)) for n in names]
    rows = []
    for start in range(0, len(cells), 2):
        pair = cells[start : start + 2]
        pair += [([Span(" ")], [Span(" ")])] * (2 - len(pair))
        rows.append([pair[0][0], pair[0][1], pair[1][0], pair[1][1]])
    label, value = theme.style(0.9, bold=True), theme.style(0.9)
    flow.table(rows, (0.18, 0.32, 0.18, 0.32), (label, value, label, value), border="grid")
    flow.set_columns(theme.columns)
    _write_body(flow, theme, rng, _carried(agreement, [APR_OTHER, FEE_OTHER], rng))
    _local_terms(flow, agreement, theme)


_TEMPLATES: dict[str, Callable[[Flow, AgreementValues, Theme, random.Random], None]] = {
    "schumer": _schumer,
    "two-column": _two_column,
    "letter": _letter,
    "grid": _grid,
}
