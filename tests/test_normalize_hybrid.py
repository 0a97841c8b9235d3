"""The validated hybrid for dates and amounts: which texts reach the model, and which answers pass.

The generator is a stand-in that answers from a dict (``Scripted``): the validation is what is
tested, the rules are the real ones, and each check is tripped by the exact output that should trip it.
"""

from __future__ import annotations

import json

import pytest
from tests.test_normalize_rules import Scripted
from typer.testing import CliRunner

from docfields.cli.main import app
from docfields.errors import NormalizerError, NormalizerUnavailableError
from docfields.normalize.amount_data import AmountDataOptions, generate_amount_examples
from docfields.normalize.base import NormalizeContext
from docfields.normalize.hybrid import AmountHybridNormalizer, HybridDateNormalizer, unsupported_numbers
from docfields.normalize.money import MoneyRuleNormalizer, PercentRuleNormalizer


def money_hybrid(answers: dict[str, str] | None = None, error: Exception | None = None):
    model = Scripted(answers, error)
    return AmountHybridNormalizer(MoneyRuleNormalizer("USD"), model), model


# --- dates -----------------------------------------------------------------------------------


def test_date_prompt_format_text_goes_as_is_and_is_checked_against_its_own_target():
    text = "Convert dates to DD/MM/YYYY: 03/04/21"
    model = Scripted({"03/04/21": "03/04/2021"})
    result = HybridDateNormalizer("YYYY-MM-DD", model).normalize([text])[0]
    assert model.asked == [text]
    assert (result.status, result.value, result.source) == ("ok", "03/04/2021", "model")
    wrong = HybridDateNormalizer("YYYY-MM-DD", Scripted({"03/04/21": "2021-04-03"})).normalize([text])[0]
    assert wrong.status == "invalid" and "not a date in DD/MM/YYYY" in wrong.reason


def test_date_hybrid_without_target_asks_only_about_prompt_format_texts():
    model = Scripted({"03/04/21": "2021-04-03"})
    plain, prompted = HybridDateNormalizer(None, model).normalize(["03/04/21", "Convert dates to YYYY-MM-DD: 03/04/21"])
    assert model.asked == ["Convert dates to YYYY-MM-DD: 03/04/21"]
    assert plain.status != "ok" and plain.source == "rule"
    assert (prompted.status, prompted.value) == ("ok", "2021-04-03")


# --- money and rates -------------------------------------------------------------------------


def test_amount_rules_results_are_not_sent_to_the_model():
    hybrid, model = money_hybrid()
    results = hybrid.normalize(["$29", "Up to $4O", "None", "hello", "x" * 500])
    assert model.asked == []
    assert [r.value for r in results[:3]] == ["29.00 USD", "up to 40.00 USD", "0.00 USD"]
    assert all(r.source == "rule" for r in results) and [r.status for r in results[3:]] == ["unparsed"] * 2


def test_amount_valid_model_output_is_accepted_with_data():
    hybrid, model = money_hybrid({"$l5 per copy": "15.00 USD"})
    result = hybrid.normalize(["$l5 per copy"])[0]
    assert model.asked == ["Normalize money to USD: $l5 per copy"]
    assert (result.status, result.value, result.source, result.generated) == ("ok", "15.00 USD", "model", "15.00 USD")
    assert result.data == {"kind": "amount", "amount": "15.00", "currency": "USD"}
    assert hybrid.name == "money:USD;model"


def test_percent_hybrid_asks_in_the_percent_prompt():
    model = Scripted({"l4.99% APR": "14.99"})
    result = AmountHybridNormalizer(PercentRuleNormalizer(), model).normalize(["l4.99% APR"])[0]
    assert model.asked == ["Normalize percent: l4.99% APR"]
    assert (result.status, result.value) == ("ok", "14.99")


@pytest.mark.parametrize(
    "text,output,reason",
    [
        ("$l5 per copy", "16.00 USD", "16.00, not written in the input"),
        ("$2 9", "29.00 USD", "29.00, not written in the input"),  # two numbers, not 29
        ("No fee*", "5.00 USD", "5.00, not written in the input"),
        ("$l5 per copy", "15 USD", "not a canonical money to USD value"),
        ("$l5 per copy", "$15.00", "not a canonical money to USD value"),
        ("$l5 per copy", "garbage", "not a canonical money to USD value"),
        ("1,234 €", "1234.00 USD", "none of the readings"),
    ],
)
def test_amount_invalid_model_output_is_flagged(text, output, reason):
    hybrid, _ = money_hybrid({text: output})
    result = hybrid.normalize([text])[0]
    assert result.status == "invalid" and result.needs_review and result.value is None
    assert result.generated == output and reason in result.reason


def test_amount_model_chooses_among_the_rules_readings():
    hybrid, _ = money_hybrid({"1,234 €": "1234.00 EUR"})
    result = hybrid.normalize(["1,234 €"])[0]
    assert (result.status, result.value, result.source) == ("ok", "1234.00 EUR", "model")


def test_amount_zero_is_supported_by_a_no_fee_word_only():
    hybrid, _ = money_hybrid({"No fee*": "0.00 USD", "Fee* 1": "0.00 USD"})
    no_fee, fee = hybrid.normalize(["No fee*", "Fee* 1"])
    assert (no_fee.status, no_fee.value) == ("ok", "0.00 USD")
    assert fee.status == "invalid" and "0.00, not written in the input" in fee.reason


def test_amount_numbers_are_supported_whatever_their_formatting():
    assert unsupported_numbers("1234.50 USD", "$1,234.50") == []
    assert unsupported_numbers("1234.50 EUR", "1.234,50 €") == []
    assert unsupported_numbers("10.50 USD", "$1O.5O") == []
    assert unsupported_numbers("greater of 5.00 USD or 3.00%", "Either $5 or 3% of each transfer") == []
    assert unsupported_numbers("1234.00 USD", "$1.23") == ["1234.00"]


def test_amount_service_error_marks_the_asked_texts_failed():
    hybrid, _ = money_hybrid(error=NormalizerError("http://x: down"))
    ok, failed = hybrid.normalize(["$29", "$l5 per copy"])
    assert ok.status == "ok" and failed.status == "failed" and "down" in failed.reason
    hybrid, _ = money_hybrid(error=NormalizerUnavailableError("http://x: unreachable"))
    with pytest.raises(NormalizerUnavailableError):
        hybrid.normalize(["$l5 per copy"])


def test_amount_contexts_reach_the_rules():
    model = Scripted()
    hybrid = AmountHybridNormalizer(PercentRuleNormalizer(), model)
    around = NormalizeContext(around="Purchases 14.99% This APR will vary with the market based on the Prime Rate.")
    plain, variable = hybrid.normalize(["14.99%", "14.99%"], [NormalizeContext(), around])
    assert (plain.value, variable.value, model.asked) == ("14.99", "14.99", [])
    assert (plain.data["variable"], variable.data["variable"]) == (False, True)


# --- datagen money ---------------------------------------------------------------------------


def test_amount_data_is_deterministic_per_seed_and_every_answer_is_canonical():
    options = AmountDataOptions(n=300, seed=7)
    first, again = generate_amount_examples(options), generate_amount_examples(options)
    assert first == again
    assert [e.src for e in generate_amount_examples(options.model_copy(update={"seed": 8}))] != [e.src for e in first]
    rules = {"money": MoneyRuleNormalizer("USD"), "percent": PercentRuleNormalizer()}
    prefixes = {"money": "Normalize money to USD: ", "percent": "Normalize percent: "}
    assert {e.kind for e in first} == {"money", "percent"}
    for e in first:
        assert rules[e.kind].is_canonical(e.tgt), e
        assert e.src == prefixes[e.kind] + e.clean
        assert rules[e.kind].normalize_one(e.clean).value == e.tgt
    assert len({e.clean for e in first}) > 200  # varied phrases, not a handful repeated


def test_amount_data_noise_garbles_inputs_only_and_keeps_answers_supported():
    noisy = generate_amount_examples(AmountDataOptions(n=300, seed=7, noise=0.1))
    assert noisy == generate_amount_examples(AmountDataOptions(n=300, seed=7, noise=0.1))
    changed = [e for e in noisy if not e.src.endswith(": " + e.clean)]
    assert len(changed) > 50
    assert all(unsupported_numbers(e.tgt, e.src.split(": ", 1)[1]) == [] for e in noisy)
    rules = {"money": MoneyRuleNormalizer("USD"), "percent": PercentRuleNormalizer()}
    assert all(rules[e.kind].normalize_one(e.clean).value == e.tgt for e in noisy)  # the clean phrase's answer


def test_datagen_money_command(tmp_path):
    runner = CliRunner()
    out = tmp_path / "money.jsonl"
    args = ["datagen", "money", "-n", "40", "-o", str(out), "--seed", "3", "--noise", "0.05"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40 and all(r["src_texts"].startswith("Normalize ") for r in rows)
    recipe = json.loads((tmp_path / "money.jsonl.datagen.json").read_text())
    assert (recipe["seed"], recipe["noise"], recipe["n"]) == (3, 0.05, 40)
    again = tmp_path / "again.jsonl"
    assert runner.invoke(app, [*args[:5], str(again), *args[6:]]).exit_code == 0
    assert again.read_text() == out.read_text()
    bad = runner.invoke(app, ["datagen", "money", "-o", str(tmp_path / "x.jsonl"), "--currency", "XYZ"])
    assert bad.exit_code != 0 and "XYZ" in bad.output


def test_date_model_answers_may_take_their_digits_from_the_ocr_reading():
    text = "Dec 3l 2OOO hrs"  # an unknown word: the rules give up, the model reads through the misreadings
    model = Scripted({text: "2000-12-31", "Dec 3l 2OOO hrs.": "2000-12-30"})
    read, wrong = HybridDateNormalizer("YYYY-MM-DD", model).normalize([text, "Dec 3l 2OOO hrs."])
    assert (read.status, read.value) == ("ok", "2000-12-31")
    assert wrong.status == "invalid" and "digits" in wrong.reason  # 30 is written nowhere, even misread


def test_date_model_answers_may_read_digits_as_ocr_was_measured_to_misread_them():
    texts = ["Monday Aug 26 T9 hrs", "O:/12/92 hrs", "Monday Aug 26 hello"]
    model = Scripted({texts[0]: "2019-08-26", texts[1]: "1992-09-12", texts[2]: "2019-08-26"})
    t9, colon, invented = HybridDateNormalizer("YYYY-MM-DD", model).normalize(texts)
    assert (t9.value, colon.status) == ("2019-08-26", "invalid")  # T was measured for 1; 'O:' holds no digit
    assert invented.status == "invalid"  # no year written, even misread


def test_a_model_answer_must_name_the_month_the_text_names_even_misread():
    texts = ["Mon 14 say 01 hrs", "Mon 14 Jun 01 hrs"]
    model = Scripted({texts[0]: "2001-05-14", texts[1]: "2001-05-14"})
    misread, other = HybridDateNormalizer("YYYY-MM-DD", model).normalize(texts)
    assert (misread.status, misread.value) == ("ok", "2001-05-14")  # 'say' is one misreading from May
    assert other.status == "invalid"  # June is not May


def test_a_model_answer_must_fall_on_the_weekday_the_text_names():
    texts = ["Sun Mar 1B, 84 hrs", "Sun Mar 1B, 84 hrs."]  # B was measured for 8 and for 7: the weekday decides
    model = Scripted({texts[0]: "1984-03-18", texts[1]: "1984-03-17"})
    sunday, saturday = HybridDateNormalizer("YYYY-MM-DD", model).normalize(texts)
    assert (sunday.status, sunday.value) == ("ok", "1984-03-18")
    assert saturday.status == "invalid"
    june = HybridDateNormalizer("YYYY-MM-DD", Scripted({"Jun 5 2O0O hrs": "2000-06-05"})).normalize(["Jun 5 2O0O hrs"])
    assert june[0].value == "2000-06-05"  # a month name is no misread weekday ("Jun" is one letter from "Sun")
