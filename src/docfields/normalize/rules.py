"""Rule-based date normalization: parse what is certain, say so when it is not.

``parse_date`` reads numeric dates (``12/31/2000``, ``31.12.00``, ``2000-12-31``), dates with
month names (``Dec 31st 2000``, ``31 December 2000``, ``Sunday, Dec 31 00``), with or without
weekday and time. Three explicit choices replace guessing:

- **Order.** ``03/04/21`` is 4 March month-first and 3 April day-first. With ``order=None`` the
  result is ``ambiguous`` with both readings; ``order="MDY"`` or ``"DMY"`` picks one. A part
  above 12 or a weekday that fits only one reading settles it without a policy.
- **Two-digit years.** ``yy < year_pivot`` is 20yy, else 19yy (default 50: 1950-2049).
- **Failure.** Anything else is ``unparsed`` with a reason, never a guess.

>>> parse_date("03/04/21").status
'ambiguous'
>>> parse_date("03/04/21", order="DMY").candidates[0].date()
datetime.date(2021, 4, 3)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from docfields.errors import NormalizerError
from docfields.normalize.base import DateOrder, NormalizeContext, NormalizedValue, YearlessPolicy, contexts_for
from docfields.normalize.patterns import MONTHS, WEEKDAYS, pattern_from_name, render_date

ParseStatus = Literal["ok", "ambiguous", "unparsed"]
MAX_DATE_CHARS = 100
_PROMPT = re.compile(r"^\s*Convert dates to (?P<target>.+?): (?P<text>.*)$", re.DOTALL)


def split_prompt(text: str) -> tuple[str | None, str]:
    """The original's prompt ``Convert dates to <FORMAT>: <text>`` -> (``FORMAT``, ``text``);
    any other text -> (None, text).

    >>> split_prompt("Convert dates to YYYY-MM-DD: 12/31/00")
    ('YYYY-MM-DD', '12/31/00')
    """
    match = _PROMPT.match(text)
    return (match["target"].strip(), match["text"]) if match else (None, text)

_TIME = re.compile(
    r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp])?\.?\s*(?:[Mm]\.?)?(?![\w:])"
    r"|(?<![\d:])(\d{1,2})\s*([AaPp])\.?\s*[Mm]\.?(?!\w)"
)
_TOKEN = re.compile(r"(\d+)(st|nd|rd|th)?(?![A-Za-z])|([A-Za-z]+)")
_FILLER = {"of", "the", "at", "on", "th"}
_MONTH_WORDS = {m.lower(): i + 1 for i, m in enumerate(MONTHS)} | {
    m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)
} | {"sept": 9}
_WEEKDAY_WORDS = {w.lower(): i for i, w in enumerate(WEEKDAYS)} | {
    w[:3].lower(): i for i, w in enumerate(WEEKDAYS)
} | {"tues": 1, "wednes": 2, "thur": 3, "thurs": 3}


@dataclass(frozen=True)
class ParsedDate:
    """The outcome of parsing: every reading the text allows, and why when there is none."""

    status: ParseStatus
    candidates: tuple[datetime, ...] = ()
    reason: str = ""
    has_time: bool = False


@dataclass(frozen=True)
class _Parts:
    numbers: tuple[tuple[str, bool], ...]  # (digits, had an ordinal suffix)
    month: int | None
    weekday: int | None
    time: tuple[int, int, int] | None


def _fail(reason: str) -> ParsedDate:
    return ParsedDate("unparsed", (), reason)


def _cut_time(text: str) -> tuple[str, tuple[int, int, int] | None, str]:
    """Remove one time of day from ``text``; returns (rest, (h, m, s) or None, error)."""
    found = list(_TIME.finditer(text))
    if not found:
        return text, None, ""
    if len(found) > 1:
        return text, None, "more than one time of day"
    m = found[0]
    if m.group(5):  # "5pm"
        hour, minute, second, meridiem = int(m.group(5)), 0, 0, m.group(6)
    else:
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        meridiem = m.group(4)
    if meridiem:
        if not 1 <= hour <= 12:
            return text, None, f"hour {hour} with AM/PM"
        hour = hour % 12 + (12 if meridiem.lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return text, None, f"no such time {m.group(0).strip()!r}"
    return text[: m.start()] + " " + text[m.end() :], (hour, minute, second), ""


def _split(text: str) -> tuple[_Parts | None, str]:
    rest, time, error = _cut_time(text)
    if error:
        return None, error
    numbers: list[tuple[str, bool]] = []
    months: list[int] = []
    weekdays: list[int] = []
    for m in _TOKEN.finditer(rest):
        if m.group(1):
            numbers.append((m.group(1), bool(m.group(2))))
            continue
        word = m.group(3).lower()
        if word in _MONTH_WORDS:
            months.append(_MONTH_WORDS[word])
        elif word in _WEEKDAY_WORDS:
            weekdays.append(_WEEKDAY_WORDS[word])
        elif word not in _FILLER:
            return None, f"unknown word {m.group(3)!r}"
    if len(months) > 1 or len(weekdays) > 1:
        return None, "more than one month or weekday name"
    stray = re.sub(r"[\d\sA-Za-z/\-.,:']", "", rest)
    if stray:
        return None, f"unexpected characters {stray[:10]!r}"
    month = months[0] if months else None
    return _Parts(tuple(numbers), month, weekdays[0] if weekdays else None, time), ""


def _year(digits: str, pivot: int) -> int | None:
    if len(digits) == 4:
        return int(digits)
    if len(digits) == 2:
        yy = int(digits)
        return 2000 + yy if yy < pivot else 1900 + yy
    return None


def _ymd_named(parts: _Parts, pivot: int) -> tuple[list[tuple[int, int, int]], str]:
    """Day and year around a month name: ``Dec 31st 2000``, ``31 Dec 00``, ``December 31, 00``."""
    nums = list(parts.numbers)
    if len(nums) != 2:
        return [], f"expected a day and a year around the month name, found {len(nums)} numbers"
    ordinals = [n for n in nums if n[1]]
    if len(ordinals) == 1:
        day, year = ordinals[0], next(n for n in nums if not n[1])
    elif len(nums[1][0]) == 4 or len(nums[0][0]) != 4:
        day, year = nums  # English writes the day before the year: "Dec 05 07" is 5 Dec 2007
    else:
        year, day = nums
    y = _year(year[0], pivot)
    if y is None or len(day[0]) > 2:
        return [], f"cannot tell day and year in {nums[0][0]!r}, {nums[1][0]!r}"
    return [(y, parts.month or 0, int(day[0]))], ""


def _ymd_numeric(parts: _Parts, pivot: int) -> tuple[list[tuple[int, int, int]], str]:
    """Three numbers: ``YYYY-MM-DD``, or day and month in either order before the year."""
    nums = [n for n, _ in parts.numbers]
    if len(nums) == 1 and len(nums[0]) == 8 and nums[0][:2] in ("19", "20"):
        nums = [nums[0][:4], nums[0][4:6], nums[0][6:]]
    if len(nums) != 3 or any(len(n) > 4 for n in nums):
        return [], f"expected day, month and year, found {len(nums)} numbers"
    if len(nums[0]) == 4:
        return [(int(nums[0]), int(nums[1]), int(nums[2]))], ""
    year = _year(nums[2], pivot)
    if year is None:
        return [], f"cannot read {nums[2]!r} as a year"
    a, b = int(nums[0]), int(nums[1])
    readings = {(year, a, b), (year, b, a)}  # month-first and day-first; one if a == b
    return sorted(readings, key=lambda r: (r[1], r[2]) != (a, b)), ""


def _to_datetimes(ymds: list[tuple[int, int, int]], time: tuple[int, int, int] | None) -> list[datetime]:
    out = []
    for y, m, d in ymds:
        try:
            out.append(datetime(y, m, d, *(time or (0, 0, 0))))
        except ValueError:
            continue
    return out


def parse_date(text: str, order: DateOrder | None = None, year_pivot: int = 50) -> ParsedDate:
    """Every date ``text`` can mean; one when the text (or the policy) settles it.

    Args:
        text: A date as written in a document.
        order: ``MDY`` or ``DMY`` to settle ``03/04/21``; None reports it as ambiguous.
        year_pivot: Two-digit years below it are 20yy, others 19yy.
    """
    text = text.strip()
    if not text:
        return _fail("empty text")
    if len(text) > MAX_DATE_CHARS:
        return _fail(f"{len(text)} characters is too long for a date")
    parts, error = _split(text)
    if parts is None:
        return _fail(error)
    if parts.month is not None:
        ymds, error = _ymd_named(parts, year_pivot)
    else:
        ymds, error = _ymd_numeric(parts, year_pivot)
    if error:
        return _fail(error)
    values = _to_datetimes(ymds, parts.time)
    if not values:
        return _fail("no such date")
    if parts.weekday is not None:
        values = [v for v in values if v.weekday() == parts.weekday]
        if not values:
            return _fail(f"the date is not a {WEEKDAYS[parts.weekday]}")
    return _settle(values, order, parts.time is not None)


def _settle(values: list[datetime], order: DateOrder | None, has_time: bool) -> ParsedDate:
    """One reading is a result; two are settled by the order policy or reported."""
    if len(values) == 1:
        return ParsedDate("ok", (values[0],), "", has_time)
    if order is None:
        return ParsedDate("ambiguous", tuple(values), "day and month can be swapped", has_time)
    # values[0] is the month-first reading (see _ymd_numeric).
    chosen = values[0] if order == "MDY" else values[1]
    return ParsedDate("ok", (chosen,), f"read as {order}", has_time)


class DateRuleNormalizer:
    """The built-in normalizer ``date:<TARGET>``: ``parse_date`` then render in the target.

    >>> DateRuleNormalizer("YYYY-MM-DD", order="MDY").normalize(["Dec 31st 2000"])[0].value
    '2000-12-31'
    """

    def __init__(
        self,
        target: str | None,
        order: DateOrder | None = None,
        year_pivot: int = 50,
        yearless: YearlessPolicy = "nearest",
    ) -> None:
        try:
            self.pattern = pattern_from_name(target) if target else None
        except ValueError as exc:
            raise NormalizerError(f"date:{target}: {exc}") from exc
        self.target = target
        self.order = order
        self.year_pivot = year_pivot
        self.yearless = yearless
        self.name = f"date:{target or ''}"

    def normalize(
        self, texts: Sequence[str], contexts: Sequence[NormalizeContext] | None = None
    ) -> list[NormalizedValue]:
        """One value per text: ok, ambiguous (with both readings) or unparsed (with a reason)."""
        return [self.normalize_one(t, c) for t, c in zip(texts, contexts_for(texts, contexts), strict=True)]

    def normalize_one(self, text: str, context: NormalizeContext | None = None) -> NormalizedValue:
        """Normalize one text (see ``normalize``)."""
        parsed = parse_date(text, self.order, self.year_pivot)
        rendered = [render_date(v, self.pattern) for v in parsed.candidates]
        if parsed.status == "ok":
            return NormalizedValue(raw=text, value=rendered[0], status="ok", source="rule")
        return NormalizedValue(
            raw=text, status=parsed.status, source="rule", reason=parsed.reason, candidates=rendered
        )
