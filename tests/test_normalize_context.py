"""Dates read in context: reference dates, the document's date order, partial dates, prompts, the CLI."""

from __future__ import annotations

import json
from datetime import date

import pytest
from tests.test_fields_extract import W, enriched, line
from typer.testing import CliRunner

from docfields.cli.main import app
from docfields.fields import parse_field_configuration
from docfields.fields.extract import extract_fields
from docfields.normalize import DateRuleNormalizer, NormalizeContext, infer_date_order, texts_context
from docfields.normalize.context import request_from_json
from docfields.normalize.patterns import month_pattern
from docfields.normalize.rules import year_for

ISO = DateRuleNormalizer("YYYY-MM-DD")


def at(reference: str, **kwargs) -> NormalizeContext:
    return NormalizeContext(reference_date=date.fromisoformat(reference), **kwargs)


def one(text: str, context: NormalizeContext | None = None, normalizer: DateRuleNormalizer = ISO):
    return normalizer.normalize([text], [context] if context else None)[0]


@pytest.mark.parametrize(
    "text,reference,expected",
    [
        ("Thursday 14th December", "2017-12-20", "2017-12-14"),
        ("14 December", "2024-03-01", "2023-12-14"),  # nearer than 2024-12-14
        ("Jan 5", "2024-12-30", "2025-01-05"),  # across the year end, forwards
        ("Dec 28", "2025-01-03", "2024-12-28"),  # and backwards
        ("11.9.", "2024-06-01", "2024-09-11"),  # dots: day first
        ("Fri 5/27", "2016-05-24", "2016-05-27"),
        ("Feb 29", "2023-06-01", "2024-02-29"),  # the nearest year that has the day
    ],
)
def test_yearless_dates_take_the_year_nearest_the_reference(text, reference, expected):
    result = one(text, at(reference))
    assert result.status == "ok" and result.value == expected
    assert "reference" in result.data["note"]


def test_yearless_policy_after_and_before():
    after = DateRuleNormalizer("YYYY-MM-DD", yearless="after")
    before = DateRuleNormalizer("YYYY-MM-DD", yearless="before")
    assert one("14 December", at("2024-03-01"), after).value == "2024-12-14"
    assert one("14 February", at("2024-03-01"), before).value == "2024-02-14"
    assert one("14 March", at("2024-03-01"), before).value == "2023-03-14"
    assert year_for(3, 1, date(2024, 3, 1), "after") == date(2024, 3, 1)  # the reference day itself


def test_a_weekday_picks_the_year_it_falls_in():
    # 14 December is a Thursday in 2017 and 2023; from 2020 the nearest is 2017 (3 years) not 2023 (3 years later)
    assert one("Thursday 14th December", at("2021-01-01")).value == "2023-12-14"
    assert one("Thursday 14th December", at("2019-01-01")).value == "2017-12-14"


def test_yearless_and_relative_dates_without_a_reference_are_flagged_not_guessed():
    for text in ("14 December", "11.9.", "Fri 5/27"):
        result = one(text)
        assert result.status == "unparsed" and result.value is None and "reference" in result.reason


@pytest.mark.parametrize(
    "text,reference,expected",
    [
        ("next Friday", "2024-12-27", "2025-01-03"),  # said on a Friday: the one of the next week
        ("tomorrow", "2024-12-31", "2025-01-01"),
        ("in 30 days", "2024-12-15", "2025-01-14"),
        ("the 15th of this month", "2024-03-01", "2024-03-15"),
        ("yesterday 5pm", "2024-01-01", "2023-12-31"),
    ],
)
def test_relative_expressions_resolve_against_the_reference(text, reference, expected):
    result = one(text, at(reference))
    assert result.status == "ok" and result.value == expected, result


def test_next_weekday_within_the_same_week_is_ambiguous_not_guessed():
    result = one("next Friday", at("2024-12-30"))  # a Monday: this week's Friday or the next week's
    assert result.status == "ambiguous" and result.candidates == ["2025-01-03", "2025-01-10"]


def test_relative_expression_without_reference_names_what_is_missing():
    result = one("next Friday")
    assert result.status == "unparsed" and "reference date" in result.reason


def test_a_time_survives_a_yearless_date():
    normalizer = DateRuleNormalizer("YYYY-MM-DD HH:mm")
    assert one("Fri 5/27 2:00pm", at("2016-05-24"), normalizer).value == "2016-05-27 14:00"


@pytest.mark.parametrize(
    "text,target,expected",
    [
        ("10/2015", "YYYY-MM-DD", "2015-10"),
        ("2015-10", "YYYY-MM-DD", "2015-10"),
        ("June 2020", "YYYY-MM-DD", "2020-06"),
        ("June 2020", "MM/DD/YYYY", "06/2020"),
        ("June 2020", "%B %d, %Y", "June 2020"),
    ],
)
def test_partial_dates_keep_what_they_have(text, target, expected):
    result = one(text, normalizer=DateRuleNormalizer(target))
    assert result.status == "ok" and result.value == expected and result.data["precision"] == "month"


def test_month_pattern_drops_the_day_and_its_separator():
    assert month_pattern("%d.%m.%Y %H:%M") == "%m.%Y"
    assert month_pattern("%a %d %b %y") == "%b %y"


def test_the_rules_read_the_original_prompt_format():
    assert one("Convert dates to DD/MM/YYYY: 12/31/00").value == "31/12/2000"
    no_target = DateRuleNormalizer(None)
    assert one("Convert dates to YYYY-MM-DD: Dec 31st 2000", normalizer=no_target).value == "2000-12-31"
    plain = one("12/31/2000", normalizer=no_target)
    assert plain.status == "unparsed" and "no target format" in plain.reason
    bad = one("Convert dates to QQQ: 12/31/2000", normalizer=no_target)
    assert bad.status == "unparsed" and "QQQ" in bad.reason


def test_document_order_from_an_unambiguous_date():
    assert infer_date_order(["Issued 25/12/2020", "Due 03/01/2021"]) == ("DMY", "25/12/2020")
    assert infer_date_order(["Issued 12/25/2020", "Due 03/01/2021"]) == ("MDY", "12/25/2020")
    order, evidence = infer_date_order(["25/12/2020", "12/25/2020"])
    assert order is None and "conflicting" in evidence
    assert infer_date_order(["03/04/21", "2020-12-25", "version 1.2.3"]) == (None, "")


def test_a_dmy_document_reads_its_ambiguous_dates_day_first():
    context = texts_context(["Invoice 25/12/2020", "Delivered 03/04/21"])
    result = one("03/04/21", context)
    assert result.status == "ok" and result.value == "2021-04-03"
    assert "25/12/2020" in result.data["note"]
    # the document's evidence outranks the field's policy
    assert one("03/04/21", context, DateRuleNormalizer("YYYY-MM-DD", order="MDY")).value == "2021-04-03"


def test_a_document_with_no_evidence_is_flagged():
    context = texts_context(["Delivered 03/04/21"])
    result = one("03/04/21", context)
    assert result.status == "ambiguous" and result.candidates == ["2021-03-04", "2021-04-03"]


def test_the_document_date_is_the_reference():
    context = texts_context(["ACME Ltd", "Date: March 3, 2021", "Delivery on 14 March"])
    assert context.reference_date == date(2021, 3, 3)
    assert one("14 March", context).value == "2021-03-14"
    assert texts_context(["no dates here"], date(2020, 1, 1)).reference_date == date(2020, 1, 1)


DATE_FIELD = parse_field_configuration([{"ClassId": 0, "Name": "Date", "Normalizer": "date:YYYY-MM-DD"}])


def test_the_pipeline_passes_the_document_context_to_its_normalizers():
    dmy = enriched([line(0.1, W("Printed"), W("25/12/2020")), line(0.3, W("Due"), W("03/04/21", 0, p=0.9))])
    result = extract_fields(dmy, DATE_FIELD)
    assert result.fields["Date"].values[0].value == "2021-04-03"
    silent = enriched([line(0.3, W("Due"), W("03/04/21", 0, p=0.9))])
    flagged = extract_fields(silent, DATE_FIELD)
    assert flagged.fields["Date"].values[0].value == "03/04/21"
    assert any("03/04/21" in w for w in flagged.warnings)


def test_the_pipeline_takes_a_reference_date():
    document = enriched([line(0.3, W("Due"), W("14", 0), W("December", 0))])
    assert extract_fields(document, DATE_FIELD).fields["Date"].values[0].value == "14 December"  # flagged
    result = extract_fields(document, DATE_FIELD, reference_date=date(2024, 3, 1))
    assert result.fields["Date"].values[0].value == "2023-12-14"


def test_request_lines_are_checked():
    assert request_from_json('{"text": "x", "reference_date": "2024-03-01"}', "line 1") == (
        "x",
        NormalizeContext(reference_date=date(2024, 3, 1)),
    )
    bad_lines = [
        ("nope", "not JSON"),
        ('{"txt": 1}', '"text"'),
        ('{"text": "x", "reference_date": "2024-13-01"}', "reference_date"),
        ('{"text": "x", "ref": 1}', "unknown keys"),
    ]
    for bad, problem in bad_lines:
        with pytest.raises(ValueError, match=problem):
            request_from_json(bad, "stdin line 4")


def run_cli(*args: str, stdin: str = ""):
    return CliRunner().invoke(app, ["normalize", *args], input=stdin)


def test_cli_reference_date_and_jsonl():
    done = run_cli("--normalizer", "date:YYYY-MM-DD", "--reference-date", "2024-12-27", "next Friday", "Jan 5")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["2025-01-03", "2025-01-05"]
    lines = [
        json.dumps({"text": "tomorrow", "reference_date": "2024-02-28"}),
        "not json",
        json.dumps({"text": "14 December"}),
        json.dumps({"text": "03/04/21", "date_order": "DMY"}),
    ]
    done = run_cli("--normalizer", "date:YYYY-MM-DD", "--jsonl", "--json", stdin="\n".join(lines) + "\n")
    assert done.exit_code == 2, done.output
    out = [json.loads(x) for x in done.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["value"] == "2024-02-29"
    assert out[1]["status"] == "unparsed" and "stdin line 2" in out[1]["reason"]
    assert out[2]["status"] == "unparsed" and "reference" in out[2]["reason"]
    assert out[3]["value"] == "2021-04-03"


def test_fields_extract_takes_a_reference_date(tmp_path):
    from docfields.textract import write_textract

    document = enriched([line(0.3, W("Due"), W("14", 0), W("December", 0))])
    path = tmp_path / "doc.enriched.json"
    write_textract(document, str(path))
    (tmp_path / "fields.json").write_text(json.dumps([{"ClassId": 0, "Name": "Date", "Normalizer": "date:YYYY-MM-DD"}]))
    args = ["fields", "extract", str(path), "--fields", str(tmp_path / "fields.json"), "-o", str(tmp_path / "out")]
    done = CliRunner().invoke(app, [*args, "--reference-date", "2024-03-01"])
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "out" / "doc.enriched.result.json").read_text())
    assert result["Fields"]["Date"]["Values"][0]["Value"] == "2023-12-14"
    assert CliRunner().invoke(app, [*args, "--reference-date", "March"]).exit_code == 2


@pytest.mark.parametrize(
    "text,reference,expected",
    [
        ("10NOV 17:00", "2016-11-08", "2016-11-10"),  # a day glued to its month
        ("28Nov2016", "2016-11-18", "2016-11-28"),
        ("10Aug17", "2017-08-09", "2017-08-10"),
        ("2 FEB 00.45", "2018-01-30", "2018-02-02"),  # a dotted time after a month name
        ("december 6 late evening", "2018-12-01", "2018-12-06"),  # words that do not move the day
        ("this May 8th", "2018-05-01", "2018-05-08"),
        ("Tuesday 8th", "2018-05-01", "2018-05-08"),  # a weekday and a day: the month from the reference
        ("Friday, 15th", "2017-12-10", "2017-12-15"),
    ],
)
def test_dates_as_people_write_them(text, reference, expected):
    result = one(text, at(reference))
    assert (result.status, result.value) == ("ok", expected), result.reason


def test_a_dotted_time_needs_a_month_name():
    assert one("2 FEB 00.45", at("2018-01-30"), DateRuleNormalizer("YYYY-MM-DD HH:mm")).value == "2018-02-02 00:45"
    assert one("25.01.2017").value == "2017-01-25"  # dots between numbers stay separators


@pytest.mark.parametrize(
    "text,reference,reason",
    [
        ("2 Nov 1815", "2017-08-25", "the time 18:15"),  # a 24-hour time, or a year 200 years back
        ("16-04-19", "2016-04-12", "several orders"),  # 2016-04-19 or 2019-04-16
        ("24th 25th December", "2016-12-11", "two days"),
    ],
)
def test_readings_the_text_does_not_settle_are_flagged(text, reference, reason):
    result = one(text, at(reference))
    assert result.status in ("ambiguous", "unparsed") and result.value is None and reason in result.reason
    assert one("2 Nov 1815").value == "1815-11-02"  # without a reference, a year is a year


def test_a_colon_left_after_the_time_is_a_misread_not_a_separator():
    result = one("12/2:/2023", normalizer=DateRuleNormalizer("YYYY-MM-DD", order="MDY"))  # 12/29/2023, 9 read as ':'
    assert result.status == "unparsed" and result.value is None
