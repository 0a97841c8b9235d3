"""Unambiguous repairs of OCR misreadings in dates and amounts (``O`` read for ``0`` inside a number).

Filled in by issue 20's OCR-noise work: ``repair_ocr(text)`` returns the repaired text and the
changes made, so a rule that reads a repaired text can say what it changed.
"""

from __future__ import annotations

# Letters OCR reads for digits; inside a run of digits each stands for exactly one digit.
CONFUSABLE_DIGITS = {"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1",
                     "Z": "2", "z": "2", "S": "5", "s": "5", "G": "6", "b": "6", "T": "7", "B": "8", "g": "9"}  # fmt: skip
