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
from datetime import date, datetime
from typing import Literal

from docfields.errors import NormalizerError
from docfields.normalize.base import (
    EMPTY_CONTEXT,
    DateOrder,
    NormalizeContext,
    NormalizedValue,
    YearlessPolicy,
    contexts_for,
)
from docfields.normalize.patterns import MONTHS, WEEKDAYS, month_pattern, pattern_from_name, render_date

ParseStatus = Literal["ok", "ambiguous", "unparsed"]
Precision = Literal["day", "month"]
MIN_YEAR, MAX_YEAR = 1800, 2200  # a year outside is a misread (OCR reads 1 as 7: 7985), not a date
YEARLESS_SEARCH_YEARS = 11  # a weekday fixes a year-less date within this many years of the reference
CLOCK_YEAR_DISTANCE = 50  # a "year" further than this from the reference that reads as HHMM is flagged
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
_DOTTED_TIME = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{2})\s*$")  # "2 FEB 00.45": only after a month name
_GLUED = re.compile(r"(?<=\d)(?=[A-Za-z])(?!(?:st|nd|rd|th)(?![A-Za-z]))|(?<=[A-Za-z])(?=\d)")  # "10NOV", "Aug17"
_TOKEN = re.compile(r"(\d+)(st|nd|rd|th)?(?![A-Za-z])|([A-Za-z]+)")
# Words that do not change the day: "the 8th", "December 6 late evening", "this May 8th", "about 8am".
FILLER_WORDS = {"of", "the", "at", "on", "th", "this", "in", "about", "around", "early", "late", "morning", "afternoon",
           "evening", "night"}  # fmt: skip
MONTH_WORDS = (
    {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
    | {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}
    | {"sept": 9}
)
WEEKDAY_WORDS = (
    {w.lower(): i for i, w in enumerate(WEEKDAYS)}
    | {w[:3].lower(): i for i, w in enumerate(WEEKDAYS)}
    | {"tues": 1, "wednes": 2, "thur": 3, "thurs": 3}
)


@dataclass(frozen=True)
class ParsedDate:
    """The outcome of parsing: every reading the text allows, and why when there is none."""

    status: ParseStatus
    candidates: tuple[datetime, ...] = ()
    reason: str = ""
    has_time: bool = False
    precision: Precision = "day"
    note: str = ""  # how an ok value was read when the text alone does not say (the year, the order, a repair)


@dataclass(frozen=True)
class _Parts:
    numbers: tuple[tuple[str, bool], ...]  # (digits, had an ordinal suffix)
    month: int | None
    weekday: int | None
    time: tuple[int, int, int] | None
    dotted: bool  # numbers separated by dots ("11.9.", "03.04.21"): written day first wherever dots are used
    hyphenated: bool  # numbers separated by hyphens: "16-04-19" may also be year first


def _fail(reason: str) -> ParsedDate:
    return ParsedDate("unparsed", (), reason)


def _cut_time(text: str) -> tuple[str, tuple[int, int, int] | None, str]:
    """Remove one time of day from ``text``; returns (rest, (h, m, s) or None, error)."""
    found = list(_TIME.finditer(text))
    if not found and any(w.lower() in MONTH_WORDS for w in re.findall(r"[A-Za-z]+", text)):
        found = list(_DOTTED_TIME.finditer(text))
    if not found:
        return text, None, ""
    if len(found) > 1:
        return text, None, "more than one time of day"
    m = found[0]
    if m.re is _TIME and m.group(5):  # "5pm"
        hour, minute, second, meridiem = int(m.group(5)), 0, 0, m.group(6)
    else:
        hour, minute = int(m.group(1)), int(m.group(2))
        second, meridiem = (int(m.group(3) or 0), m.group(4)) if m.re is _TIME else (0, None)
    if meridiem:
        if not 1 <= hour <= 12:
            return text, None, f"hour {hour} with AM/PM"
        hour = hour % 12 + (12 if meridiem.lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return text, None, f"no such time {m.group(0).strip()!r}"
    return text[: m.start()] + " " + text[m.end() :], (hour, minute, second), ""


def _split(rest: str, time: tuple[int, int, int] | None) -> tuple[_Parts | None, str]:
    numbers: list[tuple[str, bool]] = []
    months: list[int] = []
    weekdays: list[int] = []
    rest = _GLUED.sub(" ", rest)
    for m in _TOKEN.finditer(rest):
        if m.group(1):
            numbers.append((m.group(1), bool(m.group(2))))
            continue
        word = m.group(3).lower()
        if word in MONTH_WORDS:
            months.append(MONTH_WORDS[word])
        elif word in WEEKDAY_WORDS:
            weekdays.append(WEEKDAY_WORDS[word])
        elif word not in FILLER_WORDS:
            return None, f"unknown word {m.group(3)!r}"
    if len(months) > 1 or len(weekdays) > 1:
        return None, "more than one month or weekday name"
    stray = re.sub(r"[\d\sA-Za-z/\-.,']", "", rest)  # a colon left after the time is cut is a misread
    if stray:
        return None, f"unexpected characters {stray[:10]!r}"
    month = months[0] if months else None
    dotted = bool(re.search(r"\d\.\d", rest)) and not re.search(r"\d[/-]\d", rest)
    hyphenated = bool(re.search(r"\d-\d", rest))
    return _Parts(tuple(numbers), month, weekdays[0] if weekdays else None, time, dotted, hyphenated), ""


def _year(digits: str, pivot: int) -> int | None:
    if len(digits) == 4:
        return int(digits)
    if len(digits) == 2:
        yy = int(digits)
        return 2000 + yy if yy < pivot else 1900 + yy
    return None


@dataclass(frozen=True)
class _Reading:
    """One way to read the numbers: a year (None when the text has none), month, day, precision."""

    year: int | None
    month: int
    day: int
    precision: Precision = "day"
    order: str = ""  # MDY, DMY or YMD where the numbers allow several orders


def _ymd_named(parts: _Parts, pivot: int) -> tuple[list[_Reading], str]:
    """Numbers around a month name: ``Dec 31st 2000``, ``31 Dec 00``, ``14th December``, ``June 2020``."""
    nums = list(parts.numbers)
    month = parts.month or 0
    if len(nums) == 1:
        digits, ordinal = nums[0]
        if len(digits) == 4 and not ordinal:
            return [_Reading(int(digits), month, 1, "month")], ""
        if len(digits) <= 2:
            return [_Reading(None, month, int(digits))], ""
        return [], f"cannot read {digits!r} as a day or a year"
    if len(nums) != 2:
        return [], f"expected a day and a year around the month name, found {len(nums)} numbers"
    ordinals = [n for n in nums if n[1]]
    if len(ordinals) == 2:
        return [], f"two days ({nums[0][0]}, {nums[1][0]}) and no year"
    if len(ordinals) == 1:
        day, year = ordinals[0], next(n for n in nums if not n[1])
    elif len(nums[1][0]) == 4 or len(nums[0][0]) != 4:
        day, year = nums  # English writes the day before the year: "Dec 05 07" is 5 Dec 2007
    else:
        year, day = nums
    y = _year(year[0], pivot)
    if y is None or len(day[0]) > 2:
        return [], f"cannot tell day and year in {nums[0][0]!r}, {nums[1][0]!r}"
    return [_Reading(y, month, int(day[0]))], ""


def _ymd_numeric(parts: _Parts, pivot: int) -> tuple[list[_Reading], str]:
    """``YYYY-MM-DD``; day and month in either order, before a year or without one; month and year."""
    nums = [n for n, _ in parts.numbers]
    if len(nums) == 1 and len(nums[0]) == 8 and nums[0][:2] in ("19", "20"):
        nums = [nums[0][:4], nums[0][4:6], nums[0][6:]]
    if len(nums) == 2 and any(len(n) == 4 for n in nums):
        month, year = (nums[1], nums[0]) if len(nums[0]) == 4 else (nums[0], nums[1])
        if len(month) > 2:
            return [], f"cannot read {month!r} as a month"
        return [_Reading(int(year), int(month), 1, "month")], ""
    if len(nums) == 1 and len(nums[0]) <= 2 and parts.weekday is not None:
        return [_Reading(None, 0, int(nums[0]))], ""  # "Tuesday 8th": the month too comes from the reference
    if len(nums) == 2 and all(len(n) <= 2 for n in nums):
        a, b = int(nums[0]), int(nums[1])
        return [_Reading(None, m, d, order=o) for (m, d), o in _orders(a, b)], ""
    if len(nums) != 3 or any(len(n) > 4 for n in nums):
        return [], f"expected day, month and year, found {len(nums)} numbers"
    if len(nums[0]) == 4:
        return [_Reading(int(nums[0]), int(nums[1]), int(nums[2]))], ""
    year = _year(nums[2], pivot)
    if year is None:
        return [], f"cannot read {nums[2]!r} as a year"
    a, b = int(nums[0]), int(nums[1])
    readings = [_Reading(year, m, d, order=o) for (m, d), o in _orders(a, b)]
    if parts.hyphenated and all(len(n) == 2 for n in nums):  # "16-04-19" may be 2016-04-19
        readings.append(_Reading(_year(nums[0], pivot), int(nums[1]), int(nums[2]), order="YMD"))
    return readings, ""


def _orders(a: int, b: int) -> list[tuple[tuple[int, int], str]]:
    """(month, day) month-first then day-first; one reading when both are the same."""
    return [((a, b), "MDY")] if a == b else [((a, b), "MDY"), ((b, a), "DMY")]


def _at(day: date, time: tuple[int, int, int] | None) -> datetime:
    return datetime(day.year, day.month, day.day, *(time or (0, 0, 0)))


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def year_for(
    month: int, day: int, reference: date, yearless: YearlessPolicy, weekday: int | None = None
) -> date | None:
    """The date of a year-less ``month``/``day`` that the policy picks around ``reference``.

    ``nearest``: the closest to the reference (a later one on a tie); ``after``: the first on or
    after it; ``before``: the last on or before it. A weekday narrows the years to those where the
    date falls on it (searched within ``YEARLESS_SEARCH_YEARS``).

    >>> year_for(1, 5, date(2024, 12, 30), "nearest")
    datetime.date(2025, 1, 5)
    """
    span = YEARLESS_SEARCH_YEARS if weekday is not None else 1
    dates = [_valid(y, month, day) for y in range(reference.year - span, reference.year + span + 1)]
    return _pick(dates, reference, yearless, weekday)


def month_for(day: int, reference: date, yearless: YearlessPolicy, weekday: int | None) -> date | None:
    """The date of a day of month written with a weekday only (``Tuesday 8th``): the month around
    ``reference`` (within a year) where that day falls on that weekday, picked as ``year_for`` does."""
    months = [(reference.year * 12 + reference.month - 1 + k) for k in range(-12, 13)]
    return _pick([_valid(m // 12, m % 12 + 1, day) for m in months], reference, yearless, weekday)


def _pick(candidates: list[date | None], reference: date, yearless: YearlessPolicy, weekday: int | None) -> date | None:
    """The candidate that exists, falls on ``weekday`` (when given) and the policy picks around ``reference``."""
    dates = [d for d in candidates if d is not None and (weekday is None or d.weekday() == weekday)]
    if yearless == "after":
        return min((d for d in dates if d >= reference), default=None)
    if yearless == "before":
        return max((d for d in dates if d <= reference), default=None)
    return min(dates, key=lambda d: (abs((d - reference).days), -d.toordinal()), default=None)


def _dated(
    readings: list[_Reading], parts: _Parts, reference: date | None, yearless: YearlessPolicy
) -> tuple[list[tuple[str, datetime]], str]:
    """(order, datetime) of the readings that exist (and fall on the weekday written), years filled from
    the reference."""
    values: list[tuple[str, datetime]] = []
    for reading in readings:
        if reading.year is not None:
            day = _valid(reading.year, reading.month, reading.day)
            if (
                day is not None
                and reading.precision == "day"
                and parts.weekday is not None
                and day.weekday() != parts.weekday
            ):
                day = None
        elif reference is None:
            return [], "no year, and no reference date to take it from (give one: --reference-date)"
        elif reading.month == 0:
            day = month_for(reading.day, reference, yearless, parts.weekday)
        else:
            day = (
                year_for(reading.month, reading.day, reference, yearless, parts.weekday)
                if 1 <= reading.month <= 12
                else None
            )
        if day is not None:
            values.append((reading.order, _at(day, parts.time)))
    if not values and parts.weekday is not None and any(r.year is not None for r in readings):
        return [], f"the date is not a {WEEKDAYS[parts.weekday]}"
    return values, "" if values else "no such date"


def parse_date(
    text: str,
    order: DateOrder | None = None,
    year_pivot: int = 50,
    reference: date | None = None,
    yearless: YearlessPolicy = "nearest",
) -> ParsedDate:
    """Every date ``text`` can mean; one when the text (or the policy) settles it.

    Args:
        text: A date as written in a document.
        order: ``MDY`` or ``DMY`` to settle ``03/04/21``; None reports it as ambiguous, unless
            the numbers are separated by dots (``11.9.``, ``03.04.21``): day first, as wherever
            dates are written with dots.
        year_pivot: Two-digit years below it are 20yy, others 19yy.
        reference: The date year-less (``14 December``) and relative (``next Friday``) dates are
            read against; without one they are unparsed, never given a year.
        yearless: Which year a year-less date takes around the reference (``year_for``).
    """
    text = text.strip()
    if not text:
        return _fail("empty text")
    if len(text) > MAX_DATE_CHARS:
        return _fail(f"{len(text)} characters is too long for a date")
    parsed = _parse_absolute_or_relative(text, order, year_pivot, reference, yearless)
    if parsed.status == "ok":
        return parsed
    from docfields.normalize.repair import repair_ocr

    repair = repair_ocr(text)
    if repair.text == text:
        return parsed
    repaired = _parse_absolute_or_relative(repair.text, order, year_pivot, reference, yearless)
    if repaired.status == "unparsed":
        return parsed
    note = f"read as {repair.text!r} (OCR repair: {', '.join(repair.changes)})"
    return ParsedDate(repaired.status, repaired.candidates, repaired.reason, repaired.has_time, repaired.precision,
                      "; ".join(filter(None, [note, repaired.note])))  # fmt: skip


def _parse_absolute_or_relative(
    text: str, order: DateOrder | None, year_pivot: int, reference: date | None, yearless: YearlessPolicy
) -> ParsedDate:
    rest, time, error = _cut_time(text)
    if error:
        return _fail(error)
    parts, error = _split(rest, time)
    if parts is not None:
        absolute = _parse_parts(parts, order, year_pivot, reference, yearless)
        if absolute.status != "unparsed" or parts.numbers and parts.month is not None:
            return absolute
        error = absolute.reason
    return _parse_relative(rest, time, reference) or _fail(error)


def _parse_parts(
    parts: _Parts, order: DateOrder | None, year_pivot: int, reference: date | None, yearless: YearlessPolicy
) -> ParsedDate:
    if parts.month is not None:
        readings, error = _ymd_named(parts, year_pivot)
    else:
        readings, error = _ymd_numeric(parts, year_pivot)
    if error:
        return _fail(error)
    precision = readings[0].precision
    if precision == "month" and parts.weekday is not None:
        return _fail("a weekday with a month and year but no day")  # "Monday, Apr1822": a lost space, not April 1822
    implausible = [r.year for r in readings if r.year is not None and not MIN_YEAR <= r.year <= MAX_YEAR]
    if implausible:
        return _fail(f"year {implausible[0]} is outside {MIN_YEAR}-{MAX_YEAR}: a misread digit?")
    clock = _year_or_clock(readings, parts, reference)
    if clock:
        return _fail(clock)
    values, error = _dated(readings, parts, reference, yearless)
    if error:
        return _fail(error)
    note = "year from the reference date" if readings[0].year is None else ""
    if len(values) > 1 and order is None and parts.dotted:
        order, note = "DMY", "; ".join(filter(None, [note, "dots: day first"]))
    return _settle(values, order, parts.time is not None, precision, note)


def _year_or_clock(readings: list[_Reading], parts: _Parts, reference: date | None) -> str:
    """Why a four-digit "year" far from the reference is rather a 24-hour time ("2 Nov 1815"), or ""."""
    year = readings[0].year
    if reference is None or year is None:
        return ""
    distance, digits = abs(year - reference.year), f"{year:04d}"
    written = {number for number, _ in parts.numbers}
    reads_as_clock = int(digits[:2]) < 24 and int(digits[2:]) < 60 and parts.time is None
    if distance > CLOCK_YEAR_DISTANCE and reads_as_clock and digits in written:
        return f"{digits} is {distance} years from the reference date: a year, or the time {digits[:2]}:{digits[2:]}?"
    return ""


def _parse_relative(rest: str, time: tuple[int, int, int] | None, reference: date | None) -> ParsedDate | None:
    """A relative expression (``next Friday``, ``in 30 days``) read against ``reference``; None if it is none."""
    from docfields.normalize.relative import is_relative, resolve_relative

    if reference is None:
        return (
            _fail("a relative date needs a reference date (give one: --reference-date)") if is_relative(rest) else None
        )
    found = resolve_relative(rest, reference)
    if found is None:
        return None
    value = _at(found.value, time)
    if found.alternative is not None:  # "next Friday" said on a Wednesday: this week's or the next
        readings = (value, _at(found.alternative, time))
        return ParsedDate(
            "ambiguous", readings, f"{found.note}, or a week later: English allows both", time is not None
        )
    return ParsedDate("ok", (value,), "", time is not None, "day", found.note)


def _settle(values: list[tuple[str, datetime]], order: DateOrder | None, has_time: bool,
            precision: Precision = "day", note: str = "") -> ParsedDate:  # fmt: skip
    """One reading is a result; several are settled by the order policy (MDY or DMY) or reported."""
    readings = tuple(v for _, v in values)
    if len(values) == 1:
        return ParsedDate("ok", readings, "", has_time, precision, note)
    chosen = [v for o, v in values if o == order]
    if order is None or not chosen or any(o == "YMD" for o, _ in values):
        reason = (
            "day and month can be swapped"
            if {o for o, _ in values} == {"MDY", "DMY"}
            else "year, month and day can be read in several orders"
        )
        return ParsedDate("ambiguous", readings, reason, has_time, precision, note)
    return ParsedDate("ok", (chosen[0],), f"read as {order}", has_time, precision,
                      "; ".join(filter(None, [note, f"read as {order}"])))  # fmt: skip


class DateRuleNormalizer:
    """The built-in normalizer ``date:<TARGET>``: ``parse_date`` then render in the target.

    The order of ``03/04/21`` comes from the document when it reveals one (``NormalizeContext
    .date_order``), else from the ``order`` policy, else the value is ambiguous. A text in the
    original's prompt format (``Convert dates to <FORMAT>: <text>``) is rendered in its own
    format; without a target (``date:``), every text must be one.

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

    def pattern_for(self, text: str) -> tuple[str | None, str, str]:
        """(pattern, the date text, error) of one input: the prompt's format, else the target's."""
        target, inner = split_prompt(text)
        if target is None:
            return (
                self.pattern,
                text,
                ""
                if self.pattern
                else "no target format: name one (date:YYYY-MM-DD) or send 'Convert dates to <FORMAT>: <text>'",
            )
        try:
            return pattern_from_name(target), inner, ""
        except ValueError as exc:
            return None, inner, f"prompt format {target!r}: {exc}"

    def normalize_one(self, text: str, context: NormalizeContext | None = None) -> NormalizedValue:
        """Normalize one text (see ``normalize``)."""
        pattern, inner, error = self.pattern_for(text)
        if pattern is None:
            return NormalizedValue(raw=text, status="unparsed", source="rule", reason=error)
        context = context or EMPTY_CONTEXT
        order = context.date_order or self.order
        parsed = parse_date(inner, order, self.year_pivot, context.reference_date, self.yearless)
        shape = month_pattern(pattern) if parsed.precision == "month" else pattern
        rendered = [render_date(v, shape) for v in parsed.candidates]
        if parsed.status == "ok":
            note = parsed.note
            if context.date_order and "read as" in note:
                note = note.replace(
                    f"read as {order}", f"read as {order}: the document writes {context.order_evidence}"
                )
            data = {"note": note, "precision": parsed.precision} if note or parsed.precision != "day" else None
            return NormalizedValue(raw=text, value=rendered[0], status="ok", source="rule", data=data)
        reason = parsed.reason
        if parsed.status == "ambiguous" and context.order_evidence:
            reason += f"; the document's own dates do not settle it ({context.order_evidence})"
        return NormalizedValue(raw=text, status=parsed.status, source="rule", reason=reason, candidates=rendered)
