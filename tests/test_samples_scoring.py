"""Field accuracy of results against the sample corpus's truth: the demo's last table."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from docfields.errors import AnnotationError
from docfields.samples import read_truth, score_results, score_results_folder

TRUTH = {
    "cc-0000": {"id": "cc-0000", "fields": {"Provider Name": "Bayou Trust", "Card Name": ["Gold", "Silver"],
                                            "Agreement Effective Date": "5 October 2020"},
                "normalized": {"Agreement Effective Date": "2020-10-05"}},
    "cc-0001": {"id": "cc-0001", "fields": {"Provider Name": "Elm Bank", "Card Name": ["Blue"]}},
}  # fmt: skip


def single(value: str, order: int, raw: str | None = None) -> dict:
    detection = {"Text": value, **({"RawText": raw} if raw else {})}
    return {"Value": value, "SortOrder": order, "Confidence": 0.9, "Detections": [detection] if value else []}


def multi(values: list[str], order: int) -> dict:
    entries = [{"Value": v, "Detections": [{"Text": v}]} for v in values]
    return {"SortOrder": order, "Confidence": 0.9, "Values": entries}


def results() -> dict:
    return {
        "cc-0000": {"Fields": {"Agreement Effective Date": single("2020-10-05", 0, raw="5 October 2020"),
                               "Provider Name": single("bayou  trust", 1), "Card Name": multi(["Silver", "Gold"], 2)}},
        "cc-0001": {"Fields": {"Agreement Effective Date": single("", 0), "Provider Name": single("Elm Bank Corp", 1),
                               "Card Name": multi(["Blue", "Green"], 2)}},
    }  # fmt: skip


def test_fields_are_scored_in_sort_order_with_folded_text_and_normalized_truth():
    scores = {row.name: row for row in score_results(results(), TRUTH)}
    assert list(scores) == ["Agreement Effective Date", "Provider Name", "Card Name"]
    date = scores["Agreement Effective Date"]
    assert (date.correct, date.with_value, date.found) == (2, 1, 1)  # normalized truth; absent counts as right
    name = scores["Provider Name"]
    assert (name.correct, name.found) == (1, 1) and name.accuracy == pytest.approx(0.5)
    cards = scores["Card Name"]
    assert (cards.correct, cards.recall) == (1, pytest.approx(0.5))  # sets compared: an extra value is wrong


def test_a_result_without_a_normalizer_is_compared_with_the_printed_value():
    raw = {"cc-0000": {"Fields": {"Agreement Effective Date": single("5 october 2020", 0)}}}
    assert score_results(raw, TRUTH)[0].correct == 1


def test_results_of_another_corpus_are_refused(tmp_path):
    with pytest.raises(AnnotationError, match="cc-0099"):
        score_results({"cc-0099": {"Fields": {}}}, TRUTH)
    with pytest.raises(AnnotationError, match="no \\*.result.json"):
        score_results_folder(str(tmp_path), str(tmp_path / "truth.jsonl"))


def test_the_score_command_reads_a_results_folder_and_a_truth_file(tmp_path):
    from docfields.cli.main import app

    truth = tmp_path / "truth.jsonl"
    truth.write_text("".join(json.dumps(line) + "\n" for line in TRUTH.values()))
    assert set(read_truth(str(truth))) == {"cc-0000", "cc-0001"}
    for doc_id, result in results().items():
        (tmp_path / f"{doc_id}.result.json").write_text(json.dumps(result))
    args = ["samples", "score", str(tmp_path), "--truth", str(truth)]
    outcome = CliRunner().invoke(app, args, env={"COLUMNS": "150"})
    assert outcome.exit_code == 0, outcome.output
    assert "Provider Name" in outcome.output and "50%" in outcome.output and "1/2" in outcome.output
    truth.write_text("not json\n")
    bad = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert bad.exit_code == AnnotationError.exit_code and "truth.jsonl line 1" in bad.output


def test_accepted_fields_are_those_nobody_checks():
    scored = results()
    scored["cc-0000"]["Fields"]["Provider Name"] |= {"CalibratedConfidence": 0.99, "ReviewThreshold": 0.95}
    scored["cc-0000"]["Fields"]["Card Name"] |= {"CalibratedConfidence": 0.90, "ReviewThreshold": 0.95}
    scores = {row.name: row for row in score_results(scored, TRUTH, in_review={"cc-0000"})}
    # cc-0001 is done: all its fields pass; in cc-0000 only the field above its threshold does (the date has none)
    assert [scores[name].accepted for name in scores] == [1, 2, 1]
    assert scores["Provider Name"].accepted_correct == 1  # "bayou  trust" is right, "Elm Bank Corp" wrong
    assert scores["Card Name"].accepted_correct == 0
