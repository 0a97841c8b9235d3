"""Enrichment: every WORD classified, long pages, page targets, bad inputs, real Textract readers, CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from docfields.errors import DocumentError, TextractFormatError
from docfields.ner import (
    ENRICH_KEYS,
    EnrichOptions,
    Tagger,
    build_tagger,
    enrich,
    enrich_file,
    enrich_request,
    page_example,
)
from docfields.textract import (
    NormBox,
    OcrLine,
    OcrPage,
    OcrWord,
    build_document,
    concat_documents,
    iter_words,
    parse_textract,
    read_textract,
    textract_to_dict,
    validate_textract,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cord(shared_data):
    return shared_data / "cord"


@pytest.fixture(scope="module")
def tagger(cord) -> Tagger:
    fields = json.loads((cord / "fields.json").read_text())
    files = [cord / "textract" / f"train_{i:04d}.json" for i in range(60)]
    texts = (word.text for path in files for word in iter_words(read_textract(str(path))))
    return build_tagger("layoutlm-tiny", fields, texts, seed=0)


@pytest.fixture(scope="module")
def model_dir(tagger, tmp_path_factory):
    return tagger.save(tmp_path_factory.mktemp("model") / "tagger")


def receipt(cord, i: int = 0):
    return read_textract(str(cord / "textract" / f"valid_{i:04d}.json"))


def enriched_words(document) -> list[dict]:
    data = textract_to_dict(document)
    return [b for b in data["Blocks"] if b["BlockType"] == "WORD" and "PredictedClass" in b]


def check_word(block: dict, num_labels: int) -> None:
    probabilities = block["ClassificationProbabilities"]
    assert len(probabilities) == num_labels and sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert block["PredictedClass"] == int(np.argmax(probabilities))
    assert block["PredictedClassConfidence"] == pytest.approx(max(probabilities))
    assert 0.0 < block["PredictedClassConfidence"] <= 1.0


def test_every_word_is_enriched_and_real_readers_load_the_result(cord, tagger):
    import trp
    from textractor.entities.document import Document

    document = receipt(cord)
    enriched = enrich(document, tagger)
    words = enriched_words(enriched)
    assert len(words) == sum(1 for _ in iter_words(document)) > 0
    for block in words:
        check_word(block, tagger.num_labels)
    assert enriched.warnings is None
    data = textract_to_dict(enriched)
    validate_textract(parse_textract(data))
    assert len(Document.open(json.loads(json.dumps(data))).words) == len(words)
    assert sum(len(line.words) for line in trp.Document(json.loads(json.dumps(data))).pages[0].lines) == len(words)


def test_every_word_of_a_2000_word_page_gets_a_prediction(tagger, cord):
    vocabulary = [w.text for w in iter_words(receipt(cord, 1))]
    rng = random.Random(0)
    lines = tuple(
        OcrLine(words=tuple(
            OcrWord(rng.choice(vocabulary), 95.0, NormBox(0.01 + 0.049 * col, 0.005 + 0.0099 * row, 0.045, 0.008))
            for col in range(20)
        ))
        for row in range(100)
    )  # fmt: skip
    document = build_document([OcrPage(lines=lines, engine="test")], "docfields-test-1")
    assert sum(1 for _ in iter_words(document)) == 2000
    windows = tagger.encode(0, page_example(list(iter_words(document)), "d", 1))
    assert len(windows) >= 4
    enriched = enrich(document, tagger, EnrichOptions(batch_size=4))
    words = enriched_words(enriched)
    assert len(words) == 2000
    for block in words[::97]:
        check_word(block, tagger.num_labels)


def test_target_page_classifies_that_page_only(cord, tagger):
    document = concat_documents([receipt(cord, i) for i in range(3)])
    enriched = enrich(document, tagger, EnrichOptions(target_page_num=2))
    pages = {block["Page"] for block in enriched_words(enriched)}
    assert pages == {2}
    assert len(enriched_words(enriched)) == sum(1 for _ in iter_words(receipt(cord, 1)))
    assert enriched.document_metadata.pages == 3


def test_target_page_only_outputs_one_page_that_readers_load(cord, tagger):
    from textractor.entities.document import Document

    document = concat_documents([receipt(cord, i) for i in range(3)])
    enriched = enrich(document, tagger, EnrichOptions(target_page_num=3, target_page_only=True))
    assert enriched.document_metadata.pages == 1
    assert {block.page for block in enriched.blocks} == {1}
    validate_textract(enriched)
    words = enriched_words(enriched)
    assert [w["Text"] for w in words] == [w.text for w in iter_words(receipt(cord, 2))]
    assert len(Document.open(textract_to_dict(enriched)).words) == len(words)


@pytest.mark.parametrize(("options", "message"), [
    (EnrichOptions(target_page_num=4), "TargetPageNum 4 outside 1..1"),
    (EnrichOptions(target_page_only=True), "needs a TargetPageNum"),
])  # fmt: skip
def test_bad_page_targets_raise(cord, tagger, options, message):
    with pytest.raises(DocumentError, match=message):
        enrich(receipt(cord), tagger, options)


def test_skipped_words_are_named_in_warnings(cord, tagger):
    data = textract_to_dict(receipt(cord))
    data["Warnings"] = ["from OCR"]
    words = [b for b in data["Blocks"] if b["BlockType"] == "WORD"]
    del words[0]["Geometry"]
    lines = [b for b in data["Blocks"] if b["BlockType"] == "LINE"]
    line = next(b for b in lines if words[0]["Id"] not in b["Relationships"][0]["Ids"])
    loose = line["Relationships"][0]["Ids"].pop()  # a WORD no LINE reaches any more
    enriched = enrich(parse_textract(data), tagger)
    assert enriched.warnings[0] == "from OCR"
    assert any("1 WORD block(s) without Geometry" in w for w in enriched.warnings)
    assert any("1 WORD block(s) not reached from a LINE" in w for w in enriched.warnings)
    unclassified = {b["Id"] for b in textract_to_dict(enriched)["Blocks"] if b["BlockType"] == "WORD"} - {
        b["Id"] for b in enriched_words(enriched)
    }
    assert unclassified == {words[0]["Id"], loose}


def test_request_forms_of_the_original_endpoint(cord, tagger):
    data = textract_to_dict(receipt(cord))
    root = enrich_request({**data, "TargetPageNum": 1}, tagger)
    assert "TargetPageNum" not in root and len(enriched_words(parse_textract(root))) > 0
    wrapped = enrich_request({"Content": data, "TargetPageNum": 1, "S3Output": {"Bucket": "b"}}, tagger)
    assert wrapped["Warnings"] == ["S3Output ignored by this service"]
    from_uri = enrich_request({"S3Input": {"S3Uri": str(cord / "textract" / "valid_0000.json")}}, tagger)
    assert from_uri["Blocks"] == root["Blocks"]
    with pytest.raises(TextractFormatError, match="TargetPageNum"):
        enrich_request({**data, "TargetPageNum": 0}, tagger)
    with pytest.raises(TextractFormatError, match="Blocks"):
        enrich_request({"Content": {"Pages": 1}}, tagger)


def test_bf16_stays_close_to_float32(cord, tagger):
    exact = enriched_words(enrich(receipt(cord), tagger))
    fast = enriched_words(enrich(receipt(cord), tagger, EnrichOptions(bf16=True)))
    difference = np.abs(np.array([w["ClassificationProbabilities"] for w in exact])
                        - np.array([w["ClassificationProbabilities"] for w in fast]))  # fmt: skip
    assert difference.max() < 0.05


def test_enrich_file_and_the_command(cord, model_dir, tmp_path):
    from docfields.cli.main import app

    source = str(cord / "textract" / "valid_0002.json")
    written = enrich_file(source, str(tmp_path / "api.json"), Tagger.load(model_dir))
    runner = CliRunner()
    result = runner.invoke(app, ["enrich", source, "--model", str(model_dir), "-o", str(tmp_path / "cli.json")])
    assert result.exit_code == 0, result.output
    cli = json.loads((tmp_path / "cli.json").read_text())
    expected = [(b.model_extra or {}).get("PredictedClass") for b in written.blocks]
    assert [b.get("PredictedClass") for b in cli["Blocks"]] == expected
    assert all(key in b for b in cli["Blocks"] if b["BlockType"] == "WORD" for key in ENRICH_KEYS)


@pytest.mark.parametrize(("args", "code"), [
    (["--model", "/nonexistent/model"], 9),
    (["--page", "5"], 3),
])  # fmt: skip
def test_the_command_maps_bad_inputs_to_exit_codes(cord, model_dir, tmp_path, args, code):
    from docfields.cli.main import app

    source = str(cord / "textract" / "valid_0000.json")
    base = ["enrich", source, "-o", str(tmp_path / "out.json")]
    if "--model" not in args:
        base += ["--model", str(model_dir)]
    result = CliRunner().invoke(app, [*base, *args])
    assert result.exit_code == code, result.output
    assert not (tmp_path / "out.json").exists()


def test_the_command_refuses_a_file_that_is_not_textract(model_dir, tmp_path):
    from docfields.cli.main import app

    (tmp_path / "in.json").write_text('{"hello": 1}')
    result = CliRunner().invoke(app, ["enrich", str(tmp_path / "in.json"), "--model", str(model_dir), "-o",
                                      str(tmp_path / "out.json")])  # fmt: skip
    assert result.exit_code == 5 and "Blocks" in result.output
