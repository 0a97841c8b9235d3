"""Property-based tests of the field configuration reader (issue 14): whatever JSON a user writes,
``parse_field_configuration`` / ``load_field_configuration`` give a valid configuration or a
``FieldConfigError`` naming the file, never another exception; a valid one survives a round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docfields.errors import FieldConfigError
from docfields.fields import FieldConfiguration, load_field_configuration, parse_field_configuration
from docfields.fields.config import check_tagger_classes

PROPERTY = settings(max_examples=150)

PASCAL = ["ClassId", "Name", "Ignore", "Optional", "Select", "AnnotationGuidance", "NormalizerEndpoint",
          "NormalizerPrompt", "Normalizer"]  # fmt: skip
SNAKE = ["class_id", "name", "ignore", "optional", "select", "annotation_guidance", "normalizer_endpoint",
         "normalizer_prompt", "normalizer"]  # fmt: skip
TYPOS = ["Classid", "CLASSID", "classId", "Selct", "Normaliser", "Fields", "", " Name", "Name "]
SELECTS = ["confidence", "first", "last", "longest", "shortest", "FIRST", " Longest ", "biggest", ""]
NORMALIZERS = ["date:YYYY-MM-DD", "date:DD/MM/YYYY;order=DMY", "date:%d.%m.%Y;pivot=50", "date:", "date:;order=",
               "date:YYYY;order=Q", "date:YYYY-MM-DD;model=", "date:YYYY-MM-DD;pivot=1e9", "http://localhost:9/n",
               "https://", "dates", "/", ".", "\x00", "n" * 5000]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(SELECTS),
    st.sampled_from(NORMALIZERS),
    st.integers(min_value=0, max_value=30),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=30),
)
keys = st.one_of(st.sampled_from(PASCAL), st.sampled_from(SNAKE), st.sampled_from(TYPOS), st.text(max_size=12))


@st.composite
def near_valid_entry(draw: st.DrawFn) -> dict[str, Any]:
    """A field with a ClassId and a Name, in either spelling, plus a few random keys."""
    class_id = draw(st.sampled_from(["ClassId", "class_id"]))
    name = draw(st.sampled_from(["Name", "name"]))
    entry = {class_id: draw(st.integers(min_value=0, max_value=12)), name: draw(st.text(min_size=1, max_size=12))}
    extra = draw(st.dictionaries(keys, field_values, max_size=3))
    return {**entry, **extra}


@st.composite
def valid_fields(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Fields of the right JSON types: unique names, ClassIds 0..n-1 in any order, either spelling."""
    names = draw(st.lists(st.text(min_size=1, max_size=12).filter(str.strip), min_size=1, max_size=6, unique=True))
    ids = draw(st.permutations(range(len(names))))
    fields = []
    for class_id, name in zip(ids, names, strict=True):
        spelling = draw(st.sampled_from([PASCAL, SNAKE]))
        entry: dict[str, Any] = {spelling[0]: class_id, spelling[1]: name}
        for key, values in zip(
            spelling[2:5], (st.booleans(), st.booleans(), st.sampled_from(SELECTS[:7])), strict=True
        ):
            if draw(st.booleans()):
                entry[key] = draw(st.none() | values)
        if draw(st.booleans()):
            entry[spelling[5]] = draw(st.text(max_size=30))
        if draw(st.booleans()):
            entry[spelling[8]] = draw(st.sampled_from(NORMALIZERS[:3]))
        fields.append(entry)
    return fields


entries = st.one_of(near_valid_entry(), st.dictionaries(keys, field_values, max_size=5), json_values)
configurations = st.one_of(
    st.lists(entries, max_size=6),
    st.lists(near_valid_entry(), max_size=6),
    valid_fields(),
    st.builds(lambda fields: {"Fields": fields}, st.lists(near_valid_entry(), max_size=4)),
    json_values,
)


def parsed_or_error(data: Any, source: str = "cfg.json", check_locations: bool = True) -> FieldConfiguration | None:
    try:
        return parse_field_configuration(data, source=source, check_locations=check_locations)
    except FieldConfigError as exc:
        assert str(exc).startswith(f"{source}: "), str(exc)
        return None


def has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(has_nan(item) for item in value)
    return isinstance(value, dict) and any(has_nan(item) for item in value.values())


@PROPERTY
@given(configurations, st.booleans())
def test_any_json_gives_a_configuration_or_a_field_config_error(data, check_locations):
    config = parsed_or_error(data, check_locations=check_locations)
    if config is None:
        return
    assert all(isinstance(spec.class_id, int) and not isinstance(spec.class_id, bool) for spec in config.fields)
    assert all(isinstance(spec.name, str) and spec.name.strip() for spec in config.fields)
    assert len({spec.class_id for spec in config.fields}) == len(config.fields)
    try:
        check_tagger_classes(config, "cfg.json")
    except FieldConfigError as exc:
        assert exc.key in (None, "ClassId")


@PROPERTY
@given(valid_fields())
def test_a_valid_configuration_round_trips_through_json(fields):
    config = parse_field_configuration(fields)
    check_tagger_classes(config)
    assert [spec.name for spec in config.fields] == [entry.get("Name", entry.get("name")) for entry in fields]
    dumped = json.dumps(config.to_json_list())
    assert parse_field_configuration(json.loads(dumped)) == config
    assert json.loads(dumped) == config.to_json_list()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fields")


ENCODINGS = ["utf-8", "utf-16", "utf-8-sig", "latin-1", "cp1252"]


@PROPERTY
@given(configurations, st.sampled_from(ENCODINGS), st.binary(max_size=8))
def test_any_file_gives_a_configuration_or_an_error_naming_it(folder, data, encoding, junk):
    path = folder / "fields.json"
    text = json.dumps(data, ensure_ascii=False)
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass") + junk
    path.write_bytes(raw)
    try:
        config = load_field_configuration(str(path))
    except FieldConfigError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    if not has_nan(data):
        assert config == parse_field_configuration(json.loads(text))
