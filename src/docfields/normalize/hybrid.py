"""Rules where they are certain, a model where they are not, and a check on every model answer.

The rules are exact on what they can read unambiguously, and a trained model is better on the
rest (it learned, for example, that a day-first time format makes ``03/04/21`` day-first, or
that ``$l5`` is an OCR-read ``$15``). So the hybrid sends each text to the rules first (with no
order policy, so an ambiguous text is not guessed) and only ambiguous or unreadable texts to the
model. ``ValidatedHybrid`` is that loop; what a model answer must satisfy depends on the kind.

Dates (``HybridDateNormalizer``): the output must

1. parse as a real date in the requested format (``2021-02-30`` or ``21-3-4`` fail); a text in
   the original's prompt format (``Convert dates to <FORMAT>: <text>``) requests its own format;
2. be one of the rules' readings when the rules found several (the model only chooses);
3. agree with the digits of the input: its day, and its year (4 or 2 digits), must be written
   there, and its month too unless the input names the month. A model fed ``hello`` will still
   write some date; this is what stops it.

Money and rates (``AmountHybridNormalizer``): the output must be canonical for the rules
(``rules.is_canonical``), one of the rules' readings when they found several, and every number in
it must be written in the input, formatting aside (``1,234.50`` supports ``1234.50``, an OCR ``O``
inside a number is a ``0``, and a zero is supported by a no-fee word such as ``None``).

An output that fails is kept in ``generated`` and marked ``invalid`` with the reason, so that
post-processing sends the field to review rather than accepting it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from docfields.errors import NormalizerError, NormalizerUnavailableError
from docfields.normalize.base import (
    DateOrder,
    NormalizeContext,
    NormalizedValue,
    TextGenerator,
    YearlessPolicy,
    contexts_for,
)
from docfields.normalize.dates import DEFAULT_PROMPT_TEMPLATE
from docfields.normalize.money import MAX_AMOUNT_CHARS, NO_FEE_WORDS, NUMBER, Unreadable, read_number
from docfields.normalize.patterns import MONTHS, WEEKDAYS, parse_strict, pattern_from_name, render_date
from docfields.normalize.repair import CONFUSABLE_DIGITS
from docfields.normalize.rules import FILLER_WORDS, MAX_DATE_CHARS, MONTH_WORDS, DateRuleNormalizer, split_prompt

logger = logging.getLogger(__name__)

AMOUNT_PROMPT_TEMPLATE = "Normalize {target}: {text}"


class RuleNormalizer(Protocol):
    """What the hybrid needs of its rules: one text at a time, with its context."""

    name: str

    def normalize_one(self, text: str, context: NormalizeContext | None = None) -> NormalizedValue:
        """The rules' result for one text; never raises for a bad text."""
        ...


class AmountRules(RuleNormalizer, Protocol):
    """Money or percent rules: also say whether a value is in their canonical form."""

    def is_canonical(self, value: str) -> bool:
        """Whether ``value`` is exactly what the rules write for some input."""
        ...


class ValidatedHybrid:
    """Rules first; the texts they leave go to ``generator``, and each answer is checked.

    Subclasses say which texts are worth asking and how (``_prompt``) and what an answer must
    satisfy (``_check``).
    """

    def __init__(self, rules: RuleNormalizer, generator: TextGenerator, prompt_template: str) -> None:
        self.rules = rules
        self.generator = generator
        self.prompt_template = prompt_template
        self.name = f"{rules.name};model"

    def normalize(
        self, texts: Sequence[str], contexts: Sequence[NormalizeContext] | None = None
    ) -> list[NormalizedValue]:
        """Rules' results where certain, checked model results elsewhere, in input order.

        Raises:
            NormalizerUnavailableError: when a service did not answer (the caller retries or
                keeps the raw texts); any other model error marks the asked texts ``failed``.
        """
        results = [self.rules.normalize_one(t, c) for t, c in zip(texts, contexts_for(texts, contexts), strict=True)]
        prompts = {i: self._prompt(r) for i, r in enumerate(results) if r.status != "ok"}
        asked = {i: p for i, p in prompts.items() if p is not None}
        if not asked:
            return results
        try:
            outputs = self.generator.generate(list(asked.values()))
        except NormalizerUnavailableError:
            raise
        except NormalizerError as exc:
            logger.warning("normalizer model failed on %d texts: %s", len(asked), exc)
            for i in asked:
                results[i] = results[i].model_copy(update={"status": "failed", "reason": str(exc)})
            return results
        for i, output in zip(asked, outputs, strict=True):
            results[i] = self._judge(results[i], output.strip())
        return results

    def _prompt(self, result: NormalizedValue) -> str | None:
        """What to ask the model about a text the rules did not settle; None: do not ask."""
        raise NotImplementedError

    def _check(self, result: NormalizedValue, output: str) -> str:
        """Why ``output`` is not an acceptable answer for ``result.raw``; empty when it is."""
        raise NotImplementedError

    def _accepted(self, result: NormalizedValue, output: str) -> NormalizedValue:
        """The value of an answer that passed ``_check``."""
        return NormalizedValue(raw=result.raw, value=output, status="ok", source="model", generated=output)

    def _judge(self, result: NormalizedValue, output: str) -> NormalizedValue:
        reason = self._check(result, output)
        if reason:
            return NormalizedValue(raw=result.raw, status="invalid", source="model", reason=reason,
                                   candidates=result.candidates, generated=output)  # fmt: skip
        return self._accepted(result, output)


def has_digit(text: str) -> bool:
    """Whether ``text`` has a digit: a date or an amount needs one for the model to read."""
    return any(c.isdigit() for c in text)


# --- dates -----------------------------------------------------------------------------------


_LETTERS = re.escape("".join(CONFUSABLE_DIGITS))
_OCR_RUN = re.compile(rf"(?<![A-Za-z])[\d.,{_LETTERS}]*\d[\d.,{_LETTERS}]*(?![A-Za-z])")


def supported_by_text(value: datetime, text: str) -> bool:
    """Whether ``text`` (as written, or as OCR misread it: ``ocr_readings``) writes ``value``'s day
    and year, and its month unless it names one."""
    return any(_writes_date(value, reading) for reading in ocr_readings(text))


def _writes_date(value: datetime, text: str) -> bool:
    year_ok = _writes(f"{value.year:04d}", text) or _writes(f"{value.year % 100:02d}", text)
    month_ok = _writes(str(value.month), text) or _writes(f"{value.month:02d}", text) or _names_month(value.month, text)
    day_ok = _writes(str(value.day), text) or _writes(f"{value.day:02d}", text)
    named = _named_weekday(text)
    return year_ok and month_ok and day_ok and (named is None or value.weekday() == named)


def _named_weekday(text: str) -> int | None:
    """The weekday ``text`` names, as written or one OCR misreading away (``fuesday``), when exactly one fits."""
    from rapidfuzz.distance import Levenshtein

    found = {
        day
        for word in re.findall(r"[A-Za-z]{3,}", text)
        if word.lower() not in MONTH_WORDS and word.lower() not in FILLER_WORDS  # "Jun" is no misread "Sun"
        for day, name in enumerate(WEEKDAYS)
        if any(Levenshtein.distance(word.lower(), form) <= 1 for form in (name.lower(), name[:3].lower()))
    }
    return found.pop() if len(found) == 1 else None


def _names_month(month: int, text: str) -> bool:
    """Whether a word of ``text`` is ``month``'s name or abbreviation, or one OCR misreading away from
    it (``say`` for ``May``)."""
    from rapidfuzz.distance import Levenshtein

    names = (MONTHS[month - 1].lower(), MONTHS[month - 1][:3].lower())
    words = re.findall(r"[A-Za-z]{2,}", text)
    return any(Levenshtein.distance(word.lower(), name) <= 1 for word in words for name in names)


def _writes(number: str, text: str) -> bool:
    """Whether ``text`` writes ``number`` as a whole number, each digit as written or as OCR was measured
    to misread it (``T9`` for ``19``, ``0:`` for ``09``), with at least one digit itself."""
    classes = _misread_digits()
    body = "".join(f"[{re.escape(classes[d])}]" for d in number)
    pattern = re.compile(rf"(?<!\d)(?=({body})(?!\d))")
    return any(any(c.isdigit() for c in m.group(1)) for m in pattern.finditer(text))


@lru_cache(maxsize=1)
def _misread_digits() -> dict[str, str]:
    """Each digit and what OCR reads for it: itself, ``CONFUSABLE_DIGITS`` and the measured table's misreadings."""
    from docfields.normalize.noise import load_ocr_noise

    read = {digit: {digit} for digit in "0123456789"}
    for letter, digit in CONFUSABLE_DIGITS.items():
        read[digit].add(letter)
    for mark, by_truth in load_ocr_noise().sources().items():
        if not mark.isdigit() and not mark.isspace():
            for truth in filter(str.isdigit, by_truth):
                read[truth].add(mark)
    return {digit: "".join(sorted(chars)) for digit, chars in read.items()}


def ocr_readings(text: str) -> list[str]:
    """``text``, with OCR letters in runs of digits read as digits (``$1O.5O``, ``2O21``), and as
    ``repair_ocr`` repairs it: what a model's answer may take its digits from."""
    from docfields.normalize.repair import repair_ocr

    mapped = _OCR_RUN.sub(lambda m: "".join(CONFUSABLE_DIGITS.get(c, c) for c in m.group(0)), text)
    return list(dict.fromkeys([text, mapped, repair_ocr(text).text]))


class HybridDateNormalizer(ValidatedHybrid):
    """``date:<TARGET>;model=<dir or url>``: rules first, a validated model for the rest.

    Args:
        target: Output format name or pattern, e.g. ``YYYY-MM-DD``; None: only texts in the
            original's prompt format, which name their own, go to the model.
        generator: A ``Seq2SeqModel`` or a ``ServiceGenerator``.
        prompt_template: How the model was trained to be asked (``{target}``, ``{text}``).
        year_pivot: Two-digit year pivot of the rules and of validation.
        order, yearless: The rules' policies (see ``DateRuleNormalizer``).
    """

    def __init__(
        self,
        target: str | None,
        generator: TextGenerator,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        year_pivot: int = 50,
        order: DateOrder | None = None,
        yearless: YearlessPolicy = "nearest",
    ) -> None:
        rules = DateRuleNormalizer(target, order=order, year_pivot=year_pivot, yearless=yearless)
        super().__init__(rules, generator, prompt_template)
        self.year_pivot = year_pivot

    def _prompt(self, result: NormalizedValue) -> str | None:
        """Ambiguous texts, and unreadable ones that contain a digit (a date needs one), when a
        target is known; a text in the prompt format goes as it is."""
        asked, text = split_prompt(result.raw)
        target = asked or self.rules.target
        readable = has_digit(text) and len(text.strip()) <= MAX_DATE_CHARS
        if target is None or not (result.status == "ambiguous" or readable):
            return None
        return result.raw if asked else self.prompt_template.format(target=target, text=text)

    def _check(self, result: NormalizedValue, output: str) -> str:
        asked, text = split_prompt(result.raw)
        target = asked or self.rules.target or ""
        try:
            pattern = pattern_from_name(target)
        except ValueError:
            return f"{target!r} is not a date format"
        value = parse_strict(output, pattern, self.year_pivot)
        if value is None:
            return f"model output {output!r} is not a date in {target}"
        if result.candidates and render_date(value, pattern) not in result.candidates:
            return f"model output {output!r} is none of the readings {result.candidates}"
        if not supported_by_text(value, text):
            return f"model output {output!r} does not match the digits of the input"
        return ""


# --- money and rates -------------------------------------------------------------------------


def amount_target(rules_name: str) -> str:
    """The ``{target}`` of an amount prompt: ``money:USD`` -> ``money to USD``, ``percent:`` -> ``percent``."""
    kind, _, unit = rules_name.partition(";")[0].partition(":")
    return f"{kind} to {unit}" if unit else kind


_NUMBER = re.compile(NUMBER)
_NO_FEE = re.compile(r"\b(?:" + "|".join(sorted(NO_FEE_WORDS)) + r")\b", re.IGNORECASE)


def numbers_written(text: str) -> set[Decimal]:
    """Every value a number in ``text`` can mean (``1,234`` is 1234 or 1.234), also with OCR letters
    in a run of digits read as digits (``$1O.5O`` writes 10.50, ``$l5`` 15)."""
    values: set[Decimal] = set()
    for token in {t for source in ocr_readings(text) for t in _NUMBER.findall(source)}:
        try:
            values.update(read_number(token, point_decimal=False))
        except Unreadable:
            continue
    return values


def unsupported_numbers(output: str, text: str) -> list[str]:
    """The numbers of ``output`` that ``text`` does not write; a zero is written by a no-fee word.

    >>> unsupported_numbers("greater of 5.00 USD or 3.00%", "Either $5 or 3% of each transfer")
    []
    >>> unsupported_numbers("1234.50 USD", "$1,234.5O"), unsupported_numbers("0.00 USD", "None")
    ([], [])
    >>> unsupported_numbers("25.00 USD", "$2 5")
    ['25.00']
    """
    written = numbers_written(text)
    no_fee = bool(_NO_FEE.search(text))
    return [n for n in re.findall(r"\d+(?:\.\d+)?", output)
            if Decimal(n) not in written and not (no_fee and Decimal(n) == 0)]  # fmt: skip


class AmountHybridNormalizer(ValidatedHybrid):
    """``money:<CURRENCY>;model=<dir or url>`` and ``percent;model=...``: the money or percent
    rules first, a validated model for the rest.

    Args:
        rules: A ``MoneyRuleNormalizer`` or ``PercentRuleNormalizer``.
        generator: A ``Seq2SeqModel`` or a ``ServiceGenerator`` trained on ``datagen money`` data.
        prompt_template: How the model was trained to be asked (``{target}``, ``{text}``); the
            target is ``money to USD`` or ``percent`` (``amount_target``).
    """

    rules: AmountRules

    def __init__(
        self, rules: AmountRules, generator: TextGenerator, prompt_template: str = AMOUNT_PROMPT_TEMPLATE
    ) -> None:
        super().__init__(rules, generator, prompt_template)
        self.target = amount_target(rules.name)

    def _prompt(self, result: NormalizedValue) -> str | None:
        """Ambiguous texts, and unreadable ones of amount length with a digit or a no-fee word."""
        readable = has_digit(result.raw) or bool(_NO_FEE.search(result.raw))
        if len(result.raw.strip()) > MAX_AMOUNT_CHARS or not (result.status == "ambiguous" or readable):
            return None
        return self.prompt_template.format(target=self.target, text=result.raw)

    def _check(self, result: NormalizedValue, output: str) -> str:
        if not self.rules.is_canonical(output):
            return f"model output {output!r} is not a canonical {self.target} value"
        if result.candidates and output not in result.candidates:
            return f"model output {output!r} is none of the readings {result.candidates}"
        unsupported = unsupported_numbers(output, result.raw)
        if unsupported:
            return f"model output {output!r} has {', '.join(unsupported)}, not written in the input"
        return ""

    def _accepted(self, result: NormalizedValue, output: str) -> NormalizedValue:
        """The answer with its structured ``data``, which the rules read from the canonical value."""
        data = self.rules.normalize_one(output).data
        return NormalizedValue(raw=result.raw, value=output, status="ok", source="model", generated=output, data=data)
