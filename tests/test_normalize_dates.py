"""Date data generator: format table, weights, ordinal suffixes, reproducibility, ceiling."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime

import pytest
from pydantic import ValidationError

from docfields.errors import NormalizerError
from docfields.normalize import (
    DateDataOptions,
    DateFormat,
    DateFormatTable,
    best_achievable_accuracy,
    generate_date_examples,
    load_format_table,
    parse_strict,
    pattern_from_name,
    read_pairs,
    render_date,
    target_posterior,
    write_date_dataset,
)
from docfields.normalize.patterns import ordinal_suffix

TABLE = load_format_table()


@pytest.fixture(scope="module")
def examples():
    return generate_date_examples(DateDataOptions(n=40000, seed=42))


def test_table_has_the_originals_targets_and_weights():
    targets = {f.name: f.target_weight for f in TABLE.targets}
    assert targets == {"YYYY-MM-DD": 0.7, "MM/DD/YY": 0.05, "MM/DD/YYYY": 0.2, "DD/MM/YY": 0.02,
                       "DD/MM/YYYY": 0.03}  # fmt: skip
    observed = {f.name: f.observed_weight for f in TABLE.formats}
    assert observed["MM/DD/YY"] == 0.35 and observed["DD/MM/YYYY"] == 0.04
    assert len(TABLE.formats) == 20  # 24 upstream rows - 3 merged suffix rows - 2 duplicates + 1
    assert sum(observed.values()) == pytest.approx(1.22)


def test_table_has_no_duplicates_and_rejects_them():
    patterns = [f.pattern for f in TABLE.formats]
    assert len(set(patterns)) == len(patterns)
    row = DateFormat(pattern="%m/%d/%y", name="MM/DD/YY", observed_weight=1, target_weight=1)
    with pytest.raises(ValueError, match="duplicate"):
        DateFormatTable(formats=(row, row))


@pytest.mark.parametrize("fmt", TABLE.formats, ids=lambda f: f.name)
def test_every_name_translates_to_its_pattern(fmt):
    assert pattern_from_name(fmt.name) == fmt.pattern


@pytest.mark.parametrize("fmt", TABLE.formats, ids=lambda f: f.name)
def test_every_format_round_trips(fmt):
    value = datetime(2003, 1, 2, 15, 4, 5)
    text = render_date(value, fmt.pattern)
    parsed = parse_strict(text, fmt.pattern)
    assert parsed is not None and parsed.date() == value.date()


def test_observed_and_target_weights_within_tolerance(examples):
    n = len(examples)
    observed = Counter(e.observed for e in examples)
    target = Counter(e.target for e in examples)
    total_obs = sum(f.observed_weight for f in TABLE.formats)
    total_tgt = sum(f.target_weight for f in TABLE.formats)
    for fmt in TABLE.formats:
        expected_obs = fmt.observed_weight / total_obs
        expected_tgt = fmt.target_weight / total_tgt
        # 5 standard errors: fails on a wrong weight, not on chance.
        assert abs(observed[fmt.name] / n - expected_obs) < 5 * (expected_obs / n) ** 0.5 + 1e-9
        assert abs(target[fmt.name] / n - expected_tgt) < 5 * (expected_tgt / n) ** 0.5 + 1e-9


def test_dates_are_uniform_over_the_range(examples):
    years = Counter(e.value.year for e in examples)
    assert min(years) == 1950 and max(years) == 2049
    assert all(date(1950, 1, 1) <= e.value.date() < date(2050, 1, 1) for e in examples)
    decades = Counter(y // 10 for y in (e.value.year for e in examples))
    assert max(decades.values()) / min(decades.values()) < 1.15


@pytest.mark.parametrize(
    "day,suffix",
    [(1, "st"), (2, "nd"), (3, "rd"), (4, "th"), (11, "th"), (12, "th"), (13, "th"), (21, "st"),
     (22, "nd"), (23, "rd"), (30, "th"), (31, "st")],
)  # fmt: skip
def test_ordinal_suffix(day, suffix):
    assert ordinal_suffix(day) == suffix
    assert render_date(datetime(2000, 1, day), "%b %o %y") == f"Jan {day}{suffix} 00"


def test_generated_ordinals_match_their_day(examples):
    ordinals = [e for e in examples if e.observed == "DDDD MMM Do YY"]
    assert len(ordinals) > 500
    for e in ordinals:
        found = re.search(r" (\d{1,2})(st|nd|rd|th) ", e.text)
        assert found and int(found.group(1)) == e.value.day
        assert found.group(2) == ordinal_suffix(e.value.day)


def test_prompts_and_targets_are_consistent(examples):
    for e in examples[:2000]:
        assert e.src == f"Convert dates to {e.target}: {e.text}"
        assert parse_strict(e.tgt, TABLE.by_name(e.target).pattern).date() == e.value.date()


def test_same_seed_same_data_other_seed_other_data():
    a = generate_date_examples(DateDataOptions(n=500, seed=7))
    b = generate_date_examples(DateDataOptions(n=500, seed=7))
    c = generate_date_examples(DateDataOptions(n=500, seed=8))
    assert [(e.src, e.tgt) for e in a] == [(e.src, e.tgt) for e in b]
    assert [e.src for e in a] != [e.src for e in c]


def test_configurable_range_template_and_table():
    table = DateFormatTable(formats=(
        DateFormat(pattern="%d.%m.%Y", name="DD.MM.YYYY", observed_weight=1, target_weight=0),
        DateFormat(pattern="%Y-%m-%d", name="ISO", observed_weight=0, target_weight=1),
    ))  # fmt: skip
    options = DateDataOptions(n=50, seed=1, start=date(2020, 2, 1), end=date(2020, 3, 1),
                              prompt_template="To {target} -> {text}", table=table)  # fmt: skip
    for e in generate_date_examples(options):
        assert e.src.startswith("To ISO -> ") and e.tgt.startswith("2020-02-")


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        DateDataOptions(n=1, start=date(2000, 1, 1), end=date(2000, 1, 1))
    with pytest.raises(ValueError, match="target"):
        DateDataOptions(n=1, prompt_template="no slots")
    bad = tmp_path / "table.json"
    bad.write_text(json.dumps({"formats": [{"pattern": "%Q", "name": "x", "observed_weight": 1,
                                            "target_weight": 1}]}))  # fmt: skip
    with pytest.raises(NormalizerError, match="table.json"):
        load_format_table(bad)
    with pytest.raises(NormalizerError, match="missing.json"):
        load_format_table(tmp_path / "missing.json")


def test_posterior_of_an_ambiguous_input():
    iso = TABLE.by_name("YYYY-MM-DD")
    post = target_posterior("03/04/21", iso, TABLE, date(1950, 1, 1), date(2050, 1, 1))
    assert post == pytest.approx({"2021-03-04": 0.35 / 0.40, "2021-04-03": 0.05 / 0.40})
    assert target_posterior("13/04/21", iso, TABLE, date(1950, 1, 1), date(2050, 1, 1)) == {
        "2021-04-13": 1.0
    }


# Two observed formats that read many inputs both ways, one target.
TWO_READINGS = DateFormatTable(formats=(
    DateFormat(pattern="%m/%d/%y", name="MM/DD/YY", observed_weight=0.35, target_weight=0),
    DateFormat(pattern="%d/%m/%y", name="DD/MM/YY", observed_weight=0.05, target_weight=0),
    DateFormat(pattern="%Y-%m-%d", name="YYYY-MM-DD", observed_weight=0, target_weight=1),
))  # fmt: skip


def test_ceiling_matches_counting_in_a_narrow_range():
    """Within one year and two formats, inputs repeat often enough to count the most frequent
    target, and that count must agree with the exact computation."""
    options = DateDataOptions(n=40000, seed=3, start=date(2021, 1, 1), end=date(2022, 1, 1), table=TWO_READINGS)
    examples = generate_date_examples(options)
    by_input: dict[str, Counter] = {}
    for e in examples:
        by_input.setdefault(e.src, Counter())[e.tgt] += 1
    counted = sum(c.most_common(1)[0][1] for c in by_input.values()) / len(examples)
    exact = best_achievable_accuracy(examples, options)
    assert 0.93 < exact < 0.97  # a third of the inputs can be read both ways
    assert exact == pytest.approx(counted, abs=0.01)


def test_most_likely_answers_resolve_ambiguous_inputs_only():
    """Same draws as ``drawn``; an input read both ways always gets its most likely answer."""
    common = dict(n=20000, seed=3, start=date(2021, 1, 1), end=date(2022, 1, 1), table=TWO_READINGS)
    drawn = generate_date_examples(DateDataOptions(**common))
    likely = generate_date_examples(DateDataOptions(**common, answers="most-likely"))
    assert [e.src for e in drawn] == [e.src for e in likely]
    changed = [(d, m) for d, m in zip(drawn, likely, strict=True) if d.tgt != m.tgt]
    assert 0.01 < len(changed) / len(drawn) < 0.1
    for d, m in changed:  # a day-first reading of a date that is also a month-first one
        month, day, year = d.text.split("/")
        assert d.observed == "DD/MM/YY" and m.tgt == f"20{year}-{month}-{day}"
    answers: dict[str, set[str]] = {}
    for e in likely:
        answers.setdefault(e.src, set()).add(e.tgt)
    assert all(len(a) == 1 for a in answers.values())
    with pytest.raises(ValidationError):
        DateDataOptions(n=1, answers="random")


def test_full_range_ceiling_is_below_one(examples):
    options = DateDataOptions(n=1, seed=42)
    ceiling = best_achievable_accuracy(examples[:3000], options)
    assert 0.95 < ceiling < 0.99


@pytest.mark.parametrize("name", ["dates", "dates.jsonl"])
def test_write_and_read_dataset(tmp_path, name):
    out = write_date_dataset(DateDataOptions(n=30, seed=5), tmp_path / name)
    pairs = read_pairs(out)
    again = generate_date_examples(DateDataOptions(n=30, seed=5))
    assert pairs.src == [e.src for e in again] and pairs.tgt == [e.tgt for e in again]
    recipe = out / "datagen.json" if out.is_dir() else tmp_path / f"{name}.datagen.json"
    assert DateDataOptions.model_validate_json(recipe.read_text()).seed == 5


def test_read_pairs_names_the_problem(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"src_texts": "a", "tgt_texts": "b"}\n{"src": "x"}\n')
    with pytest.raises(NormalizerError, match="bad.jsonl, line 2"):
        read_pairs(bad)
    with pytest.raises(NormalizerError, match="no such file"):
        read_pairs(tmp_path / "nothing")
