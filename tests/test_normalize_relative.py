"""Relative dates resolved against a reference date: each form, year ends, leap years, and two public corpora."""

from __future__ import annotations

from datetime import date

import pytest

from docfields.normalize.relative import RelativeDate, is_relative, resolve_relative

WEDNESDAY = date(2024, 3, 6)  # a leap year; the previous month has 29 days


def _value(text: str, reference: date = WEDNESDAY) -> date | None:
    resolved = resolve_relative(text, reference)
    return resolved.value if resolved else None


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("today", date(2024, 3, 6), "deictic"),
        ("Now", date(2024, 3, 6), "deictic"),
        ("right now", date(2024, 3, 6), "deictic"),
        ("tonight", date(2024, 3, 6), "deictic"),
        ("this evening", date(2024, 3, 6), "deictic"),
        ("Tomorrow.", date(2024, 3, 7), "deictic"),
        ("tomorrow in the morning", date(2024, 3, 7), "deictic"),
        ("yesterday", date(2024, 3, 5), "deictic"),
        ("the day after tomorrow", date(2024, 3, 8), "deictic"),
        ("The Day Before Yesterday", date(2024, 3, 4), "deictic"),
        ("Friday", date(2024, 3, 8), "weekday"),
        ("on Fri.", date(2024, 3, 8), "weekday"),
        ("Mon", date(2024, 3, 11), "weekday"),
        ("Tue", date(2024, 3, 12), "weekday"),
        ("tues", date(2024, 3, 12), "weekday"),
        ("Thu", date(2024, 3, 7), "weekday"),
        ("thur", date(2024, 3, 7), "weekday"),
        ("Thurs", date(2024, 3, 7), "weekday"),
        ("Sat", date(2024, 3, 9), "weekday"),
        ("sun", date(2024, 3, 10), "weekday"),
        ("mondays", date(2024, 3, 11), "weekday"),
        ("sunday night", date(2024, 3, 10), "weekday"),
        ("this Friday", date(2024, 3, 8), "weekday"),
        ("this Monday", date(2024, 3, 11), "weekday"),
        ("next Friday", date(2024, 3, 8), "weekday"),
        ("next Tuesday", date(2024, 3, 12), "weekday"),
        ("coming Friday", date(2024, 3, 8), "weekday"),
        ("this coming Friday", date(2024, 3, 8), "weekday"),
        ("on the following Friday", date(2024, 3, 8), "weekday"),
        ("last Friday", date(2024, 3, 1), "weekday"),
        ("last Tuesday", date(2024, 3, 5), "weekday"),
        ("previous Monday", date(2024, 3, 4), "weekday"),
        ("Friday next week", date(2024, 3, 15), "weekday"),
        ("next week, Friday", date(2024, 3, 15), "weekday"),
        ("Friday of next week", date(2024, 3, 15), "weekday"),
        ("Monday this week", date(2024, 3, 4), "weekday"),
        ("Monday of last week", date(2024, 2, 26), "weekday"),
        ("in 5 days", date(2024, 3, 11), "offset"),
        ("in 30 days", date(2024, 4, 5), "offset"),
        ("In two weeks", date(2024, 3, 20), "offset"),
        ("in twenty-one days", date(2024, 3, 27), "offset"),
        ("in a week", date(2024, 3, 13), "offset"),
        ("in three weeks' time", date(2024, 3, 27), "offset"),
        ("a week ago", date(2024, 2, 28), "offset"),
        ("3 days ago", date(2024, 3, 3), "offset"),
        ("thirty days from now", date(2024, 4, 5), "offset"),
        ("10 days from today", date(2024, 3, 16), "offset"),
        ("7 days hence", date(2024, 3, 13), "offset"),
        ("in 1 month", date(2024, 4, 6), "offset"),
        ("two months ago", date(2024, 1, 6), "offset"),
        ("in 2 years", date(2026, 3, 6), "offset"),
        ("a year ago", date(2023, 3, 6), "offset"),
        ("end of the month", date(2024, 3, 31), "period-end"),
        ("EOM", date(2024, 3, 31), "period-end"),
        ("month-end", date(2024, 3, 31), "period-end"),
        ("end of next month", date(2024, 4, 30), "period-end"),
        ("end of last month", date(2024, 2, 29), "period-end"),
        ("eoy", date(2024, 12, 31), "period-end"),
        ("the end of the year", date(2024, 12, 31), "period-end"),
        ("end of next year", date(2025, 12, 31), "period-end"),
        ("the 15th", date(2024, 3, 15), "day-of-month"),
        ("on the 3rd", date(2024, 3, 3), "day-of-month"),
        ("the 15th of this month", date(2024, 3, 15), "day-of-month"),
        ("the 15th of the month", date(2024, 3, 15), "day-of-month"),
        ("the 15th of next month", date(2024, 4, 15), "day-of-month"),
        ("the 1st of last month", date(2024, 2, 1), "day-of-month"),
        ("the first of next month", date(2024, 4, 1), "day-of-month"),
        ("the twenty-first", date(2024, 3, 21), "day-of-month"),
    ],
)
def test_each_form_resolves_against_the_reference(text: str, expected: date, kind: str) -> None:
    resolved = resolve_relative(text, WEDNESDAY)
    assert resolved is not None, text
    assert (resolved.value, resolved.kind) == (expected, kind)
    assert "2024-03-06" in resolved.note


def test_the_note_says_how_the_text_was_read() -> None:
    resolved = resolve_relative("next Friday", date(2024, 3, 1))
    assert resolved == RelativeDate(date(2024, 3, 8), "weekday", "next Friday after 2024-03-01")


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("next Friday", date(2024, 12, 30), date(2025, 1, 3)),
        ("in 5 days", date(2024, 12, 30), date(2025, 1, 4)),
        ("the 2nd of next month", date(2024, 12, 30), date(2025, 1, 2)),
        ("the day after tomorrow", date(2024, 12, 30), date(2025, 1, 1)),
        ("end of next month", date(2024, 12, 30), date(2025, 1, 31)),
        ("Thursday", date(2024, 12, 30), date(2025, 1, 2)),
        ("Friday next week", date(2024, 12, 30), date(2025, 1, 10)),
        ("yesterday", date(2025, 1, 1), date(2024, 12, 31)),
        ("last Friday", date(2025, 1, 2), date(2024, 12, 27)),
        ("the 15th of last month", date(2025, 1, 2), date(2024, 12, 15)),
        ("3 months ago", date(2025, 1, 2), date(2024, 10, 2)),
        ("in 2 months", date(2024, 11, 30), date(2025, 1, 30)),
    ],
)
def test_across_a_year_end(text: str, reference: date, expected: date) -> None:
    assert _value(text, reference) == expected


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("in 1 month", date(2024, 1, 31), date(2024, 2, 29)),  # clamped to the leap February's last day
        ("in 1 month", date(2023, 1, 31), date(2023, 2, 28)),
        ("a month ago", date(2024, 3, 31), date(2024, 2, 29)),
        ("in 1 year", date(2024, 2, 29), date(2025, 2, 28)),
        ("a year ago", date(2024, 2, 29), date(2023, 2, 28)),
        ("in 4 years", date(2024, 2, 29), date(2028, 2, 29)),
        ("yesterday", date(2024, 3, 1), date(2024, 2, 29)),
        ("tomorrow", date(2024, 2, 28), date(2024, 2, 29)),
        ("in 2 days", date(2023, 2, 28), date(2023, 3, 2)),
        ("end of the month", date(2024, 2, 10), date(2024, 2, 29)),
        ("end of the month", date(2023, 2, 10), date(2023, 2, 28)),
        ("the 29th", date(2024, 2, 10), date(2024, 2, 29)),
        ("the 29th", date(2023, 2, 10), None),  # no 29 February 2023: not moved to a neighbour
        ("the 30th of next month", date(2024, 1, 15), None),
        ("the 31st of next month", date(2024, 3, 5), None),
    ],
)
def test_leap_years_and_short_months(text: str, reference: date, expected: date | None) -> None:
    assert _value(text, reference) == expected


def test_a_weekday_equal_to_the_references_is_the_reference_day_with_next_week_as_alternative() -> None:
    for text in ("Wednesday", "this Wednesday", "on Wed"):
        resolved = resolve_relative(text, WEDNESDAY)
        assert resolved is not None
        assert (resolved.value, resolved.alternative) == (WEDNESDAY, date(2024, 3, 13))
    assert resolve_relative("next Wednesday", WEDNESDAY) == RelativeDate(
        date(2024, 3, 13), "weekday", "next Wednesday after 2024-03-06"
    )
    assert _value("last Wednesday") == date(2024, 2, 28)


def test_next_and_last_carry_the_other_weeks_reading_only_when_english_is_ambiguous() -> None:
    next_friday = resolve_relative("next Friday", WEDNESDAY)  # Friday of this week, or of next week
    assert next_friday is not None and next_friday.alternative == date(2024, 3, 15)
    saturday = date(2024, 3, 9)
    next_friday_from_saturday = resolve_relative("next Friday", saturday)
    assert next_friday_from_saturday is not None
    assert (next_friday_from_saturday.value, next_friday_from_saturday.alternative) == (date(2024, 3, 15), None)
    last_friday = resolve_relative("last Friday", saturday)  # yesterday, or the Friday of last week
    assert last_friday is not None and (last_friday.value, last_friday.alternative) == (
        date(2024, 3, 8),
        date(2024, 3, 1),
    )
    coming = resolve_relative("coming Friday", WEDNESDAY)
    assert coming is not None and coming.alternative is None


def test_a_day_alone_already_past_carries_next_months_day_as_alternative() -> None:
    first = resolve_relative("the 1st", date(2024, 1, 12))
    assert first is not None and (first.value, first.alternative) == (date(2024, 1, 1), date(2024, 2, 1))
    thirty_first = resolve_relative("the 30th", date(2024, 1, 31))  # February has no 30th
    assert thirty_first is not None and thirty_first.alternative is None
    named = resolve_relative("the 1st of this month", date(2024, 1, 12))
    assert named is not None and named.alternative is None


@pytest.mark.parametrize(
    "text",
    [
        "12/31/2000",
        "Dec 31st 2000",
        "hello",
        "",
        "next week",
        "next month",
        "next year",
        "last week",
        "this week",
        "end of the week",
        "Friday week",
        "Friday Monday",
        "next Friday Monday",
        "in 5 business days",
        "in days",
        "5 days",
        "the 32nd",
        "the 0th",
        "in 100000 years",
        "in 99999999999999999999 days",
        "in 99999 days ago",
        "at night",
    ],
)
def test_texts_that_are_not_a_relative_day_resolve_to_none(text: str) -> None:
    assert resolve_relative(text, WEDNESDAY) is None


@pytest.mark.parametrize(
    ("text", "relative"),
    [
        ("next week", True),
        ("last month", True),
        ("tomorrow", True),
        ("Friday", True),
        ("the 15th", True),
        ("in 5 days", True),
        ("3 days ago", True),
        ("eom", True),
        ("next Friday at the office", True),
        ("12/31/2000", False),
        ("hello", False),
        ("Dec 31st 2000", False),
        ("Sunday, Dec 31 2000", False),
        ("", False),
    ],
)
def test_is_relative(text: str, relative: bool) -> None:
    assert is_relative(text) is relative


# English, purely relative date expressions from ctparse 0.3.6 (MIT licence), ctparse/time/corpus.py:
# (text, reference, target date). Every English text of corpus.py and auto_corpus.py that
# resolve_relative claims is here; the three ctparse reads differently are in CTPARSE_OTHER_READING.
CTPARSE_AGREES = [
    ("today", date(2018, 3, 7), date(2018, 3, 7)),
    ("just now", date(2018, 3, 7), date(2018, 3, 7)),
    ("tomorrow", date(2018, 12, 31), date(2019, 1, 1)),
    ("yesterday", date(2020, 3, 1), date(2020, 2, 29)),
    ("eom", date(2018, 3, 7), date(2018, 3, 31)),
    ("end of the month", date(2018, 3, 7), date(2018, 3, 31)),
    ("eoy", date(2018, 3, 7), date(2018, 12, 31)),
    ("end of the year", date(2018, 3, 7), date(2018, 12, 31)),
    ("mondays", date(2018, 3, 7), date(2018, 3, 12)),
    ("tuesday", date(2018, 3, 7), date(2018, 3, 13)),
    ("tue", date(2018, 3, 7), date(2018, 3, 13)),
    ("on Tue", date(2018, 3, 7), date(2018, 3, 13)),
    ("sunday night", date(2018, 3, 7), date(2018, 3, 11)),
    ("this night", date(2018, 3, 7), date(2018, 3, 7)),
    ("Friday next week", date(2018, 3, 7), date(2018, 3, 16)),
]
# ctparse reads these as the later week (reference Wednesday 2018-03-07); ours is the nearer day,
# as dateparser and Duckling read it, and ctparse's reading is the alternative.
CTPARSE_OTHER_READING = [
    ("this Wednesday", date(2018, 3, 7), date(2018, 3, 14)),
    ("next Friday", date(2018, 3, 7), date(2018, 3, 16)),
    ("on the following Friday", date(2018, 3, 7), date(2018, 3, 16)),
]

# From Duckling's English time corpus (facebook/duckling, Duckling/Time/EN/Corpus.hs, BSD licence),
# reference Tuesday 2013-02-12: the relative day expressions of its examples, with their target day.
DUCKLING_REFERENCE = date(2013, 2, 12)
DUCKLING_AGREES = [
    ("now", date(2013, 2, 12)),
    ("right now", date(2013, 2, 12)),
    ("today", date(2013, 2, 12)),
    ("tonight", date(2013, 2, 12)),
    ("this evening", date(2013, 2, 12)),
    ("this morning", date(2013, 2, 12)),
    ("today evening", date(2013, 2, 12)),
    ("yesterday", date(2013, 2, 11)),
    ("yesterday evening", date(2013, 2, 11)),
    ("tomorrow", date(2013, 2, 13)),
    ("tomorrow afternoon", date(2013, 2, 13)),
    ("the day after tomorrow", date(2013, 2, 14)),
    ("the day before yesterday", date(2013, 2, 10)),
    ("monday", date(2013, 2, 18)),
    ("mon.", date(2013, 2, 18)),
    ("this monday", date(2013, 2, 18)),
    ("next monday", date(2013, 2, 18)),
    ("monday mOrnIng", date(2013, 2, 18)),
    ("thu.", date(2013, 2, 14)),
    ("fri", date(2013, 2, 15)),
    ("sat.", date(2013, 2, 16)),
    ("sunday", date(2013, 2, 17)),
    ("next tuesday", date(2013, 2, 19)),
    ("next wednesday", date(2013, 2, 13)),
    ("last tuesday", date(2013, 2, 5)),
    ("last sunday", date(2013, 2, 10)),
    ("wednesday of next week", date(2013, 2, 20)),
    ("wednesday next week", date(2013, 2, 20)),
    ("monday of this week", date(2013, 2, 11)),
    ("tuesday of this week", date(2013, 2, 12)),
    ("on the 15th", date(2013, 2, 15)),
    ("in a day", date(2013, 2, 13)),
    ("a day from now", date(2013, 2, 13)),
    ("in 7 days", date(2013, 2, 19)),
    ("in a week", date(2013, 2, 19)),
    ("one week hence", date(2013, 2, 19)),
    ("14 days hence", date(2013, 2, 26)),
    ("three weeks hence", date(2013, 3, 5)),
    ("three months hence", date(2013, 5, 12)),
    ("3 years from today", date(2016, 2, 12)),
    ("7 days ago", date(2013, 2, 5)),
    ("14 days Ago", date(2013, 1, 29)),
    ("one week ago", date(2013, 2, 5)),
    ("three weeks ago", date(2013, 1, 22)),
    ("three months ago", date(2012, 11, 12)),
]
# Duckling reads a bare weekday equal to the reference's as next week's, and a past day of the month
# as next month's: ours is the reference day (resp. month), and Duckling's reading is the alternative.
DUCKLING_OTHER_READING = [
    ("tuesday", date(2013, 2, 19)),
    ("the 1st", date(2013, 3, 1)),
    ("on the first", date(2013, 3, 1)),
]


@pytest.mark.parametrize(("text", "reference", "target"), CTPARSE_AGREES)
def test_agrees_with_ctparse_corpus(text: str, reference: date, target: date) -> None:
    assert _value(text, reference) == target


@pytest.mark.parametrize(("text", "reference", "target"), CTPARSE_OTHER_READING)
def test_ctparse_reading_is_the_alternative_where_it_differs(text: str, reference: date, target: date) -> None:
    resolved = resolve_relative(text, reference)
    assert resolved is not None and resolved.value != target and resolved.alternative == target


@pytest.mark.parametrize(("text", "target"), DUCKLING_AGREES)
def test_agrees_with_duckling_corpus(text: str, target: date) -> None:
    assert _value(text, DUCKLING_REFERENCE) == target


@pytest.mark.parametrize(("text", "target"), DUCKLING_OTHER_READING)
def test_duckling_reading_is_the_alternative_where_it_differs(text: str, target: date) -> None:
    resolved = resolve_relative(text, DUCKLING_REFERENCE)
    assert resolved is not None and resolved.value != target and resolved.alternative == target
