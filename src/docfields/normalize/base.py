"""What every normalizer returns and what it needs: the shared contract of ``normalize/``.

Post-processing calls ``normalize(texts)`` on whatever the field configuration names, and gets
one ``NormalizedValue`` per text. A value that is not certain (ambiguous, unparsed, or a model
output that failed validation) says so in ``status`` and sets ``needs_review``, so the field can
go to a reviewer instead of carrying a confident wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, computed_field

Status = Literal["ok", "ambiguous", "unparsed", "invalid", "failed"]
Source = Literal["rule", "model", "service"]
DateOrder = Literal["MDY", "DMY"]
YearlessPolicy = Literal["nearest", "after", "before"]


class NormalizeContext(BaseModel):
    """What a text alone does not say: the date it is read against and what its document reveals.

    One per text (``normalize(texts, contexts)``); the pipeline builds one per document
    (``normalize.context.document_context``) and adds each mention's line. Hashable, so equal
    contexts of equal texts are normalized once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference_date: date | None = Field(
        default=None, description="Year-less and relative dates resolve against it (the document's date, or given)"
    )
    date_order: DateOrder | None = Field(
        default=None, description="MDY or DMY when the document's unambiguous dates reveal it"
    )
    order_evidence: str = Field(default="", description="The date that revealed the order, for the reviewer")
    around: str = Field(default="", description="Text around the mention (its line), e.g. 'variable' markers")


class NormalizedValue(BaseModel):
    """The normalized form of one text, or the reason there is none."""

    model_config = ConfigDict(frozen=True)

    raw: str = Field(description="The text as it came in")
    value: str | None = Field(default=None, description="Normalized text; None unless ok")
    status: Status = Field(
        description="ok; ambiguous (several readings, no policy); unparsed (not a date the rules "
        "read, and no model); invalid (the model's output failed validation); failed (service error)"
    )
    source: Source = Field(description="What produced the value: rules, a local model, a service")
    reason: str = Field(default="", description="Why the status is not ok, for the reviewer")
    candidates: list[str] = Field(default_factory=list, description="Readings of an ambiguous text")
    generated: str | None = Field(default=None, description="The model's output, even if rejected")
    data: dict[str, Any] | None = Field(
        default=None, description="The value as structured data where it has parts (a money formula, a range)"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def needs_review(self) -> bool:
        """True unless the value is certain: post-processing sends such fields to review."""
        return self.status != "ok"

    @property
    def text(self) -> str:
        """The value when there is one, else the raw text (what a field should show)."""
        return self.value if self.value is not None else self.raw


EMPTY_CONTEXT = NormalizeContext()


@runtime_checkable
class Normalizer(Protocol):
    """Anything that turns texts into ``NormalizedValue``s, in order, one per text."""

    name: str

    def normalize(
        self, texts: Sequence[str], contexts: Sequence[NormalizeContext] | None = None
    ) -> list[NormalizedValue]:
        """Normalize a batch; ``contexts``, when given, has one context per text. Never raises
        for a bad text, only marks it."""
        ...


def contexts_for(texts: Sequence[str], contexts: Sequence[NormalizeContext] | None) -> list[NormalizeContext]:
    """One context per text: ``contexts`` checked for length, or empty ones.

    Raises:
        ValueError: when ``contexts`` and ``texts`` differ in length (a caller's bug).
    """
    if contexts is None:
        return [EMPTY_CONTEXT] * len(texts)
    if len(contexts) != len(texts):
        raise ValueError(f"{len(contexts)} contexts for {len(texts)} texts")
    return list(contexts)


@runtime_checkable
class TextGenerator(Protocol):
    """A text-to-text model: a local ``Seq2SeqModel`` or a normalizer service."""

    def generate(self, texts: Sequence[str]) -> list[str]:
        """One output per input, in order."""
        ...


