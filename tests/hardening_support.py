"""Shared setup of the hardening tests: the service in-process, Textract documents, a tiny tagger, a recording server.

- ``AsgiClient``: httpx over ``ASGITransport``, called from plain (sync) tests; the app runs in
  the test process with no server and no lifespan (no pipeline workers), as the style guide asks.
- ``ocr_document`` / ``enriched``: a small generated Textract JSON, and the same with the
  enrichment keys a tagger writes, so extraction tests need no model.
- ``tiny_tagger``: an untrained ``layoutlm-tiny`` saved to a folder, for the invocations endpoint;
  ``tagger_service``: the app in-process serving it as model ``tiny``.
- ``RecordingServer``: a real HTTP server on 127.0.0.1 that answers every request the same way
  and records each one, to prove whether the service called it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from docfields.textract import NormBox, OcrLine, OcrPage, OcrWord, TextractDocument, build_document, textract_to_dict

WORDS = ("Invoice", "date", "03/04/2021", "Total", "12.50")


class AsgiClient:
    """An httpx client bound to an ASGI app through ``ASGITransport``, with sync calls and kept cookies.

    ``address`` is the client address the app sees (``request.client.host``).
    """

    def __init__(self, app: Any, address: str = "127.0.0.1", headers: dict[str, str] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> AsgiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ocr_document(words: tuple[str, ...] = WORDS) -> TextractDocument:
    """One page, one line per two words, boxes well inside the page."""
    lines = []
    for row, start in enumerate(range(0, len(words), 2)):
        chunk = words[start : start + 2]
        boxes = (NormBox(0.1 + 0.3 * k, 0.1 + 0.08 * row, 0.25, 0.04) for k in range(len(chunk)))
        lines.append(OcrLine(words=tuple(OcrWord(text, 95.0, box) for text, box in zip(chunk, boxes, strict=True))))
    return build_document([OcrPage(lines=tuple(lines), engine="test")], "docfields-test-1")


def enriched(classes: dict[str, int], num_labels: int = 3, document: TextractDocument | None = None) -> dict[str, Any]:
    """The JSON of ``document`` whose WORDs carry enrichment keys: the class in ``classes`` by text, else 0."""
    data = textract_to_dict(document or ocr_document())
    for block in data["Blocks"]:
        if block["BlockType"] == "WORD":
            predicted = classes.get(block["Text"], 0)
            probabilities = [0.9 if k == predicted else 0.1 / (num_labels - 1) for k in range(num_labels)]
            block |= {"ClassificationProbabilities": probabilities, "PredictedClass": predicted,
                      "PredictedClassConfidence": 0.9}  # fmt: skip
    return data


def word_index(data: dict[str, Any], text: str) -> int:
    """The index in ``Blocks`` of the WORD with this text."""
    return next(i for i, b in enumerate(data["Blocks"]) if b["BlockType"] == "WORD" and b["Text"] == text)


def tiny_tagger(folder: Path) -> str:
    """An untrained layoutlm-tiny tagger (three classes) saved in ``folder``; returns its directory."""
    from docfields.ner import build_tagger

    fields = [{"ClassId": 0, "Name": "Other", "Ignore": True}, {"ClassId": 1, "Name": "Date"},
              {"ClassId": 2, "Name": "Total"}]  # fmt: skip
    tagger = build_tagger("layoutlm-tiny", fields, list(WORDS), seed=0, vocab_size=200)
    return str(tagger.save(folder / "tagger"))


@contextmanager
def tagger_service(folder: Path) -> Iterator[AsgiClient]:
    """The app in-process (no workers) serving ``tiny_tagger`` as the model ``tiny``."""
    from docfields.pipeline import PipelineSettings
    from docfields.serve import ServeSettings, create_app

    settings = ServeSettings(pipeline=PipelineSettings(home=str(folder / "home")), workers=0,
                             models={"tiny": tiny_tagger(folder)})  # fmt: skip
    with AsgiClient(create_app(settings)) as client:
        yield client


class RecordingServer:
    """What a ``RecordingServer`` saw: the (method, path) of every request, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.url = ""


@contextmanager
def recording_server(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> Iterator[RecordingServer]:
    """A real HTTP server on a free 127.0.0.1 port answering every request with ``status`` and JSON ``body``."""
    record = RecordingServer()
    payload = json.dumps(body if body is not None else {"generated_text": ["2021-04-03"]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            record.calls.append((self.command, self.path))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="recording-server", daemon=True)
    thread.start()
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
