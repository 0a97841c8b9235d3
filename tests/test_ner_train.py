"""A tiny real training run on CORD receipts: it learns (entity F1 above chance), saves, resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.errors import ModelError
from docfields.ner import NerTrainOptions, Tagger, load_examples, train_ner
from docfields.ner.evaluate import NerEvaluation, evaluate_tagger

pytestmark = pytest.mark.slow

TRAIN_PAGES, VALIDATION_PAGES = 80, 25


def subset_manifest(source: Path, out: Path, n: int) -> str:
    """The first ``n`` lines of a CORD manifest, with Textract references made absolute."""
    lines = []
    for line in source.read_text().splitlines()[:n]:
        record = json.loads(line)
        record["textract-ref"] = str(source.parent / record["textract-ref"])
        lines.append(json.dumps(record))
    out.write_text("\n".join(lines) + "\n")
    return str(out)


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory) -> dict[str, str]:
    cord, root = shared_data / "cord", tmp_path_factory.mktemp("cord")
    return {
        "train": subset_manifest(cord / "train.manifest.jsonl", root / "train.jsonl", TRAIN_PAGES),
        "validation": subset_manifest(cord / "val.manifest.jsonl", root / "val.jsonl", VALIDATION_PAGES),
        "fields": str(cord / "fields.json"),
    }


def options(corpus: dict[str, str], output: Path, **changes) -> NerTrainOptions:
    settings = dict(
        manifest=corpus["train"], fields=corpus["fields"], output=str(output),
        validation_manifest=corpus["validation"], base="layoutlm-tiny", epochs=8, batch_size=8,
        learning_rate=2e-3, vocab_size=2000, patience=3, seed=7, calibrate=False,  # test_calibration covers it
    )  # fmt: skip
    return NerTrainOptions(**{**settings, **changes})


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "model"
    return train_ner(options(corpus, output)), output


def test_training_learns_above_chance(trained):
    result, _ = trained
    micro = result.evaluation.micro
    assert result.chance_f1 is not None
    assert micro.f1 > 2 * result.chance_f1 and micro.f1 > 0.1
    assert result.evaluation.word_metrics.focus_acc > 0.2
    assert result.validation_pages == VALIDATION_PAGES and result.scored_on == "validation"
    # the best epoch is picked on a slice of the training documents, so --validation is a held-out score
    assert result.selection_pages > 0 and result.train_pages + result.selection_pages == TRAIN_PAGES
    assert result.steps > 0 and result.train_pages_per_second > 0
    assert result.stopped.startswith(("epochs", "no progress"))


def test_the_saved_model_scores_as_reported(trained, corpus):
    result, output = trained
    tagger = Tagger.load(output)
    assert NerEvaluation.model_validate(tagger.card.metrics["evaluation"]) == result.evaluation
    examples = load_examples(corpus["validation"], num_classes=30)
    again = evaluate_tagger(tagger, examples)  # what `docfields evaluate ner` computes
    assert again.micro.f1 == pytest.approx(result.evaluation.micro.f1, abs=1e-6)
    assert again.word_metrics.acc == pytest.approx(result.evaluation.word_metrics.acc, abs=1e-6)
    assert (output / "checkpoints").is_dir()
    assert tagger.model.box_attention_bias.x_buckets.weight.abs().sum() > 0  # the relative box bias trained


def test_resume_continues_from_the_last_checkpoint(corpus, tmp_path):
    first = train_ner(options(corpus, tmp_path / "m", epochs=1, validation_manifest=None, validation_share=0.0))
    again = train_ner(options(corpus, tmp_path / "m", epochs=2, validation_manifest=None, validation_share=0.0,
                              resume=True))  # fmt: skip
    assert again.steps == 2 * first.steps and again.calibration is None  # no validation documents to fit it on
    assert again.seconds < 2 * first.seconds + 30  # did not start over from step 0 (loosely)


def test_an_empty_manifest_is_a_model_error(corpus, tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ModelError, match="no annotated page"):
        train_ner(options(corpus, tmp_path / "m", manifest=str(tmp_path / "empty.jsonl")))


def test_a_broken_manifest_line_is_named(corpus, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"textract-ref": "nowhere.json", "page-num": 1}\n')
    with pytest.raises(ModelError, match="bad.jsonl line 1"):
        train_ner(options(corpus, tmp_path / "m", manifest=str(tmp_path / "bad.jsonl")))


def test_the_train_command_prints_a_table_per_field(corpus, tmp_path):
    from docfields.cli.main import app

    args = ["train", "ner", "--manifest", corpus["train"], "--fields", corpus["fields"], "-o", str(tmp_path / "m"),
            "--validation", corpus["validation"], "--base", "layoutlm-tiny", "--epochs", "1",
            "--no-calibrate", "--box-level", "word"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "menu.nm" in result.output and "micro" in result.output
    assert json.loads((tmp_path / "m" / "docfields_ner.json").read_text())["box_level"] == "word"
    assert not (tmp_path / "m" / "calibration.json").exists() and "calibrated" not in result.output
    unknown = CliRunner().invoke(app, [*args[:-1], "cell"])
    assert unknown.exit_code != 0 and "box_level" in unknown.output
    too_much = CliRunner().invoke(app, [*args, "--box-dropout", "1.5"])
    assert too_much.exit_code != 0 and "box_dropout" in too_much.output
    bad = CliRunner().invoke(app, [*args[:5], str(tmp_path / "nofields.json"), *args[6:]])
    assert bad.exit_code == 9


def test_a_time_budget_stops_training_before_the_epochs_run_out(corpus, tmp_path):
    result = train_ner(options(corpus, tmp_path / "m", epochs=200, max_minutes=0.2, patience=1000))
    full = 200 * -(-TRAIN_PAGES // 8)  # at least one window per page, 8 per batch
    assert 0 < result.steps < full
    assert result.evaluation and (tmp_path / "m" / "config.json").is_file()
    assert result.stopped == "time budget (0.2 min)"


def test_a_time_budget_is_used_whole_when_no_epochs_are_given(corpus, tmp_path):
    """The old 80-epoch default ended small runs long before the budget the user gave."""
    few = options(corpus, tmp_path / "m", epochs=None, max_minutes=0.15, patience=1000, validation_manifest=None)
    result = train_ner(few.model_copy(update={"manifest": subset_manifest(Path(corpus["train"]), tmp_path / "t", 4)}))
    assert result.stopped == "time budget (0.15 min)"
    assert result.scored_on == "selection" and result.validation_pages == 1  # no --validation: the slice is scored


def test_the_schedule_is_re_aimed_to_decay_to_zero_at_the_last_step():
    import torch

    from docfields.ner.callbacks import aim_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    aim_schedule(scheduler, warmup=2, total=10)
    rates = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates[0] == pytest.approx(0.5) and rates[1] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:], strict=False))


def test_model_selection_prefers_entity_f1_and_ranks_before_any_entity():
    from docfields.ner.data import IGNORE_INDEX
    from docfields.ner.train import SELECTION_METRIC, _window_metrics

    names = ["total", "date"]  # class 2 is "other"
    labels = [[0, 0, IGNORE_INDEX, 2, 1, IGNORE_INDEX]]
    perfect = _window_metrics([[0, 0, 5, 2, 1, 5]], labels, names)
    assert perfect["entity_f1"] == pytest.approx(1.0) and perfect[SELECTION_METRIC] == pytest.approx(1.0)
    half = _window_metrics([[0, 2, 5, 2, 1, 5]], labels, names)
    assert 0 < half["entity_f1"] < 1
    nothing = _window_metrics([[2, 2, 5, 2, 2, 5]], labels, names)
    closer = _window_metrics([[2, 2, 5, 2, 1, 5]], [[0, 0, IGNORE_INDEX, 2, 0, IGNORE_INDEX]], names)
    assert nothing["entity_f1"] == 0 and nothing[SELECTION_METRIC] < 0 < half[SELECTION_METRIC]
    assert closer[SELECTION_METRIC] < 0


WINDOW_BOXES = ((0, 0, 0, 0), (400, 500, 420, 510), (430, 500, 470, 510), (1000, 1000, 1000, 1000))


def two_word_window():
    """CLS, two words with boxes, SEP: what the augmentations act on."""
    from docfields.ner.data import EncodedWindow

    return EncodedWindow(0, (2, 7, 8, 3), WINDOW_BOXES, (-100, 1, 2, -100), (-1, 0, 1, -1))


def test_training_windows_get_a_fresh_box_shift_at_every_read():
    from docfields.ner.train import AugmentedWindows

    boxes, window = WINDOW_BOXES, two_word_window()
    served = AugmentedWindows([window], token_dropout=0.0, box_shift=0.1, box_dropout=0.0, unk_id=1, seed=5)
    reads = [served[0] for _ in range(20)]
    offsets = set()
    for read in reads:
        dx, dy = read.bbox[1][0] - 400, read.bbox[1][1] - 500
        assert abs(dx) <= 100 and abs(dy) <= 100
        assert read.bbox[2] == (430 + dx, 500 + dy, 470 + dx, 510 + dy)  # one move for the whole window
        assert (read.bbox[0], read.bbox[3], read.input_ids) == (boxes[0], boxes[3], window.input_ids)
        offsets.add((dx, dy))
    assert len(offsets) > 10
    assert AugmentedWindows([window], 0.0, 0.0, 0.0, 1, 5)[0] is window


def test_box_dropout_serves_a_share_of_windows_without_word_boxes():
    from docfields.ner.data import PAD_BOX
    from docfields.ner.train import AugmentedWindows

    boxes, window = WINDOW_BOXES, two_word_window()
    served = AugmentedWindows([window], token_dropout=0.0, box_shift=0.0, box_dropout=0.5, unk_id=1, seed=5)
    reads = [served[0] for _ in range(200)]
    hidden = [r for r in reads if r.bbox[1:3] == (PAD_BOX, PAD_BOX)]
    assert 60 < len(hidden) < 140
    assert all(r.bbox == boxes for r in reads if r not in hidden)
    assert all((r.bbox[0], r.bbox[3], r.input_ids, r.labels) == (boxes[0], boxes[3], window.input_ids, window.labels)
               for r in hidden)  # fmt: skip
    always = AugmentedWindows([window], 0.0, 0.0, 1.0, 1, 5)
    assert all(always[0].bbox[1:3] == (PAD_BOX, PAD_BOX) for _ in range(20))
