"""Tests for docfields.annotations on real data: the upstream Ground Truth manifests and CORD-r.

The attp manifests are the original sample's own labelling output (their Textract files are not
available, which is itself a case to handle). CORD-r receipts come with Textract JSON and a
stated result of the label rule (``cord/label_check.json``) that these tests reproduce.
"""

from __future__ import annotations

import collections
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docfields.annotations import (
    AnnotationError,
    AnnotationProblem,
    PageAnnotation,
    PageBox,
    ProblemKind,
    check_page,
    label_pages,
    page_word_labels,
    read_class_ids,
    read_groundtruth,
    read_labelstudio,
    resolve_ref,
    word_box_matches,
    word_labels,
    write_groundtruth,
)
from docfields.errors import DocfieldsError
from docfields.textract import read_textract

DATA = Path(__file__).parent / "data" / "annotations"
ATTP_BOXES = {"augmentation-1": 600, "augmentation-2": 508}  # upstream-spec.md Appendix A
ATTP_PREFIX = "s3://DOC-EXAMPLE-BUCKET/EXAMPLE-PREFIX/data/textracted/"
CORD_CLASSES = 30
LS_PREFIX = "s3://docfields-demo/textract/"


@pytest.fixture(scope="module")
def cord_dir(shared_data: Path) -> Path:
    return shared_data / "cord"


@pytest.fixture(scope="module")
def cord_names(cord_dir: Path) -> dict[int, str]:
    names = {class_id: name for name, class_id in read_class_ids(str(cord_dir / "fields.json")).items()}
    return {**names, CORD_CLASSES: "O"}


# --- the real upstream manifests ------------------------------------------------------------


@pytest.mark.parametrize("attribute", sorted(ATTP_BOXES))
def test_attp_manifest_reads_without_its_files(shared_data: Path, attribute: str) -> None:
    url = str(shared_data / "attp" / f"{attribute}.manifest.jsonl")
    pages = read_groundtruth(url, num_classes=19)
    assert len(pages) == 50
    assert sum(len(page.boxes) for page in pages) == ATTP_BOXES[attribute]
    class_ids = {box.class_id for page in pages for box in page.boxes}
    assert class_ids <= set(range(19)) and len(class_ids) == 18
    first = pages[0]
    assert first.where == f"{url} line 1"
    assert first.textract_ref.startswith(ATTP_PREFIX) and first.source_ref.endswith(".png")
    assert all(page.page_num >= 1 and page.image_width > 0 for page in pages)
    named = {class_id: name for page in pages for class_id, name in page.class_names.items()}
    assert named[16] == "Provider Name" and named[17] == "Min Payment Calculation"


def test_attp_label_attribute_detected_or_named(shared_data: Path, tmp_path: Path) -> None:
    url = str(shared_data / "attp" / "augmentation-2.manifest.jsonl")
    assert len(read_groundtruth(url, label_attribute="augmentation-2")) == 50
    with pytest.raises(AnnotationError, match=r"line 1: no label attribute 'label'") as info:
        read_groundtruth(url, label_attribute="label")
    assert info.value.kind == ProblemKind.LABEL_ATTRIBUTE
    record = json.loads(Path(url).read_text().splitlines()[0])
    record["review"] = record["augmentation-2"]
    twice = tmp_path / "twice.manifest.jsonl"
    twice.write_text(json.dumps(record) + "\n")
    with pytest.raises(AnnotationError, match=r"twice.manifest.jsonl line 1: several label attributes"):
        read_groundtruth(str(twice))


@pytest.mark.parametrize("attribute", sorted(ATTP_BOXES))
def test_attp_missing_textract_names_the_line(shared_data: Path, tmp_path: Path, attribute: str) -> None:
    url = str(shared_data / "attp" / f"{attribute}.manifest.jsonl")
    pages = read_groundtruth(url, num_classes=19)
    prefixes = {ATTP_PREFIX: str(tmp_path)}
    with pytest.raises(AnnotationError) as info:
        next(label_pages(pages, num_classes=19, textract_prefixes=prefixes))
    message = str(info.value)
    assert message.startswith(f"{url} line 1: Textract file {tmp_path}")
    assert "consolidated.json" in message and info.value.kind == ProblemKind.TEXTRACT_MISSING
    problems: list[AnnotationProblem] = []
    assert list(label_pages(pages, num_classes=19, textract_prefixes=prefixes, problems=problems)) == []
    assert [p.where for p in problems] == [f"{url} line {n}" for n in range(1, 51)]


def test_unmapped_remote_reference_says_what_to_do(tmp_path: Path) -> None:
    page = PageAnnotation(textract_ref="nosuchfs://bucket/doc.json", image_width=10, image_height=10, where="m line 7")
    with pytest.raises(AnnotationError, match=r"^m line 7: Textract file nosuchfs://bucket/doc.json .*map the prefix"):
        next(label_pages([page], num_classes=2))


def test_resolve_ref() -> None:
    prefixes = {"s3://b/": "/data", "s3://b/textract/": "/fast/textract"}
    assert resolve_ref("s3://b/textract/a b/x.json", "/m", prefixes) == "/fast/textract/a b/x.json"
    assert resolve_ref("s3://b/other/x.json", "/m", prefixes) == "/data/other/x.json"
    assert resolve_ref("textract/x.json", "/m") == "/m/textract/x.json"
    assert resolve_ref("/abs/x.json", "/m") == "/abs/x.json"
    assert resolve_ref("s3://c/x.json", "/m", prefixes) == "s3://c/x.json"


# --- CORD-r: the stated result of the rule --------------------------------------------------


def test_cord_labels_reproduce_label_check(cord_dir: Path, cord_names: dict[int, str]) -> None:
    """Every word of train + val (899 receipts): the rule's label counts equal label_check.json's.

    The per-word original labels (CORD-r character entities) are not shipped in shared/; the
    rule's per-label distribution over all 20,515 words is, and must come out identical.
    """
    check = json.loads((cord_dir / "label_check.json").read_text())
    for split, receipts in (("train", 799), ("val", 100)):
        pages = read_groundtruth(str(cord_dir / f"{split}.manifest.jsonl"), num_classes=CORD_CLASSES)
        labelled = list(label_pages(pages, num_classes=CORD_CLASSES))
        counts = collections.Counter(cord_names[int(label)] for page in labelled for label in page.labels)
        expected = check["splits"][split]
        assert len(labelled) == expected["documents"] == receipts
        assert sum(counts.values()) == expected["words"]
        assert dict(counts) == expected["words_per_rule_label"]


def test_cord_receipt_matches_its_character_level_truth(cord_dir: Path, cord_names: dict[int, str]) -> None:
    """valid_0000 word by word against CORD-r's entities (majority label of each word's characters).

    Truth read off CORD-r ``jsons/valid_0000.json`` (``label_entities``; "m" is in no entity).
    """
    truth = ["O", "menu.cnt", "menu.nm", "menu.nm", "menu.price"] + ["menu.cnt", "menu.nm", "menu.nm", "menu.price"] * 2
    truth += ["total.total_price"] * 2 + ["total.cashprice"] * 2 + ["total.changeprice"] * 2
    page = read_groundtruth(str(cord_dir / "val.manifest.jsonl"))[0]
    words, labels = page_word_labels(page, read_textract(str(cord_dir / "textract" / "valid_0000.json")), CORD_CLASSES)
    assert [w.text for w in words][:5] == ["m", "1", "REAL", "GANACHE", "16,500"]
    assert [cord_names[int(label)] for label in labels] == truth


# --- the label rule -------------------------------------------------------------------------

WORD = [0.1, 0.2, 0.3, 0.4]  # area 0.04; binary fractions make "exactly half" inexact in floats


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([0.2, 0.0, 1.0, 1.0], 4),  # exactly half of the width (0.3 - 0.2 = 0.1 of 0.2)
        ([0.0, 0.3, 1.0, 1.0], 4),  # exactly half of the height
        ([0.2 + 1e-6, 0.0, 1.0, 1.0], 9),  # just under half
        ([0.15, 0.25, 0.25, 0.35], 9),  # inside the word but a quarter of it
        ([0.0, 0.0, 1.0, 1.0], 4),  # whole word
        ([0.3, 0.0, 1.0, 1.0], 9),  # touches the edge only
    ],
)
def test_half_of_the_word_area(box: list[float], expected: int) -> None:
    assert word_labels([WORD], [box], [4], other_class=9).tolist() == [expected]


def test_lowest_class_wins_when_several_cover() -> None:
    boxes = [[0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 0.25, 1.0]]
    assert word_labels([WORD], boxes, [7, 2, 5], other_class=9).tolist() == [2]
    assert word_labels([WORD], boxes[:1] + boxes[2:], [7, 5], other_class=9).tolist() == [5]


def test_rule_is_per_box_not_per_union() -> None:
    """Two boxes of one class covering 40 % each (75 % together) do not label the word."""
    word = [[0.0, 0.0, 1.0, 1.0]]
    split = [[0.0, 0.0, 0.4, 1.0], [0.35, 0.0, 0.75, 1.0]]
    assert word_box_matches(word, split).tolist() == [[False, False]]
    assert word_labels(word, split, [1, 1], other_class=3).tolist() == [3]
    assert word_labels(word, [*split, [0.5, 0.0, 1.0, 1.0]], [1, 1, 1], other_class=3).tolist() == [1]


def test_zero_area_words_use_their_centre() -> None:
    words = [[0.5, 0.5, 0.5, 0.5], [0.9, 0.9, 0.9, 0.9], [0.2, 0.1, 0.2, 0.3], [0.6, 0.6, 0.6, 0.6]]
    boxes = [[0.4, 0.4, 0.6, 0.6], [0.0, 0.0, 0.3, 0.3]]
    # centre inside, no box at all (a zero area must not count as "half covered" by any box),
    # a zero-width word with its centre in box 1, a centre on the edge of box 0 (edges count)
    assert word_labels(words, boxes, [0, 1], other_class=2).tolist() == [0, 2, 1, 0]


def test_box_partly_outside_the_image_still_labels() -> None:
    words = [[0.0, 0.0, 0.2, 0.1], [0.9, 0.9, 1.0, 1.0]]
    boxes = [[-0.1, 0.0, 0.15, 0.1], [0.92, 0.92, 1.2, 1.2]]
    assert word_labels(words, boxes, [3, 4], other_class=5).tolist() == [3, 4]


def test_rule_input_shapes() -> None:
    assert word_labels([WORD, WORD], np.empty((0, 4)), [], other_class=7).tolist() == [7, 7]
    assert word_labels([], [[0, 0, 1, 1]], [0], other_class=7).tolist() == []
    with pytest.raises(ValueError, match="2 boxes but 1 box classes"):
        word_labels([WORD], [[0, 0, 1, 1], [0, 0, 1, 1]], [0], other_class=7)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        word_labels([[0.1, 0.2, 0.3]], [[0, 0, 1, 1]], [0], other_class=7)


def test_page_boxes_are_normalised_by_their_image_size(shared_data: Path) -> None:
    """The same word box in pixels of two image sizes labels the same word (Date, 08/14/2022)."""
    document = read_textract(str(shared_data / "textract" / "detect_document_text.single-page-1.json"))
    for scale in (1, 2):
        box = PageBox(class_id=0, left=222 * scale, top=749 * scale, width=164 * scale, height=39 * scale)
        page = PageAnnotation(textract_ref="x", image_width=1226 * scale, image_height=1514 * scale, boxes=(box,))
        words, labels = page_word_labels(page, document, num_classes=1)
        assert [w.text for w, label in zip(words, labels, strict=True) if label == 0] == ["08/14/2022"]


# --- Label Studio ---------------------------------------------------------------------------


@pytest.fixture()
def ls_export() -> str:
    return str(DATA / "labelstudio-export.json")


@pytest.fixture()
def ls_fields() -> str:
    return str(DATA / "labelstudio-fields.json")


def _pixels(box: PageBox) -> tuple[float, float, float, float]:
    return box.left, box.top, box.right, box.bottom


ROTATED = math.radians(1.5)
SIN, COS = math.sin(ROTATED), math.cos(ROTATED)
LS_PIXELS = {
    11: [
        (0, (188, 148, 1034, 264)),
        (1, (405, 702, 568, 744)),
        (2, (222, 749, 386, 788)),
        (3, (138, 850, 278, 893)),
        # 195 x 30 px turned 1.5 degrees clockwise about (230, 1330): the upright box around it
        (4, (230 - 30 * SIN, 1330, 230 + 195 * COS, 1330 + 195 * SIN + 30 * COS)),
    ],
    12: [(0, (268, 255, 1430, 402)), (3, (192, 1222, 386, 1283))],
}


def test_labelstudio_export_reads_percent_as_pixels(ls_export: str, ls_fields: str) -> None:
    pages = read_labelstudio(ls_export, ls_fields)
    assert [p.where for p in pages] == [f"{ls_export} task 11", f"{ls_export} task 12"]  # task 13: not annotated
    for page, task in zip(pages, (11, 12), strict=True):
        got = [(box.class_id, _pixels(box)) for box in page.boxes]
        assert [c for c, _ in got] == [c for c, _ in LS_PIXELS[task]]  # the "choices" result is not a box
        for (_, box), (_, want) in zip(got, LS_PIXELS[task], strict=True):
            assert np.allclose(box, want, atol=1e-6)
    assert (pages[0].image_width, pages[0].image_height, pages[1].page_num) == (1226, 1514, 2)
    assert pages[1].class_names == {0: "Title", 3: "Table Title"}


def test_labelstudio_round_trip_through_groundtruth(ls_export: str, ls_fields: str, tmp_path: Path) -> None:
    pages = read_labelstudio(ls_export, ls_fields)
    out = str(tmp_path / "out" / "ls.manifest.jsonl")
    assert write_groundtruth(pages, out, num_classes=5) == 2
    back = read_groundtruth(out, num_classes=5)
    assert [p.textract_ref for p in back] == [p.textract_ref for p in pages]
    assert [p.source_ref for p in back] == [p.source_ref for p in pages]
    assert back[1].class_names == {0: "Title", 3: "Table Title"} and back[1].where == f"{out} line 2"
    for page, task in zip(back, (11, 12), strict=True):
        for box, (class_id, want) in zip(page.boxes, LS_PIXELS[task], strict=True):
            assert box.class_id == class_id
            assert np.abs(np.subtract(_pixels(box), want)).max() <= 1.0
    record = json.loads(Path(out).read_text().splitlines()[0])
    assert record["label"]["annotations"][0] == {"class_id": 0, "left": 188, "top": 148, "width": 846, "height": 116}
    assert record["label-metadata"]["type"] == "groundtruth/object-detection"


def test_labelstudio_words_labelled(ls_export: str, ls_fields: str, shared_data: Path) -> None:
    pages = read_labelstudio(ls_export, ls_fields)
    prefixes = {LS_PREFIX: str(shared_data / "textract")}
    first, second = label_pages(pages, num_classes=5, textract_prefixes=prefixes)
    tagged = [(w.text, int(c)) for w, c in zip(first.words, first.labels, strict=True) if c != 5]
    assert tagged == [
        ("Textractor", 0), ("Test", 0), ("Textractor", 1), ("08/14/2022", 2),
        ("Table", 3), ("1", 3), ("Selected", 4), ("Checkbox", 4),
    ]  # fmt: skip
    assert len(first.words) == 51
    assert [w.text for w, c in zip(second.words, second.labels, strict=True) if c == 3] == ["Table", "2"]


def _edited_export(ls_export: str, tmp_path: Path, edit: Any) -> str:
    tasks = json.loads(Path(ls_export).read_text())
    edit(tasks)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return str(path)


def test_labelstudio_unknown_label_names_the_task(ls_export: str, ls_fields: str, tmp_path: Path) -> None:
    def rename(tasks: list[dict[str, Any]]) -> None:
        tasks[0]["annotations"][0]["result"][2]["value"]["rectanglelabels"] = ["Due Date"]

    url = _edited_export(ls_export, tmp_path, rename)
    expected = r"export.json task 11: result Jd8sK2nVq4: unknown label 'Due Date'"
    with pytest.raises(AnnotationError, match=expected) as info:
        read_labelstudio(url, ls_fields)
    assert info.value.kind == ProblemKind.UNKNOWN_LABEL and "Package Name" in str(info.value)
    problems: list[AnnotationProblem] = []
    assert [p.where for p in read_labelstudio(url, ls_fields, problems=problems)] == [f"{url} task 12"]
    assert [(p.where, p.kind) for p in problems] == [(f"{url} task 11", "unknown-label")]


def test_labelstudio_image_size_and_format_errors(ls_export: str, ls_fields: str, tmp_path: Path) -> None:
    def no_size(tasks: list[dict[str, Any]]) -> None:
        for result in tasks[1]["annotations"][1]["result"]:
            del result["original_width"], result["original_height"]

    url = _edited_export(ls_export, tmp_path, no_size)
    with pytest.raises(AnnotationError, match=r"task 12: no rectangle gives original_width"):
        read_labelstudio(url, ls_fields)
    tasks = json.loads(Path(url).read_text())
    tasks[1]["data"].update({"image-width": 1700, "image-height": 2200})
    Path(url).write_text(json.dumps(tasks))
    assert read_labelstudio(url, ls_fields)[1].image_width == 1700
    Path(url).write_text(json.dumps({"tasks": tasks}))
    with pytest.raises(AnnotationError, match="expected a list of tasks"):
        read_labelstudio(url, ls_fields)


# --- validation -----------------------------------------------------------------------------


def _cord_line(cord_dir: Path, index: int = 0) -> dict[str, Any]:
    record = json.loads((cord_dir / "val.manifest.jsonl").read_text().splitlines()[index])
    record["textract-ref"] = str(cord_dir / record["textract-ref"])
    return record


def _broken(kind: str, record: dict[str, Any]) -> str:
    """One manifest line with one problem of the given kind."""
    record = json.loads(json.dumps(record))
    boxes = record["labels"]["annotations"]
    if kind == "json":
        return json.dumps(record)[:-5]
    if kind == "box-outside-image":
        boxes[1]["left"] = record["labels"]["image_size"][0]["width"] - 5
    elif kind == "unknown-class":
        boxes[2]["class_id"] = 31
    elif kind == "schema":
        del record["textract-ref"]
    elif kind == "textract-missing":
        record["textract-ref"] = "no/such/receipt.json"
    elif kind == "page-out-of-range":
        record["page-num"] = 2
    return json.dumps(record)


KINDS = ["json", "box-outside-image", "unknown-class", "schema", "textract-missing", "page-out-of-range"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_problem_names_the_manifest_line(cord_dir: Path, tmp_path: Path, kind: str) -> None:
    good = json.dumps(_cord_line(cord_dir))
    path = tmp_path / "m.manifest.jsonl"
    path.write_text("\n".join([good, "", _broken(kind, _cord_line(cord_dir, 1)), good]) + "\n")
    with pytest.raises(AnnotationError) as info:
        pages = read_groundtruth(str(path), num_classes=CORD_CLASSES)
        list(label_pages(pages, num_classes=CORD_CLASSES))
    assert str(info.value).startswith(f"{path} line 3: ")
    assert info.value.kind == kind and isinstance(info.value, DocfieldsError)


def test_collect_mode_returns_every_problem(cord_dir: Path, tmp_path: Path) -> None:
    lines = [json.dumps(_cord_line(cord_dir, i)) for i in range(3)]
    lines += [_broken(kind, _cord_line(cord_dir, 3 + i)) for i, kind in enumerate(KINDS)]
    path = tmp_path / "m.manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    problems: list[AnnotationProblem] = []
    pages = read_groundtruth(str(path), num_classes=CORD_CLASSES, problems=problems)
    labelled = list(label_pages(pages, num_classes=CORD_CLASSES, problems=problems))
    assert [p.annotation.where for p in labelled] == [f"{path} line {n}" for n in (1, 2, 3)]
    found = sorted((p.where, p.kind) for p in problems)
    assert found == sorted((f"{path} line {4 + i}", kind) for i, kind in enumerate(KINDS))


def test_box_outside_tolerance(cord_dir: Path) -> None:
    box = PageBox(class_id=0, left=990, top=10, width=14, height=10)  # 4 px past a 1000 px image
    page = PageAnnotation(textract_ref="x", image_width=1000, image_height=800, boxes=(box,), where="f line 9")
    check_page(page)  # within 0.5 % of the width
    wide = page.model_copy(update={"boxes": (box.model_copy(update={"width": 20}),)})
    with pytest.raises(AnnotationError, match=r"^f line 9: box 0 \(class 0, .*\) lies outside the 1000 x 800 px image"):
        check_page(wide)
    negative = page.model_copy(update={"boxes": (box.model_copy(update={"height": -1}),)})
    with pytest.raises(AnnotationError, match="negative width or height"):
        check_page(negative)


def test_writer_refuses_what_the_reader_would_reject(tmp_path: Path) -> None:
    box = PageBox(class_id=5, left=0, top=0, width=10, height=10)
    page = PageAnnotation(textract_ref="x.json", image_width=100, image_height=100, boxes=(box,), where="review 3")
    out = tmp_path / "m.jsonl"
    with pytest.raises(AnnotationError, match=r"^review 3: .*unknown class id 5 \(known: 0\.\.4\)"):
        write_groundtruth([page], str(out), num_classes=5)
    assert not out.exists()


def test_unreadable_manifest_is_an_annotation_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="cannot read annotation file") as info:
        read_groundtruth(str(tmp_path / "missing.manifest.jsonl"))
    assert info.value.kind == ProblemKind.UNREADABLE


def test_field_configuration_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "fields.json"
    fields = [{"ClassId": 0, "Name": "A"}, {"class_id": 1, "name": "B"}, {"ClassId": 0, "Name": "C"}]
    path.write_text(json.dumps(fields))
    with pytest.raises(AnnotationError, match=r"fields.json field 2: ClassId 0 appears twice"):
        read_class_ids(str(path))
    path.write_text(json.dumps(fields[:2]))
    assert read_class_ids(str(path)) == {"A": 0, "B": 1}


def test_copied_fixture_stays_readable(ls_export: str, ls_fields: str, tmp_path: Path, shared_data: Path) -> None:
    """A relative textract-ref resolves against the export's folder."""
    shutil.copy(shared_data / "textract" / "detect_document_text.single-page-1.json", tmp_path / "page.json")
    url = _edited_export(ls_export, tmp_path, lambda tasks: tasks[0]["data"].update({"textract-ref": "page.json"}))
    page = read_labelstudio(url, ls_fields)[0]
    assert page.ref_base == str(tmp_path)
    assert len(next(label_pages([page], num_classes=5)).words) == 51
