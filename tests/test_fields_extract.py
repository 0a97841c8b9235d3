"""Field extraction on hand-built enriched Textract JSON: mentions, Select strategies, confidences,
normalizers, the Result contract, the CLI, and one regression test per [obs] defect of the
original's post-processing (spec section 5), named ``test_obs_*``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from docfields.errors import ResultFormatError
from docfields.fields import (
    NORMALIZER_FAILURE_FACTOR,
    ExtractionResult,
    extract_fields,
    extract_file,
    find_mentions,
    lines_adjacent,
    parse_field_configuration,
    read_result,
)
from docfields.normalize import DateRuleNormalizer, NormalizedValue
from docfields.textract import (
    NormBox,
    OcrLine,
    OcrPage,
    OcrWord,
    build_document,
    iter_words,
    parse_textract,
    textract_to_dict,
    write_textract,
)

LINE_HEIGHT = 0.02


@dataclass(frozen=True)
class W:
    """A word to place: its text, the tagger's class (None: not classified), and both confidences."""

    text: str
    cls: int | None = None
    p: float = 0.9
    ocr: float = 100.0


@dataclass(frozen=True)
class L:
    """A line of words starting at (left, top); words are 0.1 wide with 0.02 gaps."""

    top: float
    words: tuple[W, ...]
    left: float = 0.1


def line(top: float, *words: W, left: float = 0.1) -> L:
    return L(top, words, left)


def enriched(*pages: Sequence[L]):
    """Textract JSON built by the OCR builder, then enriched as ``docfields enrich`` does."""
    ocr_pages, specs = [], []
    for lines in pages:
        built = []
        for spec in lines:
            boxes = [NormBox(spec.left + 0.12 * i, spec.top, 0.1, LINE_HEIGHT) for i in range(len(spec.words))]
            built.append(
                OcrLine(words=tuple(OcrWord(w.text, w.ocr, b) for w, b in zip(spec.words, boxes, strict=True)))
            )
            specs.extend(spec.words)
        ocr_pages.append(OcrPage(lines=tuple(built), engine="test"))
    data = textract_to_dict(build_document(ocr_pages, "docfields-test-1"))
    words = [block for block in data["Blocks"] if block["BlockType"] == "WORD"]
    for block, spec in zip(words, specs, strict=True):
        if spec.cls is not None:
            block["PredictedClass"] = spec.cls
            block["PredictedClassConfidence"] = spec.p
    return parse_textract(data)


def config(*fields: dict):
    return parse_field_configuration(list(fields))


def field(class_id: int, name: str, **keys) -> dict:
    return {"ClassId": class_id, "Name": name, **keys}


def detections(result: ExtractionResult, name: str) -> list:
    return result.fields[name].detections or [d for v in result.fields[name].values or () for d in v.detections]


# --- mentions --------------------------------------------------------------------------------------


def test_mention_is_a_run_of_same_class_words_with_union_box_and_word_ids():
    document = enriched([line(0.1, W("Provider:"), W("First", 1), W("Bank", 1), W("of", 1), W("Ohio", 1), W("x"))])
    result = extract_fields(document, config(field(1, "Provider", Select="longest")))
    (detection,) = detections(result, "Provider")
    words = list(iter_words(document))
    assert detection.text == "First Bank of Ohio"
    assert detection.blocks == [w.id for w in words[1:5]]
    box = detection.bounding_box
    assert (box.left, box.top) == pytest.approx((0.22, 0.1))
    assert box.left + box.width == pytest.approx(0.22 + 0.12 * 3 + 0.1)
    assert box.height == pytest.approx(LINE_HEIGHT)
    assert detection.page_num == 1 and detection.class_name == "Provider" and detection.raw_text is None


def test_mention_continues_onto_an_adjacent_line():
    document = enriched([line(0.10, W("Card"), W("Gold", 14), W("Rewards", 14)), line(0.13, W("Visa", 14), W("x"))])
    (detection,) = detections(extract_fields(document, config(field(14, "Card Name"))), "Card Name")
    assert detection.text == "Gold Rewards\nVisa"
    assert len(detection.blocks) == 3


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (line(0.20, W("Visa", 14)), "more than 1.5 line heights below"),
        (line(0.13, W("Visa", 14), left=0.7), "no horizontal overlap, not aligned"),
        (line(0.10, W("Visa", 14), left=0.5), "same row: a cell to the right"),
    ],
)
def test_mention_does_not_continue_onto_a_non_adjacent_line(second, why):
    document = enriched([line(0.10, W("Gold", 14), W("Rewards", 14)), second])
    found = detections(extract_fields(document, config(field(14, "Card Name"))), "Card Name")
    assert [d.text for d in found] == ["Gold Rewards", "Visa"], why


def test_adjacency_rule_on_line_blocks():
    document = enriched([line(0.10, W("a")), line(0.13, W("b")), line(0.40, W("c")), line(0.43, W("d"), left=0.6)])
    lines = [b for b in document.blocks if b.block_type == "LINE"]
    assert lines_adjacent(lines[0], lines[1])
    assert not lines_adjacent(lines[1], lines[2])  # 0.25 below: a new paragraph
    assert not lines_adjacent(lines[2], lines[3])  # right below, but in another column


def test_other_unconfigured_and_ignored_classes_split_mentions():
    words = (W("A", 0), W("-", 5), W("B", 0), W("ign", 2), W("C", 0), W("raw"), W("D", 0))
    document = enriched([line(0.1, *words)])
    cfg = config(field(0, "Value"), field(2, "Ignored", Ignore=True))
    result = extract_fields(document, cfg)
    assert [v.value for v in result.fields["Value"].values] == ["A", "B", "C", "D"]
    assert list(result.fields) == ["Value"]
    assert [m.class_id for m in find_mentions(document, frozenset({0}))] == [0, 0, 0, 0]


def test_mention_confidence_is_the_weakest_word_of_model_times_ocr():
    document = enriched([line(0.1, W("12", 3, p=0.9, ocr=90.0), W("%", 3, p=0.5, ocr=100.0))])
    (mention,) = find_mentions(document, frozenset({3}))
    assert mention.confidence == pytest.approx(min(0.9 * 0.9, 0.5 * 1.0))


# --- [obs] defects of the original ------------------------------------------------------------------


def test_obs_final_mention_is_emitted():
    """The original never flushed the mention still open at the end of the document."""
    document = enriched([line(0.1, W("Issued"), W("by"), W("Acme", 16), W("Bank", 16))])
    result = extract_fields(document, config(field(16, "Provider Name", Select="longest")))
    assert result.fields["Provider Name"].value == "Acme Bank"
    assert result.fields["Provider Name"].num_detections == 1


def test_obs_mentions_never_cross_pages_and_take_their_own_page_number():
    """The original joined a run across a page break and took PageNum from the next class change."""
    page1 = [line(0.1, W("Name")), line(0.9, W("Acme", 16))]
    page2 = [line(0.05, W("Bank", 16)), line(0.1, W("APR"), W("19%", 4))]
    result = extract_fields(enriched(page1, page2), config(field(16, "Provider"), field(4, "APR", Select="first")))
    assert [(d.text, d.page_num) for d in detections(result, "Provider")] == [("Acme", 1), ("Bank", 2)]
    assert result.fields["APR"].detections[0].page_num == 2


def test_obs_ocr_confidence_0_100_is_converted_before_it_is_combined():
    """The original took min(model 0..1, OCR 0..100): OCR never counted. 50% OCR must halve it."""
    document = enriched([line(0.1, W("$95", 8, p=0.9, ocr=50.0))])
    result = extract_fields(document, config(field(8, "Fee - Annual", Select="confidence")))
    assert result.fields["Fee - Annual"].confidence == pytest.approx(0.45)
    assert 0.0 <= result.confidence <= 1.0


def test_obs_multi_value_field_is_not_diluted_by_many_correct_values():
    """The original divided by the sum then averaged: ten certain values gave 0.1."""
    names = [W(f"Card{i}", 14, p=0.95) for i in range(10)]
    document = enriched([line(0.1 + 0.1 * i, name) for i, name in enumerate(names)])
    result = extract_fields(document, config(field(14, "Card Name")))
    card = result.fields["Card Name"]
    assert card.num_detected_values == 10
    assert card.confidence == pytest.approx(0.95)
    assert [v.confidence for v in card.values] == pytest.approx([0.95] * 10)


def test_obs_all_optional_fields_absent_gives_confidence_one_not_a_crash():
    """The original took min() over no field and raised."""
    document = enriched([line(0.1, W("nothing"), W("here"))])
    cfg = config(field(0, "Date", Optional=True, Select="first"), field(1, "Cards", Optional=True))
    result = extract_fields(document, cfg)
    assert result.confidence == 1.0
    assert result.fields["Date"].value == "" and result.fields["Date"].confidence == 0.0


# --- consolidation ------------------------------------------------------------------------------------

# alpha: first, confidence 0.6 | be: 0.9, shortest | gammaray: last, longest
STRATEGY_DOC = [line(0.1, W("alpha", 2, p=0.6)), line(0.3, W("be", 2, p=0.9)), line(0.5, W("gammaray", 2, p=0.7))]


@pytest.mark.parametrize(
    ("select", "value"),
    [("confidence", "be"), ("first", "alpha"), ("last", "gammaray"), ("longest", "gammaray"), ("shortest", "be")],
)
def test_select_strategies(select, value):
    result = extract_fields(enriched(STRATEGY_DOC), config(field(2, "F", Select=select)))
    chosen = result.fields["F"]
    assert chosen.value == value
    assert [d.text for d in chosen.detections] == [value]
    total = 0.6 + 0.9 + 0.7  # competing values of a single-value field share the belief
    assert chosen.confidence == pytest.approx({"alpha": 0.6, "be": 0.9, "gammaray": 0.7}[value] / total)
    assert chosen.num_detections == 3 and chosen.num_detected_values == 3


@pytest.mark.parametrize(
    ("select", "words", "value"),
    [
        ("confidence", [W("x1", 2, p=0.5), W("x2", 2, p=0.5)], "x1"),  # equal: earliest
        ("longest", [W("aa", 2, p=0.4), W("bb", 2, p=0.6)], "bb"),  # equal length: more confident
        ("longest", [W("aa", 2, p=0.5), W("bb", 2, p=0.5)], "aa"),  # all equal: earliest
        ("shortest", [W("cc", 2, p=0.5), W("dd", 2, p=0.5)], "cc"),
    ],
)
def test_select_ties_are_broken_deterministically(select, words, value):
    document = enriched([line(0.1 + 0.2 * i, w) for i, w in enumerate(words)])
    assert extract_fields(document, config(field(2, "F", Select=select))).fields["F"].value == value


def test_repeated_value_combines_its_sightings_and_last_uses_the_last_sighting():
    words = [W("15%", 4, p=0.5), W("18%", 4, p=0.3), W("15%", 4, p=0.5)]
    document = enriched([line(0.1 + 0.2 * i, w) for i, w in enumerate(words)])
    result = extract_fields(document, config(field(4, "APR", Select="confidence")))
    combined = 1 - 0.5 * 0.5
    assert result.fields["APR"].value == "15%"
    assert result.fields["APR"].confidence == pytest.approx(combined / (combined + 0.3))
    assert len(result.fields["APR"].detections) == 2
    last = extract_fields(document, config(field(4, "APR", Select="last")))
    assert last.fields["APR"].value == "15%"  # its last sighting comes after 18%


def test_multi_value_values_sorted_by_confidence_field_takes_the_weakest():
    words = [W("Gold", 14, p=0.6), W("Platinum", 14, p=0.9), W("Gold", 14, p=0.6)]
    document = enriched([line(0.1 + 0.2 * i, w) for i, w in enumerate(words)])
    card = extract_fields(document, config(field(14, "Card Name"))).fields["Card Name"]
    assert [v.value for v in card.values] == ["Platinum", "Gold"]
    assert [v.confidence for v in card.values] == pytest.approx([0.9, 1 - 0.4 * 0.4])
    assert card.confidence == pytest.approx(0.84)
    assert card.value is None and card.detections is None


def test_a_value_wrapped_onto_two_lines_is_the_value_read_on_one():
    document = enriched([line(0.1, W("Up", 3, p=0.8), W("to", 3, p=0.8)), line(0.1 + LINE_HEIGHT * 1.5, W("$40", 3))],
                        [line(0.1, W("Up", 3, p=0.6), W("to", 3, p=0.6), W("$40", 3, p=0.6))])  # fmt: skip
    fee = extract_fields(document, config(field(3, "Late Fee", Select="confidence"))).fields["Late Fee"]
    assert fee.value == "Up to\n$40" and fee.num_detected_values == 1  # the first sighting's text
    assert fee.confidence == pytest.approx(1 - 0.2 * 0.4) and fee.evidence.agreement == 1.0


def test_multi_value_parts_of_a_longer_value_join_it_instead_of_being_listed():
    words = [[W("Everyday", 14, p=0.9), W("Visa", 14), W("Card", 14)], [W("Everyday", 14, p=0.7), W("Visa", 14)],
             [W("the"), W("card", 14, p=0.5)], [W("Visa", 14, p=0.8), W("Signature", 14)]]  # fmt: skip
    document = enriched([line(0.1 + 0.1 * i, *row) for i, row in enumerate(words)])
    card = extract_fields(document, config(field(14, "Card Name"))).fields["Card Name"]
    by_value = {v.value: v for v in card.values}
    assert set(by_value) == {"Everyday Visa Card", "Visa Signature"}  # "Visa" alone would have joined the first
    assert len(by_value["Everyday Visa Card"].detections) == 3
    assert by_value["Everyday Visa Card"].confidence == pytest.approx(1 - 0.1 * 0.3 * 0.5)
    single = extract_fields(document, config(field(14, "Card Name", Select="first"))).fields["Card Name"]
    assert single.num_detected_values == 4  # single-value fields keep competing readings apart


def test_mandatory_missing_forces_zero_optional_missing_is_ignored():
    document = enriched([line(0.1, W("5%", 4, p=0.8))])
    cfg = config(field(4, "APR", Optional=True, Select="confidence"), field(16, "Provider", Select="longest"))
    result = extract_fields(document, cfg)
    assert result.confidence == 0.0
    cfg = config(field(4, "APR", Select="confidence"), field(16, "Provider", Optional=True, Select="longest"))
    result = extract_fields(document, cfg)
    assert result.confidence == pytest.approx(0.8)
    assert "Optional" not in result.to_json_dict()["Fields"]["APR"]
    assert result.to_json_dict()["Fields"]["Provider"]["Optional"] is True


def test_sort_order_counts_only_extracted_fields_in_configuration_order():
    cfg = config(field(0, "A", Select="first"), field(1, "Skip", Ignore=True), field(2, "B"), field(3, "C"))
    result = extract_fields(enriched([line(0.1, W("x"))]), cfg)
    assert [(name, f.sort_order) for name, f in result.fields.items()] == [("A", 0), ("B", 1), ("C", 2)]


# --- normalizers --------------------------------------------------------------------------------------


def test_rule_normalizer_rewrites_text_and_keeps_raw_text():
    document = enriched([line(0.1, W("Effective"), W("July", 0), W("1,", 0), W("2020", 0))])
    cfg = config(field(0, "Date", Select="first", Normalizer="date:YYYY-MM-DD"))
    result = extract_fields(document, cfg)
    (detection,) = result.fields["Date"].detections
    assert result.fields["Date"].value == "2020-07-01"
    assert (detection.text, detection.raw_text) == ("2020-07-01", "July 1, 2020")
    assert result.fields["Date"].confidence == pytest.approx(0.9)
    assert result.warnings is None


def test_uncertain_normalization_keeps_raw_text_lowers_confidence_and_warns():
    document = enriched([line(0.1, W("03/04/21", 0, p=0.9))])  # day and month may be swapped
    result = extract_fields(document, config(field(0, "Date", Select="first", Normalizer="date:YYYY-MM-DD")))
    date = result.fields["Date"]
    assert date.value == "03/04/21" and date.detections[0].raw_text is None
    assert date.confidence == pytest.approx(0.9 * NORMALIZER_FAILURE_FACTOR)
    assert result.warnings and "'Date'" in result.warnings[0] and "03/04/21" in result.warnings[0]


class RaisingNormalizer:
    name = "broken"

    def normalize(self, texts, contexts=None):
        raise RuntimeError("model crashed")


class CountingNormalizer:
    """The real date rule, counting the batches it is given."""

    name = "counting"

    def __init__(self) -> None:
        self.rule = DateRuleNormalizer("YYYY-MM-DD")
        self.batches: list[list[str]] = []

    def normalize(self, texts, contexts=None) -> list[NormalizedValue]:
        self.batches.append(list(texts))
        return self.rule.normalize(texts, contexts)


def test_raising_normalizer_keeps_raw_text_and_warns():
    document = enriched([line(0.1, W("2020-01-02", 0, p=0.8))])
    cfg = config(field(0, "Date", Select="first"))
    result = extract_fields(document, cfg, normalizers={0: RaisingNormalizer()})
    assert result.fields["Date"].value == "2020-01-02"
    assert result.fields["Date"].confidence == pytest.approx(0.4)
    assert "model crashed" in result.warnings[0]


def test_one_batched_call_per_normalizer_with_distinct_texts():
    words = [W("Jan", 0), W("5,", 0), W("2021", 0), W("and"), W("Jan", 1), W("5,", 1), W("2021", 1)]
    document = enriched([line(0.1, *words), line(0.3, W("Feb", 0), W("1,", 0), W("2022", 0))])
    counting = CountingNormalizer()
    cfg = config(field(0, "Start", Select="first"), field(1, "End", Select="first"))
    result = extract_fields(document, cfg, normalizers={0: counting, 1: counting})
    assert counting.batches == [["Jan 5, 2021", "Feb 1, 2022"]]
    assert (result.fields["Start"].value, result.fields["End"].value) == ("2021-01-05", "2021-01-05")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_normalizer_service_from_the_configuration_keeps_raw_text():
    url = f"http://127.0.0.1:{_closed_port()}/normalize"
    cfg = config(field(0, "Date", Select="first", NormalizerEndpoint=url, NormalizerPrompt="Convert dates to X: "))
    result = extract_fields(enriched([line(0.1, W("1/2/21", 0, p=0.8))]), cfg)
    assert result.fields["Date"].value == "1/2/21"
    assert result.fields["Date"].confidence == pytest.approx(0.4)
    assert any(url in warning for warning in result.warnings)


# --- Result contract, files, CLI ---------------------------------------------------------------------

SINGLE_KEYS = {"ClassId", "Confidence", "NumDetections", "NumDetectedValues", "SortOrder", "Value", "Detections",
               "Evidence"}  # fmt: skip
DETECTION_KEYS = {"ClassId", "ClassName", "Confidence", "Blocks", "BoundingBox", "PageNum", "Text"}


def sample_result() -> ExtractionResult:
    page1 = [line(0.1, W("July", 0), W("1,", 0), W("2020", 0)), line(0.3, W("Gold", 14), W("Card", 14))]
    page2 = [line(0.1, W("Acme", 16), W("Bank", 16)), line(0.3, W("03/04/21", 0))]
    cfg = config(
        field(0, "Date", Optional=True, Select="first", Normalizer="date:YYYY-MM-DD"),
        field(14, "Card Name"),
        field(16, "Provider Name", Select="longest"),
    )
    return extract_fields(enriched(page1, page2), cfg)


def test_result_json_has_exactly_the_contract_keys():
    data = sample_result().to_json_dict()
    assert set(data) == {"Confidence", "Fields", "Warnings"}
    assert set(data["Fields"]["Provider Name"]) == SINGLE_KEYS
    assert set(data["Fields"]["Date"]) == SINGLE_KEYS | {"Optional"}
    card = data["Fields"]["Card Name"]
    assert set(card) == SINGLE_KEYS - {"Value", "Detections"} | {"Values"}
    assert set(card["Values"][0]) == {"Confidence", "Value", "Detections"}
    assert set(card["Values"][0]["Detections"][0]) == DETECTION_KEYS
    assert set(data["Fields"]["Date"]["Detections"][0]) == DETECTION_KEYS | {"RawText"}
    assert set(data["Fields"]["Date"]["Detections"][0]["BoundingBox"]) == {"Top", "Left", "Height", "Width"}


def test_result_round_trips_with_review():
    data = sample_result().to_json_dict()
    assert ExtractionResult.from_json_dict(data).to_json_dict() == data
    review = {
        "Reviewer": "ana",
        "TimeSpentInSeconds": 42.5,
        "ChangedFields": ["Date"],
        "ReviewedAt": "2024-05-01T10:00:00Z",
    }
    reviewed = json.loads(json.dumps({**data, "Review": review}))
    again = ExtractionResult.from_json_dict(reviewed)
    assert again.review is not None and again.review.changed_fields == ["Date"]
    assert again.to_json_dict() == reviewed


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(Confidence=1.5), "Confidence"),
        (lambda d: d["Fields"]["Provider Name"].pop("Value"), "Fields.Provider Name"),
        (lambda d: d.update(Review={"Reviewer": "ana"}), "Review.TimeSpentInSeconds"),
    ],
)
def test_broken_result_names_the_key(mutate, where):
    data = sample_result().to_json_dict()
    mutate(data)
    with pytest.raises(ResultFormatError, match=f"doc.json: {where}"):
        ExtractionResult.from_json_dict(data, source="doc.json")


def test_extract_file_writes_the_result(tmp_path):
    page = [line(0.1, W("Acme", 16, p=0.7))]
    write_textract(enriched(page), str(tmp_path / "doc.enriched.json"))
    out = tmp_path / "out" / "doc.result.json"
    result = extract_file(str(tmp_path / "doc.enriched.json"), config(field(16, "P", Select="first")), str(out))
    assert json.loads(out.read_text()) == result.to_json_dict()
    assert read_result(str(out)).fields["P"].value == "Acme"
    assert [p.name for p in out.parent.iterdir()] == ["doc.result.json"]  # no temporary file left


def test_unenriched_document_warns():
    words = (OcrWord("x", 99, NormBox(0.1, 0.1, 0.1, 0.02)),)
    document = build_document([OcrPage(lines=(OcrLine(words=words),), engine="test")], "docfields-test-1")
    result = extract_fields(document, config(field(0, "A", Select="first")))
    assert result.confidence == 0.0
    assert "enriched" in result.warnings[0]


def test_cli_extract_prints_a_table_and_writes_results(tmp_path):
    from docfields.cli import app

    write_textract(enriched([line(0.1, W("Acme", 16), W("Bank", 16))]), str(tmp_path / "a.json"))
    (tmp_path / "bad.json").write_text("{}")
    (tmp_path / "fields.json").write_text(json.dumps([field(16, "Provider Name", Select="longest")]))
    args = ["fields", "extract", str(tmp_path / "a.json"), str(tmp_path / "bad.json")]
    result = CliRunner().invoke(app, [*args, "--fields", str(tmp_path / "fields.json"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 5, result.output  # the broken file's TextractFormatError; the good one is done
    assert "Provider Name" in result.output and "Acme Bank" in result.output
    written = json.loads((tmp_path / "out" / "a.result.json").read_text())
    assert written["Fields"]["Provider Name"]["Value"] == "Acme Bank"
    assert not (tmp_path / "out" / "bad.result.json").exists()


def test_cli_extract_writes_beside_the_input_by_default(tmp_path):
    from docfields.cli import app

    write_textract(enriched([line(0.1, W("Acme", 16))]), str(tmp_path / "doc.enriched.json"))
    (tmp_path / "fields.json").write_text(json.dumps([field(16, "Provider Name", Select="longest")]))
    args = ["fields", "extract", str(tmp_path / "doc.enriched.json"), "--fields", str(tmp_path / "fields.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert read_result(str(tmp_path / "doc.enriched.result.json")).fields["Provider Name"].value == "Acme"


def test_unloadable_normalizer_model_keeps_raw_text_and_warns(tmp_path):
    # the directory exists, so the configuration is valid; it holds no model, so loading fails
    cfg = config(field(0, "Date", Select="first", Normalizer=str(tmp_path), NormalizerPrompt="Normalize Date: "))
    result = extract_fields(enriched([line(0.1, W("1/2/21", 0, p=0.8))]), cfg)
    assert result.fields["Date"].value == "1/2/21"
    assert result.fields["Date"].confidence == pytest.approx(0.4)
    assert any("unusable" in warning and str(tmp_path) in warning for warning in result.warnings)
    assert extract_fields(enriched([line(0.1, W("other", 5))]), cfg).warnings is None  # not resolved when absent


class _Echo(BaseHTTPRequestHandler):
    """A normalizer service that answers each prompt with itself upper-cased, and records the batches."""

    batches: list[list[str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        inputs = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"]
        type(self).batches.append(inputs)
        body = json.dumps({"generated_text": [text.upper() for text in inputs]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_fields_naming_the_same_normalizer_service_share_one_batched_request():
    _Echo.batches = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/normalize"
    try:
        cfg = config(field(0, "Start", Select="first", NormalizerEndpoint=url, NormalizerPrompt="p: "),
                     field(1, "End", Select="first", NormalizerEndpoint=url, NormalizerPrompt="p: "))  # fmt: skip
        result = extract_fields(enriched([line(0.1, W("jan", 0)), line(0.3, W("feb", 1))]), cfg, generators={})
    finally:
        server.shutdown()
        server.server_close()
    assert _Echo.batches == [["p: jan", "p: feb"]]
    assert (result.fields["Start"].value, result.fields["End"].value) == ("P: JAN", "P: FEB")


# --- evidence --------------------------------------------------------------------------------------


def with_probabilities(document, rows: Sequence[Sequence[float]]):
    """The document with each WORD's ``ClassificationProbabilities`` set (classes 0, 1 and "other")."""
    data = textract_to_dict(document)
    words = [block for block in data["Blocks"] if block["BlockType"] == "WORD"]
    for block, row in zip(words, rows, strict=True):
        block["ClassificationProbabilities"] = list(row)
    return parse_textract(data)


def test_evidence_says_how_close_the_tagger_came_to_a_longer_value_or_another_one():
    document = enriched([line(0.1, W("Late"), W("Up", 0, p=0.9), W("to", 0, p=0.8), W("$40"))],
                        [line(0.1, W("fee"), W("$35"))])  # fmt: skip
    rows = [(0.1, 0.0, 0.9), (0.9, 0.0, 0.1), (0.8, 0.0, 0.2), (0.45, 0.0, 0.55), (0.0, 0.0, 1.0), (0.3, 0.1, 0.6)]
    cfg = config(field(0, "Late Fee", Select="confidence"), field(1, "Annual Fee", Optional=True, Select="first"))
    result = extract_fields(with_probabilities(document, rows), cfg)
    late = result.fields["Late Fee"].evidence
    assert result.fields["Late Fee"].value == "Up to"
    assert late.edge_probability == pytest.approx(0.45)  # "$40", cut off after the value
    assert late.missed_probability == pytest.approx(0.45)  # the best word outside the value
    assert (late.detections, late.values, late.agreement) == (1, 1, 1.0)
    assert late.mention_confidence == pytest.approx(0.8)
    annual = result.fields["Annual Fee"].evidence
    assert annual.detections == 0 and annual.edge_probability == 0.0
    assert annual.missed_probability == pytest.approx(0.1)  # nothing found, and nothing came close


def test_evidence_without_word_probabilities_leaves_the_word_terms_unset():
    result = extract_fields(enriched([line(0.1, W("Gold", 1), W("Card", 1))]), config(field(1, "Card Name")))
    evidence = result.fields["Card Name"].evidence
    assert evidence.missed_probability is None and evidence.edge_probability is None
    assert evidence.ocr_confidence == pytest.approx(1.0) and evidence.normalized is None
