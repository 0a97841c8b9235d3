"""Field configuration: both key spellings, strict validation naming field and key, the shipped
credit-card configuration, and the ``fields check`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from docfields.errors import FieldConfigError
from docfields.fields import (
    FieldConfiguration,
    FieldSpec,
    credit_card_configuration,
    load_field_configuration,
    parse_field_configuration,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "fields" / "credit-card.json"

PASCAL = [
    {"ClassId": 0, "Name": "Date", "Optional": True, "Select": "First", "Normalizer": "date:YYYY-MM-DD"},
    {"ClassId": 1, "Name": "Cards", "AnnotationGuidance": "<p>card names</p>"},
    {"ClassId": 2, "Name": "Other", "Ignore": True},
    {"ClassId": 3, "Name": "Due", "NormalizerEndpoint": "http://localhost:9/n", "NormalizerPrompt": "Convert: "},
]
SNAKE = [
    {"class_id": 0, "name": "Date", "optional": True, "select": "first", "normalizer": "date:YYYY-MM-DD"},
    {"class_id": 1, "name": "Cards", "annotation_guidance": "<p>card names</p>"},
    {"class_id": 2, "name": "Other", "ignore": True},
    {"class_id": 3, "name": "Due", "normalizer_endpoint": "http://localhost:9/n", "normalizer_prompt": "Convert: "},
]


def test_pascal_and_snake_case_load_the_same_configuration():
    pascal, snake = parse_field_configuration(PASCAL), parse_field_configuration(SNAKE)
    assert pascal == snake
    assert pascal.fields[0].select == "first"  # case-insensitive, stored lowercase
    assert [spec.name for spec in pascal.active()] == ["Date", "Cards", "Due"]
    assert pascal.by_class_id()[2].ignore is True
    assert pascal.fields[1].is_multi_value and not pascal.fields[0].is_multi_value


def test_to_json_list_is_pascal_case_without_unset_keys_and_reloads():
    listed = parse_field_configuration(SNAKE).to_json_list()
    assert listed[2] == {"ClassId": 2, "Name": "Other", "Ignore": True}
    assert listed[0]["Select"] == "first"
    assert parse_field_configuration(listed) == parse_field_configuration(PASCAL)


def test_fields_wrapper_object_is_accepted():
    assert parse_field_configuration({"Fields": PASCAL}) == parse_field_configuration(PASCAL)


def test_credit_card_configuration_is_the_original_19_fields():
    config = credit_card_configuration()
    assert len(config.fields) == 19
    assert [spec.class_id for spec in config.fields] == list(range(19))
    assert {spec.name for spec in config.fields if spec.ignore} == {
        "Fee - Other",
        "Min Payment Calculation",
        "Local Terms",
    }
    by_id = config.by_class_id()
    assert (by_id[0].optional, by_id[0].select) == (True, "first")
    assert (by_id[12].select, by_id[14].select, by_id[16].select) == ("shortest", None, "longest")
    assert by_id[14].optional is False and by_id[16].optional is False
    assert all(spec.annotation_guidance for spec in config.fields)


def test_example_file_is_the_packaged_configuration():
    assert load_field_configuration(str(EXAMPLE)) == credit_card_configuration()
    packaged = REPO / "src" / "docfields" / "samples" / "fields.json"
    assert json.loads(EXAMPLE.read_text()) == json.loads(packaged.read_text())


BAD = [
    ({"ClassId": 0, "Name": "Date", "Selct": "first"}, "field 'Date' (index 1): Selct: unknown key"),
    ({"ClassId": 0, "Name": "Date", "Select": "biggest"}, "field 'Date' (index 1): Select: "),
    ({"ClassId": 0, "Name": "Date", "Optional": "maybe"}, "field 'Date' (index 1): Optional: "),
    ({"ClassId": -1, "Name": "Date"}, "field 'Date' (index 1): ClassId: "),
    ({"ClassId": 0}, "field index 1: Name: Field required"),
    ({"ClassId": 7, "Name": "First"}, "field 'First' (index 1): Name: already used by field 'First' (index 0)"),
    ({"ClassId": 5, "Name": "Date"}, "field 'Date' (index 1): ClassId: 5 is already used by field 'First' (index 0)"),
    ({"ClassId": 0, "Name": "D", "NormalizerEndpoint": "http://x/n"}, "'D' (index 1): NormalizerEndpoint: set without"),
    (
        {"ClassId": 0, "Name": "D", "NormalizerPrompt": "Convert: "},
        "field 'D' (index 1): NormalizerPrompt: set without",
    ),
    (
        {
            "ClassId": 0,
            "Name": "D",
            "Normalizer": "date:YYYY-MM-DD",
            "NormalizerEndpoint": "http://x",
            "NormalizerPrompt": "p",
        },
        "field 'D' (index 1): Normalizer: set together with NormalizerEndpoint",
    ),
    (
        {"ClassId": 0, "Name": "D", "Normalizer": "dates"},
        "field 'D' (index 1): Normalizer: 'dates' is not a normalizer",
    ),
    ({"ClassId": 0, "Name": "D", "Normalizer": "date:MONTH"}, "field 'D' (index 1): Normalizer: date:MONTH: "),
    (
        {"ClassId": 0, "Name": "D", "Normalizer": "date:YYYY-MM-DD;order=YMD"},
        "'D' (index 1): Normalizer: date:YYYY-MM-DD;order=YMD: order must be",
    ),
    (
        {"ClassId": 0, "Name": "D", "Normalizer": "date:YYYY-MM-DD;model=/no/such/d"},
        "Normalizer: model=/no/such/d: neither",
    ),
    (
        {"ClassId": 0, "Name": "D", "NormalizerEndpoint": "my-sagemaker-endpoint", "NormalizerPrompt": "p"},
        "field 'D' (index 1): NormalizerEndpoint: 'my-sagemaker-endpoint' is not a registered normalizer endpoint name "
        "(known: none)",
    ),
    ("Date", "field index 1: a field must be a JSON object"),
]


@pytest.mark.parametrize(("entry", "message"), BAD)
def test_invalid_field_names_the_field_and_the_key(entry, message):
    with pytest.raises(FieldConfigError) as caught:
        parse_field_configuration([{"ClassId": 5, "Name": "First"}, entry], source="cfg.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("cfg.json: field ")
    assert caught.value.exit_code == FieldConfigError.exit_code


def test_unknown_key_error_lists_the_known_keys():
    with pytest.raises(FieldConfigError, match="known: ClassId, Name, Ignore, Optional, Select"):
        parse_field_configuration([{"ClassId": 0, "Name": "A", "Normaliser": "date:YYYY-MM-DD"}])


@pytest.mark.parametrize(("data", "message"), [({"x": []}, "got keys \\['x'\\]"), ("fields", "not str")])
def test_wrong_top_level_shape(data, message):
    with pytest.raises(FieldConfigError, match=f"<fields>: expected a JSON list.*{message}"):
        parse_field_configuration(data)


def test_normalizer_directory_is_accepted_without_loading_a_model(tmp_path):
    # an empty directory holds no model: only the name is checked at validation
    fields = [
        {"ClassId": 0, "Name": "A", "Normalizer": str(tmp_path), "NormalizerPrompt": "Normalize A: "},
        {"ClassId": 1, "Name": "B", "Normalizer": f"date:YYYY-MM-DD;order=DMY;model={tmp_path}"},
    ]
    config = parse_field_configuration(fields)
    assert config.fields[0].normalizer_spec == str(tmp_path)


def test_direct_construction_also_refuses_duplicates():
    with pytest.raises(ValidationError, match="ClassId: 0 is already used"):
        FieldConfiguration(fields=[FieldSpec(class_id=0, name="A"), FieldSpec(class_id=0, name="B")])


def test_unreadable_or_invalid_json_file_names_the_file(tmp_path):
    with pytest.raises(FieldConfigError, match="missing.json: cannot read"):
        load_field_configuration(str(tmp_path / "missing.json"))
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(FieldConfigError, match="broken.json: not valid JSON"):
        load_field_configuration(str(tmp_path / "broken.json"))


def test_cli_check_accepts_the_example_and_rejects_a_typo(tmp_path):
    from docfields.cli import app

    ok = CliRunner().invoke(app, ["fields", "check", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "19 fields, 16 extracted" in ok.output
    (tmp_path / "typo.json").write_text(json.dumps([{"ClassId": 0, "Name": "Total", "Selekt": "first"}]))
    bad = CliRunner().invoke(app, ["fields", "check", str(tmp_path / "typo.json")])
    assert bad.exit_code == FieldConfigError.exit_code
    assert "field 'Total' (index 0): Selekt: unknown key" in " ".join(bad.output.split())
