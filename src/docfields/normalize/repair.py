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

- a mark the measured table saw only for one digit, next to a digit: ``27/02/2@44``, ``2015-0§-10``; a
  bracket only on its unnatural side (``199(``, ``20)7``; ``(2000)`` and ``5)`` stay);
- a mark the table saw only for separators, between digits, read as the separator the token's others
  show (or the only one it was seen for), when the result is a date or a time: ``1978-07~13``,
  ``11;32:12``, ``12A15/26``; ``02A06`` (nothing to follow) and ``12/31~2000`` (``~`` never ``/``) stay;
- ``2`` read for ``/`` (measured; ``/`` was never dropped) in a run too long for a date part, when exactly
  one ``2`` gives a possible date: ``11205/2041``; ``1/2020`` (a month and year) stays;
- a month or weekday name with one letter misread, when exactly one name is one edit away and the word
  is none the rules know: ``Hov``, ``nar``, ``Nonday``; ``Jen`` (Jan, Jun), ``Non`` (Mon, Nov), ``Sun``,
  ``the`` stay;
- in a text that names a month or weekday, a confusable letter at the edge of a short number (a day or a
  year there, not a suffix): ``Dec 05 8S``, ``Apr Z9th``;
- a space OCR put inside a time (``06: 12AM``), a leading zero split off (``0 8/21/13``: the same date
  either way), a two-digit year split at the end of a named date (``Jun 6th 8 6``).

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

from rapidfuzz.distance import Levenshtein

from docfields.normalize.noise import load_ocr_noise
from docfields.normalize.rules import FILLER_WORDS, MONTH_WORDS, WEEKDAY_WORDS

# Letters OCR reads for digits; inside a run of digits each stands for exactly one digit.
CONFUSABLE_DIGITS = {"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1", "Z": "2",
                     "z": "2", "S": "5", "s": "5", "G": "6", "b": "6", "T": "7", "B": "8", "g": "9"}  # fmt: skip

_SEPARATORS = "/-.,:"


def _measured_marks() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """Marks OCR put beside or between digits, by what the measured table (``ocr_confusions.json``) saw
    each replace there (a digit or a separator: a letter is no reading between digits):
    ``{mark: digit}`` for non-letters only ever read for one digit (``@`` for ``0``, ``§`` for ``5``), and
    ``{mark: separators}`` for marks only ever read for separators (``;`` for ``:``, ``~`` for ``-`` or
    ``.``, the letter ``A`` for ``/``). A mark read for two digits (``$``: ``5`` and ``8``) is in neither."""
    digits, separators = {}, {}
    for mark, by_truth in load_ocr_noise().sources().items():
        truths = {truth for truth in by_truth if truth.isdigit() or truth in _SEPARATORS}
        if not truths or mark.isdigit() or mark in _SEPARATORS or mark.isspace() or mark in CONFUSABLE_DIGITS:
            continue
        if truths <= set(_SEPARATORS):
            separators[mark] = frozenset(truths)
        elif len(truths) == 1 and not mark.isalpha():
            digits[mark] = next(iter(truths))
    return digits, separators


_DIGIT_MARKS, _SEPARATOR_MARKS = _measured_marks()
MIN_LETTER_SHARE = 0.8  # a letter stands for its digit when it was that digit at least this often where measured


def _doubtful_letters() -> frozenset[str]:
    """Letters of ``CONFUSABLE_DIGITS`` the measured table saw read for other digits too often to
    repair: ``B`` was an ``8`` and a ``7`` once each, ``i`` a ``1``, a ``0`` and a ``7``, ``T`` only ever a
    ``1``. Repairing them would give a wrong date as often as not; the text is flagged instead."""
    sources = load_ocr_noise().sources()
    by_digit = {letter: {t: n for t, n in sources.get(letter, {}).items() if t.isdigit()}
                for letter in CONFUSABLE_DIGITS}  # fmt: skip
    return frozenset(
        letter for letter, counts in by_digit.items()
        if counts.get(CONFUSABLE_DIGITS[letter], 0.0) < MIN_LETTER_SHARE * sum(counts.values())
    )  # fmt: skip


DOUBTFUL_LETTERS = _doubtful_letters()
DIGIT_LETTERS = {k: v for k, v in CONFUSABLE_DIGITS.items() if k not in DOUBTFUL_LETTERS}  # what repairs read
_READ_AS_DIGIT = DIGIT_LETTERS | _DIGIT_MARKS
_END = r"(?=[AaPp]\.?[Mm]\b)|(?![A-Za-z0-9])"  # a token ends at a non-word or at AM/PM ("01;42AM")
_NUMERIC_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])[\d{re.escape(_SEPARATORS + ''.join(_READ_AS_DIGIT))}$€£%]+(?:st|nd|rd|th)?(?:{_END})"
)
_MARKED_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])[\d{re.escape(_SEPARATORS + ''.join(_SEPARATOR_MARKS) + ''.join(_READ_AS_DIGIT))}]+(?:{_END})"
)
_ORDINAL = re.compile(r"(?<=[^\W_])(?:st|nd|rd|th)$")
_EDGE_MARKS = "$€£%.,:"  # signs and trailing punctuation around a number, not part of its digits
_WORD = re.compile(r"[A-Za-z0-9]+")
_LETTERS_FOR = {digit: [letter for letter, d in CONFUSABLE_DIGITS.items() if d == digit] for digit in "0123456789"}
_DOUBLED = re.compile(rf"(?<=\d)([{re.escape(_SEPARATORS)}])\1+(?=\d)")
_DATE = re.compile(r"\d{1,2}([/.-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}([/.-])\d{1,2}\2\d{1,2}")
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
_SPLIT = re.compile(r"(?<![\w/.-])([\d/.-]*\d[\d/.-]*) +([\d/.-]*\d[\d/.-]*)(?![\w/.-])")
_SLASH_PAIR = re.compile(r"(?<![\w/.-])(\d+)/(\d+)(?![\w/.-])")
_SLASH_RUN_DIGITS = 5  # a run this long is no part of a date: it holds the other "/" (read as "2": "11205/2041")
_SPACED_COLON = re.compile(r"(?<![\d:])(\d{1,2})(?: :|: | : )(\d{2})(?![\d/.-])")
_SPLIT_YEAR = re.compile(r"(?<=[A-Za-z]) (\d{1,2}(?:st|nd|rd|th)?,?) (\d) (\d)$")  # "Jun 6th 8 6"
# A word that names a month or weekday (the date rules' words), and the words the rules know.
_NAMES = {**MONTH_WORDS, **{word: f"weekday {day}" for word, day in WEEKDAY_WORDS.items()}}
_KNOWN_WORDS = set(_NAMES) | FILLER_WORDS
_NAME_MIN_LETTERS = 3  # "st", "Ar" (AM misread): too short to be a misspelt name with any confidence
_EDGE_LETTER_DIGITS = 3  # "8S", "2O42": a letter at the edge of at most this many digits (a day or a year)


@dataclass(frozen=True)
class Repair:
    """A text after OCR repair, and each change made (``'2O21' -> '2021'``); no changes: as given."""

    text: str
    changes: tuple[str, ...] = ()


class _Refused(Exception):
    """A candidate repair that is not unambiguous: the whole text stays as it is."""


def _digits_for_letters(token: str, named: bool) -> str:
    """The token with its confusable letters and measured digit marks read as digits, or the token itself
    when it is not a number. ``named``: the text names a month or weekday, so a short number with a letter
    at its edge is a day or a year there (``Dec 05 8S``), not a suffix (``1990s``, ``Unit 12B``)."""
    core = token.strip(_EDGE_MARKS)
    ordinal = _ORDINAL.search(core)
    number = core[: ordinal.start()] if ordinal else core
    marks = [i for i, c in enumerate(number) if c in _READ_AS_DIGIT]
    if not marks:
        return token
    letters = [i for i in marks if number[i].isalpha()]
    digits = sum(c.isdigit() for c in number)
    if not digits:
        return token  # a word ("ISO", "Sl"), not a number
    separated = any(c in _SEPARATORS for c in number)
    at_edge = named and len(letters) == 1 and letters[0] in (0, len(number) - 1) and not separated
    if not at_edge:
        if digits <= len(letters):
            raise _Refused(f"{token!r} has as many letters as digits")
        if number[-1] in CONFUSABLE_DIGITS and not separated and not ordinal:
            raise _Refused(f"{token!r} ends in a letter that may be a suffix")
    elif digits > _EDGE_LETTER_DIGITS:
        raise _Refused(f"{token!r} is too long for a day or a year with a misread edge")
    for i in marks:
        before, after = number[i - 1 : i], number[i + 1 : i + 2]
        if number[i] == "(" and not before.isdigit() or number[i] == ")" and not after.isdigit():
            return token  # a bracket on its own side of a number: "(2000)", "1)"
        if not (before + after) or not any(c.isdigit() for c in before + after):
            raise _Refused(f"{number[i]!r} in {token!r} is not next to a digit")
    repaired = "".join(_READ_AS_DIGIT.get(c, c) for c in number) + core[len(number) :]
    start = token.index(core)
    return token[:start] + repaired + token[start + len(core) :]


def _is_digit(char: str) -> bool:
    return char.isdigit() or char in _READ_AS_DIGIT


def _separators_for_marks(token: str) -> str:
    """A date or time with a mark OCR read for a separator between digits (``1978-07~13``, ``11;32:12``)
    read with the separator: the one the token's other separators show, or the only one the mark was
    ever measured for; the token itself when the marks leave a choice or the result is no date or time."""
    marks = [i for i, c in enumerate(token) if c in _SEPARATOR_MARKS]
    if not marks:
        return token
    others = {c for c in token if c in _SEPARATORS}
    chars = list(token)
    for i in marks:
        if not (0 < i < len(token) - 1 and _is_digit(token[i - 1]) and _is_digit(token[i + 1])):
            return token
        options = _SEPARATOR_MARKS[token[i]] & others if others else _SEPARATOR_MARKS[token[i]]
        if len(options) != 1 or len(others) > 1 or token[i].isalpha() and not others:
            return token  # "02A06": the letter alone does not make it a date
        chars[i] = next(iter(options))
    repaired = "".join(chars)
    shape = "".join(_READ_AS_DIGIT.get(c, c) for c in repaired)  # "12/16A19S0": its letters are the next repair's
    return repaired if _DATE.fullmatch(shape) or _TIME.fullmatch(shape) else token


def _name_for_misspelling(word: str) -> str:
    """A month or weekday name OCR misread by one letter (``Hov`` -> ``Nov``, ``Nonday`` -> ``Monday``),
    when exactly one month or weekday is one edit away; the word itself otherwise (``Jen``: Jan or Jun),
    and always for a word the rules know (``Sun`` is not ``Jun``, ``the`` is not ``Thu``)."""
    lower = word.lower()
    if not word.isalpha() or len(word) < _NAME_MIN_LETTERS or lower in _KNOWN_WORDS:
        return word
    near = {name for name in _NAMES if Levenshtein.distance(lower, name, score_cutoff=1) <= 1}
    if len({_NAMES[name] for name in near}) != 1:
        return word
    name = min(near, key=lambda n: (Levenshtein.distance(lower, n), n))
    return name.upper() if word.isupper() and len(word) > 1 else name.capitalize() if word[0].isupper() else name


def _slash_for_two(match: re.Match[str]) -> str:
    """``11205/2041`` -> ``11/05/2041``: the measured table saw ``/`` read as ``2`` and never dropped, so a
    slashed date with one ``/`` and a run too long for a date part holds its other ``/`` as a ``2``. Read so
    only when exactly one ``2`` gives a date whose day and month can exist (``1/2020`` is a month and year)."""
    left, right = match.groups()
    whole = match.group(0)
    dates = set()
    for i, char in enumerate(whole):
        if char != "2" or len(left if i < len(left) else right) < _SLASH_RUN_DIGITS:
            continue
        text = f"{whole[:i]}/{whole[i + 1 :]}"
        if not _DATE.fullmatch(text):
            continue
        first, second, _ = (int(n) for n in text.split("/"))
        if 1 <= min(first, second) <= 12 and max(first, second) <= 31:
            dates.add(text)
    return dates.pop() if len(dates) == 1 else match.group(0)


def _joined_split(match: re.Match[str]) -> str:
    """``12/3 1/2000`` -> ``12/31/2000`` when only the joined text is a date; ``0 8/21/13`` -> ``08/21/13``
    too: a split-off leading zero gives the same date either way."""
    left, right = match.groups()
    joined = left + right
    if _DATE.fullmatch(joined) and (left == "0" or not _DATE.fullmatch(left) and not _DATE.fullmatch(right)):
        return joined
    return match.group(0)


def _month_for_digits(word: str) -> str:
    """A month name with digits read for its letters (``0ct`` -> ``Oct``), or the word itself."""
    if word.isdigit() or word.isalpha() or len(word) > len("September"):
        return word
    choices = [_LETTERS_FOR[c] if c.isdigit() else [c] for c in word]
    if any(not options for options in choices):
        return word
    months = {"".join(spelled) for spelled in itertools.product(*choices) if "".join(spelled).lower() in MONTH_WORDS}
    if len({m.lower() for m in months}) > 1:
        raise _Refused(f"{word!r} could be {sorted(months)}")
    if not months:
        return word
    month = next(iter(months)).lower()
    upper = all(c.isupper() for c in word if c.isalpha())
    return month.upper() if upper else month.capitalize() if word[0].isupper() or word[0].isdigit() else month


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
    text = _WORD.sub(note("misread letter of a month or weekday", lambda m: _name_for_misspelling(m.group(0))), text)
    named = any(word.lower() in _NAMES for word in re.findall(r"[A-Za-z]+", text))
    text = _MARKED_TOKEN.sub(note("mark read for a separator", lambda m: _separators_for_marks(m.group(0))), text)
    text = _NUMERIC_TOKEN.sub(note("letter read for a digit", lambda m: _digits_for_letters(m.group(0), named)), text)
    text = _DOUBLED.sub(note("doubled separator", lambda m: m.group(1)), text)
    text = _SLASH_PAIR.sub(note("'2' read for '/'", _slash_for_two), text)
    text = _SPLIT.sub(note("space inside a date", _joined_split), text)
    text = _SPACED_COLON.sub(note("space inside a time", lambda m: f"{m.group(1)}:{m.group(2)}"), text)
    if named:
        text = _SPLIT_YEAR.sub(note("space inside a year", lambda m: f" {m.group(1)} {m.group(2)}{m.group(3)}"), text)
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
