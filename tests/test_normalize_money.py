"""Money and rate rules (``money:<CURRENCY>``, ``percent``): every fee and APR phrase the demo
generator prints reads as its truth, currencies and separators, what is flagged rather than
guessed, variable markers, canonical values, and the names a configuration or a client may use."""

from __future__ import annotations

import random

import pytest

from docfields.errors import FieldConfigError, NormalizerError, UnknownNormalizerError
from docfields.fields import parse_field_configuration
from docfields.normalize.base import NormalizeContext
from docfields.normalize.money import MoneyRuleNormalizer, PercentRuleNormalizer
from docfields.normalize.registry import (
    RuleSpec,
    check_normalizer_urls,
    exposed_normalizer_spec,
    normalizer_urls,
    parse_rule_spec,
    resolve_normalizer,
    rule_kind,
)
from docfields.pipeline import PipelineSettings
from docfields.samples import credit_card_fields
from docfields.samples import values as demo
from docfields.serve import ServeSettings, create_app
from docfields.serve.routers.normalize import normalizer_deployment
from hardening_support import AsgiClient

MONEY = MoneyRuleNormalizer("USD")
PERCENT = PercentRuleNormalizer()
FEE_PHRASES = [*demo.ANNUAL_FEES, *demo.BALANCE_TRANSFER_FEES, *demo.LATE_FEES, *demo.RETURNED_FEES,
               *demo.FOREIGN_FEES, *((phrase, truth) for _, phrase, truth in demo.OTHER_FEES)]  # fmt: skip
FEE_FIELDS = {demo.FEE_ANNUAL, demo.FEE_BALANCE_TRANSFER, demo.FEE_LATE, demo.FEE_RETURNED, demo.FEE_FOREIGN,
              demo.FEE_OTHER}  # fmt: skip
APR_FIELDS = {demo.APR_INTRO, demo.APR_BALANCE_TRANSFERS, demo.APR_CASH_ADVANCES, demo.APR_PURCHASES,
              demo.APR_PENALTY, demo.APR_GENERAL, demo.APR_OTHER}  # fmt: skip


@pytest.mark.parametrize(("phrase", "truth"), FEE_PHRASES)
def test_every_fee_phrase_of_the_demo_generator_reads_as_its_truth(phrase, truth):
    result = MONEY.normalize_one(phrase)
    assert (result.status, result.value, result.source) == ("ok", truth, "rule"), result.reason
    assert MONEY.is_canonical(truth) and MONEY.normalize_one(truth).value == truth  # a canonical value reads as itself


def test_the_demo_corpus_fee_and_apr_truth_is_what_the_rules_write():
    seen = {"money": set(), "percent": set()}
    for seed in range(400):
        agreement = demo.draw_agreement_values(random.Random(seed))
        for name, printed in agreement.values.items():
            if name in FEE_FIELDS | APR_FIELDS:
                kind, rules = ("money", MONEY) if name in FEE_FIELDS else ("percent", PERCENT)
                assert rules.normalize_one(printed).value == agreement.normalized[name], (seed, name, printed)
                seen[kind].add(printed)
    assert {phrase for phrase, _ in FEE_PHRASES} == seen["money"]  # every fee phrase was drawn
    assert any(" to " in p for p in seen["percent"]) and {"0%", "0.00%"} <= seen["percent"]


def test_structured_fee_data():
    either = MONEY.normalize_one(demo.BALANCE_TRANSFER_FEES[0][0])
    terms = [{"amount": "5.00", "currency": "USD"}, {"percent": "3.00", "of": "the amount of each transfer"}]
    assert either.data == {"kind": "greater_of", "terms": terms}
    minimum = MONEY.normalize_one("5% of each transfer ($5 minimum)")
    assert minimum.data["terms"] == [{"amount": "5.00", "currency": "USD"}, {"percent": "5.00", "of": "each transfer"}]
    assert MONEY.normalize_one("$5 per copy").data == {"kind": "amount", "amount": "5.00", "currency": "USD",
                                                       "per": "copy"}  # fmt: skip
    assert MONEY.normalize_one("Up to $40").data == {"kind": "up_to", "amount": "40.00", "currency": "USD"}
    assert MONEY.normalize_one("$25 - $35").data == {"kind": "range", "low": "25.00", "high": "35.00",
                                                     "currency": "USD"}  # fmt: skip
    rate = MONEY.normalize_one("3% of each balance transfer")
    assert rate.data == {"kind": "percent", "percent": "3.00", "of": "each balance transfer"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$1,234.5", "1234.50 USD"),
        ("$1,234", "1234.00 USD"),
        ("none", "0.00 USD"),
        ("No fee", "0.00 USD"),
        ("Waived", "0.00 USD"),
        ("$25 to $35", "25.00-35.00 USD"),
        ("between $25 and $35", "25.00-35.00 USD"),
        ("25 - 35 USD", "25.00-35.00 USD"),
        ("$10 or 3% of each cash advance, whichever is greater", "greater of 10.00 USD or 3.00%"),
        ("the greater of $25 or 1% of the New Balance plus all interest charges", "greater of 25.00 USD or 1.00%"),
        ("3% of each transfer or $10, whichever is less", "lesser of 10.00 USD or 3.00%"),
        ("4% of each advance (maximum $50)", "lesser of 50.00 USD or 4.00%"),
        ("USD 29", "29.00 USD"),
        ("29 USD", "29.00 USD"),
        ("$29.", "29.00 USD"),
        ("  $29 ", "29.00 USD"),
        ("1.234,56 €", "1234.56 EUR"),
        ("12,50 €", "12.50 EUR"),
        ("€1,234.56", "1234.56 EUR"),
        ("EUR 12.5", "12.50 EUR"),
        ("£1,200", "1200.00 GBP"),
        ("¥1,000", "1000 JPY"),
        ("1.234.567 €", "1234567.00 EUR"),
        ("CA$5", "5.00 CAD"),
        ("$5 CAD", "5.00 CAD"),
        ("KWD 1,5", "1.500 KWD"),
        ("$0.125", "0.125 USD"),
    ],
)
def test_currencies_and_separators(text, value):
    result = MONEY.normalize_one(text)
    assert (result.status, result.value) == ("ok", value), result.reason
    assert MONEY.is_canonical(value)


def test_a_dollar_sign_is_the_spec_currency_when_that_is_a_dollar():
    assert MoneyRuleNormalizer("CAD").normalize_one("$29").value == "29.00 CAD"
    assert MoneyRuleNormalizer("EUR").normalize_one("$29").value == "29.00 USD"
    assert MoneyRuleNormalizer("EUR").normalize_one("None").value == "0.00 EUR"
    assert MoneyRuleNormalizer("eur").name == "money:EUR"


@pytest.mark.parametrize(
    ("currency", "text", "candidates"),
    [
        ("USD", "1,234 €", ["1234.00 EUR", "1.234 EUR"]),
        ("USD", "€1.234", ["1234.00 EUR", "1.234 EUR"]),
        ("EUR", "1,234", ["1234.00 EUR", "1.234 EUR"]),  # a bare number in a field of an unknown convention
        ("USD", "1,234 € to 2,000 €", ["1234.00-2000.00 EUR", "1.234-2000.00 EUR", "1.234-2.00 EUR"]),
    ],
)
def test_a_separator_of_unknown_convention_is_ambiguous_with_every_reading(currency, text, candidates):
    result = MoneyRuleNormalizer(currency).normalize_one(text)
    assert (result.status, result.value, result.needs_review) == ("ambiguous", None, True)
    assert result.candidates == candidates and "thousands" in result.reason
    assert all(MONEY.is_canonical(candidate) for candidate in candidates)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("the sum of all interest and fees billed plus 1% of the principal balance, but not less than $35",
         "not an amount, a range, a rate"),
        ("3% of the New Balance or $20, whichever is greater, plus any amount past due", "follows 'whichever is'"),
        ("Either $5 or 3%", "not an amount"),
        ("€5 USD", "two currencies"),
        ("25 XYZ", "'XYZ' is not a currency"),
        ("$12,50", "a comma before 2 digits"),
        ("$35 to $25", "runs backwards"),
        ("3% of amounts over $100", "has numbers in it"),
        ("S29", "not an amount"),  # a leading S may be a $ or a 5: not repaired
        ("N/A", "not an amount"),
        ("", "empty text"),
        ("$" + "9" * 250, "too long"),
        ("$" + "1" * 19, "more than 18 digits"),
    ],
)  # fmt: skip
def test_what_the_rules_cannot_read_is_unparsed_with_a_reason(text, reason):
    result = MONEY.normalize_one(text)
    assert (result.status, result.value, result.data) == ("unparsed", None, None)
    assert reason in result.reason


def test_min_payment_phrases_read_whole_or_not_at_all():
    assert MONEY.normalize_one(demo._MIN_PAYMENTS[0]).value == "greater of 25.00 USD or 1.00%"
    results = MONEY.normalize(list(demo._MIN_PAYMENTS))
    assert all(r.status == "ok" or (r.status == "unparsed" and r.reason) for r in results)
    assert [r.status for r in results].count("unparsed") == 3  # "..., plus any past due amount", "the sum of ..."


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("14.99%", "14.99"),
        ("0%", "0.00"),
        ("0.00%", "0.00"),
        ("15.24% to 25.24%", "15.24-25.24"),
        ("15.24%-25.24%", "15.24-25.24"),
        ("15.24 - 25.24%", "15.24-25.24"),
        ("14.99% APR", "14.99"),
        ("14,99 %", "14.99"),
        ("9.875%", "9.875"),
        ("14.99% variable", "14.99"),
        ("14.99% (v)", "14.99"),
        ("Variable 15.24% to 25.24%", "15.24-25.24"),
        ("Prime + 9.99%", "prime + 9.99"),
        ("Prime Rate plus 9.99%", "prime + 9.99"),
    ],
)
def test_rates(text, value):
    result = PERCENT.normalize_one(text)
    assert (result.status, result.value) == ("ok", value), result.reason
    assert PERCENT.is_canonical(value) and PERCENT.normalize_one(value).value == value


def test_rate_data_says_variable_and_the_index():
    assert PERCENT.normalize_one("14.99%").data == {"kind": "rate", "percent": "14.99", "variable": False}
    assert PERCENT.normalize_one("15.24% to 25.24% (v)").data == {"kind": "range", "low": "15.24", "high": "25.24",
                                                                  "variable": True}  # fmt: skip
    assert PERCENT.normalize_one("Prime + 9.99%").data == {"kind": "indexed", "index": "prime", "margin": "9.99",
                                                           "variable": True}  # fmt: skip


@pytest.mark.parametrize(
    ("around", "variable"),
    [
        ("APR for Purchases 14.99% This APR will vary with the market based on the Prime Rate.", True),
        ("Balance transfers are charged an APR of 14.99% which varies with the market.", True),
        ("A variable rate", True),
        ("Penalty APR and When It Applies 14.99% This APR may be applied to your account if you make a late payment.",
         False),
        ("", False),
    ],
)  # fmt: skip
def test_the_text_around_a_rate_can_say_it_varies(around, variable):
    """The value stays the rate (the demo's truth): only the data says it varies."""
    first = PERCENT.normalize(["14.99%", "1%"], [NormalizeContext(around=around), NormalizeContext()])[0]
    assert (first.value, first.data["variable"]) == ("14.99", variable)
    assert PERCENT.normalize_one("14.99%", NormalizeContext(around=around)).data["variable"] is variable


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "not a rate"),
        ("25.24% to 15.24%", "runs backwards"),
        ("14.99% fixed", "not a rate"),
        ("l4.99%", "not a rate"),  # a leading l is not repaired: it may be a border or a word
        ("Prime - 1%", "not a rate"),
        ("9" * 201, "too long"),
    ],
)
def test_rates_the_rules_cannot_read_are_unparsed(text, reason):
    result = PERCENT.normalize_one(text)
    assert (result.status, result.value) == ("unparsed", None) and reason in result.reason


def test_a_rate_is_below_1000_percent_so_its_separator_is_a_decimal_one():
    assert [PERCENT.normalize_one(t).value for t in ("1,250%", "9.875%", "1250%")] == ["1.25", "9.875", "1250.00"]
    assert MONEY.normalize_one("1,250% of each transfer").value == "1.25%"


def test_an_ocr_letter_inside_a_number_is_repaired_and_named():
    rate = PERCENT.normalize_one("1O.99%")
    assert (rate.status, rate.value) == ("ok", "10.99")
    assert "'1O.99' as '10.99'" in rate.reason and rate.data["repaired"] == [{"text": "1O.99", "read": "10.99"}]
    fee = MONEY.normalize_one("Up to $4O")
    assert (fee.value, fee.data["repaired"]) == ("up to 40.00 USD", [{"text": "4O", "read": "40"}])
    assert MONEY.normalize_one("$2S").value == "25.00 USD"
    assert MONEY.normalize_one("3% of each balance transfer").reason == ""  # "of", "is": words, not numbers
    assert not MONEY.is_canonical("1O.00 USD")


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("29.00 USD", True),
        ("0.00 USD", True),
        ("up to 40.00 USD", True),
        ("25.00-35.00 USD", True),
        ("3.00%", True),
        ("greater of 5.00 USD or 3.00%", True),
        ("lesser of 50.00 USD or 4.00%", True),
        ("1000 JPY", True),
        ("1.234 EUR", True),
        ("greater of 3.00% or 5.00 USD", False),  # rates after amounts
        ("29 USD", False),
        ("29.00", False),
        ("$29.00", False),
        ("1,234.00 USD", False),
        ("Up to 40.00 USD", False),
        ("29.00 USD per copy", False),
        ("None", False),
    ],
)
def test_money_canonical_values(value, canonical):
    assert MONEY.is_canonical(value) is canonical


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("14.99", True),
        ("0.00", True),
        ("15.24-25.24", True),
        ("14.99 variable", False),
        ("prime + 9.99", True),
        ("9.875", True),
        ("14.99%", False),
        ("0", False),
        ("14.990", False),
        ("prime + 9.99 variable", False),
        ("14,99", False),
    ],
)
def test_percent_canonical_values(value, canonical):
    assert PERCENT.is_canonical(value) is canonical


@pytest.mark.parametrize(
    "text",
    ["\x00\x01", "٣٠%", "$" * 150, "1" * 199 + "%", "((((", "$1,2,3", "1..2%", "%", "$", "-$5", "1e5%", "NaN%",
     "or or or, whichever is greater", "the greater of or", "(minimum $5)", "\u202f$5\u00a0", "5% (min $x)"],
)  # fmt: skip
def test_no_text_raises(text):
    for rules in (MONEY, PERCENT):
        result = rules.normalize_one(text)
        assert result.raw == text and (result.status == "ok") == (result.value is not None)


def test_normalize_keeps_order_and_checks_contexts():
    assert [v.value for v in MONEY.normalize(["$29", "None", "x"])] == ["29.00 USD", "0.00 USD", None]
    with pytest.raises(ValueError, match="2 contexts for 1 texts"):
        PERCENT.normalize(["1%"], [NormalizeContext()] * 2)


def test_registry_specs():
    money = resolve_normalizer("money:USD")
    assert isinstance(money, MoneyRuleNormalizer) and money.name == "money:USD"
    assert resolve_normalizer("money").normalize(["$29"])[0].value == "29.00 USD"
    assert resolve_normalizer(" money:eur ").normalize(["5"])[0].value == "5.00 EUR"
    assert isinstance(resolve_normalizer("percent"), PercentRuleNormalizer)
    assert resolve_normalizer("percent:").normalize(["14.99%"])[0].value == "14.99"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("money:XYZ", "unknown currency code 'XYZ'"),
        ("money:US", "unknown currency code 'US'"),
        ("money:USD;colour=red", "unknown option"),
        ("money:USD;order=MDY", "unknown option"),  # a date option
        ("percent;pivot=50", "unknown option"),
        ("percent:USD", "percent takes no target"),
    ],
)
def test_bad_money_and_percent_specs_are_explained(spec, message):
    with pytest.raises(UnknownNormalizerError, match=message):
        resolve_normalizer(spec)


def test_a_money_or_percent_rule_with_a_model_is_the_validated_hybrid():
    from docfields.normalize.hybrid import AMOUNT_PROMPT_TEMPLATE, AmountHybridNormalizer

    url = "http://127.0.0.1:9"
    kinds = ((f"money:EUR;model={url}", MoneyRuleNormalizer), (f"percent;model={url}", PercentRuleNormalizer))
    for spec, rules in kinds:
        hybrid = resolve_normalizer(spec)  # a service client: nothing is requested until a text needs the model
        assert isinstance(hybrid, AmountHybridNormalizer) and isinstance(hybrid.rules, rules)
        assert hybrid.prompt_template == AMOUNT_PROMPT_TEMPLATE
    assert resolve_normalizer("money:EUR;model=http://127.0.0.1:9/n").normalize(["12,50 €"])[0].value == "12.50 EUR"


def test_rule_specs_parse_for_every_kind():
    assert parse_rule_spec("money:USD;model=m") == RuleSpec("money", "USD", {"model": "m"})
    assert parse_rule_spec("percent") == RuleSpec("percent")
    assert parse_rule_spec("date:;yearless=after") == RuleSpec("date", "", {"yearless": "after"})
    assert parse_rule_spec("date:%H:%M;order=DMY") == RuleSpec("date", "%H:%M", {"order": "DMY"})
    assert str(parse_rule_spec("date:YYYY-MM-DD;order=MDY;pivot=30")) == "date:YYYY-MM-DD;order=MDY;pivot=30"
    assert [rule_kind(s) for s in ("date", "money;model=x", "percent:", "dates", "moneyball", "http://x/n")] == [
        "date", "money", "percent", None, None, None]  # fmt: skip
    with pytest.raises(UnknownNormalizerError, match="not a built-in rule"):
        parse_rule_spec("models/dates")


def test_a_client_may_name_money_and_percent_rules():
    models = {"rates": "/srv/models/rates"}
    assert exposed_normalizer_spec("money:USD", models) == "money:USD"
    assert exposed_normalizer_spec(" percent ", models) == "percent:"
    assert exposed_normalizer_spec("percent;model=rates", models) == "percent:;model=/srv/models/rates"
    assert exposed_normalizer_spec("date:YYYY-MM-DD;model=rates", models) == "date:YYYY-MM-DD;model=/srv/models/rates"
    for refused in ("money:USD;model=/srv/models/rates", "money:USD;model=http://127.0.0.1:9/n"):
        with pytest.raises(UnknownNormalizerError, match="not a normalizer of this service"):
            exposed_normalizer_spec(refused, models)
    settings = ServeSettings(normalizer_models=models)
    assert normalizer_deployment("percent;model=rates", settings) == "normalizer-rates"
    assert normalizer_deployment("money:USD", settings) == "normalizer"


def test_a_money_rule_model_url_is_checked_against_the_allowed_urls():
    assert normalizer_urls("money:USD;model=http://127.0.0.1:9/n") == ["http://127.0.0.1:9/n"]
    assert normalizer_urls("percent") == []
    check_normalizer_urls("money:USD;model=http://127.0.0.1:9/n", ["http://127.0.0.1:9/"])
    with pytest.raises(NormalizerError, match="not an allowed normalizer URL"):
        check_normalizer_urls("percent;model=http://elsewhere/n", ["http://127.0.0.1:9/"])


@pytest.mark.parametrize(
    ("normalizer", "problem"),
    [
        ("money:XYZ", "unknown currency code 'XYZ'"),
        ("money:USD;order=MDY", "unknown option"),
        ("money:USD;model=/no/such/model", "nor an existing model directory"),
        ("percent:x", "percent takes no target"),
    ],
)
def test_a_configuration_with_a_bad_money_or_percent_rule_names_the_field(normalizer, problem):
    fields = [{"ClassId": 0, "Name": "Fee", "Normalizer": normalizer}]
    with pytest.raises(FieldConfigError, match=f"field 'Fee' \\(index 0\\): Normalizer: .*{problem}"):
        parse_field_configuration(fields)


def test_the_shipped_configuration_names_the_money_and_percent_rules():
    config = parse_field_configuration(credit_card_fields())
    specs = {spec.name: spec.normalizer for spec in config.fields}
    assert {specs[name] for name in APR_FIELDS} == {"percent"}
    assert {specs[name] for name in FEE_FIELDS} == {"money:USD"}


def test_the_service_normalizes_money_and_rates_a_client_names(tmp_path):
    settings = ServeSettings(pipeline=PipelineSettings(home=str(tmp_path / "home")), workers=0)
    with AsgiClient(create_app(settings)) as client:
        fees = client.post("/normalize", json={"inputs": ["Up to $40", "1,234 €"]}, params={"normalizer": "money:USD"})
        rate = client.post("/normalize", json={"inputs": "15.24% to 25.24%"}, params={"normalizer": "percent"})
        refused = client.post("/normalize", json={"inputs": "$5"}, params={"normalizer": "money:USD;model=/tmp"})
    assert fees.json() == {"generated_text": ["up to 40.00 USD", "1,234 €"], "needs_review": [False, True]}
    assert rate.json() == {"generated_text": "15.24-25.24", "needs_review": False}
    assert refused.status_code == 422 and "not a normalizer of this service" in refused.json()["detail"]
