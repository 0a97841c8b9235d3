"""Shared setup of the review tests: a small synthetic corpus with its truth, an untrained tagger, documents in review.

The tagger is a tiny untrained LayoutLM built on the spot (as in ``test_pipeline_run``): its
confidence is low, so with ``review_threshold=1.0`` every document lands in review, through
the real pipeline. The corpus and the tagger are built once per test session and shared by
the review test modules; each module gets its own pipeline home.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docfields.ner import build_tagger
from docfields.ocr import ocr_document
from docfields.pipeline import Pipeline, PipelineSettings
from docfields.review.flowback import FieldAnswer, ReviewAnswers
from docfields.samples import credit_card_fields
from docfields.samples.corpus import CorpusOptions, write_corpus
from docfields.textract import iter_words

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
TOKEN = "kiosk-token-3"


@dataclass(frozen=True)
class Corpus:
    """Two born-digital agreements (5 pages each), their page images, truth, and a tagger."""

    root: Path
    model: str
    truth: dict[str, dict[str, Any]]  # by document id (cc-0000)

    def doc(self, doc: str) -> Path:
        return self.root / "docs" / f"{doc}.pdf"

    def page_image(self, doc: str, page: int) -> Path:
        return self.root / "pages" / f"{doc}-{page:04d}.png"


_CORPORA: dict[int, Corpus] = {}


def shared_corpus(factory: Any) -> Corpus:
    """The session's corpus and tagger (``factory`` is pytest's ``tmp_path_factory``)."""
    if id(factory) not in _CORPORA:
        root = factory.mktemp("review-corpus")
        write_corpus(root, CorpusOptions(n=2, seed=5, scan_share=0.0))
        docs = sorted((root / "docs").iterdir())
        texts = [word.text for path in docs for word in iter_words(ocr_document(str(path), engine="pdftext"))]
        tagger = build_tagger("layoutlm-tiny", credit_card_fields(), texts, seed=0, vocab_size=500)
        model = str(tagger.save(factory.mktemp("review-model") / "tagger"))
        truth = {row["id"]: row for row in map(json.loads, (root / "truth.jsonl").read_text().splitlines())}
        _CORPORA[id(factory)] = Corpus(root, model, truth)
    return _CORPORA[id(factory)]


def pipeline_in_review(corpus: Corpus, home: Path, files: dict[str, Path]) -> tuple[Pipeline, dict[str, str]]:
    """A pipeline in ``home`` that processed ``files`` (name -> path) into review; returns it and the ids by name."""
    pipeline = Pipeline(PipelineSettings(home=str(home), model=corpus.model, review_threshold=1.0))
    ids = {name: pipeline.submit(str(path), name=name) for name, path in files.items()}
    pipeline.run_until_idle()
    for name, doc_id in ids.items():
        status = pipeline.status(doc_id)
        assert status.status == "in_review", f"{name}: {status.status} {status.error}"
    return pipeline, ids


def truth_answers(result: dict[str, Any], truth_fields: dict[str, Any]) -> ReviewAnswers:
    """The answers of a perfect reviewer: the truth's value for every field, absent where it has none."""
    answers = {}
    for name, field in result["Fields"].items():
        value = truth_fields.get(name)
        if "Values" in field:
            answers[name] = FieldAnswer(present=bool(value), values=list(value or []))
        else:
            answers[name] = FieldAnswer(present=bool(value), value=value or "")
    return ReviewAnswers(fields=answers)


def review_settings_dict() -> dict[str, Any]:
    """Review settings with two users, one token, and no assignment (hashes made now)."""
    from docfields.review.settings import hash_password

    return {
        "users": {name: hash_password(password) for name, password in PASSWORDS.items()},
        "tokens": {"kiosk": hash_password(TOKEN)},
        "secret_key": "test-secret-key-for-signing-cookies",
    }


def hidden_value(html: str, name: str) -> str:
    """The value of a hidden input in a page."""
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden input {name} in the page"
    return match.group(1)
