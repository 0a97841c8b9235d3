"""Regression tests for issue 14 (field configurations): ``fields check`` accepted ClassId gaps and
``1e23`` that ``train ner`` rejects, coerced ``"ClassId": "0"``, ``true`` and ``"Optional": "yes"``,
and answered "unknown key" to a field holding both ``ClassId`` and ``class_id``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.cli import app
from docfields.errors import FieldConfigError, ModelError
from docfields.fields import parse_field_configuration
from docfields.ner.model import field_names, read_fields


def write_config(tmp_path: Path, fields: object, name: str = "fields.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(fields))
    return str(path)


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_fields_check_rejects_class_id_gaps_like_train_ner(tmp_path):
    url = write_config(tmp_path, [{"ClassId": 0, "Name": "Total"}, {"ClassId": 2, "Name": "Date"}])
    reason = "ClassIds must be 0..1 without gaps, one per field: 2 leaves out 1"

    code, output = run("fields", "check", url)
    assert code == FieldConfigError.exit_code
    assert f"{url}: field 'Date' (index 1): ClassId: {reason}" in output

    code, output = run("train", "ner", "--manifest", str(tmp_path / "none.jsonl"), "--fields", url, "-o", "out")
    assert code == ModelError.exit_code
    assert reason in output
    assert not (tmp_path / "out").exists()


def test_a_partial_configuration_passes_check_when_declared_partial(tmp_path):
    url = write_config(tmp_path, [{"ClassId": 14, "Name": "Card Name"}])
    assert run("fields", "check", url)[0] == FieldConfigError.exit_code
    code, output = run("fields", "check", "--partial", url)
    assert code == 0, output
    assert "1 fields, 1 extracted" in output


def test_an_empty_configuration_is_refused_by_check_as_by_train_ner(tmp_path):
    url = write_config(tmp_path, [])
    code, output = run("fields", "check", url)
    assert code == FieldConfigError.exit_code
    assert f"{url}: the field configuration has no field" in output
    with pytest.raises(ModelError, match="has no field"):
        read_fields(url)


CLASS_IDS = [
    (0, None),
    (9999, None),
    ("0", "ClassId: must be an integer, not str '0'"),
    (True, "ClassId: must be an integer, not bool True"),
    (1.0, "ClassId: must be an integer, not float 1.0"),
    (1e23, "ClassId: must be an integer, not float 1e+23"),
    (10**23, "ClassId: must lie in 0..9999, not 100000000000000000000000"),
    (10_000, "ClassId: must lie in 0..9999, not 10000"),
    (-1, "ClassId: must lie in 0..9999, not -1"),
    (None, "ClassId: must be an integer, not NoneType None"),
]


@pytest.mark.parametrize(("class_id", "message"), CLASS_IDS)
def test_class_id_string_is_not_coerced(class_id, message):
    """The library refuses what is no JSON integer in range, and ``train ner``'s reader agrees."""
    fields = [{"ClassId": class_id, "Name": "Total"}]
    if message is None:
        assert parse_field_configuration(fields).fields[0].class_id == class_id
        return
    with pytest.raises(FieldConfigError) as caught:
        parse_field_configuration(fields, source="cfg.json")
    assert str(caught.value) == f"cfg.json: field 'Total' (index 0): {message}"
    assert (caught.value.field, caught.value.key) == ("'Total' (index 0)", "ClassId")
    with pytest.raises(ModelError, match=message.replace("ClassId: ", "ClassId ").replace("+", r"\+")):
        field_names(fields, "cfg.json")


def test_class_id_true_is_refused_by_fields_check(tmp_path):
    url = write_config(tmp_path, [{"ClassId": True, "Name": "Total"}])
    code, output = run("fields", "check", url)
    assert code == FieldConfigError.exit_code
    assert "field 'Total' (index 0): ClassId: must be an integer, not bool True" in output


@pytest.mark.parametrize(
    ("key", "value"),
    [("Optional", "yes"), ("Optional", 1), ("Ignore", "true"), ("Ignore", 0), ("optional", "no")],
)
def test_booleans_must_be_json_booleans(tmp_path, key, value):
    url = write_config(tmp_path, [{"ClassId": 0, "Name": "Total", key: value}])
    code, output = run("fields", "check", url)
    assert code == FieldConfigError.exit_code
    assert f"field 'Total' (index 0): {key}: Input should be a valid boolean, not {value!r}" in output


@pytest.mark.parametrize(
    ("key", "value"),
    [("Name", 5), ("Select", 1), ("NormalizerPrompt", 3), ("AnnotationGuidance", ["<p>"]), ("Normalizer", 2.5)],
)
def test_strings_are_not_coerced(key, value):
    entry = {"ClassId": 0, "Name": "Total", "NormalizerEndpoint": "http://localhost:9/n", "NormalizerPrompt": "p"}
    entry[key] = value
    with pytest.raises(FieldConfigError) as caught:
        parse_field_configuration([entry], source="cfg.json")
    assert caught.value.key == key
    assert caught.value.field in ("'Total' (index 0)", "index 0")
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "key", "snake"),
    [
        ({"ClassId": 0, "class_id": 0, "Name": "Total"}, "ClassId", "class_id"),
        ({"ClassId": 0, "Name": "Total", "name": "Total"}, "Name", "name"),
        ({"ClassId": 0, "Name": "Total", "Select": "first", "select": "last"}, "Select", "select"),
    ],
)
def test_both_spellings_of_one_key_are_named(tmp_path, entry, key, snake):
    with pytest.raises(FieldConfigError) as caught:
        parse_field_configuration([entry], source="cfg.json")
    assert str(caught.value) == f"cfg.json: field 'Total' (index 0): {key}: both {key} and {snake} given; keep one"
    url = write_config(tmp_path, [entry])
    code, output = run("fields", "check", url)
    assert code == FieldConfigError.exit_code
    assert f"both {key} and {snake} given" in output and "unknown key" not in output


def test_both_spellings_of_class_id_are_named_by_train_ner_too(tmp_path):
    url = write_config(tmp_path, [{"ClassId": 0, "class_id": 1, "Name": "Total"}])
    with pytest.raises(ModelError, match=r"fields.json field 0: both ClassId and class_id given"):
        read_fields(url)


def test_blank_name_is_refused_naming_the_index():
    with pytest.raises(FieldConfigError) as caught:
        parse_field_configuration([{"ClassId": 0, "Name": "  "}], source="cfg.json")
    assert str(caught.value) == "cfg.json: field index 0: Name: must not be blank"


def test_overlong_normalizer_path_is_a_field_config_error():
    """``Path.is_dir`` raised OSError (file name too long) through the validator."""
    with pytest.raises(FieldConfigError, match="field 'Total' \\(index 0\\): Normalizer: .* is not a normalizer"):
        parse_field_configuration([{"ClassId": 0, "Name": "Total", "Normalizer": "n" * 5000}])


def test_shipped_configurations_pass_the_tagger_rule(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    for path in [
        repo / "src" / "docfields" / "samples" / "fields.json",
        repo / "examples" / "fields" / "credit-card.json",
        repo / "tests" / "data" / "annotations" / "labelstudio-fields.json",
    ]:
        code, output = run("fields", "check", str(path))
        assert code == 0, output
        assert field_names(json.loads(path.read_text()), str(path))
