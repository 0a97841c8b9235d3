"""``evaluate ner``: the table on hand-built predictions, a saved tagger on a hand-built manifest, mismatched fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from docfields.annotations import PageAnnotation, PageBox, page_to_record
from docfields.errors import ModelError
from docfields.ner.data import PageExample
from docfields.ner.evaluate import NerEvaluation, evaluate_ner, evaluate_predictions
from docfields.textract import write_textract
from hardening_support import WORDS, ocr_document, tiny_tagger

NAMES = ["date", "total", "tax"]  # class 3 is "other"
MODEL_NAMES = {0: "Other", 1: "Date", 2: "Total"}  # tiny_tagger's fields
PAGES = 3


def page(document: str, number: int, labels: list[int]) -> PageExample:
    words = tuple(f"{document}{number}w{i}" for i in range(len(labels)))
    return PageExample(document, number, words, ((0, 0, 10, 10),) * len(labels), tuple(labels))


def test_hand_built_predictions_give_the_expected_table():
    examples = [page("a", 1, [0, 0, 3, 1, 3, 3]), page("b", 2, [1, 1, 3, 0]), page("b", 3, [0, 3, 3])]
    predicted = [[0, 0, 3, 3, 3, 1], [1, 1, 2, 0], [1, 1, 1]]
    evaluation = evaluate_predictions(examples, predicted, NAMES)
    rows = {row.name: row for row in evaluation.field_scores}
    assert [row.name for row in evaluation.field_scores] == [*NAMES, "micro", "macro"]
    table = {name: (row.precision, row.recall, row.f1, row.support, row.predicted) for name, row in rows.items()}
    assert table["date"] == pytest.approx((1.0, 2 / 3, 0.8, 3, 2))
    assert table["total"] == pytest.approx((1 / 3, 1 / 2, 0.4, 2, 3))
    assert table["tax"] == (0.0, 0.0, 0.0, 0, 1)
    assert table["micro"] == pytest.approx((0.5, 0.6, 6 / 11, 5, 6))
    assert table["macro"] == pytest.approx((2 / 3, 7 / 12, 0.6, 5, 5))  # tax holds no entity: not averaged
    assert evaluation.micro is rows["micro"] and evaluation.macro is rows["macro"]
    assert evaluation.confusion.labels == [*NAMES, "other"]
    assert evaluation.confusion.counts == [[3, 1, 0, 0], [0, 2, 0, 1], [0, 0, 0, 0], [0, 3, 1, 2]]
    assert evaluation.confusion.confusions()[0] == ("other", "total", 3)
    assert (evaluation.pages, evaluation.words, evaluation.word_accuracy) == (3, 13, pytest.approx(7 / 13))
    assert evaluation.word_metrics.acc == pytest.approx((4 / 6 + 3 / 4 + 0) / 3)
    assert evaluation.word_metrics.focus_acc == pytest.approx((2 / 4 + 3 / 4 + 0) / 3)
    assert [(p.document, p.page, p.wrong, p.words) for p in evaluation.worst_pages] == [
        ("b", 3, 3, 3), ("a", 1, 2, 6), ("b", 2, 1, 4)
    ]  # fmt: skip
    assert [(w.text, w.true, w.predicted) for w in evaluation.worst_pages[1].wrong_words] == [
        ("a1w3", "total", "other"), ("a1w5", "other", "total")
    ]  # fmt: skip


def test_worst_pages_keep_ten_pages_and_twenty_words_each_in_reading_order():
    examples = [page("d", n, [3] * (n + 1)) for n in range(12)]
    evaluation = evaluate_predictions(examples, [[0] * len(e.words) for e in examples], NAMES)
    assert [p.page for p in evaluation.worst_pages] == list(range(11, 1, -1))
    worst = evaluation.worst_pages[0]
    assert (worst.wrong, worst.words, len(worst.wrong_words)) == (12, 12, 12)
    long = evaluate_predictions([page("x", 1, [3] * 30)], [[1] * 30], NAMES).worst_pages[0]
    assert long.wrong == 30 and [w.text for w in long.wrong_words] == [f"x1w{i}" for i in range(20)]
    assert evaluate_predictions(examples, [e.labels for e in examples], NAMES).worst_pages == []


def test_a_page_without_labels_cannot_be_scored():
    unlabelled = PageExample("doc.pdf", 2, ("a",), ((0, 0, 1, 1),))
    with pytest.raises(ModelError, match="doc.pdf page 2"):
        evaluate_predictions([unlabelled], [[0]], NAMES)


def manifest_lines(root: Path, class_map: dict[int, str] | None = None) -> list[dict]:
    """One page per document; on each, "03/04/2021" boxed as class 1 and "12.50" as class 2 (1000 x 1000 pixels)."""
    records = []
    for n in range(PAGES):
        textract = root / f"doc{n}.json"
        write_textract(ocr_document(), str(textract))
        boxes = (PageBox(class_id=1, left=95, top=175, width=260, height=50),
                 PageBox(class_id=2, left=95, top=255, width=260, height=50))  # fmt: skip
        annotation = PageAnnotation(textract_ref=str(textract), page_num=1, image_width=1000, image_height=1000,
                                    boxes=boxes, raw_ref=f"doc{n}.pdf")  # fmt: skip
        record = page_to_record(annotation, class_names=MODEL_NAMES)  # a class map of the page's classes
        if class_map is not None:
            record["label-metadata"]["class-map"] = {str(k): v for k, v in class_map.items()}
        records.append(record)
    return records


def write_manifest(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return tiny_tagger(tmp_path_factory.mktemp("model"))


def test_a_saved_tagger_scores_as_its_own_argmax_on_the_manifest_entities(model, tmp_path):
    from docfields.ner import Tagger, load_examples

    manifest = write_manifest(tmp_path / "test.jsonl", manifest_lines(tmp_path))
    evaluation = evaluate_ner(model, manifest, batch_size=2, device="cpu")
    tagger = Tagger.load(model)
    examples = load_examples(manifest, len(MODEL_NAMES))
    argmax = [rows.argmax(axis=1) for rows in tagger.predict(examples, batch_size=2)]
    assert evaluation == evaluate_predictions(examples, argmax, tagger.card.field_names)
    supports = {row.name: row.support for row in evaluation.field_scores}
    assert supports == {"Other": 0, "Date": PAGES, "Total": PAGES, "micro": 2 * PAGES, "macro": 2 * PAGES}
    assert (evaluation.pages, evaluation.words) == (PAGES, PAGES * len(WORDS))
    assert np.asarray(evaluation.confusion.counts).sum() == evaluation.words


@pytest.mark.parametrize(
    ("class_map", "named"),
    [
        ({0: "Other", 1: "Date", 2: "Total", 3: "Tax"}, r"test.jsonl has fields .* lacks: Tax"),
        ({0: "Other", 1: "Date"}, r"has fields .*test.jsonl lacks: Total"),  # the job's full list (0 has no box)
        ({0: "Other", 1: "Day", 2: "Total"}, r"lacks: Day;.* lacks: Date"),
        ({0: "Other", 1: "Total", 2: "Date"}, r"other class ids: Total \(1 in .*, 2 in .*\); Date \(2 in"),
    ],
    ids=["manifest-field-the-model-lacks", "model-field-the-manifest-lacks", "renamed", "reordered"],
)
def test_mismatched_fields_are_a_model_error_naming_them(model, tmp_path, class_map, named):
    manifest = write_manifest(tmp_path / "test.jsonl", manifest_lines(tmp_path, class_map))
    with pytest.raises(ModelError, match=named):
        evaluate_ner(model, manifest, device="cpu")


def test_a_manifest_without_class_maps_is_checked_by_class_count_or_a_fields_file(model, tmp_path):
    records = manifest_lines(tmp_path)
    for record in records:
        del record["label-metadata"]
    records[1]["label"]["annotations"][0]["class_id"] = 5
    beyond = write_manifest(tmp_path / "beyond.jsonl", records)
    with pytest.raises(ModelError, match="class ids 5 are beyond its 3 fields"):
        evaluate_ner(model, beyond, device="cpu")
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps([{"ClassId": 0, "Name": "Other"}, {"ClassId": 1, "Name": "Date"}]))
    plain = write_manifest(tmp_path / "plain.jsonl", manifest_lines(tmp_path, {}))
    with pytest.raises(ModelError, match=r"fields.json are not those of .*: .* has fields .*fields.json lacks: Total"):
        evaluate_ner(model, plain, fields=str(fields), device="cpu")
    assert evaluate_ner(model, plain, fields=str(Path(model) / "fields.json"), device="cpu").pages == PAGES
    empty = write_manifest(tmp_path / "empty.jsonl", [])
    with pytest.raises(ModelError, match="empty.jsonl: no annotated page"):
        evaluate_ner(model, empty, device="cpu")


def test_the_command_prints_the_table_and_writes_json_that_loads_back(model, tmp_path):
    from docfields.cli.main import app

    manifest = write_manifest(tmp_path / "test.jsonl", manifest_lines(tmp_path))
    out = tmp_path / "eval.json"
    args = ["evaluate", "ner", "--model", model, "--manifest", manifest, "--json", str(out), "--device", "cpu"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert all(word in result.output for word in ("Date", "micro", "macro", "word accuracy"))
    back = NerEvaluation.model_validate_json(out.read_text())
    assert back.field_scores[1].support == PAGES and back.pages == PAGES
    assert f"{back.worst_pages[0].document} page 1: {back.worst_pages[0].wrong} of" in result.output


def test_the_command_exits_non_zero_naming_the_mismatched_fields(model, tmp_path):
    from docfields.cli.main import app

    manifest = write_manifest(tmp_path / "test.jsonl", manifest_lines(tmp_path, {0: "Other", 1: "Date", 2: "Sum"}))
    result = CliRunner().invoke(app, ["evaluate", "ner", "--model", model, "--manifest", manifest],
                                env={"COLUMNS": "300"})  # fmt: skip
    assert result.exit_code != 0
    assert "has fields" in result.output and "Sum" in result.output and "Total" in result.output
