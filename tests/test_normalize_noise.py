"""OCR noise for dates and amounts: the measured confusion table, the seeded noise, the date generator's
noise option, and the repairs the rules may make (never a silent wrong value)."""

from __future__ import annotations

import hashlib
import json
import random
from importlib import resources

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from docfields.normalize.dates import DateDataOptions, best_achievable_accuracy, generate_date_examples
from docfields.normalize.noise import DATE_AMOUNT_CHARS, CharNoise, OcrNoise, add_ocr_noise, load_ocr_noise
from docfields.normalize.repair import _DIGIT_MARKS, _SEPARATOR_MARKS, CONFUSABLE_DIGITS, repair_ocr
from docfields.normalize.rules import parse_date

TABLE = json.loads(resources.files("docfields.normalize").joinpath("ocr_confusions.json").read_text())


def _digest(examples) -> str:
    rows = [[e.src, e.tgt, e.observed, e.target, e.text, e.value.isoformat()] for e in examples]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


# --- the measured table ---------------------------------------------------------------------------


def test_shipped_table_counts_are_a_real_measurement():
    assert TABLE["sources"]["sroie"]["pairs"] >= 500 and TABLE["sources"]["demo"]["pairs"] >= 100
    for char, row in TABLE["chars"].items():
        assert char in DATE_AMOUNT_CHARS and row["seen"] > 0
        counts = [*row["sub"].values(), *row["inserted"].values()]
        assert all(n > 0 for n in counts) and row["dropped"] >= 0
        assert sum(counts) + row["dropped"] <= row["seen"]
        assert char not in row["sub"]  # a substitution changes the character


def test_loaded_noise_has_the_measured_confusions():
    noise = load_ocr_noise()
    for char, row in TABLE["chars"].items():
        assert 0.0 <= noise.chars[char].error <= 1.0
        assert noise.chars[char].seen == row["seen"]
    outcomes = {c: dict(n.outcomes) for c, n in noise.chars.items()}
    # The classic misreadings, as measured on the receipts: a letter for a digit and a digit for a letter.
    assert outcomes["0"]["O"] == TABLE["chars"]["0"]["sub"]["O"] / TABLE["chars"]["0"]["seen"] > 0
    assert outcomes["I"]["1"] > 0 and outcomes["5"]["S"] > 0
    assert 0.005 < noise.measured_rate < 0.1


# --- add_ocr_noise -------------------------------------------------------------------------------


def test_noise_is_deterministic_per_seed_for_both_kinds_of_generator():
    texts = ["12/31/2000", "Sunday, December 31st 2000", "$1,250.00", "14.99%"] * 50
    for make in (np.random.default_rng, random.Random):
        first = [add_ocr_noise(t, make(7), 0.2) for t in texts]
        assert first == [add_ocr_noise(t, make(7), 0.2) for t in texts]
        rng_a, rng_b = make(7), make(8)
        assert [add_ocr_noise(t, rng_a, 0.2) for t in texts] != [add_ocr_noise(t, rng_b, 0.2) for t in texts]


def test_noise_changes_about_rate_of_the_characters():
    rng = np.random.default_rng(0)
    texts = ["12/31/2000", "2000-12-31", "Dec 31st 2000 14:30", "$1,250.00"] * 2000
    for rate in (0.02, 0.1):
        edits = sum(Levenshtein.distance(t, add_ocr_noise(t, rng, rate)) for t in texts)
        assert edits / sum(map(len, texts)) == pytest.approx(rate, rel=0.15)


def test_zero_rate_and_unmeasured_characters_stay_as_they_are():
    rng = np.random.default_rng(0)
    assert add_ocr_noise("12/31/2000", rng, 0.0) == "12/31/2000"
    assert add_ocr_noise("~~~", rng, 0.5) == "~~~"
    with pytest.raises(ValueError, match="between 0 and 1"):
        add_ocr_noise("12/31/2000", rng, 1.5)


def test_noise_uses_only_the_tables_outcomes():
    noise = OcrNoise({"0": CharNoise(10, (("O", 0.1),)), "/": CharNoise(10, (("//", 0.05), ("", 0.05)))})
    rng = random.Random(1)
    seen = {add_ocr_noise("10/10", rng, 0.5, noise) for _ in range(300)}
    assert seen <= {a + b + c for a in ("10", "1O") for b in ("/", "//", "") for c in ("10", "1O")}
    assert {"1O/10", "10//10", "1010"} <= seen


# --- the date generator's noise option -----------------------------------------------------------


def test_no_noise_gives_exactly_the_examples_of_before_the_option():
    # Digests of generate_date_examples before the noise option existed.
    assert _digest(generate_date_examples(DateDataOptions(n=300, seed=42))) == (
        "2adf578cec890ddf12f3600cda969ccf0fb1dffedd4b9d5e7a7ef414fd2f3f04"
    )
    assert _digest(generate_date_examples(DateDataOptions(n=300, seed=7, answers="most-likely"))) == (
        "eb007386e0596cd857331208f29b262351b7f8338cb82e9f5243f2bb6f520bdb"
    )
    assert all(e.clean == e.text for e in generate_date_examples(DateDataOptions(n=50, seed=1)))


def test_noise_changes_only_the_prompts_text_and_is_reproducible():
    clean = generate_date_examples(DateDataOptions(n=2000, seed=5, answers="most-likely"))
    options = DateDataOptions(n=2000, seed=5, answers="most-likely", noise=0.1)
    noisy = generate_date_examples(options)
    assert noisy == generate_date_examples(options)
    assert [(e.tgt, e.value, e.text) for e in clean] == [(e.tgt, e.value, e.clean) for e in noisy]
    changed = [e for e in noisy if e.text != e.clean]
    assert 0.3 < len(changed) / len(noisy) < 0.9
    assert all(e.src.endswith(": " + e.text) for e in noisy)
    # The ceiling is the clean text's: the same examples with and without noise.
    assert best_achievable_accuracy(noisy, options) == best_achievable_accuracy(clean, options)


# --- repair_ocr ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "repaired"),
    [
        ("2O21-O1-15", "2021-01-15"),
        ("l2/3l/2000", "12/31/2000"),
        ("$2S.00", "$25.00"),
        ("1O.99%", "10.99%"),
        ("12.0O", "12.00"),
        ("12//31/2000", "12/31/2000"),
        ("12..05.2020", "12.05.2020"),
        ("12/3 1/2000", "12/31/2000"),
        ("2000-12- 31", "2000-12-31"),
        ("0ct 5, 2000", "Oct 5, 2000"),
        ("N0v 5 2000", "Nov 5 2000"),
        ("0CT 05 2000", "OCT 05 2000"),
        ("Ju1y 4th 1999", "July 4th 1999"),
    ],
)
def test_repairs_unambiguous_misreadings(text, repaired):
    result = repair_ocr(text)
    assert result.text == repaired and result.changes


@pytest.mark.parametrize(
    "text",
    [
        "ISO", "Sep 5", "Oct", "Dec. 5 2000", "Box 12", "12 05", "1 000.00", "12/31/20 00", "1990s", "12B",
        "Unit 12S, 2O21", "Total12", "1st", "1O", "S1", "12/O/2000", "12/31/2000 14:30",
    ],
)  # fmt: skip
def test_refuses_what_could_be_something_else(text):
    assert repair_ocr(text).text == text and repair_ocr(text).changes == ()


def _repairable_noise(noise: OcrNoise, drop_spaces: bool) -> OcrNoise:
    """The measured misreadings a reader could in principle notice: a digit read as the letter or mark that
    stands for it (``CONFUSABLE_DIGITS``, ``@`` for ``0``), a month's letter read as a digit, a separator
    read as a mark measured only for separators (``~`` for ``-``) or as ``2`` (``/``), separators (and
    spaces, with ``drop_spaces``) dropped or doubled, tokens split. Left out: a digit read as another digit,
    dropped, or as a letter that stands for another digit (``3`` read as ``S``): no reader can tell
    those from the real thing, so they are the noise's wrong values, not the repairs'."""

    def kept(char: str, out: str) -> bool:
        if char.isdigit():
            return len(out) == 1 and (CONFUSABLE_DIGITS.get(out) == char or _DIGIT_MARKS.get(out) == char)
        if char.isalpha():
            return out.isdigit() and len(out) == 1 or out == char + " "
        if char in _SEPARATOR_MARKS.get(out, ()) or (char, out) == ("/", "2"):
            return True
        return out in ("", char + char, char + " ") and (out or drop_spaces or char != " ")

    return OcrNoise(
        {c: CharNoise(n.seen, tuple((o, p) for o, p in n.outcomes if kept(c, o))) for c, n in noise.chars.items()}
    )


@pytest.mark.parametrize("drop_spaces", [False, True])
def test_noise_then_repair_never_gives_a_different_date(drop_spaces):
    noise = _repairable_noise(load_ocr_noise(), drop_spaces)
    rng = np.random.default_rng(20)
    examples = generate_date_examples(DateDataOptions(n=3000, seed=20))
    repaired = wrong = 0
    for example in examples:
        noisy = add_ocr_noise(example.clean, rng, 0.1, noise)
        fixed = repair_ocr(noisy).text
        repaired += fixed == example.clean != noisy
        read, truth = parse_date(fixed), parse_date(example.clean)
        if read.status == "ok" and read.candidates[0] not in truth.candidates:
            wrong += 1
    assert wrong == 0
    assert repaired > 100  # the repairs do undo noise, not only stay out of its way


def test_datagen_dates_noise_option_writes_noisy_prompts_and_clean_answers(tmp_path):
    from typer.testing import CliRunner

    from docfields.cli.main import app
    from docfields.normalize.pairs import read_pairs

    runner = CliRunner()
    for name, extra in (("clean.jsonl", []), ("zero.jsonl", ["--noise", "0"]), ("noisy.jsonl", ["--noise", "0.2"])):
        done = runner.invoke(app, ["datagen", "dates", "-n", "200", "--seed", "5", "-o", str(tmp_path / name), *extra])
        assert done.exit_code == 0, done.output
    clean, zero, noisy = (read_pairs(str(tmp_path / n)) for n in ("clean.jsonl", "zero.jsonl", "noisy.jsonl"))
    assert clean.src == zero.src and clean.tgt == noisy.tgt
    changed = sum(a != b for a, b in zip(clean.src, noisy.src, strict=True))
    assert 100 < changed < 200


# --- repairs from the measured table, misread names, edge letters, split times -------------------


def test_measured_marks_come_from_the_table():
    # "@" was only ever read for 0 and ";" only for ":"; "$" was read for 5 and for 8: no repair.
    assert _DIGIT_MARKS["@"] == "0" and _DIGIT_MARKS["§"] == "5"
    assert _SEPARATOR_MARKS[";"] == {":"} and _SEPARATOR_MARKS["~"] == {"-", "."}
    assert "$" not in _DIGIT_MARKS and "$" not in _SEPARATOR_MARKS
    for mark, digit in _DIGIT_MARKS.items():
        assert TABLE["chars"][digit]["sub"][mark] > 0


@pytest.mark.parametrize(
    ("text", "repaired", "kind"),
    [
        ("1978-07~13", "1978-07-13", "mark read for a separator"),
        ("2023-09-11 11;32:12", "2023-09-11 11:32:12", "mark read for a separator"),
        ("2023-09-11 11;32", "2023-09-11 11:32", "mark read for a separator"),
        ("17/10/05 01;42AM", "17/10/05 01:42AM", "mark read for a separator"),
        ("12A15/26", "12/15/26", "mark read for a separator"),
        ("27/02/2@44", "27/02/2044", "letter read for a digit"),
        ("Wed. 03 Mar 1@", "Wed. 03 Mar 10", "letter read for a digit"),
        ("2015-0§-10", "2015-05-10", "letter read for a digit"),
        ("12/29/199(", "12/29/1997", "letter read for a digit"),
        ("20)7-04-04", "2007-04-04", "letter read for a digit"),
        ("Sat. 20 Hov 32", "Sat. 20 Nov 32", "misread letter of a month or weekday"),
        ("Thursday, nar 26 98", "Thursday, mar 26 98", "misread letter of a month or weekday"),
        ("Nonday Apr 24th 72", "Monday Apr 24th 72", "misread letter of a month or weekday"),
        ("Thu. Dec 05 8S", "Thu. Dec 05 85", "letter read for a digit"),
        ("Sunday Dec 3l 45", "Sunday Dec 31 45", "letter read for a digit"),
        ("Wednesday Apr Z9th 98", "Wednesday Apr 29th 98", "letter read for a digit"),
        ("11205/2041", "11/05/2041", "'2' read for '/'"),
        ("01/2522038", "01/25/2038", "'2' read for '/'"),
        ("0 8/21/13", "08/21/13", "space inside a date"),
        ("22/03/2016 06: 12AM", "22/03/2016 06:12AM", "space inside a time"),
        ("13/03/29 08 :24PM", "13/03/29 08:24PM", "space inside a time"),
        ("Friday Jun 6th 8 6", "Friday Jun 6th 86", "space inside a year"),
    ],
)
def test_repairs_measured_and_named_misreadings(text, repaired, kind):
    result = repair_ocr(text)
    assert result.text == repaired
    assert any(change.endswith(f"({kind})") for change in result.changes), result.changes


@pytest.mark.parametrize(
    "text",
    [
        "Jen 5 2000",  # Jan and Jun are both one letter away
        "Non 14 Sep 81",  # Mon and Nov
        "Sun 5 2000", "the 5th", "at 5pm",  # words the rules know are not misspelt names
        "(2000)", "5) 2000", "(5", "Sep 1$th 31", "12/31/200\"",  # brackets on their side; $ and " are 5 or 8/0
        "02A06 2031", "10AM", "12/31~2000",  # no separator to follow; "~" was never read for "/"
        "1/2020", "10/2015", "1205/2041",  # a month and year; "1205" may have lost its "/" before or after 12
        "12/24/20 07", "1 2/17/41", "Unit 12S, 2O21", "Dec 1990s",
    ],
)  # fmt: skip
def test_refuses_measured_and_named_repairs_that_leave_a_choice(text):
    assert repair_ocr(text).text == text


@pytest.mark.parametrize(
    ("text", "value"),
    [("1978-07~13", "1978-07-13"), ("Sat. 20 Hov 32", "2032-11-20"), ("11205/2041", "2041-11-05"),
     ("Thu. Dec 05 8S", "1985-12-05")],
)  # fmt: skip
def test_the_rules_read_the_new_repairs_and_name_them(text, value):
    parsed = parse_date(text, order="MDY")
    assert parsed.status == "ok" and parsed.candidates[0].date().isoformat() == value
    assert "OCR repair" in parsed.note


def test_letters_measured_for_several_digits_are_not_repaired():
    from docfields.normalize.repair import DOUBTFUL_LETTERS

    assert {"B", "i"} <= DOUBTFUL_LETTERS and "O" not in DOUBTFUL_LETTERS  # B was 8 and 7; i was 1, 0 and 7
    for text in ("12/28/199B", "02/18/19i6"):
        assert repair_ocr(text).text == text
        assert parse_date(text).status == "unparsed"
