"""Pipeline test data: a small born-digital credit card corpus, a tiny tagger built on the spot from
its words (never downloaded), and an HTTP server on loopback for the normalizer services they call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from docfields.ner import build_tagger
from docfields.ocr import ocr_document
from docfields.samples import credit_card_fields
from docfields.samples.corpus import CorpusOptions, write_corpus
from docfields.textract import iter_words


def credit_card_corpus(root: Path, n: int, seed: int) -> Path:
    """``n`` generated born-digital credit card agreements under ``root``; returns their folder."""
    write_corpus(root, CorpusOptions(n=n, seed=seed, scan_share=0.0))
    return root / "docs"


def tiny_tagger(corpus: Path, folder: Path) -> str:
    """A layoutlm-tiny tagger of the credit card fields, its vocabulary the corpus's words, saved in ``folder``."""
    texts = [word.text for path in sorted(corpus.iterdir())
             for word in iter_words(ocr_document(str(path), engine="pdftext"))]  # fmt: skip
    tagger = build_tagger("layoutlm-tiny", credit_card_fields(), texts, seed=0, vocab_size=500)
    return str(tagger.save(folder / "tagger"))


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on a free port of 127.0.0.1 in a thread; yields ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
