"""Build tests/data/date_expressions.jsonl: real date expressions with reference times, from ctparse's corpus.

ctparse (MIT licence) ships the time expressions it was built on, many taken from real travel
requests, each with the reference time it was written at and the time it means:
``(target, reference, [texts])`` lists in ``ctparse/time/corpus.py`` and ``auto_corpus.py``.
This keeps what a date normalizer can be scored on: ``Time`` targets whose year, month and day are
known (no intervals, durations or month-only targets), and texts that are English or
language-neutral (many are German). The corpus files are read as Python literals, never imported.

    .venv/bin/python bench/make_real_dates.py /tmp/ctparse-0.3.6-py2.py3-none-any.whl
    .venv/bin/python bench/make_real_dates.py /path/to/unpacked/wheel --output tests/data/date_expressions.jsonl

The script is deterministic: the same wheel gives the same file.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CORPUS_FILES = ("corpus.py", "auto_corpus.py")
Category = Literal["absolute", "year-less", "relative", "with time"]

_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTH_WORDS = {m: i + 1 for i, m in enumerate(_MONTHS)} | {m[:3]: i + 1 for i, m in enumerate(_MONTHS)} | {"sept": 9}
WEEKDAY_WORDS = set(_WEEKDAYS) | {w + "s" for w in _WEEKDAYS} | {w[:3] for w in _WEEKDAYS} | {"tues", "thur", "thurs"}
# Words an English date or time expression is made of, besides month and weekday names. "am" is not
# here: alone it is German ("am Dienstag"); after a time ("10am", "10 am") it is kept (see is_english).
TIME_WORDS = {
    "st", "nd", "rd", "th", "pm", "a", "m", "p",
    "today", "tomorrow", "yesterday", "tonight", "now", "next", "last", "this", "coming", "following",
    "at", "on", "the", "of", "in", "by", "from", "after", "before", "until", "around", "about",
    "day", "days", "week", "weeks", "weekend", "end", "month", "months", "year", "years", "eom", "eoy",
    "morning", "afternoon", "evening", "night", "noon", "midday", "midnight", "early", "late", "very",
    "o", "clock",
}  # fmt: skip
ENGLISH_WORDS = frozenset(MONTH_WORDS) | frozenset(WEEKDAY_WORDS) | frozenset(TIME_WORDS)
# Words that name a day; a text without them and without digits ("morning", "very late") says only a part of day.
DAY_WORDS = frozenset(MONTH_WORDS) | frozenset(WEEKDAY_WORDS) | {
    "today", "tomorrow", "yesterday", "tonight", "week", "weekend", "month", "year", "eom", "eoy",
}  # fmt: skip

_TARGET = re.compile(r"Time\[\]\{(\d{4})-(\d{2})-(\d{2}) (\d{2}|X):(\d{2}|X) \([^)]*\)\}")
_TIME_AM = re.compile(r"(?<=\d)\s*a\.?m\b\.?", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
# Only unmistakable times: "13.06" is the 13th of June as often as 1:06 pm.
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}|\d{1,2}\s*[ap]\.?m\b", re.IGNORECASE)
_NUMERIC_DAY_MONTH = re.compile(r"(?<![\d.:/])(\d{1,2})[./-]\s?(\d{1,2})(?![:\d])")


@dataclass(frozen=True)
class Target:
    """A ``Time`` target with a full date: the date and, when the target has one, the time of day."""

    date: str  # YYYY-MM-DD
    time: str | None  # HH:MM


def parse_target(target: str) -> Target | None:
    """ctparse's ``Time[]{2016-05-27 14:00 (X/X)}`` -> Target; None for anything without a full date.

    >>> parse_target("Time[]{2016-05-27 14:00 (X/X)}")
    Target(date='2016-05-27', time='14:00')
    >>> parse_target("Time[]{X-04-X X:X (X/X)}") is None
    True
    """
    match = _TARGET.fullmatch(target)
    if not match:
        return None
    year, month, day, hour, minute = match.groups()
    time = None if "X" in (hour, minute) else f"{hour}:{minute}"
    return Target(f"{year}-{month}-{day}", time)


def is_english(text: str) -> bool:
    """Every alphabetic word is in the English date vocabulary; "am" only right after a number.

    >>> is_english("Fri 5/27 2:00pm"), is_english("10 am tomorrow"), is_english("am Dienstag")
    (True, True, False)
    >>> is_english("11.9."), is_english("Do, 11. Mai 2017")
    (True, False)
    """
    rest = _TIME_AM.sub(" ", text)
    return all(word.lower() in ENGLISH_WORDS for word in _WORD.findall(rest))


def names_a_day(text: str) -> bool:
    """The text has a digit or a word naming a day, not only a part of day.

    >>> names_a_day("next Friday"), names_a_day("11"), names_a_day("very early afternoon")
    (True, True, False)
    """
    return any(c.isdigit() for c in text) or any(w.lower() in DAY_WORDS for w in _WORD.findall(text))


def _numbers(text: str) -> list[str]:
    """The digit runs of ``text`` outside a time of day (``14:30``, ``8pm``)."""
    return re.findall(r"\d+", _TIME_OF_DAY.sub(" ", text))


def _writes_year(text: str, date: str) -> bool:
    """The text writes the target's year: ``2018``, or ``18`` besides the day and month (``10Aug18``,
    ``19.6.18``, ``18-06-19``)."""
    numbers = _numbers(text)
    if date[:4] in numbers:
        return True
    month_named = any(w.lower() in MONTH_WORDS for w in _WORD.findall(text))
    for part in (date[8:10], None if month_named else date[5:7]):
        same = next((n for n in numbers if part is not None and int(n) == int(part)), None)
        if same is not None:
            numbers.remove(same)
    return date[2:4] in numbers


def _writes_day_and_month(text: str, date: str) -> bool:
    """The text writes the target's day and month: a month name with the day, or a numeric d.m / m/d pair."""
    month, day = int(date[5:7]), int(date[8:10])
    rest = _TIME_OF_DAY.sub(" ", text)
    named = {MONTH_WORDS[w.lower()] for w in _WORD.findall(rest) if w.lower() in MONTH_WORDS}
    if named:
        return month in named and day in {int(n) for n in _numbers(rest)}
    return any(sorted((int(a), int(b))) == sorted((day, month)) for a, b in _NUMERIC_DAY_MONTH.findall(rest))


def category_of(text: str, target: Target) -> Category:
    """What kind of expression it is: with time (the target has a time), absolute (a year is written),
    year-less (day and month written, no year) or relative (weekday, tomorrow, "the 15th", ...).

    >>> category_of("Feb 28, 2018", Target("2018-02-28", None)), category_of("11.9.", Target("2017-09-11", None))
    ('absolute', 'year-less')
    >>> category_of("next Friday", Target("2018-03-16", None)), category_of("9/23 8pm", Target("2016-09-23", "20:00"))
    ('relative', 'with time')
    """
    if target.time is not None:
        return "with time"
    if _writes_year(text, target.date):
        return "absolute"
    if _writes_day_and_month(text, target.date):
        return "year-less"
    return "relative"


def read_corpus_sources(path: Path) -> dict[str, str]:
    """The source text of ctparse's corpus files, from a ``.whl`` or an unpacked wheel; plus its METADATA."""
    names = [f"ctparse/time/{name}" for name in CORPUS_FILES]
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            members = wheel.namelist()
            meta = next(m for m in members if m.endswith(".dist-info/METADATA"))
            return {name: wheel.read(name).decode() for name in names} | {"METADATA": wheel.read(meta).decode()}
    meta = next(path.glob("*.dist-info/METADATA"))
    return {name: (path / name).read_text() for name in names} | {"METADATA": meta.read_text()}


def corpus_entries(source: str) -> list[tuple[str, str, list[str]]]:
    """The ``corpus = [...]`` literal of a corpus file, evaluated as a literal (nothing is executed)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "corpus" for t in node.targets):
            return [(str(t), str(ref), [str(x) for x in texts]) for t, ref, texts in ast.literal_eval(node.value)]
    raise ValueError("no `corpus = [...]` assignment in the file")


def build_rows(entries: list[tuple[str, str, list[str]]], source: str) -> tuple[list[dict], Counter]:
    """Rows for the kept (target, reference, text) triples, in corpus order, plus why others were dropped.

    A (text, reference) pair seen twice is kept once (the corpus repeats texts); callers deduplicate
    across files with ``merge_rows``.
    """
    rows: list[dict] = []
    dropped: Counter = Counter()
    seen: set[tuple[str, str]] = set()
    for raw_target, reference, texts in entries:
        target = parse_target(raw_target)
        for text in texts:
            text = text.strip()
            if target is None:
                dropped["not a Time with a full date"] += 1
            elif not is_english(text):
                dropped["not English"] += 1
            elif not names_a_day(text):
                dropped["a part of day only"] += 1
            elif (text, reference) in seen:
                dropped["duplicate"] += 1
            else:
                seen.add((text, reference))
                rows.append({
                    "text": text, "reference": reference, "date": target.date, "time": target.time,
                    "category": category_of(text, target), "source": source,
                })  # fmt: skip
    return rows, dropped


def merge_rows(groups: list[list[dict]]) -> tuple[list[dict], Counter]:
    """One row per (text, reference) across files; a pair the files disagree on is dropped altogether."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for rows in groups:
        for row in rows:
            by_key.setdefault((row["text"], row["reference"]), []).append(row)
    kept, dropped = [], Counter()
    for same in by_key.values():
        if len({(r["date"], r["time"]) for r in same}) > 1:
            dropped["conflicting targets"] += len(same)
            continue
        kept.append(same[0])
        dropped["duplicate"] += len(same) - 1
    return kept, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="ctparse's .whl file, or the folder it is unpacked in")
    parser.add_argument("--output", type=Path, default=Path(__file__).parents[1] / "tests/data/date_expressions.jsonl")
    args = parser.parse_args()
    sources = read_corpus_sources(args.wheel)
    version = re.search(r"^Version: (\S+)", sources["METADATA"], re.MULTILINE)
    if version is None:
        raise SystemExit(f"{args.wheel}: no Version in the wheel's METADATA")
    groups, dropped = [], Counter()
    for name in CORPUS_FILES:
        rows, why = build_rows(corpus_entries(sources[f"ctparse/time/{name}"]), f"ctparse {version[1]} {name}")
        groups.append(rows)
        dropped += why
    rows, why = merge_rows(groups)
    dropped += why
    args.output.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(f"{len(rows)} expressions -> {args.output}")
    for category, count in sorted(Counter(r["category"] for r in rows).items()):
        print(f"  {category:10s} {count}")
    print("dropped: " + ", ".join(f"{why} {n}" for why, n in dropped.most_common()))


if __name__ == "__main__":
    main()
