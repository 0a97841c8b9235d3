"""Rules where they are certain, a model where they are not, and a check on every model answer.

The rules are exact on what they can read unambiguously, and a trained model is better on the
rest (it learned, for example, that a day-first time format makes ``03/04/21`` day-first). So
the hybrid sends each text to the rules first (with no order policy, so an ambiguous text is
not guessed) and only ambiguous or unreadable texts to the model. Each model output must then:

1. parse as a real date in the requested format (``2021-02-30`` or ``21-3-4`` fail);
2. be one of the rules' readings when the rules found several (the model only chooses);
3. agree with the digits of the input: its day, and its year (4 or 2 digits), must be written
   there, and its month too unless the input names the month. A model fed ``hello`` will still
   write some date; this is what stops it.

An output that fails is kept in ``generated`` and marked ``invalid`` with the reason, so that
post-processing sends the field to review rather than accepting it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

from docfields.errors import NormalizerError, NormalizerUnavailableError
from docfields.normalize.base import DateOrder, YearlessPolicy, NormalizeContext, NormalizedValue, TextGenerator, contexts_for
from docfields.normalize.dates import DEFAULT_PROMPT_TEMPLATE
from docfields.normalize.patterns import MONTHS, parse_strict, render_date
from docfields.normalize.rules import DateRuleNormalizer

logger = logging.getLogger(__name__)

_MONTH_NAME = re.compile("|".join(m[:3] for m in MONTHS), re.IGNORECASE)


def supported_by_text(value: datetime, text: str) -> bool:
    """Whether ``text`` writes ``value``'s day and year, and its month unless it names one."""
    numbers = {int(n) for n in re.findall(r"\d+", text)}
    runs = set(re.findall(r"\d+", text))
    year_ok = f"{value.year:04d}" in runs or f"{value.year % 100:02d}" in runs
    month_ok = value.month in numbers or bool(_MONTH_NAME.search(text))
    return year_ok and value.day in numbers and month_ok


class HybridDateNormalizer:
    """``date:<TARGET>;model=<dir or url>``: rules first, a validated model for the rest.

    Args:
        target: Output format name or pattern, e.g. ``YYYY-MM-DD``.
        generator: A ``Seq2SeqModel`` or a ``ServiceGenerator``.
        prompt_template: How the model was trained to be asked (``{target}``, ``{text}``).
        year_pivot: Two-digit year pivot of the rules and of validation.
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
        self.rules = DateRuleNormalizer(target, order=order, year_pivot=year_pivot, yearless=yearless)
        self.generator = generator
        self.prompt_template = prompt_template
        self.year_pivot = year_pivot
        self.name = f"{self.rules.name};model"

    def normalize(
        self, texts: Sequence[str], contexts: Sequence[NormalizeContext] | None = None
    ) -> list[NormalizedValue]:
        """Rules' results where certain, checked model results elsewhere, in input order."""
        results = [self.rules.normalize_one(t, c) for t, c in zip(texts, contexts_for(texts, contexts), strict=True)]
        todo = [i for i, r in enumerate(results) if r.status != "ok" and self._worth_asking(r)]
        if not todo:
            return results
        prompts = [self.prompt_template.format(target=self.rules.target, text=texts[i]) for i in todo]
        try:
            outputs = self.generator.generate(prompts)
        except NormalizerUnavailableError:  # the caller retries or keeps the raw texts
            raise
        except NormalizerError as exc:
            logger.warning("normalizer model failed on %d texts: %s", len(todo), exc)
            for i in todo:
                results[i] = results[i].model_copy(update={"status": "failed", "reason": str(exc)})
            return results
        for i, output in zip(todo, outputs, strict=True):
            results[i] = self._check(texts[i], output.strip(), results[i])
        return results

    @staticmethod
    def _worth_asking(result: NormalizedValue) -> bool:
        """Ambiguous texts, and unreadable ones that contain a digit (a date needs one)."""
        too_long = result.reason.endswith("too long for a date")
        return result.status == "ambiguous" or (any(c.isdigit() for c in result.raw) and not too_long)

    def _check(self, text: str, output: str, rules: NormalizedValue) -> NormalizedValue:
        value = parse_strict(output, self.rules.pattern, self.year_pivot)
        reason = ""
        if value is None:
            reason = f"model output {output!r} is not a date in {self.rules.target}"
        elif rules.candidates and render_date(value, self.rules.pattern) not in rules.candidates:
            reason = f"model output {output!r} is none of the readings {rules.candidates}"
        elif not supported_by_text(value, text):
            reason = f"model output {output!r} does not match the digits of the input"
        if reason:
            return NormalizedValue(raw=text, status="invalid", source="model", reason=reason,
                                   candidates=rules.candidates, generated=output)  # fmt: skip
        return NormalizedValue(raw=text, value=output, status="ok", source="model", generated=output)
