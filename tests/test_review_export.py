"""Review corrections as training data: values found in the OCR words, a manifest the trainer loads, text pairs.

The end-to-end tests review documents of the synthetic corpus with their true values, through
the real pipeline, and check the exported boxes against the corpus' own ground-truth boxes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from docfields.annotations import read_groundtruth
from docfields.ner.train import load_examples
from docfields.normalize.pairs import read_pairs
from docfields.review.export import export_corrections
from docfields.review.flowback import FieldAnswer, apply_review
from docfields.review.locate import WordIndex, claims_for, correction_sources, locate_value, resolve_claims
from docfields.textract import NormBox, OcrLine, OcrPage, OcrWord, build_document, read_textract, union_bbox
from review_support import pipeline_in_review, shared_corpus, truth_answers

NUM_CLASSES = 19


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "docfields.cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    )


def line(y: float, *words: str) -> OcrLine:
    return OcrLine(words=tuple(OcrWord(w, 99.0, NormBox(0.05 + 0.1 * i, y, 0.09, 0.02)) for i, w in enumerate(words)))


@pytest.fixture(scope="module")
def index() -> WordIndex:
    page1 = OcrPage(lines=(
        line(0.10, "Late", "Payment", "Fee:", "Up", "to", "$25.00,"),
        line(0.20, "Returned", "Payment:", "up", "TO", "$25.00"),
        line(0.30, "Send", "to", "6690", "Lake", "Street,"),
        line(0.34, "Louisville,", "KY", "40216"),
    ), engine="test")  # fmt: skip
    page2 = OcrPage(lines=(line(0.5, "Effective", "Jan.", "3,", "2017"),), engine="test")
    return WordIndex(build_document([page1, page2], "docfields-test-1"))


def detection(index: WordIndex, page: int, words: list[str], text: str, raw: str | None = None) -> dict:
    """A result detection over the first run of ``words`` on ``page``."""
    span = next(s for s in index.find(" ".join(words)) if s.page == page)
    box = union_bbox(w.box for w in span.words)
    found = {"ClassId": 0, "ClassName": "f", "Confidence": 0.4, "Blocks": [w.block.id for w in span.words],
             "BoundingBox": {"Left": box.left, "Top": box.top, "Width": box.width, "Height": box.height},
             "PageNum": page, "Text": text}  # fmt: skip
    return found | ({"RawText": raw} if raw else {})


def test_search_ignores_case_spacing_and_surrounding_punctuation(index):
    spans = index.find("Up to $25.00")
    assert [(s.page, [w.block.text for w in s.words]) for s in spans] == [
        (1, ["Up", "to", "$25.00,"]), (1, ["up", "TO", "$25.00"])
    ]  # fmt: skip
    assert [w.block.text for w in index.find("Fee: Up to")[0].words] == ["Fee:", "Up", "to"]
    assert index.find("$25") == [] and index.find("...") == []  # no partial words, no empty values


def test_a_value_on_two_lines_gets_one_box_per_line(index):
    (span,) = index.find("6690 Lake Street, Louisville, KY 40216")
    boxes = span.line_boxes()
    assert len(boxes) == 2
    assert boxes[0].top == pytest.approx(0.30) and boxes[1].top == pytest.approx(0.34)
    assert boxes[0].left == pytest.approx(0.25) and boxes[1].left == pytest.approx(0.05)


def test_every_occurrence_counts_and_shared_words_go_to_the_field_that_was_there(index):
    late = detection(index, 1, ["Fee:", "Up", "to"], "Fee: Up to")
    returned = detection(index, 1, ["Returned", "Payment:", "up"], "Returned Payment: up")
    late_spans, source = locate_value(index, "Up to $25.00", [], [late], single=True)
    returned_spans, _ = locate_value(index, "Up to $25.00", [], [returned], single=True)
    assert source == "search" and len(late_spans) == len(returned_spans) == 2  # printed twice
    claims = claims_for(10, late_spans, source, [late]) + claims_for(11, returned_spans, source, [returned])
    kept = {(c.class_id, c.span.words[0].line) for c in resolve_claims(claims)}
    assert kept == {(10, 1), (11, 2)}
    alone = resolve_claims(claims_for(10, late_spans, source, [late]))
    assert len(alone) == 2  # no rival: both occurrences are the field's
    assert correction_sources("Up to $25.00", returned_spans, source, [returned]) == ["Returned Payment: up"]


def test_a_value_the_model_read_right_uses_its_blocks_and_teaches_nothing(index):
    right = detection(index, 1, ["Up", "to", "$25.00,"], "Up to $25.00,")
    spans, source = locate_value(index, "Up to $25.00,", [right], [right], single=True)
    assert source == "detection" and [w.block.id for w in spans[0].words] == right["Blocks"]
    assert correction_sources("Up to $25.00,", spans, source, [right]) == []


def test_a_normalized_value_is_found_through_the_fields_only_reading(index):
    date = detection(index, 2, ["Jan.", "3,", "2017"], "2017-03-01", raw="Jan. 3, 2017")
    spans, source = locate_value(index, "2017-01-03", [date], [date], single=True)
    assert source == "raw" and [w.block.text for w in spans[0].words] == ["Jan.", "3,", "2017"]
    assert correction_sources("2017-01-03", spans, source, [date]) == ["Jan. 3, 2017"]
    other = detection(index, 1, ["Late", "Payment"], "Late Payment")
    assert locate_value(index, "2017-01-03", [date], [date, other], single=True) == ([], "none")  # ambiguous
    assert locate_value(index, "2017-01-03", [date], [date], single=False) == ([], "none")


# -- end to end: the real pipeline, a perfect reviewer, the trainer's loader ---------------------------


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """cc-0000 reviewed with its true values (and one normalizer mistake corrected); cc-0001 left in review."""
    corpus = shared_corpus(tmp_path_factory)
    files = {f"{doc}.pdf": corpus.doc(doc) for doc in ("cc-0000", "cc-0001")}
    pipeline, ids = pipeline_in_review(corpus, tmp_path_factory.mktemp("home"), files)
    doc_id, truth = ids["cc-0000.pdf"], corpus.truth["cc-0000"]
    result = pipeline.result(doc_id)
    # The scenario an untrained model cannot produce: the date read at the right place, normalized wrong.
    index = WordIndex(read_textract(pipeline.artifact_path(doc_id, "ocr")))
    date = detection(index, 1, truth["fields"]["Agreement Effective Date"].split(), "2017-03-01", "Jan. 3, 2017")
    result["Fields"]["Agreement Effective Date"].update(Value="2017-03-01", Detections=[date])
    answers = truth_answers(result, truth["fields"])
    corrected = truth["normalized"]["Agreement Effective Date"]
    answers.fields["Agreement Effective Date"] = FieldAnswer(present=True, value=corrected)
    answers.fields["Card Name"].values.append("Imaginary Platinum Card")
    pipeline.complete_review(doc_id, apply_review(result, answers, "ana", 30.0))
    return corpus, pipeline, ids


@pytest.mark.slow
def test_export_writes_pages_the_trainer_loads_with_the_true_labels(reviewed, tmp_path):
    corpus, pipeline, ids = reviewed
    manifest = tmp_path / "export" / "annotations.manifest.jsonl"
    summary = export_corrections(pipeline, str(manifest))
    assert (summary.documents, summary.pages, summary.failed) == (1, 5, [])
    assert summary.not_found == [f"{ids['cc-0000.pdf']} Card Name: 'Imaginary Platinum Card'"]
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [r["page-num"] for r in records] == [1, 2, 3, 4, 5]
    for record in records:
        assert record["raw-ref"] == pipeline.document_path(ids["cc-0000.pdf"])
        assert (manifest.parent / record["textract-ref"]).is_file()
        with Image.open(manifest.parent / record["source-ref"]) as image:
            assert [{"width": image.width, "height": image.height, "depth": 3}] == record["label"]["image_size"]
    assert sum(len(page.boxes) for page in read_groundtruth(str(manifest), num_classes=NUM_CLASSES)) == summary.boxes

    examples = load_examples(str(manifest), NUM_CLASSES)
    assert len(examples) == 5
    checked = check_truth_mentions(corpus, "cc-0000", examples, pipeline.result(ids["cc-0000.pdf"]))
    assert checked >= 10


def check_truth_mentions(corpus, doc: str, examples, reviewed_result: dict) -> int:
    """Every word inside a ground-truth box of a reviewed field carries that field's class; returns the count."""
    by_page = {example.page: example for example in examples}
    checked = 0
    for mention in corpus.truth[doc]["mentions"]:
        if mention["field"] not in reviewed_result["Fields"]:
            continue  # an ignored field: not in the result, not reviewed
        example = by_page[mention["page"]]
        with Image.open(corpus.page_image(doc, mention["page"])) as image:
            width, height = image.size
        for left, top, box_width, box_height in mention["boxes"]:
            inside = [
                i for i, (x0, y0, x1, y1) in enumerate(example.boxes)
                if x0 >= 1000 * left / width - 2 and x1 <= 1000 * (left + box_width) / width + 2
                and y0 >= 1000 * top / height - 2 and y1 <= 1000 * (top + box_height) / height + 2
            ]  # fmt: skip
            assert inside, f"no word inside the truth box of {mention}"
            labels = {example.labels[i] for i in inside}
            assert labels == {mention["class_id"]}, (mention, [example.words[i] for i in inside])
            checked += 1
    return checked


@pytest.mark.slow
def test_corrected_normalizations_become_pairs_with_the_fields_prompt(reviewed, tmp_path):
    corpus, pipeline, ids = reviewed
    fields = json.loads((corpus.root / "fields.json").read_text())
    fields[0].update(Normalizer="date:YYYY-MM-DD", NormalizerPrompt="Convert dates to YYYY-MM-DD: ")
    (tmp_path / "fields.json").write_text(json.dumps(fields))
    out = tmp_path / "out" / "annotations.manifest.jsonl"
    done = run_cli("review", "export", "-o", str(out), "--home", pipeline.settings.home,
                   "--fields", str(tmp_path / "fields.json"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "5 pages of 1 reviewed documents" in done.stdout and "Imaginary Platinum Card" in done.stdout
    pairs = read_pairs(out.parent / "normalizer-pairs.jsonl")
    assert ("Convert dates to YYYY-MM-DD: Jan. 3, 2017", "2017-01-03") in zip(pairs.src, pairs.tgt, strict=True)
    assert all(not src.endswith(tgt) for src, tgt in zip(pairs.src, pairs.tgt, strict=True))  # only corrections
    assert len(load_examples(str(out), NUM_CLASSES)) == 5


@pytest.mark.slow
def test_export_refuses_a_folder_without_a_pipeline(tmp_path):
    done = run_cli("review", "export", "-o", str(tmp_path / "m.jsonl"), "--home", str(tmp_path))
    assert done.returncode == 13 and "no pipeline here" in done.stderr and str(tmp_path) in done.stderr
