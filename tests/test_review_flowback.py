"""Review answers flowing back into a result, on the original's real review task (task-input.example.json).

Regression: upstream matched multi-value answers against the literal string "field_name", so
an edited multi-value field came back unchanged (spec section 7.3, [obs]).
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from starlette.datastructures import FormData

from docfields.errors import ReviewError
from docfields.fields import ExtractionResult
from docfields.review.flowback import FieldAnswer, ReviewAnswers, answers_from_form, apply_review

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model_result(shared_data) -> dict:
    return json.loads((shared_data / "attp" / "task-input.example.json").read_text())["ModelResult"]


def accept_all(result: dict) -> dict[str, FieldAnswer]:
    """Answers that confirm every field as the model has it."""
    answers = {}
    for name, field in result["Fields"].items():
        if "Values" in field:
            values = [v["Value"] for v in field["Values"]]
            answers[name] = FieldAnswer(present=bool(values), values=values)
        else:
            answers[name] = FieldAnswer(present=bool(field["Value"]), value=field["Value"])
    return answers


def test_edited_multi_values_come_back_by_field_name(model_result):
    form = FormData(
        [("field-present-Card Name", "on"), ("field-multival-Card Name", "Visa Signature"),
         ("field-multival-Card Name", "Visa Gold Rewards"), ("field-multival-Card Name", "  "),
         ("field-present-Provider Name", "on"), ("field-value-Provider Name", "121 Financial Credit Union")]
    )  # fmt: skip
    answers = answers_from_form(form.getlist, model_result)
    reviewed = apply_review(model_result, answers, "ana", 42.25, WHEN)
    card = reviewed["Fields"]["Card Name"]
    assert [v["Value"] for v in card["Values"]] == ["Visa Signature", "Visa Gold Rewards"]
    assert [len(v["Detections"]) for v in card["Values"]] == [7, 0]  # a kept value keeps its detections
    assert all(v["Confidence"] == 1.0 for v in card["Values"]) and card["Confidence"] == 1.0
    assert "Card Name" in reviewed["Review"]["ChangedFields"]


def test_unticked_fields_are_absent_with_full_confidence(model_result):
    answers = accept_all(model_result)
    answers["APR - Introductory"] = FieldAnswer(present=False, value="when you")
    answers["Card Name"] = FieldAnswer(present=False, values=["Visa Signature"])
    reviewed = apply_review(model_result, ReviewAnswers(fields=answers), "ana", 1.0, WHEN)
    intro, card = reviewed["Fields"]["APR - Introductory"], reviewed["Fields"]["Card Name"]
    assert (intro["Value"], intro["Detections"], intro["Confidence"]) == ("", [], 1.0)
    assert (card["Values"], card["Confidence"]) == ([], 1.0)
    # an optional field that was empty and stays absent is confirmed, not changed
    assert reviewed["Fields"]["APR - Penalty"]["Confidence"] == 1.0
    assert reviewed["Review"]["ChangedFields"] == ["APR - Introductory", "Card Name"]


def test_unchanged_values_keep_the_model_text_and_detections(model_result):
    answers = accept_all(model_result)
    answers["Provider Address"] = FieldAnswer(present=True, value=" P.O. Box 40769, Jacksonville, FL, 32203 ")
    reviewed = apply_review(model_result, ReviewAnswers(fields=answers), "ana", 3.0, WHEN)
    address = reviewed["Fields"]["Provider Address"]
    assert address["Value"] == "P.O. Box 40769,\nJacksonville, FL, 32203"  # the OCR line break survives
    assert address["Detections"] == model_result["Fields"]["Provider Address"]["Detections"]
    assert reviewed["Review"]["ChangedFields"] == []
    assert all(field["Confidence"] == 1.0 for field in reviewed["Fields"].values())


def test_overall_confidence_is_recomputed_and_the_input_is_untouched(model_result):
    before = copy.deepcopy(model_result)
    answers = accept_all(model_result)
    everything = apply_review(model_result, ReviewAnswers(fields=answers), "ana", 5.0, WHEN)
    assert everything["Confidence"] == 1.0
    del answers["Provider Name"]  # mandatory, model confidence 0.134: left as the model had it
    partial = apply_review(model_result, ReviewAnswers(fields=answers), "ana", 5.0, WHEN)
    assert partial["Confidence"] == pytest.approx(model_result["Fields"]["Provider Name"]["Confidence"])
    assert partial["Fields"]["Provider Name"] == model_result["Fields"]["Provider Name"]
    assert model_result == before


def test_review_record_and_contract(model_result):
    answers = accept_all(model_result)
    answers["Provider Name"] = FieldAnswer(present=True, value="121 Financial Credit Union, Inc.")
    reviewed = apply_review(model_result, ReviewAnswers(fields=answers), "ana", 12.34567, WHEN)
    assert reviewed["Review"] == {
        "Reviewer": "ana", "TimeSpentInSeconds": 12.346, "ChangedFields": ["Provider Name"],
        "ReviewedAt": "2024-05-06T07:08:09Z",
    }  # fmt: skip
    parsed = ExtractionResult.from_json_dict(reviewed)
    assert parsed.review is not None and parsed.review.changed_fields == ["Provider Name"]
    assert parsed.to_json_dict() == reviewed
    assert list(reviewed["Fields"]) == list(model_result["Fields"])  # field order kept


def test_form_without_a_checkbox_means_absent(model_result):
    form = FormData([("field-value-Fee - Annual", "None"), ("field-present-Fee - Late Payment", "on"),
                      ("field-value-Fee - Late Payment", "$25.00")])  # fmt: skip
    answers = answers_from_form(form.getlist, model_result)
    assert set(answers.fields) == set(model_result["Fields"])
    assert answers.fields["Fee - Annual"] == FieldAnswer(present=False, value="")
    assert answers.fields["Fee - Late Payment"] == FieldAnswer(present=True, value="$25.00")
    assert answers.fields["Card Name"] == FieldAnswer(present=False, values=[])


@pytest.mark.parametrize(
    ("name", "answer", "message"),
    [
        ("Provider Name", FieldAnswer(present=True, value="   "), "'Provider Name' is marked present but has no value"),
        ("Card Name", FieldAnswer(present=True, values=["", " "]), "'Card Name' is marked present but has no value"),
        ("No Such Field", FieldAnswer(present=False), "unknown field(s) ['No Such Field']"),
    ],
)
def test_bad_answers_name_the_document_and_the_field(model_result, name, answer, message):
    with pytest.raises(ReviewError) as caught:
        apply_review(model_result, ReviewAnswers(fields={name: answer}), "ana", 1.0, where="document card.pdf")
    assert str(caught.value).startswith("document card.pdf: ") and message in str(caught.value)
