"""Rule-based money and rate normalization: ``money:<CURRENCY>`` for fees, ``percent`` for APRs.

Fees are printed as amounts, limits, ranges, rates of something and formulas; APRs as rates,
ranges and margins over an index. Each text becomes one canonical string (``value``) and the same
value as structured ``data``:

- ``$29``, ``$1,234.5``, ``29 USD``, ``12,50 €`` -> ``29.00 USD``, ``1234.50 USD``, ``29.00 USD``,
  ``12.50 EUR``; ``None``, ``No fee``, ``Waived``, ``$0`` -> ``0.00 USD`` (the spec's currency);
- ``Up to $40`` -> ``up to 40.00 USD``; ``$25 to $35``, ``$25 - $35`` -> ``25.00-35.00 USD``;
- ``3% of each balance transfer`` -> ``3.00%`` (data: ``of`` = ``each balance transfer``);
- ``Either $5 or 3% of the amount of each transfer, whichever is greater``, ``the greater of $5
  or 3% of ...``, ``3% of each transfer ($5 minimum)`` -> ``greater of 5.00 USD or 3.00%``;
- ``$5 per copy`` -> ``5.00 USD`` (data: ``per`` = ``copy``);
- rates: ``14.99%`` -> ``14.99``; ``0%`` -> ``0.00``; ``15.24% to 25.24%`` -> ``15.24-25.24``;
  ``14.99% variable``, ``14.99% (v)`` -> ``14.99`` (data: ``variable`` true); ``Prime + 9.99%`` ->
  ``prime + 9.99``.

The canonical grammars (``is_canonical`` accepts exactly these)::

    money   := amount | "up to " amount | NUMBER "-" NUMBER " " CODE | rate
             | ("greater of " | "lesser of ") term (" or " term)+      amounts first, then rates
    term    := amount | rate
    amount  := NUMBER " " CODE                                          CODE: ISO 4217
    rate    := NUMBER "%"
    percent := NUMBER | NUMBER "-" NUMBER | "prime + " NUMBER
    NUMBER  := digits ["." digits], no grouping; as many decimals as the currency's minor unit (2 for
               rates, none for JPY), more only when they are not zeros

Nothing is guessed. A ``$`` is the spec's currency when that is a dollar (USD, CAD, AUD, NZD,
SGD, HKD), else USD. A number whose lone separator could group thousands or mark decimals
(``1,234 €``: 1234 or 1.234) is ``ambiguous`` with both readings unless the currency fixes the
convention (``$1,234`` is 1234) or the number is a rate (below 1000%: ``1,250%`` is 1.25). A
phrase outside the grammar is ``unparsed`` with the reason, never read in part. A letter that OCR
put inside a number (``1O.99%``) is read as its digit (``repair.DIGIT_LETTERS``) and the
repair is named in ``reason`` and ``data["repaired"]``.
A rate is variable (``data["variable"]``; prime-indexed rates always are) when its text says so or
the text around it does (``NormalizeContext.around``, the mention's line: *variable*, *vary*,
*varies*, *Prime Rate*). The value stays the rate: the same APR printed in a table with a
"variable" note beside it and in prose without one is the same value.

>>> MoneyRuleNormalizer("USD").normalize_one("Either $5 or 3% of each transfer, whichever is greater").value
'greater of 5.00 USD or 3.00%'
>>> PercentRuleNormalizer().normalize_one("15.24% to 25.24%").value
'15.24-25.24'
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from docfields.errors import UnknownNormalizerError
from docfields.normalize.base import EMPTY_CONTEXT, NormalizeContext, NormalizedValue, contexts_for
from docfields.normalize.repair import DIGIT_LETTERS

MAX_AMOUNT_CHARS = 200
MAX_DIGITS = 18  # more digits are no amount (and would round in Decimal's 28-digit context)
MAX_RATE = Decimal(1000)  # no rate is 1000% or more: "1,250%" can only be 1.25%
DEFAULT_CURRENCY = "USD"
# Words a fee table prints for no fee at all: the amount 0 in the field's currency.
NO_FEE_WORDS = frozenset({"none", "no fee", "waived", "free", "no charge"})
# ISO 4217 codes in use; the minor unit is 2 except where MINOR_UNITS says otherwise.
CURRENCIES = frozenset(
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD "
    "CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ "
    "GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR "
    "LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN "
    "PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB "
    "TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL".split()
)
_NO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
MINOR_UNITS = dict.fromkeys(_NO_DECIMALS.split(), 0) | dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3)
DOLLARS = ("USD", "CAD", "AUD", "NZD", "SGD", "HKD")
# Currencies written with a decimal point and comma grouping, so "1,234" is 1234; others: unknown.
POINT_DECIMAL = frozenset({*DOLLARS, "GBP", "JPY", "CNY", "INR", "KRW", "MXN", "PHP", "THB", "MYR", "ILS"})
_SYMBOLS = {"US$": "USD", "CA$": "CAD", "C$": "CAD", "AU$": "AUD", "A$": "AUD", "NZ$": "NZD", "S$": "SGD",
            "HK$": "HKD", "€": "EUR", "£": "GBP", "¥": "JPY", "$": ""}  # fmt: skip  # "": the spec's dollar

NUMBER = r"\d(?:[\d.,]*\d)?"
_MARK = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True)) + "|[A-Z]{3}"
_AMOUNT = re.compile(rf"(?:(?P<pre>{_MARK})\s*)?(?P<num>{NUMBER})(?:\s*(?P<post>{_MARK}))?")
_FEE_RATE = re.compile(rf"(?P<num>{NUMBER})\s*%(?:\s+of\s+(?P<of>.+))?", re.I)
_CONFUSABLE = re.escape("".join(DIGIT_LETTERS))
_NOISY_NUMBER = re.compile(rf"(?<!\w)\d[\d.,{_CONFUSABLE}]*[\d{_CONFUSABLE}](?![A-Za-z])")
_COMPARE = {"greater": "greater_of", "more": "greater_of", "higher": "greater_of", "larger": "greater_of",
            "less": "lesser_of", "lesser": "lesser_of", "lower": "lesser_of", "smaller": "lesser_of"}  # fmt: skip
_WHICHEVER = re.compile(r"(?:either\s+)?(?P<body>.+?),?\s+whichever\s+is\s+(?P<word>\w+)(?P<rest>.*)", re.I)
_OF_PREFIX = re.compile(r"(?:the\s+)?(?P<word>greater|higher|larger|lesser|lower|smaller)\s+of\s+(?P<body>.+)", re.I)
_LIMITED = re.compile(r"(?P<body>.+?)\s*(?:\(\s*(?P<inner>[^()]+?)\s*\)|,\s*(?P<tail>[^,()]+))")
_LIMIT_WORD = "minimum|min\\.?|maximum|max\\.?"
_LIMIT = re.compile(rf"(?P<word>{_LIMIT_WORD})(?:\s+of)?:?\s+(?P<a>.+)|(?P<b>.+?)\s+(?P<word2>{_LIMIT_WORD})", re.I)
_DASH = r"\s*(?:-|–|—|\bto\b)\s*"
_MONEY_RANGE = re.compile(rf"(?:between\s+(?P<from>.+?)\s+and\s+(?P<until>.+))|(?P<low>.+?){_DASH}(?P<high>.+)", re.I)
_PER = re.compile(r"(?P<amount>.+?)\s+(?:per|for each|each)\s+(?P<per>[A-Za-z][A-Za-z \-]*)", re.I)
_UP_TO = re.compile(r"up\s+to\s+(?P<amount>.+)", re.I)
_RATE_MARKERS = re.compile(r"\s*\(\s*v\s*\)|\s*\bvariable\b|\s*\bAPR\b", re.I)
_VARIABLE_AROUND = re.compile(r"\bvariable\b|\bvar(?:y|ies)\b|\bprime\s+rate\b", re.I)
_INDEXED = re.compile(rf"(?:the\s+)?prime(?:\s+rate)?\s*(?:\+|plus)\s*(?P<margin>{NUMBER})\s*%?", re.I)
_RATE_RANGE = re.compile(rf"(?P<low>{NUMBER})\s*%?{_DASH}(?P<high>{NUMBER})\s*%?", re.I)
_ONE_RATE = re.compile(rf"(?P<rate>{NUMBER})\s*%?")

MoneyKind = Literal["amount", "up_to", "range", "percent", "greater_of", "lesser_of"]


class Unreadable(ValueError):
    """A text the rules cannot read; the message is the reason. Never leaves a normalizer."""


def decimals(value: Decimal, minimum: int) -> str:
    """``value`` with at least ``minimum`` decimals and more only where they are not zeros."""
    exponent = value.normalize().as_tuple().exponent
    places = max(minimum, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{value:.{places}f}"


def repair_numbers(text: str) -> tuple[str, list[dict[str, str]]]:
    """``text`` with OCR letters inside numbers read as digits (``1O.99`` -> ``10.99``), and the repairs.

    Only letters after a number's first digit are repaired: a leading ``S`` or ``l`` may be a
    ``$`` or a word, so such a text stays as it is (and is left unparsed)."""
    repairs: list[dict[str, str]] = []

    def fix(match: re.Match[str]) -> str:
        written = match.group(0)
        read = "".join(DIGIT_LETTERS.get(char, char) for char in written)
        if read != written:
            repairs.append({"text": written, "read": read})
        return read

    return _NOISY_NUMBER.sub(fix, text), repairs


def read_number(written: str, point_decimal: bool) -> tuple[Decimal, ...]:
    """Every value ``written`` can mean: one, or two when a lone separator before three digits may
    group thousands or mark decimals and the convention is not known to be ``1,234.56``
    (``point_decimal``).

    Raises:
        Unreadable: when no convention reads it (``1,23,4``), it contradicts ``point_decimal``, or
            it has more than ``MAX_DIGITS`` digits.
    """
    if sum(char.isdigit() for char in written) > MAX_DIGITS:
        raise Unreadable(f"{written[:30]!r}...: more than {MAX_DIGITS} digits is no amount or rate")
    dots, commas = written.count("."), written.count(",")
    if not dots and not commas:
        return (Decimal(written),)
    if dots and commas:
        point = "." if written.rfind(".") > written.rfind(",") else ","
        group = "," if point == "." else "."
        whole, _, fraction = written.rpartition(point)
        if written.count(point) > 1 or not _grouped(whole, group) or (point_decimal and point == ","):
            raise Unreadable(f"cannot read {written!r} as a number{' with a decimal point' * point_decimal}")
        return (Decimal(f"{whole.replace(group, '')}.{fraction}"),)
    separator = "." if dots else ","
    if written.count(separator) > 1:
        if not _grouped(written, separator) or (point_decimal and separator == "."):
            raise Unreadable(f"cannot read {written!r} as a number")
        return (Decimal(written.replace(separator, "")),)
    whole, _, fraction = written.partition(separator)
    as_decimal = Decimal(f"{whole}.{fraction}")
    grouping = len(fraction) == 3 and _grouped(written, separator)
    if point_decimal:
        if separator == ".":
            return (as_decimal,)
        if grouping:
            return (Decimal(whole + fraction),)
        raise Unreadable(f"{written!r}: a comma before {len(fraction)} digits, where the decimal sign is a point")
    return (Decimal(whole + fraction), as_decimal) if grouping else (as_decimal,)


def _grouped(written: str, separator: str) -> bool:
    """Whether ``written`` is digits grouped by threes with ``separator`` (``1,234,567``)."""
    head, *groups = written.split(separator)
    return bool(groups) and 1 <= len(head) <= 3 and not head.startswith("0") and all(len(g) == 3 for g in groups)


class _Reading(Protocol):
    def render(self) -> str: ...

    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Amount:
    """An amount of money in one currency."""

    amount: Decimal
    currency: str

    @property
    def number(self) -> str:
        return decimals(self.amount, MINOR_UNITS.get(self.currency, 2))

    def render(self) -> str:
        return f"{self.number} {self.currency}"

    def data(self) -> dict[str, Any]:
        return {"amount": self.number, "currency": self.currency}


@dataclass(frozen=True)
class FeeRate:
    """A fee as a percentage of something (``of``: what the text says it is of, or empty)."""

    percent: Decimal
    of: str = ""

    def render(self) -> str:
        return f"{decimals(self.percent, 2)}%"

    def data(self) -> dict[str, Any]:
        return {"percent": decimals(self.percent, 2), **({"of": self.of} if self.of else {})}


@dataclass(frozen=True)
class Money:
    """A fee: one amount or rate, an upper limit, a range, or the greater/lesser of terms."""

    kind: MoneyKind
    terms: tuple[Amount | FeeRate, ...]
    per: str = ""

    def render(self) -> str:
        if self.kind == "range":
            low, high = self.terms
            return f"{_number(low)}-{high.render()}"
        if self.kind in ("greater_of", "lesser_of"):
            return f"{self.kind.removesuffix('_of')} of " + " or ".join(term.render() for term in self.terms)
        return ("up to " if self.kind == "up_to" else "") + self.terms[0].render()

    def data(self) -> dict[str, Any]:
        if self.kind == "range":
            low, high = (term.data() for term in self.terms)
            return {"kind": "range", "low": low["amount"], "high": high["amount"], "currency": high["currency"]}
        if self.kind in ("greater_of", "lesser_of"):
            return {"kind": self.kind, "terms": [term.data() for term in self.terms]}
        return {"kind": self.kind, **self.terms[0].data(), **({"per": self.per} if self.per else {})}


def _number(term: Amount | FeeRate) -> str:
    return term.number if isinstance(term, Amount) else decimals(term.percent, 2)


@dataclass(frozen=True)
class Rate:
    """An APR or another rate: one number, a low-high range, or a margin over the prime rate."""

    numbers: tuple[Decimal, ...]
    variable: bool
    index: str = ""

    def render(self) -> str:
        parts = [decimals(n, 2) for n in self.numbers]
        text = f"{self.index} + {parts[0]}" if self.index else "-".join(parts)
        return text  # whether it varies is data["variable"]: the rate itself is the value

    def data(self) -> dict[str, Any]:
        parts = [decimals(n, 2) for n in self.numbers]
        if self.index:
            return {"kind": "indexed", "index": self.index, "margin": parts[0], "variable": True}
        if len(parts) == 2:
            return {"kind": "range", "low": parts[0], "high": parts[1], "variable": self.variable}
        return {"kind": "rate", "percent": parts[0], "variable": self.variable}


@dataclass
class _Reader:
    """One text's parse. ``canonical``: read the text as a canonical value (point decimals, no
    repair); ``ambiguous``: the numbers that had two readings."""

    canonical: bool
    currency: str = DEFAULT_CURRENCY
    around: str = ""
    ambiguous: list[str] = field(default_factory=list)

    def numbers(self, written: str, point_decimal: bool, rate: bool = False) -> tuple[Decimal, ...]:
        """The readings of a number; of a rate, only those below 1000 (``1,250%`` is 1.25%)."""
        values = read_number(written, self.canonical or point_decimal)
        if rate and len(values) > 1:
            values = tuple(value for value in values if value < MAX_RATE)
        if len(values) > 1:
            self.ambiguous.append(written)
        return values

    # --- money ---

    def fee(self, text: str) -> list[Money]:
        """Every reading of a whole fee text (one unless a number is ambiguous)."""
        if text.lower() in NO_FEE_WORDS:
            return [Money("amount", (Amount(Decimal(0), self.currency),))]
        compared = self.compared(text)
        if compared is not None:
            return compared
        if match := _UP_TO.fullmatch(text):
            return [Money("up_to", (amount,)) for amount in self.amounts(match["amount"])]
        if (match := _MONEY_RANGE.fullmatch(text)) and all(map(_AMOUNT.fullmatch, _ends(match))):
            return self.money_range(*_ends(match))
        if (match := _PER.fullmatch(text)) and _AMOUNT.fullmatch(match["amount"]):
            return [Money("amount", (amount,), match["per"]) for amount in self.amounts(match["amount"])]
        if _AMOUNT.fullmatch(text):
            return [Money("amount", (amount,)) for amount in self.amounts(text)]
        if _FEE_RATE.fullmatch(text):
            return [Money("percent", (rate,)) for rate in self.fee_rates(text)]
        raise Unreadable("not an amount, a range, a rate or a 'greater of' formula the rules read")

    def compared(self, text: str) -> list[Money] | None:
        """``X or Y, whichever is greater``, ``the greater of X or Y``, ``X% ($5 minimum)``; None: none of them."""
        if match := _WHICHEVER.fullmatch(text):
            kind = _COMPARE.get(match["word"].lower())
            if kind is None or match["rest"].strip(" .,"):
                raise Unreadable(f"cannot read what follows 'whichever is': {text[match.start('word') :]!r}")
            return self.formula(kind, match["body"])
        if match := _OF_PREFIX.fullmatch(text):
            return self.formula(_COMPARE[match["word"].lower()], match["body"])
        match = _LIMITED.fullmatch(text)
        limit = _LIMIT.fullmatch(match["inner"] or match["tail"]) if match else None
        if match is None or limit is None:
            return None
        kind = "greater_of" if (limit["word"] or limit["word2"]).lower().startswith("min") else "lesser_of"
        return self.formula(kind, f"{match['body']} or {limit['a'] or limit['b']}")

    def formula(self, kind: str, body: str) -> list[Money]:
        """The readings of ``X or Y [or Z]`` compared by ``kind``: amounts first, then rates."""
        parts = [part.strip(" ,") for part in re.split(r"\s+or\s+", body, flags=re.I)]
        if len(parts) < 2:
            raise Unreadable("a 'whichever is' formula needs terms joined by 'or'")
        readings = itertools.product(*(self.terms(part) for part in parts))
        ordered = (sorted(terms, key=lambda term: isinstance(term, FeeRate)) for terms in readings)
        return [Money(kind, tuple(terms)) for terms in ordered]  # type: ignore[arg-type]

    def terms(self, text: str) -> Sequence[Amount | FeeRate]:
        """The readings of one term of a formula: an amount or a rate."""
        return self.amounts(text) if _AMOUNT.fullmatch(text) else self.fee_rates(text)

    def written_amount(self, text: str) -> tuple[str, str | None]:
        """(the number as written, its currency or None when unmarked)."""
        match = _AMOUNT.fullmatch(text)
        if match is None:
            raise Unreadable(f"{text!r} is not an amount")
        return match["num"], self.currency_of(match["pre"], match["post"])

    def currency_of(self, pre: str | None, post: str | None) -> str | None:
        """The currency the marks before and after a number name; None when there is none."""
        found = []
        for mark in filter(None, (pre, post)):
            code = _SYMBOLS.get(mark, mark) or (self.currency if self.currency in DOLLARS else "USD")
            if code not in CURRENCIES:
                raise Unreadable(f"{mark!r} is not a currency")
            found.append((mark, code))
        codes = {code for _, code in found}
        if len(codes) > 1:
            named = [code for mark, code in found if mark != "$"]
            if len(named) == 1 and named[0] in DOLLARS:  # "$5 CAD": the code says which dollar
                return named[0]
            raise Unreadable(f"two currencies: {found[0][0]!r} and {found[1][0]!r}")
        return codes.pop() if codes else None

    def amounts(self, text: str) -> list[Amount]:
        written, marked = self.written_amount(text)
        currency = marked or self.currency
        return [Amount(value, currency) for value in self.numbers(written, currency in POINT_DECIMAL)]

    def fee_rates(self, text: str) -> list[FeeRate]:
        match = _FEE_RATE.fullmatch(text)
        if match is None:
            raise Unreadable(f"{text!r} is not an amount or a rate")
        of = match["of"] or ""
        if re.search(r"[\d$€£¥%]", of):
            raise Unreadable(f"the rate is of {of!r}, which has numbers in it")
        return [FeeRate(value, of) for value in self.numbers(match["num"], False, rate=True)]

    def money_range(self, low_text: str, high_text: str) -> list[Money]:
        (low_written, low_marked), (high_written, high_marked) = map(self.written_amount, (low_text, high_text))
        if low_marked and high_marked and low_marked != high_marked:
            raise Unreadable(f"a range from {low_marked} to {high_marked}")
        currency = low_marked or high_marked or self.currency
        point = currency in POINT_DECIMAL
        pairs = itertools.product(self.numbers(low_written, point), self.numbers(high_written, point))
        out = [Money("range", (Amount(low, currency), Amount(high, currency))) for low, high in pairs if low <= high]
        if not out:
            raise Unreadable(f"the range runs backwards: {low_text!r} is above {high_text!r}")
        return out

    # --- rates ---

    def rates(self, text: str) -> list[Rate]:
        """Every reading of an APR text (one unless a number is ambiguous)."""
        rest = _RATE_MARKERS.sub("", text).strip()
        said = any(m.group(0).strip().lower() != "apr" for m in _RATE_MARKERS.finditer(text))
        variable = said or bool(_VARIABLE_AROUND.search(self.around))
        if match := _INDEXED.fullmatch(rest):
            return [Rate((margin,), True, "prime") for margin in self.numbers(match["margin"], False, rate=True)]
        if match := _RATE_RANGE.fullmatch(rest):
            pairs = itertools.product(self.numbers(match["low"], False, True), self.numbers(match["high"], False, True))
            out = [Rate((low, high), variable) for low, high in pairs if low <= high]
            if not out:
                raise Unreadable(f"the range runs backwards: {match['low']} is above {match['high']}")
            return out
        if match := _ONE_RATE.fullmatch(rest):
            return [Rate((value,), variable) for value in self.numbers(match["rate"], False, rate=True)]
        raise Unreadable("not a rate, a range of rates or 'Prime + <margin>'")


def _ends(match: re.Match[str]) -> tuple[str, str]:
    """The two ends of a range: ``between A and B`` or ``A to B`` / ``A - B``."""
    return (match["from"], match["until"]) if match["from"] else (match["low"], match["high"])


class _AmountRules:
    """What the money and the percent rules share: the frame around one parse."""

    name: str

    def normalize(
        self, texts: Sequence[str], contexts: Sequence[NormalizeContext] | None = None
    ) -> list[NormalizedValue]:
        """One value per text: ok, ambiguous (with every reading) or unparsed (with a reason)."""
        return [self.normalize_one(t, c) for t, c in zip(texts, contexts_for(texts, contexts), strict=True)]

    def normalize_one(self, text: str, context: NormalizeContext | None = None) -> NormalizedValue:
        """Normalize one text (see ``normalize``); never raises for a bad text."""
        return self._result(text, _Reader(False, around=(context or EMPTY_CONTEXT).around))

    def is_canonical(self, value: str) -> bool:
        """Whether ``value`` is exactly what these rules write for some text (read back, written the same)."""
        result = self._result(value, _Reader(True))
        return result.status == "ok" and result.value == value

    def _read(self, reader: _Reader, text: str) -> Sequence[_Reading]:
        raise NotImplementedError

    def _result(self, raw: str, reader: _Reader) -> NormalizedValue:
        text = re.sub(r"(?<=[\da-z%)])\.$", "", " ".join(raw.split()))  # "$29." is "$29"; "U.S." stays
        if not text:
            return NormalizedValue(raw=raw, status="unparsed", source="rule", reason="empty text")
        if len(text) > MAX_AMOUNT_CHARS:
            reason = f"{len(text)} characters is too long for an amount or a rate"
            return NormalizedValue(raw=raw, status="unparsed", source="rule", reason=reason)
        repairs: list[dict[str, str]] = []
        if not reader.canonical:
            text, repairs = repair_numbers(text)
        try:
            readings = list(dict.fromkeys(self._read(reader, text)))
        except Unreadable as exc:
            return NormalizedValue(raw=raw, status="unparsed", source="rule", reason=str(exc))
        repaired = "; ".join(f"OCR repair: read {r['text']!r} as {r['read']!r}" for r in repairs)
        if len(readings) > 1:
            unknown = f"{', '.join(reader.ambiguous)}: the separator may group thousands or mark decimals"
            reason = "; ".join(filter(None, [unknown, repaired]))
            candidates = [reading.render() for reading in readings]
            return NormalizedValue(raw=raw, status="ambiguous", source="rule", reason=reason, candidates=candidates)
        data = readings[0].data() | ({"repaired": repairs} if repairs else {})
        value = readings[0].render()
        return NormalizedValue(raw=raw, value=value, status="ok", source="rule", reason=repaired, data=data)


class MoneyRuleNormalizer(_AmountRules):
    """The built-in normalizer ``money:<CURRENCY>``; the currency is that of ``None`` and of numbers
    without a mark, and names the dollar of ``$`` when it is one.

    Raises:
        UnknownNormalizerError: when ``currency`` is not an ISO 4217 code.
    """

    def __init__(self, currency: str = DEFAULT_CURRENCY) -> None:
        code = currency.strip().upper()
        if code not in CURRENCIES:
            raise UnknownNormalizerError(f"money:{currency}: unknown currency code {currency!r} (ISO 4217, e.g. USD)")
        self.currency = code
        self.name = f"money:{code}"

    def _read(self, reader: _Reader, text: str) -> Sequence[_Reading]:
        reader.currency = self.currency
        return reader.fee(text)


class PercentRuleNormalizer(_AmountRules):
    """The built-in normalizer ``percent``: APRs and other rates; ``context.around`` may mark a rate variable."""

    name = "percent:"

    def _read(self, reader: _Reader, text: str) -> Sequence[_Reading]:
        return reader.rates(text)
