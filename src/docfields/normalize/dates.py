"""Synthetic date-normalization data: the original's format table and a seeded generator.

Every example is a prompt such as ``Convert dates to YYYY-MM-DD: 12/31/00`` and its answer
``2000-12-31``. A format table lists, for each format, how often it is *observed* in documents
and how often it is *requested* as a target; the generator draws a date uniformly in a range, an
observed format and a target format, and renders both. The default table is the original's
(``date_formats.json``) with its defects fixed: ordinal suffixes match the day and no format is
listed twice.

Because some inputs are ambiguous (``03/04/21`` is 4 March in ``MM/DD/YY`` and 3 April in
``DD/MM/YY``), ``target_posterior`` computes, from the table itself, how likely each answer is
for a given input: its maximum is the best accuracy any method can reach on that input.

>>> examples = generate_date_examples(DateDataOptions(n=2, seed=42))
>>> examples[0].src.startswith("Convert dates to ")
True
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from docfields.errors import NormalizerError
from docfields.normalize.noise import add_ocr_noise
from docfields.normalize.patterns import (
    datetimes_from_text,
    pattern_resolution_seconds,
    render_date,
    split_pattern,
)

logger = logging.getLogger(__name__)

DEFAULT_PROMPT_TEMPLATE = "Convert dates to {target}: {text}"
_NOISE_STREAM = 20  # second word of the noise generator's seed: its own stream, independent of the draws


class DateFormat(BaseModel):
    """One row of a format table: a pattern, its prompt name, and two relative weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(description="strftime subset plus %o (ordinal day), e.g. %m/%d/%y")
    name: str = Field(min_length=1, description="Name used in prompts, e.g. MM/DD/YY")
    observed_weight: float = Field(ge=0, description="How often documents show this format")
    target_weight: float = Field(ge=0, description="How often users ask for this format")

    @field_validator("pattern")
    @classmethod
    def _known_directives(cls, pattern: str) -> str:
        split_pattern(pattern)
        return pattern


class DateFormatTable(BaseModel):
    """A list of formats with unique patterns and names, and some weight on each side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    formats: tuple[DateFormat, ...]

    @model_validator(mode="after")
    def _no_duplicates(self) -> DateFormatTable:
        for key in ("pattern", "name"):
            values = [getattr(f, key) for f in self.formats]
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"duplicate format {key}s {dupes}: list each format once")
        if not any(f.observed_weight for f in self.formats):
            raise ValueError("no format has an observed_weight above 0")
        if not any(f.target_weight for f in self.formats):
            raise ValueError("no format has a target_weight above 0")
        return self

    @property
    def targets(self) -> tuple[DateFormat, ...]:
        """Formats that can be requested (target weight above 0)."""
        return tuple(f for f in self.formats if f.target_weight > 0)

    def by_name(self, name: str) -> DateFormat:
        """The format with this prompt name.

        Raises:
            NormalizerError: when no format has that name.
        """
        for fmt in self.formats:
            if fmt.name == name:
                return fmt
        raise NormalizerError(f"no date format named {name!r} in the format table")


def load_format_table(path: str | Path | None = None) -> DateFormatTable:
    """Read a format table JSON (``{"formats": [...]}``); None reads the shipped default.

    Raises:
        NormalizerError: naming the file when it is missing, not JSON, or not a valid table.
    """
    if path is None:
        text = resources.files("docfields.normalize").joinpath("date_formats.json").read_text()
        where = "date_formats.json (package data)"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise NormalizerError(f"{where}: cannot read format table: {exc}") from exc
    try:
        return DateFormatTable.model_validate_json(text)
    except ValidationError as exc:
        raise NormalizerError(f"{where}: invalid format table: {exc}") from exc


class DateDataOptions(BaseModel):
    """What to generate: how many examples, from which seed, range, template and table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=1, description="Number of examples")
    seed: int = Field(default=42, description="Seed of numpy's default_rng: same seed, same data")
    start: date = Field(default=date(1950, 1, 1), description="First possible date (included)")
    end: date = Field(default=date(2050, 1, 1), description="End of the range (excluded)")
    prompt_template: str = Field(
        default=DEFAULT_PROMPT_TEMPLATE, description="Prompt with {target} and {text} slots"
    )
    table: DateFormatTable = Field(default_factory=lambda: load_format_table())
    answers: Literal["drawn", "most-likely"] = Field(
        default="drawn",
        description="drawn: the drawn date in the target format (the original's); most-likely: for an "
        "input several dates render to, the most likely one's (better training data, see generate_date_examples)",
    )
    noise: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of the characters of each observed date misread as Tesseract misreads them "
        "(noise.add_ocr_noise: O for 0, dropped or doubled separators, split tokens); the answer stays clean. "
        "0: no noise, the same examples as without the option",
    )

    @model_validator(mode="after")
    def _check(self) -> DateDataOptions:
        if self.end <= self.start:
            raise ValueError(f"date range is empty: end {self.end} is not after start {self.start}")
        if "{target}" not in self.prompt_template or "{text}" not in self.prompt_template:
            raise ValueError("prompt_template needs both {target} and {text}")
        return self


@dataclass(frozen=True)
class DateExample:
    """One generated example, with the truth behind it (formats and the date itself).

    ``text`` is the date as the prompt shows it (misread by OCR noise when the options ask for it);
    ``clean`` is the date as rendered, before any noise (the same as ``text`` without noise).
    """

    src: str
    tgt: str
    observed: str
    target: str
    text: str
    value: datetime
    clean: str


def _weights(values: Sequence[float]) -> list[float]:
    total = float(sum(values))
    return [v / total for v in values]


def generate_date_examples(options: DateDataOptions) -> list[DateExample]:
    """Draw ``options.n`` examples; the same options always give the same examples.

    With ``answers="most-likely"`` an ambiguous input gets its most likely answer rather than
    the drawn one (``value`` stays the drawn date). Exact match on drawn answers rewards
    exactly that answer, but a model trained on drawn ones sees ``01/05/16`` answered as
    January in seven examples and May in one, and spends its time learning a coin it can
    never call; the most likely answers teach the rule (month first unless a time says
    otherwise) directly. Held-out sets for scoring stay ``drawn``.

    With ``noise`` above 0 each observed date is misread (``noise.add_ocr_noise``) by a generator of
    its own, seeded from ``seed``: the dates, formats and answers are exactly those of ``noise=0``,
    only the prompt's text changes.

    >>> [e.tgt for e in generate_date_examples(DateDataOptions(n=3, seed=1))] == \
    [e.tgt for e in generate_date_examples(DateDataOptions(n=3, seed=1))]
    True
    """
    import numpy as np

    formats = options.table.formats
    rng = np.random.default_rng(options.seed)
    observed = rng.choice(len(formats), p=_weights([f.observed_weight for f in formats]), size=options.n)
    targets = rng.choice(len(formats), p=_weights([f.target_weight for f in formats]), size=options.n)
    span = int((options.end - options.start).total_seconds())
    offsets = rng.integers(0, span, size=options.n)
    origin = datetime.combine(options.start, datetime.min.time())
    noise_rng = np.random.default_rng([options.seed, _NOISE_STREAM])
    examples = []
    for obs_ix, tgt_ix, offset in zip(observed, targets, offsets, strict=True):
        value = origin + timedelta(seconds=int(offset))
        obs, tgt = formats[obs_ix], formats[tgt_ix]
        clean = render_date(value, obs.pattern)
        text = add_ocr_noise(clean, noise_rng, options.noise) if options.noise else clean
        src = options.prompt_template.format(target=tgt.name, text=text)
        examples.append(DateExample(src, render_date(value, tgt.pattern), obs.name, tgt.name, text, value, clean))
    if options.answers == "most-likely":
        examples = _most_likely_answers(examples, options)
    return examples


def _most_likely_answers(examples: list[DateExample], options: DateDataOptions) -> list[DateExample]:
    return [replace(ex, tgt=answer or ex.tgt) for ex, (answer, _) in zip(examples, _best_answers(examples, options),
                                                                         strict=True)]  # fmt: skip


def _best_answers(examples: Sequence[DateExample], options: DateDataOptions) -> list[tuple[str | None, float]]:
    """Each example's most likely answer and its probability (None, 0.0 when nothing renders to it),
    from its clean text: OCR noise is not in the format table, so a misread date has no posterior."""
    cache: dict[tuple[str, str], tuple[str | None, float]] = {}
    for ex in examples:
        key = (ex.clean, ex.target)
        if key not in cache:
            target = options.table.by_name(ex.target)
            posterior = target_posterior(ex.clean, target, options.table, options.start, options.end)
            cache[key] = max(posterior.items(), key=lambda item: item[1], default=(None, 0.0))
    return [cache[(ex.clean, ex.target)] for ex in examples]


def target_posterior(
    text: str, target: DateFormat, table: DateFormatTable, start: date, end: date
) -> dict[str, float]:
    """How likely each answer is, given that the generator rendered ``text``.

    Every observed format that can render ``text`` contributes each date it could stand for,
    weighted by the format's observed weight times the span of time that renders to the same
    string (a day for date-only formats, a minute or a second with times). Dates are uniform,
    so these weights are proportional to the generator's probabilities.
    """
    lo = datetime.combine(start, datetime.min.time())
    hi = datetime.combine(end, datetime.min.time())
    mass: dict[str, float] = defaultdict(float)
    for fmt in table.formats:
        if not fmt.observed_weight:
            continue
        for value in datetimes_from_text(text, fmt.pattern):
            if lo <= value < hi:
                weight = fmt.observed_weight * pattern_resolution_seconds(fmt.pattern)
                mass[render_date(value, target.pattern)] += weight
    total = sum(mass.values())
    return {answer: m / total for answer, m in mass.items()} if total else {}


def best_achievable_accuracy(examples: Sequence[DateExample], options: DateDataOptions) -> float:
    """Mean, over ``examples``, of the probability of each input's most likely answer.

    This is the accuracy of the best possible predictor on these inputs (the share of the most
    frequent target per distinct input, computed exactly instead of counted in a sample). For noisy
    examples it is computed on the clean text: the score of a predictor that also undoes every
    misreading, an upper bound, since noise that turns one digit into another loses information
    that no method gets back.
    """
    if not examples:
        return 0.0
    return sum(probability for _, probability in _best_answers(examples, options)) / len(examples)


def format_table_json(table: DateFormatTable) -> str:
    """The table as indented JSON, for writing beside generated data."""
    return json.dumps(table.model_dump(mode="json"), indent=2)
