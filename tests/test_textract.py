"""Tests for docfields.textract against real Textract responses and the real client libraries.

trp (amazon-textract-response-parser) and textractor (amazon-textract-textractor) are the readers
our JSON must satisfy, so they are used as they are, without mocks.
"""

from __future__ import annotations

import copy
import gc
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trp
from textractor.entities.document import Document as TextractorDocument

from docfields.errors import DocumentError, TextractFormatError
from docfields.textract import (
    BoundingBox,
    NormBox,
    OcrLine,
    OcrPage,
    OcrWord,
    Point,
    TextractDocument,
    bbox_to_polygon,
    build_document,
    concat_documents,
    confidence_to_percent,
    confidence_to_unit,
    iter_pages,
    iter_words,
    layoutlm_to_normalized,
    line_words,
    normalized_to_layoutlm,
    normalized_to_pixels,
    page_lines,
    page_words,
    parse_textract,
    pixels_to_normalized,
    polygon_to_bbox,
    read_textract,
    textract_to_dict,
    union_bbox,
    validate_textract,
    write_textract,
)

REAL_RESPONSES = [
    "detect_document_text.single-page-1.json",
    "analyze_document.form.json",
    "analyze_document.sample-invoice.json",
    "analyze_document.textractor-multipage-doc.json",
    "analyze_document.gib__90_degrees.json",
]
MULTIPAGE = "analyze_document.textractor-multipage-doc.json"
SINGLE_PAGE = "detect_document_text.single-page-1.json"


@pytest.fixture(scope="module")
def textract_dir(shared_data: Path) -> Path:
    return shared_data / "textract"


def load_raw(textract_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((textract_dir / name).read_bytes())


def trp_words(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(Id, Text) of every word, in trp's page -> line -> word order."""
    document = trp.Document(copy.deepcopy(data))
    return [(w.id, w.text) for page in document.pages for line in page.lines for w in line.words]


# --- real Textract responses ---------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_RESPONSES)
def test_real_response_round_trips_exactly(textract_dir: Path, name: str, tmp_path: Path) -> None:
    original = load_raw(textract_dir, name)
    document = read_textract(str(textract_dir / name))
    validate_textract(document, name)
    assert textract_to_dict(document) == original

    target = tmp_path / "copy.json"
    write_textract(document, str(target), indent=2)
    assert json.loads(target.read_bytes()) == original
    assert textract_to_dict(read_textract(str(target))) == original


def test_real_response_keeps_unknown_blocks_and_keys(textract_dir: Path) -> None:
    document = read_textract(str(textract_dir / "analyze_document.form.json"))
    types = {block.block_type for block in document.blocks}
    assert {"KEY_VALUE_SET", "TABLE", "CELL", "SELECTION_ELEMENT", "LAYOUT_TITLE"} <= types
    key_value = next(b for b in document.blocks if b.block_type == "KEY_VALUE_SET")
    assert key_value.model_extra is not None
    assert key_value.model_extra["EntityTypes"] in (["KEY"], ["VALUE"])
    assert document.model_extra is not None
    assert set(document.model_extra) == {"AnalyzeDocumentModelVersion", "ResponseMetadata"}
    assert "Warnings" not in textract_to_dict(document)


@pytest.mark.parametrize("name", REAL_RESPONSES)
def test_real_response_words_match_trp_and_textractor(textract_dir: Path, name: str) -> None:
    original = load_raw(textract_dir, name)
    document = parse_textract(original, name)
    ours = [(word.id, word.text) for word in iter_words(document)]
    assert ours == trp_words(original)

    textractor = TextractorDocument.open(copy.deepcopy(original))
    # textractor sorts words and lines by position: compare the set, and word order per line.
    assert {(w.id, w.text) for w in textractor.words} == set(ours)
    assert len(textractor.words) == len(ours)
    index = document.block_index()
    for page in textractor.pages:
        for line in page.lines:
            expected = [w.id for w in line_words(document, index[line.id])]
            assert [w.id for w in line.words] == expected


def test_page_words_follow_pages(textract_dir: Path) -> None:
    original = load_raw(textract_dir, MULTIPAGE)
    document = parse_textract(original)
    pages = trp.Document(copy.deepcopy(original)).pages
    for number, page in enumerate(pages, start=1):
        expected = [w.id for line in page.lines for w in line.words]
        assert [w.id for w in page_words(document, number)] == expected
    assert len(page_words(document, 1)) + len(page_words(document, 2)) == 106
    with pytest.raises(IndexError, match="page 3 not in 1..2"):
        page_words(document, 3)
    with pytest.raises(IndexError):
        page_words(document, 0)


def test_block_index_is_cached_and_follows_changes(textract_dir: Path) -> None:
    document = parse_textract((textract_dir / SINGLE_PAGE).read_bytes())
    first = document.block_index()
    assert document.block_index() is first
    extra = document.blocks[-1].model_copy(update={"id": "added-block"})
    document.blocks.append(extra)
    assert document.block_index()["added-block"] is extra
    document.blocks = document.blocks[:10]
    assert len(document.block_index()) == 10


def test_parse_accepts_bytes_text_and_dict(textract_dir: Path) -> None:
    raw = (textract_dir / SINGLE_PAGE).read_bytes()
    from_bytes = textract_to_dict(parse_textract(raw))
    assert textract_to_dict(parse_textract(raw.decode("utf-8"))) == from_bytes
    assert textract_to_dict(parse_textract(json.loads(raw))) == from_bytes


def test_a2i_response_is_not_textract(textract_dir: Path) -> None:
    path = textract_dir / "a2i-response.json"
    with pytest.raises(TextractFormatError) as info:
        read_textract(str(path))
    message = str(info.value)
    assert str(path) in message
    assert "no 'Blocks'" in message
    assert "aiServiceResponse" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2]", "found: list"),
        (b'{"Blocks": []}', "DocumentMetadata: Field required"),
        (b'{"DocumentMetadata": {"Pages": 1}, "Blocks": 3}', "Blocks: Input should be a valid"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(TextractFormatError, match="bad.json") as info:
        read_textract(str(path))
    assert expected in str(info.value)


@pytest.mark.parametrize("enabled", [True, False])
def test_parsing_restores_the_garbage_collector(textract_dir: Path, enabled: bool) -> None:
    """Parsing pauses the cyclic GC for speed; the caller's setting must come back, even on error."""
    (gc.enable if enabled else gc.disable)()
    try:
        parse_textract((textract_dir / SINGLE_PAGE).read_bytes())
        with pytest.raises(TextractFormatError):
            parse_textract(b'{"DocumentMetadata": {"Pages": "many"}, "Blocks": []}')
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(DocumentError, match="missing.json"):
        read_textract(str(missing))


# --- validation ----------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], tuple[int | None, str]]


def _nth(data: dict[str, Any], block_type: str, n: int = 0) -> int:
    return [i for i, b in enumerate(data["Blocks"]) if b["BlockType"] == block_type][n]


def _set(block_type: str, path: tuple[str, ...], value: Any, key: str) -> Mutation:
    """Set (or with value None, delete) a nested key of the first block of a type."""

    def mutate(data: dict[str, Any]) -> tuple[int | None, str]:
        i = _nth(data, block_type)
        target = data["Blocks"][i]
        for part in path[:-1]:
            target = target[part]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return i, key

    return mutate


def _page_count(data: dict[str, Any]) -> tuple[int | None, str]:
    data["DocumentMetadata"]["Pages"] = 3
    return None, "DocumentMetadata.Pages"


def _dangling_child(data: dict[str, Any]) -> tuple[int | None, str]:
    i = _nth(data, "LINE")
    data["Blocks"][i]["Relationships"][0]["Ids"][1] = "no-such-block"
    return i, "Relationships[0].Ids[1]"


def _duplicate_id(data: dict[str, Any]) -> tuple[int | None, str]:
    first, second = _nth(data, "SELECTION_ELEMENT", 0), _nth(data, "SELECTION_ELEMENT", 1)
    data["Blocks"][second]["Id"] = data["Blocks"][first]["Id"]
    return second, "Id"


BBOX = ("Geometry", "BoundingBox")
DEFECTS: dict[str, Mutation] = {
    "pages-count": _page_count,
    "dangling-child": _dangling_child,
    "duplicate-id": _duplicate_id,
    "word-without-text": _set("WORD", ("Text",), None, "Text"),
    "word-blank-text": _set("WORD", ("Text",), "  ", "Text"),
    "word-without-text-type": _set("WORD", ("TextType",), None, "TextType"),
    "line-without-confidence": _set("LINE", ("Confidence",), None, "Confidence"),
    "confidence-above-100": _set("WORD", ("Confidence",), 140.0, "Confidence"),
    "confidence-below-0": _set("LINE", ("Confidence",), -1.0, "Confidence"),
    "left-outside": _set("WORD", (*BBOX, "Left"), 1.5, "Geometry.BoundingBox.Left"),
    "height-negative": _set("LINE", (*BBOX, "Height"), -0.2, "Geometry.BoundingBox.Height"),
    "right-edge-outside": _set("WORD", (*BBOX, "Width"), 0.98, "Geometry.BoundingBox.Left + Width"),
    "width-missing": _set("WORD", (*BBOX, "Width"), None, "Geometry.BoundingBox.Width"),
    "width-not-number": _set("WORD", (*BBOX, "Width"), "wide", "Geometry.BoundingBox.Width"),
    "polygon-missing": _set("WORD", ("Geometry", "Polygon"), None, "Geometry.Polygon"),
    "page-above-pages": _set("WORD", ("Page",), 3, "Page"),
    "page-zero": _set("LINE", ("Page",), 0, "Page"),
    "id-not-string": _set("LINE", ("Id",), 12, "Id"),
}


def test_unmutated_copy_is_valid(textract_dir: Path) -> None:
    document = parse_textract(load_raw(textract_dir, MULTIPAGE))
    validate_textract(document)
    assert document.document_metadata.pages == 2


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_validation_names_block_and_key(textract_dir: Path, defect: str) -> None:
    data = load_raw(textract_dir, MULTIPAGE)
    index, key = DEFECTS[defect](data)
    with pytest.raises(TextractFormatError) as info:
        validate_textract(parse_textract(data, "mutated.json"), "mutated.json")
    message = str(info.value)
    assert message.startswith("mutated.json: ")
    if index is None:
        assert f"{key}: " in message
    else:
        label = f"Blocks[{index}] (Id {data['Blocks'][index]['Id']})"
        assert f"{label}: {key}: " in message, message
    if defect == "width-not-number":
        assert "Input should be a valid number" in message


def test_validation_reports_several_problems_briefly(textract_dir: Path) -> None:
    data = load_raw(textract_dir, MULTIPAGE)
    for block in data["Blocks"]:
        block["Confidence"] = 101.0
    with pytest.raises(TextractFormatError) as info:
        validate_textract(parse_textract(data))
    message = str(info.value)
    assert message.count("outside 0..100") == 5
    assert f"and {len(data['Blocks']) - 5} more problem(s)" in message


# --- building Textract JSON from OCR records ----------------------------------------------------

# (page, text, left, top, width, height, text type, confidence) of every word as built.
EXPECTED_WORDS = [
    (1, "Invoice", 0.1, 0.05, 0.2, 0.04, "PRINTED", 99.0),
    (1, "No.", 0.32, 0.05, 0.06, 0.04, "PRINTED", 95.0),
    (1, "12345", 0.4, 0.05, 0.1, 0.04, "PRINTED", 90.0),
    (1, "Total:", 0.1, 0.2, 0.1, 0.03, "PRINTED", 97.0),
    (1, "€12.50", 0.22, 0.2, 0.1, 0.03, "PRINTED", 85.5),
    (1, "margin", 0.0, 0.5, 0.05, 0.02, "PRINTED", 0.0),
    (1, "edge", 0.9, 0.95, 0.1, 0.05, "PRINTED", 100.0),
    (2, "Signed", 0.1, 0.8, 0.15, 0.05, "HANDWRITING", 70.0),
    (2, "J.", 0.27, 0.8, 0.03, 0.05, "HANDWRITING", 60.0),
    (2, "Page", 0.45, 0.93, 0.06, 0.02, "PRINTED", 98.0),
    (2, "2", 0.52, 0.93, 0.01, 0.02, "PRINTED", 98.0),
]


def _word(text: str, box: tuple[float, ...], conf: float, kind: str = "PRINTED") -> OcrWord:
    return OcrWord(text=text, confidence=conf, box=NormBox(*box), text_type=kind)


def sample_pages() -> list[OcrPage]:
    """Two pages with a whitespace word, empty lines, out-of-page boxes and confidences."""
    first = OcrPage(
        engine="tesseract",
        lines=(
            OcrLine(
                words=(
                    _word("Invoice", (0.1, 0.05, 0.2, 0.04), 99.0),
                    _word("No.", (0.32, 0.05, 0.06, 0.04), 95.0),
                    _word("  ", (0.39, 0.05, 0.01, 0.04), 10.0),
                    _word("12345", (0.4, 0.05, 0.1, 0.04), 90.0),
                )
            ),
            OcrLine(words=()),
            OcrLine(
                words=(
                    _word("Total:", (0.1, 0.2, 0.1, 0.03), 97.0),
                    _word(" €12.50 ", (0.22, 0.2, 0.1, 0.03), 85.5),
                ),
                confidence=80.0,
            ),
            OcrLine(words=(_word("", (0.5, 0.5, 0.1, 0.1), 50.0),)),
            OcrLine(words=(_word("margin", (-0.05, 0.5, 0.1, 0.02), -1.0),)),
            OcrLine(words=(_word("edge", (0.9, 0.95, 0.2, 0.1), 120.0),)),
        ),
    )
    second = OcrPage(
        engine="rapidocr",
        lines=(
            OcrLine(
                words=(
                    _word("Signed", (0.1, 0.8, 0.15, 0.05), 70.0, "HANDWRITING"),
                    _word("J.", (0.27, 0.8, 0.03, 0.05), 60.0, "HANDWRITING"),
                )
            ),
            OcrLine(
                words=(
                    _word("Page", (0.45, 0.93, 0.06, 0.02), 98.0),
                    _word("2", (0.52, 0.93, 0.01, 0.02), 98.0),
                )
            ),
        ),
    )
    return [first, second]


@pytest.fixture
def built() -> TextractDocument:
    return build_document(sample_pages(), "docfields-test-1.0")


def assert_box(actual: tuple[float, ...], expected: tuple[float, ...]) -> None:
    assert actual == pytest.approx(expected, abs=1e-6)


def ltwh(box: Any) -> tuple[float, float, float, float]:
    """(left, top, width, height) of our, trp's or textractor's box."""
    if hasattr(box, "x"):  # textractor
        return box.x, box.y, box.width, box.height
    return box.left, box.top, box.width, box.height


def test_build_document_shape(built: TextractDocument) -> None:
    validate_textract(built)
    data = textract_to_dict(built)
    top_level = ["Blocks", "DetectDocumentTextModelVersion", "DocumentMetadata", "JobStatus"]
    assert sorted(data) == top_level
    assert data["DetectDocumentTextModelVersion"] == "docfields-test-1.0"
    assert data["DocumentMetadata"] == {"Pages": 2}
    assert data["JobStatus"] == "SUCCEEDED"
    # P = PAGE, L = LINE, W = WORD: each LINE is followed by its words, page by page.
    assert "".join(b["BlockType"][0] for b in data["Blocks"]) == "PLWWWLWWLWLW" + "PLWWLWW"
    common = {"Id", "BlockType", "Page", "Geometry"}
    keys = {
        "PAGE": common | {"Relationships", "Engine"},
        "LINE": common | {"Relationships", "Text", "Confidence"},
        "WORD": common | {"Text", "TextType", "Confidence"},
    }
    for block in data["Blocks"]:
        assert set(block) == keys[block["BlockType"]]
        assert uuid.UUID(block["Id"]).version == 4
        assert len(block["Geometry"]["Polygon"]) == 4
    pages = [b for b in data["Blocks"] if b["BlockType"] == "PAGE"]
    assert [p["Engine"] for p in pages] == ["tesseract", "rapidocr"]
    assert [p["Page"] for p in pages] == [1, 2]
    full_page = {"Width": 1.0, "Height": 1.0, "Left": 0.0, "Top": 0.0}
    assert pages[0]["Geometry"]["BoundingBox"] == full_page


def test_build_document_words_lines_and_confidences(built: TextractDocument) -> None:
    words = list(iter_words(built))
    assert [(w.page, w.text, w.text_type, w.confidence) for w in words] == [
        (e[0], e[1], e[6], e[7]) for e in EXPECTED_WORDS
    ]
    for word, expected in zip(words, EXPECTED_WORDS, strict=True):
        assert word.geometry is not None
        assert_box(ltwh(word.geometry.bounding_box), expected[2:6])
    first_page = next(iter_pages(built))
    lines = page_lines(built, first_page)
    assert [line.text for line in lines] == ["Invoice No. 12345", "Total: €12.50", "margin", "edge"]
    assert lines[0].confidence == pytest.approx((99.0 + 95.0 + 90.0) / 3)
    assert lines[1].confidence == 80.0
    assert lines[0].geometry is not None
    assert_box(ltwh(lines[0].geometry.bounding_box), (0.1, 0.05, 0.4, 0.04))
    polygon = [v for p in lines[0].geometry.polygon for v in (p.x, p.y)]
    assert polygon == pytest.approx([0.1, 0.05, 0.5, 0.05, 0.5, 0.09, 0.1, 0.09])


def test_build_document_survives_write_and_read(built: TextractDocument, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "ocr.json"
    write_textract(built, str(target))
    assert not list(target.parent.glob("*.tmp"))
    again = read_textract(str(target))
    assert textract_to_dict(again) == textract_to_dict(built)
    assert [w.id for w in iter_words(again)] == [w.id for w in iter_words(built)]


def test_build_document_loads_in_textractor(built: TextractDocument, tmp_path: Path) -> None:
    target = tmp_path / "ocr.json"
    write_textract(built, str(target))
    for source in (str(target), textract_to_dict(built)):
        document = TextractorDocument.open(source)
        assert len(document.pages) == 2
        words = [(page, w) for page in document.pages for line in page.lines for w in line.words]
        assert len(words) == len(EXPECTED_WORDS)
        for (page, word), expected in zip(words, EXPECTED_WORDS, strict=True):
            assert (page.page_num, word.text, word.confidence * 100) == pytest.approx(
                (expected[0], expected[1], expected[7])
            )
            assert word.text_type.name == expected[6]
            assert_box(ltwh(word.bbox), expected[2:6])


def test_build_document_loads_in_trp(built: TextractDocument) -> None:
    document = trp.Document(textract_to_dict(built))
    assert len(document.pages) == 2
    pages = enumerate(document.pages, start=1)
    words = [(n, w) for n, page in pages for line in page.lines for w in line.words]
    assert len(words) == len(EXPECTED_WORDS)
    for (page, word), expected in zip(words, EXPECTED_WORDS, strict=True):
        assert (page, word.text, word.textType, word.confidence) == expected[:2] + expected[6:]
        assert_box(ltwh(word.geometry.boundingBox), expected[2:6])
    assert [line.text for line in document.pages[1].lines] == ["Signed J.", "Page 2"]


def test_build_document_with_an_empty_page_loads_everywhere() -> None:
    pages = [OcrPage(lines=(), engine="tesseract"), sample_pages()[1]]
    built = build_document(pages, "docfields-test-1.0")
    validate_textract(built)
    assert page_words(built, 1) == []
    assert [w.text for w in page_words(built, 2)] == ["Signed", "J.", "Page", "2"]
    assert [len(p.lines) for p in trp.Document(textract_to_dict(built)).pages] == [0, 2]
    assert len(TextractorDocument.open(textract_to_dict(built)).words) == 4


# --- joining documents ---------------------------------------------------------------------------


def test_concat_documents_renumbers_pages(built: TextractDocument) -> None:
    first, second = (build_document([page], "docfields-test-1.0") for page in sample_pages())
    joined = concat_documents([first, second], model_version="docfields-joined-2")
    validate_textract(joined)
    assert joined.document_metadata.pages == 2
    assert joined.detect_document_text_model_version == "docfields-joined-2"
    assert joined.model_extra == {"JobStatus": "SUCCEEDED"}
    assert [w.text for w in iter_words(joined)] == [w.text for w in iter_words(built)]
    assert [w.text for w in page_words(joined, 2)] == ["Signed", "J.", "Page", "2"]
    assert {b.page for b in joined.blocks[len(first.blocks) :]} == {2}
    assert {b.page for b in second.blocks} == {1}, "the inputs are not changed"


def test_concat_real_responses(textract_dir: Path) -> None:
    single = read_textract(str(textract_dir / SINGLE_PAGE))
    multi = read_textract(str(textract_dir / MULTIPAGE))
    multi.warnings = ["thumbnails missing"]
    joined = concat_documents([single, multi])
    validate_textract(joined)
    assert joined.document_metadata.pages == 3
    assert joined.detect_document_text_model_version == "1.0"
    assert joined.warnings == ["thumbnails missing"]
    assert [b.page for b in joined.blocks if b.block_type == "PAGE"] == [1, 2, 3]
    ids = [w.id for w in iter_words(joined)]
    assert ids == [w.id for w in iter_words(single)] + [w.id for w in iter_words(multi)]
    assert len(TextractorDocument.open(textract_to_dict(joined)).words) == 51 + 106
    assert "Page" not in textract_to_dict(single)["Blocks"][0]


# --- enrichment keys -----------------------------------------------------------------------------


def test_enrichment_keys_survive_round_trip(textract_dir: Path, tmp_path: Path) -> None:
    data = load_raw(textract_dir, SINGLE_PAGE)
    data["Warnings"] = ["no thumbnails: blank images used"]
    for n, block in enumerate(b for b in data["Blocks"] if b["BlockType"] == "WORD"):
        block["ClassificationProbabilities"] = [0.125, 0.25, 0.625] if n % 2 else [0.75, 0.25, 0.0]
        block["PredictedClass"] = 2 if n % 2 else 0
        block["PredictedClassConfidence"] = 0.625 if n % 2 else 0.75
    target = tmp_path / "enriched.json"
    write_textract(parse_textract(data), str(target))
    again = read_textract(str(target))
    assert textract_to_dict(again) == data
    assert again.warnings == ["no thumbnails: blank images used"]
    predicted = {b["Id"]: b["PredictedClass"] for b in data["Blocks"] if "PredictedClass" in b}
    words = list(iter_words(again))
    assert len(words) == len(predicted) == 51
    classes = [(w.model_extra or {}).get("PredictedClass") for w in words]
    assert classes == [predicted[w.id] for w in words]


def test_enrichment_keys_set_in_python_are_written(built: TextractDocument) -> None:
    word = next(iter_words(built))
    word.PredictedClass = 3
    word.ClassificationProbabilities = [0.1, 0.2, 0.3, 0.4]
    word.PredictedClassConfidence = 0.4
    written = next(b for b in textract_to_dict(built)["Blocks"] if b["Id"] == word.id)
    assert written["PredictedClass"] == 3
    assert written["ClassificationProbabilities"] == [0.1, 0.2, 0.3, 0.4]
    assert written["PredictedClassConfidence"] == 0.4
    validate_textract(built)


# --- box conversions -----------------------------------------------------------------------------


def test_bbox_to_polygon_is_tl_tr_br_bl() -> None:
    polygon = bbox_to_polygon(BoundingBox(left=0.1, top=0.2, width=0.3, height=0.4))
    corners = [v for p in polygon for v in (p.x, p.y)]
    assert corners == pytest.approx([0.1, 0.2, 0.4, 0.2, 0.4, 0.6, 0.1, 0.6])


def test_polygon_to_bbox_keeps_axes_on_a_wide_box() -> None:
    wide = [Point(x=0.1, y=0.2), Point(x=0.7, y=0.2), Point(x=0.7, y=0.3), Point(x=0.1, y=0.3)]
    box = polygon_to_bbox(wide)
    assert (box.left, box.top, box.width, box.height) == pytest.approx((0.1, 0.2, 0.6, 0.1))
    tilted = [Point(x=0.5, y=0.1), Point(x=0.9, y=0.4), Point(x=0.6, y=0.8), Point(x=0.2, y=0.5)]
    box = polygon_to_bbox(tilted)
    assert (box.left, box.top, box.width, box.height) == pytest.approx((0.2, 0.1, 0.7, 0.7))
    with pytest.raises(ValueError):
        polygon_to_bbox([])


def test_polygon_and_box_round_trip() -> None:
    box = NormBox(0.12, 0.34, 0.05, 0.2)
    back = polygon_to_bbox(bbox_to_polygon(box))
    assert (back.left, back.top, back.width, back.height) == pytest.approx((0.12, 0.34, 0.05, 0.2))


def test_union_bbox() -> None:
    boxes = [NormBox(0.1, 0.5, 0.1, 0.1), BoundingBox(left=0.4, top=0.2, width=0.2, height=0.05)]
    union = union_bbox(boxes)
    assert (union.left, union.top, union.width, union.height) == pytest.approx((0.1, 0.2, 0.5, 0.4))
    with pytest.raises(ValueError):
        union_bbox([])


def test_layoutlm_conversion_round_trip_and_clamp() -> None:
    box = BoundingBox(left=0.1236, top=0.2, width=0.3, height=0.4)
    assert normalized_to_layoutlm(box) == (124, 200, 424, 600)
    back = layoutlm_to_normalized(normalized_to_layoutlm(box))
    assert (back.left, back.top, back.width, back.height) == pytest.approx((0.124, 0.2, 0.3, 0.4), abs=1e-9)
    assert normalized_to_layoutlm(NormBox(-0.1, 0.9, 1.3, 0.2)) == (0, 900, 1000, 1000)
    assert all(isinstance(v, int) for v in normalized_to_layoutlm(box))


def test_pixel_conversion_round_trip_and_clamp() -> None:
    box = BoundingBox(left=0.1, top=0.2, width=0.3, height=0.4)
    assert normalized_to_pixels(box, 1000, 500) == (100, 100, 400, 300)
    back = pixels_to_normalized(100, 100, 400, 300, 1000, 500)
    assert (back.left, back.top, back.width, back.height) == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert normalized_to_pixels(NormBox(-0.1, 0.5, 1.5, 0.7), 200, 100) == (0, 50, 200, 100)
    with pytest.raises(ValueError, match="image size"):
        pixels_to_normalized(0, 0, 10, 10, 0, 100)


def test_confidence_units() -> None:
    assert confidence_to_unit(87.5) == 0.875
    assert confidence_to_percent(0.875) == 87.5
    assert confidence_to_percent(confidence_to_unit(33.3)) == pytest.approx(33.3)
