"""Relative dates ("next Friday", "in 30 days", "the 15th of next month") resolved against a reference date.

A relative expression has no date of its own: the document's date (or one the caller gives) turns it
into one. ``resolve_relative`` knows a closed English grammar and answers None for anything else, so
the caller reports its own reason (``next week`` and ``next month`` are periods, not days, and are
None too). The readings follow ``dateparser`` and Duckling's English corpus; where English is
ambiguous and ctparse's corpus (or Duckling's) reads it the other way, that day is ``alternative``
so the caller can flag rather than guess:

- **Bare weekday** (``Friday``, ``on Fri``, ``fridays``) and **this <weekday>**: the next occurrence
  on or after the reference. A weekday equal to the reference's is the reference day itself, with
  the day a week later as ``alternative`` (ctparse and Duckling read it so).
- **next / following <weekday>**: the first occurrence strictly after the reference. Said early in
  the week, English also means the <weekday> of the following week (ctparse's reading: ``next
  Friday`` on Wednesday 2018-03-07 is 2018-03-16); that day is the ``alternative`` whenever it
  differs. **coming <weekday>** is the first occurrence strictly after, with no alternative.
- **last / previous <weekday>**: the last occurrence strictly before; the <weekday> of the previous
  week is the ``alternative`` when it differs.
- **<weekday> next / this / last week**: that weekday of the (Monday-based) week.
- **Offsets** (``in 5 days``, ``two weeks from now``, ``a month ago``): months and years clamp to
  the month's last day (31 January + 1 month is 28 or 29 February).
- **Day of month** (``the 15th``, ``the 2nd of next month``): in the reference month unless a month
  is named; a day that month does not have is None, never moved to a neighbouring day. A day
  alone that is already past (``the 1st`` on the 12th) has next month's as ``alternative``.
- **Period end** (``end of the month``, ``eoy``, ``end of next month``): the period's last day.

>>> resolve_relative("next Friday", date(2024, 12, 30)).value
datetime.date(2025, 1, 3)
>>> resolve_relative("the 2nd of next month", date(2024, 12, 30)).value
datetime.date(2025, 1, 2)
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from docfields.normalize.patterns import WEEKDAYS


@dataclass(frozen=True)
class RelativeDate:
    """A resolved relative expression; ``alternative`` is the other day ambiguous English may mean."""

    value: date
    kind: str  # deictic, weekday, offset, day-of-month, period-end
    note: str  # how it was read, e.g. "next Friday after 2024-03-01"
    alternative: date | None = None


_Resolver = Callable[[date], RelativeDate]

_FILLERS = {"on", "the", "of", "at"}
_RELATIVE_WORDS = {
    "today", "now", "tonight", "tomorrow", "yesterday", "this", "next", "last", "coming", "following",
    "previous", "ago", "hence", "eom", "eoy",
}  # fmt: skip
_PARTS_OF_DAY = {"morning", "afternoon", "evening", "night"}
_DEICTIC = {
    ("today",): 0, ("now",): 0, ("right", "now"): 0, ("just", "now"): 0, ("tonight",): 0,
    ("tomorrow",): 1, ("yesterday",): -1, ("day", "after", "tomorrow"): 2, ("day", "before", "yesterday"): -2,
} | {("this", part): 0 for part in _PARTS_OF_DAY}  # fmt: skip
_WEEKDAY_WORDS = {
    name: i for i, day in enumerate(WEEKDAYS) for name in (day.lower(), day.lower() + "s", day[:3].lower())
} | {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_WEEKDAY_MODIFIERS = {
    (): "bare", ("this",): "this", ("next",): "next", ("following",): "next", ("coming",): "coming",
    ("this", "coming"): "coming", ("last",): "last", ("previous",): "last",
}  # fmt: skip
_SHIFTS = {(): 0, ("this",): 0, ("next",): 1, ("following",): 1, ("last",): -1, ("previous",): -1}
_SHIFT_NAMES = {0: "this", 1: "next", -1: "last"}
_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}
_ONES = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen"
).split()
_FIRSTS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()


def _spelled(units: list[str], twenty: str, thirty: str) -> dict[tuple[str, ...], int]:
    """Words for 1-30 (numbers or ordinals) from the words for 1-19, 20 and 30: ``twenty one`` is 21."""
    words = {(word,): i + 1 for i, word in enumerate(units)} | {
        ("twenty", word): 21 + i for i, word in enumerate(units[:9])
    }
    return words | {(twenty,): 20, (thirty,): 30}


_NUMBER_WORDS = _spelled(_ONES, "twenty", "thirty") | {("a",): 1, ("an",): 1}
_ORDINAL_WORDS = _spelled(_FIRSTS, "twentieth", "thirtieth") | {("thirty", "first"): 31}
_ORDINAL_DIGITS = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")


def resolve_relative(text: str, reference: date) -> RelativeDate | None:
    """The day ``text`` names relative to ``reference``; None when the text is not a relative
    expression this grammar knows, is a period (``next week``), or names no existing day
    (``the 31st`` in a 30-day month)."""
    resolver = _read(_words(text))
    if resolver is None:
        return None
    try:
        return resolver(reference)
    except (ValueError, OverflowError):  # no such day, or beyond the calendar (in 10000 years)
        return None


def is_relative(text: str) -> bool:
    """Whether ``text`` needs a reference date to mean a day: it has a relative word (``next``,
    ``tomorrow``, ``ago``...) or is a form ``resolve_relative`` reads (``Friday``, ``the 15th``)."""
    words = _words(text)
    return bool(_RELATIVE_WORDS.intersection(words)) or _read(words) is not None


def _words(text: str) -> tuple[str, ...]:
    """Lower-case words without fillers and punctuation: ``On the 2nd, of next month.`` ->
    ``('2nd', 'next', 'month')``; ``twenty-one`` -> ``('twenty', 'one')``."""
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower().replace(",", " "))
    words = (word.strip(".'") for word in text.split())
    return tuple(word for word in words if word and word not in _FILLERS)


def _read(words: tuple[str, ...]) -> _Resolver | None:
    """The resolver for ``words``, trying again without a trailing part of day (``tomorrow morning``)."""
    for form in (_deictic, _weekday, _offset, _day_of_month, _period_end):
        if (resolver := form(words)) is not None:
            return resolver
    if len(words) > 1 and words[-1] in _PARTS_OF_DAY:
        return _read(words[:-2] if words[-2] == "in" else words[:-1])
    return None


def _deictic(words: tuple[str, ...]) -> _Resolver | None:
    if words not in _DEICTIC:
        return None
    days = _DEICTIC[words]
    return lambda ref: RelativeDate(ref + timedelta(days), "deictic", f"{' '.join(words)} from {ref}")


def _weekday(words: tuple[str, ...]) -> _Resolver | None:
    found = [i for i, word in enumerate(words) if word in _WEEKDAY_WORDS]
    if len(found) != 1:
        return None
    i = found[0]
    day, before, after = _WEEKDAY_WORDS[words[i]], words[:i], words[i + 1 :]
    if not after and before in _WEEKDAY_MODIFIERS:
        return _weekday_resolver(day, _WEEKDAY_MODIFIERS[before])
    phrase = before if not after else after if not before else ()
    week = _shift(phrase, "week") if len(phrase) == 2 else None  # not "Friday week" (British: a week after Friday)
    if week is None:
        return None
    name, which = WEEKDAYS[day], {0: "the week of", 1: "the week after", -1: "the week before"}[week]
    return lambda ref: RelativeDate(_in_week(ref, day, week), "weekday", f"{name} of {which} {ref}")


def _weekday_resolver(day: int, modifier: str) -> _Resolver:
    name = WEEKDAYS[day]

    def resolve(ref: date) -> RelativeDate:
        if modifier in ("bare", "this"):
            value = ref + timedelta((day - ref.weekday()) % 7)
            other = value + timedelta(7) if value == ref else None
            return RelativeDate(value, "weekday", f"{name} on or after {ref}", other)
        if modifier == "last":
            value = ref - timedelta((ref.weekday() - day - 1) % 7 + 1)
            other = _in_week(ref, day, -1)
            return RelativeDate(value, "weekday", f"last {name} before {ref}", other if other != value else None)
        value = ref + timedelta((day - ref.weekday() - 1) % 7 + 1)
        other = _in_week(ref, day, 1) if modifier == "next" else value
        return RelativeDate(value, "weekday", f"{modifier} {name} after {ref}", other if other != value else None)

    return resolve


def _in_week(ref: date, day: int, weeks: int) -> date:
    """Weekday ``day`` of the Monday-based week ``weeks`` after the reference's."""
    return ref + timedelta(days=day - ref.weekday(), weeks=weeks)


def _offset(words: tuple[str, ...]) -> _Resolver | None:
    """``in 5 days``, ``in two weeks' time``, ``a week from today``, ``7 days hence``, ``3 months ago``."""
    if words[:1] == ("in",):
        sign, body = 1, words[1:-1] if words[-1:] == ("time",) else words[1:]
    elif words[-2:] in (("from", "now"), ("from", "today")):
        sign, body = 1, words[:-2]
    elif words[-1:] == ("hence",):
        sign, body = 1, words[:-1]
    elif words[-1:] == ("ago",):
        sign, body = -1, words[:-1]
    else:
        return None
    unit = _UNITS.get(body[-1].removesuffix("s")) if body else None
    count = _count(body[:-1])
    if unit is None or count is None:
        return None
    amount = sign * count
    text = " ".join(words)

    def resolve(ref: date) -> RelativeDate:
        if unit in ("days", "weeks"):
            value = ref + timedelta(**{unit: amount})
        else:
            value = _add_months(ref, amount * (12 if unit == "years" else 1))
        return RelativeDate(value, "offset", f"{text} from {ref}")

    return resolve


def _count(words: tuple[str, ...]) -> int | None:
    if len(words) == 1 and re.fullmatch(r"[0-9]{1,6}", words[0]):
        return int(words[0])
    return _NUMBER_WORDS.get(words)


def _add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the target month's last day."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _day_of_month(words: tuple[str, ...]) -> _Resolver | None:
    """``the 15th``, ``the 3rd of this month``, ``the first of next month``."""
    for size in (1, 2):
        head, tail = words[:size], words[size:]
        match = _ORDINAL_DIGITS.fullmatch(head[0]) if size == 1 and head else None
        number = int(match[1]) if match else _ORDINAL_WORDS.get(head)
        shift = _shift(tail, "month") if tail else 0
        if number is not None and shift is not None:
            return _day_of_month_resolver(number, shift, month_named=bool(tail))
    return None


def _day_of_month_resolver(number: int, shift: int, month_named: bool) -> _Resolver:
    def resolve(ref: date) -> RelativeDate:
        first = _add_months(ref.replace(day=1), shift)
        value = first.replace(day=number)
        other = None
        if not month_named and number < ref.day:  # already past: ctparse and Duckling read next month's
            later = _add_months(first, 1)
            if number <= calendar.monthrange(later.year, later.month)[1]:
                other = later.replace(day=number)
        return RelativeDate(value, "day-of-month", f"day {number} of {_SHIFT_NAMES[shift]} month from {ref}", other)

    return resolve


def _shift(words: tuple[str, ...], unit: str) -> int | None:
    """``(next, week)`` -> 1 for unit ``week``; None unless ``words`` is an optional modifier and ``unit``."""
    return _SHIFTS.get(words[:-1]) if words[-1:] == (unit,) else None


def _period_end(words: tuple[str, ...]) -> _Resolver | None:
    """``end of (the/this/next/last) month``, ``month end``, ``eom``, ``end of the year``, ``eoy``."""
    if words in (("eom",), ("eoy",)):
        words = ("end", "month" if words[0] == "eom" else "year")
    elif words[-1:] == ("end",):
        words = ("end", *words[:-1])
    unit = words[-1] if words[:1] == ("end",) and words[-1] in ("month", "year") else None
    shift = _shift(words[1:], unit) if unit else None
    if shift is None:
        return None
    text = " ".join(words)

    def resolve(ref: date) -> RelativeDate:
        if unit == "month":
            value = _add_months(ref.replace(day=1), shift + 1) - timedelta(1)
        else:
            value = date(ref.year + shift, 12, 31)
        return RelativeDate(value, "period-end", f"{text} from {ref}")

    return resolve
