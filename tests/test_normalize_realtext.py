"""The real-text date set (tests/data/date_expressions.jsonl, from ctparse's corpus) and its builder.

The set is what bench/normalize_bench.py scores normalizers on outside the generator's
distribution; these tests keep it loadable and self-consistent, and check the builder's filters on
corpus-shaped entries (the ctparse wheel itself is not needed).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DATA = ROOT / "tests/data/date_expressions.jsonl"
CATEGORIES = {"absolute", "year-less", "relative", "with time"}


def _load_builder():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("make_real_dates", ROOT / "bench/make_real_dates.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines()]


def test_the_set_is_large_and_covers_every_category(rows: list[dict]) -> None:
    counts = Counter(r["category"] for r in rows)
    assert len(rows) >= 300
    assert set(counts) == CATEGORIES
    assert min(counts.values()) >= 40
    assert len({(r["text"], r["reference"]) for r in rows}) == len(rows)
    assert (ROOT / "tests/data/date_expressions.LICENSE").read_text().count("MIT License") == 1


def test_every_row_has_a_parseable_date_reference_and_time(rows: list[dict]) -> None:
    for r in rows:
        assert set(r) == {"text", "reference", "date", "time", "category", "source"}, r
        date.fromisoformat(r["date"])
        datetime.strptime(r["reference"], "%Y-%m-%dT%H:%M")
        assert r["time"] is None or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", r["time"]), r
        assert (r["category"] == "with time") == (r["time"] is not None), r
        assert re.fullmatch(r"ctparse 0\.3\.6 (auto_)?corpus\.py", r["source"]), r
        assert builder.is_english(r["text"]) and builder.names_a_day(r["text"]), r


def test_categories_agree_with_the_text(rows: list[dict]) -> None:
    for r in rows:
        year, yy = r["date"][:4], r["date"][2:4]
        writes_year = year in r["text"] or yy in re.findall(r"\d+", r["text"])
        if r["category"] == "absolute":
            assert writes_year, r
        if r["category"] in ("year-less", "relative"):
            assert year not in r["text"], r
        if r["category"] == "year-less":
            assert len(re.findall(r"\d+", r["text"])) >= 1, r


def test_targets_without_a_full_date_are_not_kept() -> None:
    assert builder.parse_target("Time[]{2016-05-27 14:00 (X/X)}") == builder.Target("2016-05-27", "14:00")
    assert builder.parse_target("Time[]{2018-03-11 X:X (X/night)}") == builder.Target("2018-03-11", None)
    for target in ("Time[]{X-04-X X:X (X/X)}", "Time[]{X-X-X 14:00 (X/X)}", "Duration[]{30 minutes}",
                   "Interval[]{2017-03-01 X:X (X/X) - 2017-03-03 X:X (X/X)}"):  # fmt: skip
        assert builder.parse_target(target) is None


def test_english_filter_drops_german_and_keeps_am_only_after_a_time() -> None:
    for text in ("next Friday", "Fri 9/23 8pm", "10 am tomorrow", "10am", "8.5.", "the 15th", "THURSDAY 4th JANUARY"):
        assert builder.is_english(text), text
    for text in ("am Dienstag", "am 11.", "Do, 11. Mai 2017", "morgen 19:25", "14 Uhr", "am"):
        assert not builder.is_english(text), text


def test_build_rows_filters_categorizes_and_deduplicates() -> None:
    entries = [
        ("Time[]{2018-03-16 X:X (X/X)}", "2018-03-07T12:43", ["next Friday", "am nächsten Freitag", "next Friday"]),
        ("Time[]{2018-05-08 X:X (X/X)}", "2018-03-07T12:43", ["8.5.2018", "8th May", "Tuesday 8th"]),
        ("Time[]{2016-05-27 14:00 (X/X)}", "2016-05-24T04:39", ["Fri 5/27 2:00pm"]),
        ("Time[]{2018-03-08 X:X (X/morning)}", "2018-03-07T12:43", ["morning"]),
        ("Time[]{X-12-X X:X (X/X)}", "2018-03-07T12:43", ["December"]),
        ("Time[]{2017-08-10 X:X (X/X)}", "2017-08-09T14:45", ["10Aug17"]),
    ]
    rows, dropped = builder.build_rows(entries, "ctparse test corpus.py")
    got = {(r["text"], r["category"], r["date"], r["time"]) for r in rows}
    assert got == {
        ("next Friday", "relative", "2018-03-16", None),
        ("8.5.2018", "absolute", "2018-05-08", None),
        ("8th May", "year-less", "2018-05-08", None),
        ("Tuesday 8th", "relative", "2018-05-08", None),
        ("Fri 5/27 2:00pm", "with time", "2016-05-27", "14:00"),
        ("10Aug17", "absolute", "2017-08-10", None),
    }
    assert dropped == Counter({"not English": 1, "duplicate": 1, "a part of day only": 1,
                               "not a Time with a full date": 1})  # fmt: skip


def test_merge_rows_drops_pairs_the_files_disagree_on() -> None:
    def row(text: str, day: str) -> dict:
        return {"text": text, "reference": "2018-03-07T12:43", "date": day, "time": None}

    kept, dropped = builder.merge_rows([[row("Friday", "2018-03-09"), row("today", "2018-03-07")],
                                        [row("Friday", "2018-03-16"), row("today", "2018-03-07")]])  # fmt: skip
    assert [r["text"] for r in kept] == ["today"]
    assert dropped == Counter({"conflicting targets": 2, "duplicate": 1})
