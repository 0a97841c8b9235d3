"""Synthetic money and rate data: fee and APR phrases as card agreements write them, with answers.

Phrases vary the demo generator's (``samples.values``: ``Up to $40``, ``Either $5 or 3% of the
amount of each transfer, whichever is greater``, ``14.99% to 24.99%``) and go beyond them: other
amounts and currencies (``€``, ``£``, ``EUR``, ``GBP``), thousands separators, ranges, minimums,
``per`` phrases and ``variable`` rates. The answer of each phrase is what the rules
(``MoneyRuleNormalizer`` / ``PercentRuleNormalizer``) make of the clean phrase, so the model
learns the rules' canonical form; a phrase the rules flag is skipped, never given a guessed
answer. An optional OCR noise rate garbles the input only (``noise.add_ocr_noise``): the model
learns to read ``$l5`` as the ``$15`` it stands for. A garbled input whose answer the hybrid would
reject (OCR turned one digit into another: no reader can know the answer) is skipped too.

>>> examples = generate_amount_examples(AmountDataOptions(n=2, seed=42))  # doctest: +SKIP
>>> examples[0].src.startswith("Normalize ")  # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from docfields.errors import NormalizerError
from docfields.normalize.hybrid import AMOUNT_PROMPT_TEMPLATE, amount_target, unsupported_numbers
from docfields.normalize.pairs import PairFormat

logger = logging.getLogger(__name__)

AmountKind = Literal["money", "percent"]
MAX_TRIES_PER_EXAMPLE = 20  # phrases the rules flag are redrawn; this many per example, then give up


class AmountDataOptions(BaseModel):
    """What to generate: how many pairs, from which seed, which share of rates, how much noise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=1, description="Number of pairs")
    seed: int = Field(default=42, description="Same seed and options, same data")
    currency: str = Field(default="USD", min_length=3, max_length=3, description="The money rules' currency")
    percent_share: float = Field(default=0.4, ge=0, le=1, description="Share of percent (rate) phrases")
    noise: float = Field(default=0.0, ge=0, le=1, description="OCR noise rate on the input text (0: clean)")
    prompt_template: str = Field(default=AMOUNT_PROMPT_TEMPLATE, description="Prompt with {target} and {text}")

    @model_validator(mode="after")
    def _check(self) -> AmountDataOptions:
        if "{target}" not in self.prompt_template or "{text}" not in self.prompt_template:
            raise ValueError("prompt_template needs both {target} and {text}")
        return self


@dataclass(frozen=True)
class AmountExample:
    """One pair, with the clean phrase behind a noisy input."""

    src: str
    tgt: str
    kind: AmountKind
    clean: str


# --- phrases ---------------------------------------------------------------------------------

_THINGS = ("transfer", "balance transfer", "cash advance", "transaction", "purchase")
_UNITS = ("copy", "month", "statement", "transaction", "item", "year")
_EACH = ("expedited card", "returned payment", "replacement card", "copy")


def _value(rng: random.Random) -> float:
    """An amount as fees and balances have them: mostly whole dollars under 100."""
    roll = rng.random()
    if roll < 0.55:
        return float(rng.choice((5, 10, 15, 19, 20, 25, 27, 29, 35, 38, 39, 40, 41, 49, 95, 99)))
    if roll < 0.8:
        return float(rng.randint(1, 99))
    if roll < 0.9:
        return rng.randint(100, 99999) / 100
    return float(rng.randint(100, 25000))


def _number(value: float, rng: random.Random, decimal: str = ".", thousands: str = ",") -> str:
    """``value`` as printed: cents when it has them (or sometimes ``.00``), separators when large."""
    cents = value != int(value) or rng.random() < 0.25
    text = f"{value:,.2f}" if cents else f"{int(value):,}"
    if rng.random() < 0.2 and value >= 1000:
        text = text.replace(",", "")
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def _money_style(rng: random.Random) -> Callable[[float], str]:
    """One of the ways documents write money (``$29``, ``29,50 €``, ``GBP 15``), for every amount of a phrase."""
    style = rng.random()
    if style < 0.7:
        return lambda value: "$" + _number(value, rng)
    if style < 0.8:
        mark = rng.choice(("USD ", "US$", "$ ", " USD"))
        return lambda value: f"{_number(value, rng)}{mark}" if mark == " USD" else mark + _number(value, rng)
    if style < 0.87:
        comma = rng.random() < 0.5
        form = rng.choice(("€{}", "{} €", "EUR {}", "{} EUR"))
        return lambda value: form.format(_number(value, rng, ",", ".") if comma else _number(value, rng))
    form = rng.choice(("£{}", "GBP {}", "{} GBP"))
    return lambda value: form.format(_number(value, rng))


def _rate_value(rng: random.Random, low: float = 0.0, high: float = 29.99) -> float:
    """A rate as agreements print them: often ``.99``, sometimes whole or quarter points."""
    roll = rng.random()
    if roll < 0.5:
        return rng.randint(int(low), int(high)) + 0.99 if high >= 1 else 0.99
    if roll < 0.8:
        return round(rng.uniform(low, high), 2)
    return round(rng.uniform(low, high) * 4) / 4


def _rate(rng: random.Random, value: float | None = None) -> str:
    value = _rate_value(rng) if value is None else value
    if value == int(value) and rng.random() < 0.6:
        number = str(int(value))
    else:
        number = f"{value:.2f}" if rng.random() < 0.8 else f"{value:g}"
    return number + rng.choice(("%", "%", "%", " %", " percent"))


def _fee_rate(rng: random.Random) -> str:
    return _rate(rng, float(rng.choice((1, 2, 3, 4, 5, 2.5, 3.5))))


def _money_phrase(rng: random.Random) -> str:
    """A fee as the Schumer box words it (``samples.values``), varied."""
    money = _money_style(rng)
    a, p, thing = money(_value(rng)), _fee_rate(rng), rng.choice(_THINGS)
    low = _value(rng)
    low_high = money(low), money(low + rng.choice((5, 10, 15, 20, 25)))
    templates: tuple[Callable[[], str], ...] = (
        lambda: a,
        lambda: a,
        lambda: f"Up to {a}",
        lambda: f"up to {a}",
        lambda: f"{a} per {rng.choice(_UNITS)}",
        lambda: f"{a} for each {rng.choice(_EACH)}",
        lambda: f"Either {a} or {p} of the amount of each {thing}, whichever is greater",
        lambda: f"{a} or {p} of each {thing}, whichever is greater",
        lambda: f"{p} of each {thing} ({a} minimum)",
        lambda: f"{p} of each {thing}, minimum {a}",
        lambda: f"the greater of {a} or {p} of the amount of each {thing}",
        lambda: f"{p} of each {thing}",
        lambda: f"{p} of each transaction in U.S. dollars",
        lambda: f"Minimum {a}",
        lambda: f"{a} minimum",
        lambda: "{} to {}".format(*low_high),
        lambda: "{} - {}".format(*low_high),
        lambda: "between {} and {}".format(*low_high),
        lambda: rng.choice(("None", "none", "$0", "$0.00", "No fee", "N/A")),
    )
    return rng.choice(templates)()


def _percent_phrase(rng: random.Random) -> str:
    """An APR as the Schumer box words it (``samples.values``), varied."""
    value = _rate_value(rng)
    low, high = _rate(rng, value), _rate(rng, round(value + rng.choice((5, 8, 10, 12)), 2))
    r = _rate(rng, value)
    templates: tuple[Callable[[], str], ...] = (
        lambda: r,
        lambda: r,
        lambda: rng.choice(("0%", "0.00%", "0 %")),
        lambda: f"{r} APR",
        lambda: f"{low} to {high}",
        lambda: f"{low} - {high}",
        lambda: f"{low}-{high}",
        lambda: f"between {low} and {high}",
        lambda: f"{low} to {high}, based on your creditworthiness",
        lambda: f"{r} variable",
        lambda: f"{r} (variable)",
        lambda: f"{r} variable APR",
        lambda: f"variable {r}",
        lambda: f"{low} to {high} variable",
        lambda: f"{r} fixed",
    )
    return rng.choice(templates)()


# --- examples --------------------------------------------------------------------------------


def amount_rules(kind: AmountKind, currency: str = "USD"):  # noqa: ANN201 (the rules' classes are A1's)
    """The rule normalizer whose canonical answers the data teaches."""
    from docfields.normalize.money import MoneyRuleNormalizer, PercentRuleNormalizer

    return MoneyRuleNormalizer(currency) if kind == "money" else PercentRuleNormalizer()


def generate_amount_examples(options: AmountDataOptions) -> list[AmountExample]:
    """``options.n`` pairs, the same for the same options.

    Raises:
        NormalizerError: when the rules flag so many phrases that ``n`` cannot be reached.
    """
    rng = random.Random(options.seed)
    noise_rng = random.Random(f"{options.seed}:noise")  # noise on or off leaves the phrases alike
    rules = {kind: amount_rules(kind, options.currency) for kind in ("money", "percent")}
    targets = {kind: amount_target(r.name) for kind, r in rules.items()}
    examples: list[AmountExample] = []
    skipped = 0
    while len(examples) < options.n:
        kind: AmountKind = "percent" if rng.random() < options.percent_share else "money"
        clean = _percent_phrase(rng) if kind == "percent" else _money_phrase(rng)
        result = rules[kind].normalize_one(clean)
        text = _noisy(clean, noise_rng, options.noise)
        if result.status != "ok" or result.value is None or unsupported_numbers(result.value, text):
            skipped += 1
            if skipped > MAX_TRIES_PER_EXAMPLE * options.n:
                raise NormalizerError(f"the {kind} rules flag too many generated phrases (last: {clean!r})")
            continue
        src = options.prompt_template.format(target=targets[kind], text=text)
        examples.append(AmountExample(src, result.value, kind, clean))
    logger.info("generated %d amount pairs (%d drawn phrases skipped)", len(examples), skipped)
    return examples


def _noisy(text: str, rng: random.Random, rate: float) -> str:
    if rate <= 0:
        return text
    from docfields.normalize.noise import add_ocr_noise

    return add_ocr_noise(text, rng, rate)


def write_amount_dataset(options: AmountDataOptions, out: str | Path, fmt: PairFormat | None = None) -> Path:
    """Generate ``options.n`` pairs and write them (dataset folder or ``.jsonl``) with their recipe
    (``datagen.json`` beside them, as ``datagen dates`` does)."""
    from docfields.normalize.datagen import write_dataset

    description = "Synthetic money and rate normalization pairs (docfields datagen money)"
    return write_dataset(generate_amount_examples(options), options, out, fmt, description)
