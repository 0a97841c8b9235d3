"""Unambiguous repairs of OCR misreadings in dates and amounts (``O`` read for ``0`` inside a number).

``repair_ocr(text)`` returns the repaired text and the changes made, so a rule that reads a repaired
text can say what it changed. Only repairs that cannot turn one reading into another are made:

- a letter OCR reads for a digit (``CONFUSABLE_DIGITS``) inside a number-like token (digits,
  separators, ``$ € £ %`` and such letters only, more digits than letters), next to a digit:
  ``2O21-O1-15``, ``l2/3l/2000``, ``$2S.00``, ``1O.99%``. A letter at the end of a token with no
  separator inside is a suffix as often as a digit (``1990s``, ``12B``, ``5G``): never repaired;
- a digit read for a letter inside a month name, when exactly one month fits: ``0ct``, ``N0v``;
- a separator OCR doubled between digits: ``12//31/2000``, ``12..05.2020``;
- a space OCR put inside a numeric date, when the joined text is a complete date and neither part is
  one on its own: ``12/3 1/2000``. ``12/31/20 00`` (``12/31/20`` is a date), ``12 05`` (two numbers)
  stay as they are.

A text with a candidate that is not unambiguous (a letter next to a digit in a token the rules refuse,
a month-like word two months fit) comes back unchanged with no changes: a reader then flags it.

Measured on real scans (``ocr_confusions.json``), these letters came from more than one digit:
``S`` (``5`` 8 times, ``3`` once), ``B`` (``8`` once, ``7`` once), ``i`` (``1`` 3 times, ``0`` and
``7`` once), and ``T`` came only from ``1`` (once). Their repairs are the usual reading, not a
certainty: a rule that reads a repaired text names the repair (``changes``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from docfields.normalize.patterns import MONTHS

# Letters OCR reads for digits; inside a run of digits each stands for exactly one digit.
CONFUSABLE_DIGITS = {"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1", "Z": "2",
                     "z": "2", "S": "5", "s": "5", "G": "6", "b": "6", "T": "7", "B": "8", "g": "9"}  # fmt: skip

_SEPARATORS = "/-.,:"
_NUMERIC_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])[\d{re.escape(_SEPARATORS + ''.join(CONFUSABLE_DIGITS))}$€£%]+(?![A-Za-z0-9])"
)
_EDGE_MARKS = "$€£%.,:"  # signs and trailing punctuation around a number, not part of its digits
_WORD = re.compile(r"[A-Za-z0-9]+")
_MONTH_WORDS = {m.lower() for m in MONTHS} | {m[:3].lower() for m in MONTHS} | {"sept"}
_LETTERS_FOR = {digit: [letter for letter, d in CONFUSABLE_DIGITS.items() if d == digit] for digit in "0123456789"}
_DOUBLED = re.compile(rf"(?<=\d)([{re.escape(_SEPARATORS)}])\1+(?=\d)")
_DATE = re.compile(r"\d{1,2}([/.-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}([/.-])\d{1,2}\2\d{1,2}")
_SPLIT = re.compile(r"(?<![\w/.-])([\d/.-]*\d[\d/.-]*) +([\d/.-]*\d[\d/.-]*)(?![\w/.-])")


@dataclass(frozen=True)
class Repair:
    """A text after OCR repair, and each change made (``'2O21' -> '2021'``); no changes: as given."""

    text: str
    changes: tuple[str, ...] = ()


class _Refused(Exception):
    """A candidate repair that is not unambiguous: the whole text stays as it is."""


def _digits_for_letters(token: str) -> str:
    """The token with its confusable letters read as digits, or the token itself when it is not a number."""
    core = token.strip(_EDGE_MARKS)
    letters = [i for i, c in enumerate(core) if c in CONFUSABLE_DIGITS]
    if not letters:
        return token
    digits = sum(c.isdigit() for c in core)
    if not digits:
        return token  # a word ("ISO", "Sl"), not a number
    if digits <= len(letters):
        raise _Refused(f"{token!r} has as many letters as digits")
    if core[-1] in CONFUSABLE_DIGITS and not any(c in _SEPARATORS for c in core):
        raise _Refused(f"{token!r} ends in a letter that may be a suffix")
    for i in letters:
        around = core[i - 1 : i] + core[i + 1 : i + 2]
        if not any(c.isdigit() for c in around):
            raise _Refused(f"{core[i]!r} in {token!r} is not next to a digit")
    repaired = "".join(CONFUSABLE_DIGITS.get(c, c) for c in core)
    start = token.index(core)
    return token[:start] + repaired + token[start + len(core) :]


def _month_for_digits(word: str) -> str:
    """A month name with digits read for its letters (``0ct`` -> ``Oct``), or the word itself."""
    if word.isdigit() or word.isalpha() or len(word) > len("September"):
        return word
    choices = [_LETTERS_FOR[c] if c.isdigit() else [c] for c in word]
    if any(not options for options in choices):
        return word
    months = {"".join(spelled) for spelled in itertools.product(*choices) if "".join(spelled).lower() in _MONTH_WORDS}
    if len({m.lower() for m in months}) > 1:
        raise _Refused(f"{word!r} could be {sorted(months)}")
    if not months:
        return word
    month = next(iter(months)).lower()
    upper = all(c.isupper() for c in word if c.isalpha())
    return month.upper() if upper else month.capitalize() if word[0].isupper() or word[0].isdigit() else month


def _split_is_date(left: str, right: str) -> bool:
    return bool(_DATE.fullmatch(left + right)) and not _DATE.fullmatch(left) and not _DATE.fullmatch(right)


def _repairs(text: str) -> tuple[str, list[str]]:
    changes: list[str] = []

    def note(kind: str, fix: Callable[[re.Match[str]], str]) -> Callable[[re.Match[str]], str]:
        def apply(match: re.Match[str]) -> str:
            new = fix(match)
            if new != match.group(0):
                changes.append(f"{match.group(0)!r} -> {new!r} ({kind})")
            return new

        return apply

    text = _WORD.sub(note("digit read for a letter of a month", lambda m: _month_for_digits(m.group(0))), text)
    text = _NUMERIC_TOKEN.sub(note("letter read for a digit", lambda m: _digits_for_letters(m.group(0))), text)
    text = _DOUBLED.sub(note("doubled separator", lambda m: m.group(1)), text)
    text = _SPLIT.sub(
        note("space inside a date", lambda m: m.group(1) + m.group(2) if _split_is_date(*m.groups()) else m.group(0)),
        text,
    )
    return text, changes


def repair_ocr(text: str) -> Repair:
    """``text`` with the unambiguous OCR repairs made (see the module), or unchanged when any candidate
    repair is not unambiguous.

    >>> repair_ocr("2O21-O1-15")
    Repair(text='2021-01-15', changes=("'2O21-O1-15' -> '2021-01-15' (letter read for a digit)",))
    >>> repair_ocr("Box 12").changes
    ()
    """
    try:
        repaired, changes = _repairs(text)
    except _Refused:
        return Repair(text)
    return Repair(repaired, tuple(changes))
