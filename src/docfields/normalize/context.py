"""A document's normalization context: the date it is read against and the date order it writes.

``03/04/21`` is 4 March or 3 April; the text alone cannot say, its document often can. A day
above 12 in any numeric date of the same document (``25/12/2020``) shows that the document writes
day first; ``12/25/2020`` shows month first. ``infer_date_order`` collects that evidence; a
document with both kinds, or none, has no order, and its ambiguous dates stay flagged.

Year-less and relative dates ("14 December", "next Friday") need a reference date: the caller's,
or the document's own, taken here as the first complete date printed in it (an invoice's or a
letter's date heads it).

>>> infer_date_order(["Issued 25/12/2020", "Due 03/01/2021"])
('DMY', '25/12/2020')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from docfields.normalize.base import DateOrder, NormalizeContext
from docfields.normalize.patterns import MONTHS
from docfields.textract import TextractDocument, iter_pages, line_words, page_lines

_NUMERIC_DATE = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.-])")
_ISO_DATE = re.compile(r"(?<![\d/.-])\d{4}-\d{1,2}-\d{1,2}(?![\d/.-])")
_MONTH = "|".join(m[:3] + r"[a-z]*\.?" for m in MONTHS)
_NAMED_DATE = re.compile(
    rf"\b(?:(?:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH}),?\s+\d{{4}})\b",
    re.IGNORECASE,
)


def infer_date_order(texts: Iterable[str]) -> tuple[DateOrder | None, str]:
    """The order the numeric dates in ``texts`` reveal, and the date(s) that reveal it.

    Returns (``"DMY"`` or ``"MDY"``, the first revealing date) when every revealing date agrees;
    (None, both dates) when they conflict; (None, "") when no date reveals anything.
    """
    first: dict[str, str] = {}
    for text in texts:
        for match in _NUMERIC_DATE.finditer(text):
            a, b = int(match[1]), int(match[3])
            if a > 12 and 1 <= b <= 12 and a <= 31:
                first.setdefault("DMY", match[0])
            elif b > 12 and 1 <= a <= 12 and b <= 31:
                first.setdefault("MDY", match[0])
    if len(first) == 2:
        return None, f"conflicting: {first['DMY']} (day first) and {first['MDY']} (month first)"
    if first:
        ((order, evidence),) = first.items()
        return order, evidence  # type: ignore[return-value]
    return None, ""


def first_complete_date(texts: Iterable[str], order: DateOrder | None = None) -> date | None:
    """The first date with day, month and year that reads one way only, in the order of ``texts``."""
    from docfields.normalize.rules import parse_date

    for text in texts:
        found = [*_NUMERIC_DATE.finditer(text), *_ISO_DATE.finditer(text), *_NAMED_DATE.finditer(text)]
        for match in sorted(found, key=lambda m: m.start()):
            parsed = parse_date(match[0], order=order)
            if parsed.status == "ok" and parsed.precision == "day":
                return parsed.candidates[0].date()
    return None


def texts_context(texts: Iterable[str], reference_date: date | None = None) -> NormalizeContext:
    """The context of a document given as its lines of text (see the module docstring)."""
    lines = list(texts)
    order, evidence = infer_date_order(lines)
    reference = reference_date or first_complete_date(lines, order)
    return NormalizeContext(reference_date=reference, date_order=order, order_evidence=evidence)


def document_lines(document: TextractDocument) -> list[tuple[str, list[str]]]:
    """Each LINE of the document in reading order: its words' text and their Ids."""
    lines = []
    for page in iter_pages(document):
        for line in page_lines(document, page):
            words = line_words(document, line)
            lines.append((" ".join(w.text or "" for w in words) or (line.text or ""), [w.id for w in words]))
    return lines


def document_context(document: TextractDocument, reference_date: date | None = None) -> NormalizeContext:
    """The context of a Textract document: ``texts_context`` over its LINEs."""
    return texts_context([text for text, _ in document_lines(document)], reference_date)


def request_from_json(line: str, where: str) -> tuple[str, NormalizeContext]:
    """One ``{"text": ..., "reference_date": "YYYY-MM-DD"}`` object (``date_order`` optional) -> (text, context).

    Raises:
        ValueError: naming ``where`` (e.g. ``stdin line 3``) and what is wrong.
    """
    import json

    from pydantic import ValidationError

    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise ValueError(f'{where}: expected an object with a "text" string')
    unknown = sorted(set(obj) - {"text", "reference_date", "date_order"})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (known: text, reference_date, date_order)")
    try:
        context = NormalizeContext(reference_date=obj.get("reference_date"), date_order=obj.get("date_order"))
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ValueError(f"{where}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from exc
    return obj["text"], context
