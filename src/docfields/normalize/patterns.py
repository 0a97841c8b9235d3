"""Date patterns: render, strictly parse, and translate human format names such as ``DD/MM/YYYY``.

A pattern is a ``strftime`` subset plus ``%o`` (day of month with its ordinal suffix: ``1st``,
``22nd``). Rendering and parsing are done here rather than by ``time.strftime`` because the C
library follows the process locale (``%b`` is ``déc.`` under ``fr_FR``) and has no ordinal
directive, and because the same table must both render synthetic data and validate a model's
output: a value "is in the requested format" exactly when it parses strictly and renders back
to itself.

>>> render_date(datetime(2000, 12, 31), "%A %b %o %y")
'Sunday Dec 31st 00'
>>> parse_strict("2000-12-31", "%Y-%m-%d")
datetime.datetime(2000, 12, 31, 0, 0)
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Human format-name tokens (as in the original's table) -> directives; longest first.
_NAME_TOKENS = (
    ("YYYY", "%Y"), ("DDDD", "%A"), ("MMMM", "%B"), ("DDD", "%a"), ("MMM", "%b"),
    ("YY", "%y"), ("MM", "%m"), ("Do", "%o"), ("DD", "%d"), ("HH", "%H"), ("hh", "%I"),
    ("mm", "%M"), ("ss", "%S"), ("p", "%p"),
)  # fmt: skip
_NAME_RE = re.compile("|".join(re.escape(token) for token, _ in _NAME_TOKENS))
_NAME_MAP = dict(_NAME_TOKENS)
_DIRECTIVES = frozenset("YymdobBaAHIMSp%")
TIME_DIRECTIVES = frozenset("HIMSp")

_DIRECTIVE_RE = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>\d{2})",
    "d": r"(?P<d>\d{2})",
    "o": r"(?P<o>\d{1,2})(?P<osfx>st|nd|rd|th)",
    "b": "(?P<b>" + "|".join(m[:3] for m in MONTHS) + ")",
    "B": "(?P<B>" + "|".join(MONTHS) + ")",
    "a": "(?P<a>" + "|".join(w[:3] for w in WEEKDAYS) + ")",
    "A": "(?P<A>" + "|".join(WEEKDAYS) + ")",
    "H": r"(?P<H>\d{2})",
    "I": r"(?P<I>\d{2})",
    "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})",
    "p": "(?P<p>AM|PM)",
}


def ordinal_suffix(day: int) -> str:
    """English ordinal suffix of a day of month: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st."""
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def split_pattern(pattern: str) -> list[str]:
    """Split a pattern into literal chunks and ``%x`` directives; reject unknown directives.

    Raises:
        ValueError: on an unknown directive or a trailing ``%``, naming the pattern.
    """
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] != "%":
            j = pattern.find("%", i)
            j = len(pattern) if j < 0 else j
            parts.append(pattern[i:j])
            i = j
            continue
        if i + 1 >= len(pattern) or pattern[i + 1] not in _DIRECTIVES:
            raise ValueError(f"pattern {pattern!r}: unsupported directive at position {i}")
        parts.append(pattern[i : i + 2])
        i += 2
    return parts


def _render_directive(value: datetime, code: str) -> str:
    if code == "o":
        return f"{value.day}{ordinal_suffix(value.day)}"
    table = {
        "Y": f"{value.year:04d}",
        "y": f"{value.year % 100:02d}",
        "m": f"{value.month:02d}",
        "d": f"{value.day:02d}",
        "b": MONTHS[value.month - 1][:3],
        "B": MONTHS[value.month - 1],
        "a": WEEKDAYS[value.weekday()][:3],
        "A": WEEKDAYS[value.weekday()],
        "H": f"{value.hour:02d}",
        "I": f"{(value.hour % 12) or 12:02d}",
        "M": f"{value.minute:02d}",
        "S": f"{value.second:02d}",
        "p": "AM" if value.hour < 12 else "PM",
        "%": "%",
    }
    return table[code]


def render_date(value: datetime, pattern: str) -> str:
    """Render ``value`` with ``pattern`` in English, whatever the process locale."""
    return "".join(
        _render_directive(value, part[1]) if part.startswith("%") and len(part) == 2 else part
        for part in _cached_split(pattern)
    )


@lru_cache(maxsize=256)
def _cached_split(pattern: str) -> tuple[str, ...]:
    return tuple(split_pattern(pattern))


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regular expression that matches exactly the strings ``pattern`` can render."""
    chunks = []
    seen: set[str] = set()
    for part in _cached_split(pattern):
        if part.startswith("%") and len(part) == 2 and part != "%%":
            code = part[1]
            # A directive used twice must repeat the same value: a back-reference.
            chunks.append(f"(?P={code})" if code in seen else _DIRECTIVE_RE[code])
            seen.add(code)
        else:
            chunks.append(re.escape("%" if part == "%%" else part))
    return re.compile("".join(chunks))


def pattern_has_time(pattern: str) -> bool:
    """Tell whether a pattern carries a time of day (hours, minutes, seconds or AM/PM)."""
    return any(p.startswith("%") and p[1:] in TIME_DIRECTIVES for p in _cached_split(pattern))


def pattern_resolution_seconds(pattern: str) -> int:
    """How many seconds of time all render to the same string: a day, a minute or a second."""
    codes = {p[1] for p in _cached_split(pattern) if p.startswith("%")}
    if "S" in codes:
        return 1
    if "M" in codes:
        return 60
    if codes & {"H", "I", "p"}:
        return 3600
    return 86400


def match_fields(text: str, pattern: str) -> dict[str, str] | None:
    """The raw directive values of ``text`` if it fully matches ``pattern``, else None."""
    found = compile_pattern(pattern).fullmatch(text)
    return None if found is None else {k: v for k, v in found.groupdict().items() if v}


def datetimes_from_text(text: str, pattern: str) -> list[datetime]:
    """Every real date-time that ``pattern`` renders as exactly ``text``.

    Two-digit years leave the century open, so there can be two; a weekday or ordinal suffix
    that disagrees with the date leaves none.
    """
    fields = match_fields(text, pattern)
    if fields is None:
        return []
    if "Y" in fields:
        years = [int(fields["Y"])]
    elif "y" in fields:
        years = [1900 + int(fields["y"]), 2000 + int(fields["y"])]
    else:
        return []
    month, day, hour = _month_of(fields), int(fields.get("d") or fields.get("o") or 0), _hour_of(fields)
    if month is None or hour is None or not day:
        return []
    out = []
    for year in years:
        try:
            value = datetime(year, month, day, hour, int(fields.get("M", 0)), int(fields.get("S", 0)))
        except ValueError:
            continue
        if render_date(value, pattern) == text:
            out.append(value)
    return out


def _month_of(fields: dict[str, str]) -> int | None:
    if "m" in fields:
        month = int(fields["m"])
        return month if 1 <= month <= 12 else None
    name = fields.get("b") or fields.get("B")
    if name is None:
        return None
    return [m[: len(name)] for m in MONTHS].index(name) + 1


def _hour_of(fields: dict[str, str]) -> int | None:
    if "I" in fields:
        hour12 = int(fields["I"])
        if not 1 <= hour12 <= 12 or "p" not in fields:
            return None
        return hour12 % 12 + (12 if fields["p"] == "PM" else 0)
    hour = int(fields.get("H", 0))
    return hour if hour < 24 and int(fields.get("M", 0)) < 60 and int(fields.get("S", 0)) < 60 else None


def parse_strict(text: str, pattern: str, year_pivot: int = 50) -> datetime | None:
    """Parse ``text`` only if it is exactly what ``pattern`` renders for some real date.

    Two-digit years resolve with ``year_pivot``: ``yy < pivot`` is 20yy, else 19yy.
    """
    candidates = datetimes_from_text(text.strip(), pattern)
    if len(candidates) > 1:
        candidates = [c for c in candidates if (c.year >= 2000) == (c.year % 100 < year_pivot)]
    return candidates[0] if candidates else None


def pattern_from_name(name: str) -> str:
    """Translate a human format name (``DD/MM/YYYY``, ``DDD. MMM DD YY``, ``hh:mmp``) to a
    pattern; a name that already contains ``%`` directives is taken as a pattern.

    Raises:
        ValueError: when the result has no date part or an unknown directive.
    """
    pattern = name if "%" in name else _NAME_RE.sub(lambda m: _NAME_MAP[m.group(0)], name)
    split_pattern(pattern)
    if not {"Y", "y"} & {p[1] for p in _cached_split(pattern) if p.startswith("%")}:
        raise ValueError(f"date format {name!r} has no year (YYYY or YY)")
    return pattern


def month_pattern(pattern: str) -> str:
    """``pattern`` without its day, weekday and time: how a month-year date renders in it.

    >>> month_pattern("%Y-%m-%d"), month_pattern("%m/%d/%Y"), month_pattern("%A, %B %d, %Y")
    ('%Y-%m', '%m/%Y', '%B %Y')
    """
    parts = split_pattern(pattern)
    drop = {i for i, p in enumerate(parts) if p in ("%d", "%o", "%a", "%A", "%H", "%I", "%M", "%S", "%p")}
    for i in sorted(drop):
        if i + 1 < len(parts) and not parts[i + 1].startswith("%"):
            drop.add(i + 1)  # the separator after it
        elif i > 0 and not parts[i - 1].startswith("%"):
            drop.add(i - 1)  # the separator before a last directive
    return "".join(p for i, p in enumerate(parts) if i not in drop).strip(" ,.-/")
