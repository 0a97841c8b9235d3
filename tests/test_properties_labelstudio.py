"""Property-based tests of the annotation readers (issue 14): any Label Studio export, and any
SageMaker Ground Truth manifest label attribute, gives valid page annotations or an
``AnnotationError`` naming the file and the task or line, never another exception."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docfields.annotations import (
    BOX_TOLERANCE,
    AnnotationProblem,
    PageAnnotation,
    read_groundtruth,
    read_labelstudio,
)
from docfields.errors import AnnotationError

PROPERTY = settings(max_examples=150)
CLASS_IDS = {"Title": 0, "Date": 1, "Total": 2}
NUM_CLASSES = len(CLASS_IDS)
ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-16", "utf-8-sig", "latin-1"]

numbers = st.one_of(
    st.floats(min_value=-20, max_value=120),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, 100, 1e308, -1e308, 5e-324]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside nested dicts and lists."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found = []
    for key, item in items:
        found.append((*prefix, key))
        found.extend(paths(item, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A well-formed value with up to three keys or items deleted or replaced by any JSON value."""
    value = draw(valid)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        found = paths(value)
        if not found:
            break
        *parents, last = draw(st.sampled_from(found))
        container = value
        for key in parents:
            container = container[key]
        if draw(st.booleans()) and isinstance(container, dict):
            del container[last]
        else:
            container[last] = draw(json_values)
    return value


WIDTH, HEIGHT = 1226, 1514  # the image of every task; mutations change it
percents = st.one_of(*[st.floats(min_value=0, max_value=100)] * 3, numbers)
rectangle = st.fixed_dictionaries(
    {
        "x": percents,
        "y": percents,
        "width": percents,
        "height": percents,
        "rectanglelabels": st.lists(st.sampled_from([*CLASS_IDS, *CLASS_IDS, "Unknown"]), min_size=1, max_size=2),
    },
    optional={"rotation": st.sampled_from([0, 90, 180, 270, -45, 360.0]) | numbers},
)
result = st.fixed_dictionaries(
    {"id": st.text(max_size=6), "type": st.sampled_from(["rectanglelabels"] * 3 + ["labels"]), "value": rectangle},
    optional={"original_width": st.just(WIDTH), "original_height": st.just(HEIGHT), "image_rotation": st.just(0)},
)
annotation = st.fixed_dictionaries(
    {"id": st.integers(0, 99), "result": st.lists(result, max_size=4)},
    optional={"was_cancelled": st.booleans(), "ground_truth": st.booleans()},
)
refs = st.sampled_from(["page.json", "s3://bucket/page.json", "../x.json"]) | st.text(max_size=8)
data = st.fixed_dictionaries(
    {"textract-ref": refs, "image-width": st.just(WIDTH), "image-height": st.just(HEIGHT)},
    optional={"page-num": st.integers(min_value=1, max_value=5), "image": refs, "raw-ref": refs},
)
task = st.fixed_dictionaries(
    {"id": st.integers(0, 999) | st.text(max_size=4), "data": data, "annotations": st.lists(annotation, max_size=2)},
    optional={"completions": st.lists(annotation, max_size=1)},
)
exports = st.one_of(mutated(st.lists(task, max_size=4)), json_values)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("annotations")


def write(folder: Path, name: str, text: str, encoding: str) -> str:
    path = folder / name
    path.write_bytes(text.encode(encoding, "surrogatepass" if encoding.startswith("utf-8") else "replace"))
    return str(path)


def assert_valid_page(page: PageAnnotation, url: str) -> None:
    """What a reader promises about the pages it returns: usable for the label rule."""
    assert page.where.startswith(f"{url} ")
    assert isinstance(page.textract_ref, str)
    assert page.page_num is None or page.page_num >= 1
    assert page.image_width > 0 and page.image_height > 0
    slack_x, slack_y = max(1.0, BOX_TOLERANCE * page.image_width), max(1.0, BOX_TOLERANCE * page.image_height)
    for box in page.boxes:
        assert 0 <= box.class_id < NUM_CLASSES
        edges = (box.left, box.top, box.right, box.bottom)
        assert all(math.isfinite(edge) for edge in edges), edges
        assert box.width >= 0 and box.height >= 0
        assert -slack_x <= box.left and box.right <= page.image_width + slack_x
        assert -slack_y <= box.top and box.bottom <= page.image_height + slack_y


def read_both_ways(reader: Any, url: str) -> None:
    """Collect mode returns valid pages plus problems naming the file; raise mode raises the first."""
    problems: list[AnnotationProblem] = []
    try:
        pages = reader(problems)
    except AnnotationError as exc:  # the file itself is unusable
        assert exc.where == url, str(exc)
        return
    for page in pages:
        assert_valid_page(page, url)
    assert all(problem.where.startswith(url) for problem in problems)
    try:
        assert reader(None) == pages and not problems
    except AnnotationError as exc:
        assert problems and str(exc) == str(problems[0].to_error())


@PROPERTY
@given(exports, st.sampled_from(ENCODINGS))
def test_any_labelstudio_export_gives_valid_pages_or_annotation_errors(folder, export, encoding):
    url = write(folder, "export.json", json.dumps(export, ensure_ascii=False), encoding)
    read_both_ways(lambda problems: read_labelstudio(url, CLASS_IDS, NUM_CLASSES, problems), url)


pixels = st.one_of(*[st.floats(min_value=-10, max_value=1600)] * 3, numbers)
boxes = st.fixed_dictionaries(
    {
        "class_id": st.integers(min_value=-1, max_value=NUM_CLASSES),
        "left": pixels,
        "top": pixels,
        "width": pixels,
        "height": pixels,
    }
)
class_map_keys = st.sampled_from(["0", "1", "2", "x"]) | st.text(max_size=3)
image_size = st.fixed_dictionaries({"width": st.just(WIDTH), "height": st.just(HEIGHT)})
manifest_line = st.fixed_dictionaries(
    {
        "textract-ref": refs,
        "label": st.fixed_dictionaries(
            {"image_size": st.lists(image_size, min_size=1, max_size=2), "annotations": st.lists(boxes, max_size=4)}
        ),
    },
    optional={
        "page-num": st.integers(min_value=1, max_value=5),
        "source-ref": refs,
        "label-metadata": st.fixed_dictionaries({"class-map": st.dictionaries(class_map_keys, scalars)}),
    },
)


@PROPERTY
@given(mutated(st.lists(manifest_line, max_size=4)), st.sampled_from(ENCODINGS), st.booleans())
def test_any_groundtruth_label_attribute_gives_valid_pages_or_annotation_errors(folder, lines, encoding, named):
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) if isinstance(lines, list) else "[]"
    url = write(folder, "m.manifest.jsonl", text, encoding)
    attribute = "label" if named else None
    read_both_ways(lambda problems: read_groundtruth(url, attribute, NUM_CLASSES, problems), url)


# --- the crashes and silent passes the properties found, one regression test each ---------------


def labelstudio_task(value: dict[str, Any]) -> list[dict[str, Any]]:
    rectangle = {"x": 10, "y": 10, "width": 20, "height": 5, "rectanglelabels": ["Date"], **value}
    result = {"id": "r1", "type": "rectanglelabels", "value": rectangle, "original_width": WIDTH,
              "original_height": HEIGHT}  # fmt: skip
    return [{"id": 7, "data": {"textract-ref": "page.json"}, "annotations": [{"id": 1, "result": [result]}]}]


def test_labelstudio_infinite_rotation_is_an_annotation_error_not_a_crash(tmp_path):
    """``"rotation": Infinity`` (Python's JSON reads it) raised ValueError from math.cos."""
    url = write(tmp_path, "export.json", json.dumps(labelstudio_task({"rotation": math.inf})), "utf-8")
    with pytest.raises(AnnotationError, match=r"export.json task 7: result r1.value.rotation: .*finite"):
        read_labelstudio(url, CLASS_IDS)


def test_labelstudio_percent_overflowing_to_infinity_is_a_box_outside_the_image(tmp_path):
    """x = 1e308 % of the width overflowed to an infinite edge, which passed every check."""
    url = write(tmp_path, "export.json", json.dumps(labelstudio_task({"x": 1e308})), "utf-8")
    problems: list[AnnotationProblem] = []
    assert read_labelstudio(url, CLASS_IDS, problems=problems) == []
    assert [(p.where, p.kind) for p in problems] == [(f"{url} task 7", "box-outside-image")]
    assert "not a finite number" in problems[0].message


def groundtruth_line(box: dict[str, Any]) -> str:
    boxes = {"class_id": 1, "left": 10, "top": 10, "width": 50, "height": 20, **box}
    return json.dumps({"textract-ref": "p.json", "label": {"image_size": [{"width": 100, "height": 100}],
                                                           "annotations": [boxes]}})  # fmt: skip


def test_groundtruth_nan_box_is_refused_naming_the_line(tmp_path):
    """A NaN edge passed the box checks, then made ``write_groundtruth`` crash on round()."""
    url = write(tmp_path, "m.jsonl", "\n" + groundtruth_line({"left": math.nan}), "utf-8")
    with pytest.raises(AnnotationError, match=r"m.jsonl line 2: label.annotations.0.left: .*finite"):
        read_groundtruth(url)


@pytest.mark.parametrize("class_id", ["1", True, 1.0])
def test_groundtruth_class_id_of_another_type_is_not_coerced(tmp_path, class_id):
    url = write(tmp_path, "m.jsonl", groundtruth_line({"class_id": class_id}), "utf-8")
    with pytest.raises(AnnotationError, match=r"m.jsonl line 1: label.annotations.0.class_id: .*must be an integer"):
        read_groundtruth(url)


def test_annotation_files_with_a_byte_order_mark_read_and_other_encodings_are_named(tmp_path):
    url = write(tmp_path, "m.jsonl", groundtruth_line({}), "utf-8-sig")
    assert len(read_groundtruth(url)[0].boxes) == 1
    url = write(tmp_path, "export.json", json.dumps(labelstudio_task({})), "utf-16")
    with pytest.raises(AnnotationError, match=r"export.json: not UTF-8 text \(byte offset 0\)"):
        read_labelstudio(url, CLASS_IDS)


@pytest.mark.parametrize(
    ("task_data", "value", "message"),
    [
        ({"page-num": True}, {}, "page-num"),
        ({"image-width": True, "image-height": 1}, {"original_width": None}, "image-width and image-height"),
        ({}, {"original_width": "1226"}, "original_width: Input should be a valid integer"),
        ({}, {"value": {"x": "10", "y": 1, "width": 1, "height": 1, "rectanglelabels": ["Date"]}}, "x: Input should"),
    ],
)
def test_labelstudio_values_of_another_json_type_are_not_coerced(tmp_path, task_data, value, message):
    tasks = labelstudio_task({})
    tasks[0]["data"].update(task_data)
    result = tasks[0]["annotations"][0]["result"][0]
    result.update(value)
    if result["original_width"] is None:
        del result["original_width"], result["original_height"]
    url = write(tmp_path, "export.json", json.dumps(tasks), "utf-8")
    with pytest.raises(AnnotationError, match=rf"export.json task 7: .*{message}"):
        read_labelstudio(url, CLASS_IDS)
