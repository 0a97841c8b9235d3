"""The ``datagen dates``, ``train seq2seq`` and ``normalize`` commands, end to end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from docfields.cli.main import app
from docfields.normalize import read_pairs

runner = CliRunner()


def test_datagen_dates_writes_a_dataset_folder(tmp_path):
    result = runner.invoke(app, ["datagen", "dates", "-n", "50", "-o", str(tmp_path / "d"), "--seed", "42"])
    assert result.exit_code == 0, result.output
    pairs = read_pairs(tmp_path / "d")
    assert len(pairs) == 50 and pairs.src[0].startswith("Convert dates to ")


def test_datagen_is_reproducible_and_configurable(tmp_path):
    args = ["datagen", "dates", "-n", "20", "--seed", "1", "--start", "2000-01-01", "--end", "2000-02-01",
            "--prompt", "To {target}: {text}"]  # fmt: skip
    for name in ("a.jsonl", "b.jsonl"):
        assert runner.invoke(app, [*args, "-o", str(tmp_path / name)]).exit_code == 0
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert all(s.startswith("To ") for s in read_pairs(tmp_path / "a.jsonl").src)


def test_datagen_most_likely_answers_are_recorded_in_the_recipe(tmp_path):
    out = tmp_path / "d.jsonl"
    result = runner.invoke(app, ["datagen", "dates", "-n", "3000", "--answers", "most-likely", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pairs = read_pairs(out)
    answers: dict[str, set[str]] = {}
    for src, tgt in zip(pairs.src, pairs.tgt, strict=True):
        answers.setdefault(src, set()).add(tgt)
    assert all(len(a) == 1 for a in answers.values())
    assert json.loads((tmp_path / "d.jsonl.datagen.json").read_text())["answers"] == "most-likely"
    drawn = tmp_path / "drawn.jsonl"
    assert runner.invoke(app, ["datagen", "dates", "-n", "3000", "-o", str(drawn)]).exit_code == 0
    assert read_pairs(drawn).src == pairs.src and read_pairs(drawn).tgt != pairs.tgt


def test_datagen_bad_options_exit_nonzero(tmp_path):
    result = runner.invoke(app, ["datagen", "dates", "-o", str(tmp_path / "x"), "--formats", "nope.json"])
    assert result.exit_code == 7 and "nope.json" in result.output
    result = runner.invoke(app, ["datagen", "dates", "-o", str(tmp_path / "x"), "--start", "soon"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["datagen", "dates", "-o", str(tmp_path / "x"), "--answers", "best"])
    assert result.exit_code == 2 and "answers" in result.output


def test_normalize_with_a_rule():
    result = runner.invoke(app, ["normalize", "--normalizer", "date:YYYY-MM-DD;order=MDY", "Dec 31st 2000",
                                 "03/04/21"])  # fmt: skip
    assert result.exit_code == 0
    assert result.output.splitlines() == ["2000-12-31", "2021-03-04"]


def test_normalize_flags_review_with_exit_2_and_json():
    result = runner.invoke(app, ["normalize", "--normalizer", "date:YYYY-MM-DD", "--json", "03/04/21", ""])
    assert result.exit_code == 2
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["status"] for r in rows] == ["ambiguous", "unparsed"] and all(r["needs_review"] for r in rows)


def test_normalize_reads_stdin():
    result = runner.invoke(app, ["normalize", "--normalizer", "date:DD/MM/YYYY"], input="2000-12-31\n")
    assert result.exit_code == 0 and result.output.strip() == "31/12/2000"


def test_normalize_unknown_model_exits_with_the_normalizer_code(tmp_path):
    result = runner.invoke(app, ["normalize", "--model", str(tmp_path / "none"), "x"])
    assert result.exit_code == 7 and "not a normalizer" in result.output
    assert runner.invoke(app, ["normalize", "x"]).exit_code == 2


@pytest.fixture
def restore_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_train_then_normalize(tmp_path, restore_threads):
    for name, n, seed in (("train.jsonl", 300, 1), ("eval.jsonl", 20, 2)):
        runner.invoke(app, ["datagen", "dates", "-n", str(n), "--seed", str(seed), "-o", str(tmp_path / name)])
    model = tmp_path / "model"
    result = runner.invoke(app, [
        "train", "seq2seq", "--train", str(tmp_path / "train.jsonl"), "--eval", str(tmp_path / "eval.jsonl"),
        "-o", str(model), "--model", "cpu-tiny", "--max-steps", "6", "--eval-every", "3",
        "--batch-size", "8", "--threads", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "exact match" in result.output and (model / "config.json").exists()
    result = runner.invoke(app, ["normalize", "--model", str(model), "--prompt",
                                 "Convert dates to YYYY-MM-DD: ", "--json", "12/31/00"])  # fmt: skip
    assert result.exit_code in (0, 2)
    assert json.loads(result.output)["source"] == "model"
    missing = runner.invoke(app, ["train", "seq2seq", "--train", str(tmp_path / "no.jsonl"), "--eval",
                                  str(tmp_path / "eval.jsonl"), "-o", str(model)])  # fmt: skip
    assert missing.exit_code == 7 and "no.jsonl" in missing.output
