"""Property tests of the Textract JSON reader and validator, and of the invocations endpoint (issue 14).

Random block graphs (ids drawn from a small pool, so duplicates, dangling, looping and
self-referencing CHILD links are common), geometry with NaN, infinities, huge, negative and
out-of-range values, missing and extra keys, wrong JSON types, and enrichment keys with random
values; both fully random documents and valid ones with a few random mutations (which reach the
code past the first check). The property: reading and validating gives either a document every
consumer can use (words, LayoutLM boxes, fields extraction) or a ``DocfieldsError``, never any
other exception; and ``/models/{name}/invocations`` answers 200 or 4xx, never 5xx.

Deterministic (``derandomize``) and small (a few dozen examples), as the suite runs on 2 cores.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docfields.errors import DocfieldsError
from docfields.fields import extract_fields, parse_field_configuration
from docfields.textract import (
    TextractDocument,
    iter_words,
    normalized_to_layoutlm,
    parse_textract,
    textract_to_dict,
    validate_textract,
)
from hardening_support import enriched, tagger_service

FAST = settings(max_examples=60)
CONFIG = parse_field_configuration([
    {"ClassId": 0, "Name": "Other", "Ignore": True},
    {"ClassId": 1, "Name": "Date", "Select": "first"},
    {"ClassId": 2, "Name": "Total"},
])

IDS = st.sampled_from(["p", "l1", "l2", "w1", "w2", "w3", ""]) | st.text(max_size=4)
NUMBERS = st.sampled_from([0.0, 0.1, 0.5, 1.0, -0.1, 1.2, 1e308, -1e308, math.nan, math.inf, -math.inf]) | st.floats()
JUNK = st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.lists(st.integers(), max_size=2)
JUNK |= st.just({})


def _box() -> st.SearchStrategy[Any]:
    keys = {k: NUMBERS | JUNK for k in ("Width", "Height", "Left", "Top")}
    return st.fixed_dictionaries({}, optional=keys) | JUNK


def _geometry() -> st.SearchStrategy[Any]:
    point = st.fixed_dictionaries({"X": NUMBERS, "Y": NUMBERS}) | JUNK
    optional = {"BoundingBox": _box(), "Polygon": st.lists(point, max_size=5) | JUNK}
    return st.fixed_dictionaries({}, optional=optional) | JUNK


def _relationships() -> st.SearchStrategy[Any]:
    relationship = st.fixed_dictionaries(
        {"Type": st.sampled_from(["CHILD", "VALUE"]) | JUNK, "Ids": st.lists(IDS, max_size=4) | JUNK}
    )
    return st.lists(relationship, max_size=3) | JUNK


ENRICHMENT = {
    "ClassificationProbabilities": st.lists(NUMBERS, max_size=4) | JUNK,
    "PredictedClass": st.integers(-2, 5) | st.sampled_from([999, 1e23]) | JUNK,
    "PredictedClassConfidence": NUMBERS | JUNK,
}


@st.composite
def random_block(draw: st.DrawFn) -> Any:
    optional = {
        "Id": IDS | JUNK, "BlockType": st.sampled_from(["PAGE", "LINE", "WORD", "KEY_VALUE_SET"]) | JUNK,
        "Confidence": NUMBERS | JUNK, "Text": st.text(max_size=8) | JUNK, "TextType": st.just("PRINTED") | JUNK,
        "Page": st.integers(-1, 3) | JUNK, "Geometry": _geometry(), "Relationships": _relationships(),
        "Extra": JUNK, **ENRICHMENT,
    }  # fmt: skip
    return draw(st.fixed_dictionaries({}, optional=optional) | JUNK)


@st.composite
def random_document(draw: st.DrawFn) -> Any:
    metadata = st.fixed_dictionaries({}, optional={"Pages": st.integers(-1, 3) | JUNK})
    optional = {"DocumentMetadata": metadata | JUNK, "Blocks": st.lists(random_block(), max_size=8) | JUNK,
                "Warnings": st.lists(st.text()) | JUNK}  # fmt: skip
    return draw(st.fixed_dictionaries({}, optional=optional) | JUNK)


@st.composite
def mutated_document(draw: st.DrawFn) -> dict[str, Any]:
    """A valid enriched document with one to three random changes to its blocks."""
    data = enriched({"03/04/2021": 1, "12.50": 2})
    blocks = data["Blocks"]
    ids = [b["Id"] for b in blocks] + ["nowhere"]  # taken before any change: a changed Id may be anything
    for _ in range(draw(st.integers(1, 3))):
        block = blocks[draw(st.integers(0, len(blocks) - 1))]
        change = draw(st.sampled_from(["set", "delete", "box", "link", "duplicate", "enrich"]))
        if change == "set":
            block[draw(st.sampled_from(sorted(block)))] = draw(NUMBERS | JUNK)
        elif change == "delete":
            block.pop(draw(st.sampled_from(sorted(block))))
        elif change == "box" and isinstance(block.get("Geometry"), dict):
            block["Geometry"]["BoundingBox"][draw(st.sampled_from(["Width", "Height", "Left", "Top"]))] = draw(NUMBERS)
        elif change == "link":
            links = block["Relationships"] if isinstance(block.get("Relationships"), list) else []
            block["Relationships"] = [*links, {"Type": "CHILD", "Ids": [draw(st.sampled_from(ids))]}]
        elif change == "duplicate":
            block["Id"] = draw(st.sampled_from(ids))
        else:
            key = draw(st.sampled_from(sorted(ENRICHMENT)))
            block[key] = draw(ENRICHMENT[key])
    return data


DOCUMENTS = random_document() | mutated_document()


def _use(document: TextractDocument) -> None:
    """What consumers do with a valid document: walk words, make LayoutLM boxes, extract fields."""
    for word in iter_words(document):
        if word.geometry is not None:
            box = normalized_to_layoutlm(word.geometry.bounding_box)
            assert all(0 <= v <= 1000 for v in box)
    extract_fields(document, CONFIG, normalizers={})
    parse_textract(json.loads(json.dumps(textract_to_dict(document))))


@FAST
@given(DOCUMENTS)
def test_reading_any_json_gives_a_usable_document_or_a_docfields_error(data):
    try:
        document = parse_textract(json.dumps(data), source="random.json")
        validate_textract(document, source="random.json")
    except DocfieldsError as exc:
        assert "random.json" in str(exc)
        return
    _use(document)


@FAST
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_reading_any_bytes_gives_a_document_or_a_docfields_error(raw):
    try:
        parse_textract(raw, source="raw.json")
    except DocfieldsError as exc:
        assert "raw.json" in str(exc)


def test_the_mutations_leave_some_documents_valid_and_break_others():
    """Else the property above would test only refusals, or only acceptances."""
    valid: list[bool] = []

    @FAST
    @given(mutated_document())
    def check(data: dict[str, Any]) -> None:
        try:
            validate_textract(parse_textract(data))
            valid.append(True)
        except DocfieldsError:
            valid.append(False)

    check()
    assert any(valid) and not all(valid)


@pytest.fixture(scope="module")
def tagger_client(tmp_path_factory):
    with tagger_service(tmp_path_factory.mktemp("tagger")) as client:
        yield client


@settings(max_examples=15)
@given(DOCUMENTS, st.booleans())
def test_invocations_answer_200_or_4xx_never_5xx(tagger_client, data, wrapped):
    body = {"Content": data} if wrapped else data
    answer = tagger_client.post("/models/tiny/invocations", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 200 or 400 <= answer.status_code < 500, answer.text
