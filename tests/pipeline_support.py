"""A tiny tagger for pipeline tests: built on the spot from a corpus's words, never downloaded."""

from __future__ import annotations

from pathlib import Path

from docfields.ner import build_tagger
from docfields.ocr import ocr_document
from docfields.samples import credit_card_fields
from docfields.textract import iter_words


def tiny_tagger(corpus: Path, folder: Path) -> str:
    """A layoutlm-tiny tagger of the credit card fields, its vocabulary the corpus's words, saved in ``folder``."""
    texts = [word.text for path in sorted(corpus.iterdir())
             for word in iter_words(ocr_document(str(path), engine="pdftext"))]  # fmt: skip
    tagger = build_tagger("layoutlm-tiny", credit_card_fields(), texts, seed=0, vocab_size=500)
    return str(tagger.save(folder / "tagger"))
