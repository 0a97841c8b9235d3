"""Pre-training a tagger base on unlabelled pages: reading them, masking, learning, resume, and fine-tuning from it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.errors import ModelError
from docfields.ner.data import IGNORE_INDEX, EncodedWindow
from docfields.ner.pretrain import (
    NEW_LINE,
    SAME_LINE,
    SAME_SEGMENT,
    MaskTokens,
    MlmTrainOptions,
    line_relations,
    mask_window,
    read_base_card,
    read_unlabelled_pages,
    train_mlm,
)
from docfields.textract import NormBox, OcrLine, OcrPage, OcrWord, build_document, write_textract

# Receipts whose lines repeat from page to page (each ends in one of three colours): a masked word is guessable.
LINES = ["thank you for shopping with us", "total amount due", "cash paid in full", "please come again soon",
         "visa card ending", "store number", "have a nice day"]  # fmt: skip
FIELDS = [{"ClassId": 0, "Name": "Total"}]


def _page(rng: random.Random) -> OcrPage:
    lines = []
    for row, text in enumerate(LINES):
        words = [*text.split(), rng.choice(("red", "green", "blue"))]
        boxes = [NormBox(0.05 + 0.12 * k, 0.05 + 0.06 * row, 0.1, 0.03) for k in range(len(words))]
        lines.append(OcrLine(words=tuple(OcrWord(w, 95.0, b) for w, b in zip(words, boxes, strict=True))))
    return OcrPage(lines=tuple(lines), engine="test")


def _write_corpus(folder: Path, documents: int, pages: int = 1, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(documents):
        path = folder / f"receipt_{number:03d}.json"
        write_textract(build_document([_page(rng) for _ in range(pages)], "docfields-test-1"), str(path))
        paths.append(path)
    return paths


def _labelled_manifest(paths: list[Path], out: Path) -> Path:
    """Ground Truth lines (page 1, image 1000 x 1000 px) boxing the colour after "total amount due"."""
    row = LINES.index("total amount due")
    box = {"class_id": 0, "left": 50 + 120 * 3, "top": 50 + 60 * row, "width": 100, "height": 30}
    label = {"image_size": [{"width": 1000, "height": 1000}], "annotations": [box]}
    out.write_text("".join(json.dumps({"textract-ref": str(p), "page-num": 1, "labels": label}) + "\n" for p in paths))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _write_corpus(tmp_path_factory.mktemp("pages"), documents=24)


def test_pages_come_from_a_folder_of_textract_json_and_from_a_manifest_without_labels(tmp_path):
    paths = _write_corpus(tmp_path / "ocr" / "nested", documents=2, pages=2)
    from_folder = read_unlabelled_pages(str(tmp_path / "ocr"))
    assert [(Path(p.document).name, p.page) for p in from_folder] == [
        ("receipt_000.json", 1),
        ("receipt_000.json", 2),
        ("receipt_001.json", 1),
        ("receipt_001.json", 2),
    ]
    assert all(p.labels is None and len(p.words) == len(" ".join(LINES).split()) + len(LINES) for p in from_folder)
    manifest = tmp_path / "manifest.jsonl"  # what `docfields ocr` writes: every page; and one page of a labelled one
    manifest.write_text(json.dumps({"raw-ref": "scan.pdf", "textract-ref": "ocr/nested/receipt_000.json"}) + "\n\n"
                        + _labelled_manifest(paths[1:], tmp_path / "gt.jsonl").read_text().replace(
                            '"page-num": 1', '"page-num": 2'))  # fmt: skip
    from_manifest = read_unlabelled_pages(str(manifest))
    assert [(p.document, p.page) for p in from_manifest] == [("scan.pdf", 1), ("scan.pdf", 2), (str(paths[1]), 2)]
    assert from_manifest[2].words == from_folder[3].words and from_manifest[2].labels is None


def test_an_unreadable_file_in_a_folder_is_named_and_skipped(tmp_path):
    _write_corpus(tmp_path, documents=2)
    (tmp_path / "broken.json").write_text("{not json")
    skipped: list[str] = []
    pages = read_unlabelled_pages(str(tmp_path), skipped)
    assert len(pages) == 2
    assert len(skipped) == 1 and "broken.json" in skipped[0]


def test_a_manifest_line_that_is_not_json_or_has_no_textract_ref_is_an_error_naming_the_line(tmp_path):
    paths = _write_corpus(tmp_path, documents=1)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"textract-ref": str(paths[0])}) + "\n{oops\n")
    with pytest.raises(ModelError, match=r"m\.jsonl line 2.*not valid JSON"):
        read_unlabelled_pages(str(manifest))
    manifest.write_text(json.dumps({"raw-ref": "scan.pdf"}) + "\n")
    with pytest.raises(ModelError, match=r"m\.jsonl line 1.*textract-ref"):
        read_unlabelled_pages(str(manifest))
    manifest.write_text(json.dumps({"textract-ref": "missing.json"}) + "\n")
    skipped: list[str] = []
    with pytest.raises(ModelError, match="no page with words"):
        read_unlabelled_pages(str(manifest), skipped)
    assert "line 1" in skipped[0] and "missing.json" in skipped[0]


def test_line_relations_tell_a_segment_from_a_line_from_a_new_line():
    boxes = [(10, 10, 50, 30), (55, 10, 90, 30), (600, 12, 650, 30), (10, 40, 60, 60), (0, 0, 0, 0)]
    assert line_relations(boxes) == (NEW_LINE, SAME_SEGMENT, SAME_LINE, NEW_LINE, NEW_LINE)


def test_whole_words_are_masked_and_the_same_draw_gives_the_same_mask():
    # CLS, word 0 (two sub-tokens), words 1..9, SEP
    word_ids = (-1, 0, 0, *range(1, 10), -1)
    window = EncodedWindow(0, (2, *range(10, 21), 3), ((0, 0, 0, 0),) + ((5, 5, 9, 9),) * 11 + ((1000,) * 4,),
                           (IGNORE_INDEX,) * 13, word_ids)  # fmt: skip
    tokens = MaskTokens(mask_id=4, first_word_id=5, vocab_size=40)
    masks = [mask_window(window, [NEW_LINE] * 10, tokens, 0.3, random.Random(f"1:0:{i}")) for i in range(50)]
    for masked in masks:
        chosen = {w for w, label in zip(word_ids, masked.window.labels, strict=True) if label != IGNORE_INDEX}
        assert len(chosen) == 3 and -1 not in chosen
        if 0 in chosen:  # both sub-tokens of word 0, labelled with their original ids
            assert masked.window.labels[1:3] == (10, 11)
        hidden = [b == (0, 0, 0, 0) for b, w in zip(masked.window.bbox, word_ids, strict=True) if w in chosen]
        assert all(hidden)  # the layout objective hides the masked words' boxes
        assert sum(label != IGNORE_INDEX for label in masked.layout_labels) == 3  # one per word, first sub-token
    share = sum(i == 4 for m in masks for i in m.window.input_ids) / sum(
        label != IGNORE_INDEX for m in masks for label in m.window.labels
    )
    assert 0.6 < share < 0.95  # about 80% [MASK]
    assert mask_window(window, None, tokens, 0.3, random.Random("1:0:7")) == mask_window(
        window, None, tokens, 0.3, random.Random("1:0:7")
    )


@pytest.mark.slow
def test_pretraining_learns_and_its_base_fine_tunes_into_a_tagger(corpus, tmp_path):
    import torch
    from safetensors.torch import load_file

    from docfields.ner import NerTrainOptions, train_ner
    from docfields.ner.model import load_checkpoint

    base = tmp_path / "base"
    result = train_mlm(MlmTrainOptions(corpus=str(corpus[0].parent), output=str(base), max_steps=40, batch_size=8,
                                       validation_share=0.2, learning_rate=1e-2, layout_objective="line",
                                       device="cpu"))  # fmt: skip
    assert result.stopped == "max steps" and result.steps == 40 and result.documents == 24
    assert result.masked_accuracy is not None and result.chance_accuracy is not None
    assert result.masked_accuracy > result.chance_accuracy + 0.2
    assert result.layout_accuracy is not None and result.curve[-1].step == 40
    card = read_base_card(base)
    assert card is not None and card.steps == 40 and card.layout_objective == "line" and card.max_length == 128
    assert read_base_card(tmp_path) is None

    tagger_model = load_checkpoint(str(base), ["Total"])  # fails on any missing encoder or box-bias weight
    weights = load_file(str(base / "model.safetensors"))
    for name in ("layoutlm.encoder.layer.0.attention.self.query.weight", "box_attention_bias.x_buckets.weight"):
        assert torch.equal(tagger_model.state_dict()[name], weights[name])
    manifest = _labelled_manifest(corpus, tmp_path / "train.jsonl")
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps(FIELDS))
    tuned = train_ner(NerTrainOptions(manifest=str(manifest), fields=str(fields), output=str(tmp_path / "tagger"),
                                      base=str(base), max_steps=4, calibrate=False, device="cpu"))  # fmt: skip
    assert tuned.steps == 4 and (tmp_path / "tagger" / "docfields_ner.json").is_file()
    tagger = json.loads((tmp_path / "tagger" / "docfields_ner.json").read_text())
    assert tagger["base"] == str(base) and tagger["max_length"] == card.max_length
    # a docfields base trains like a model from scratch: its rate, and its smooth layout tables stay frozen
    from docfields.ner.model import position_tables
    from docfields.ner.train import SCRATCH_LEARNING_RATE, learning_rate

    assert learning_rate(NerTrainOptions(manifest="m", fields="f", output="o", base=str(base))) == SCRATCH_LEARNING_RATE
    tuned_model = load_checkpoint(str(tmp_path / "tagger"))
    for name, table in position_tables(tuned_model):
        assert torch.equal(table.weight, weights[f"{name}.weight"]), name


@pytest.mark.slow
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(corpus, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from docfields.ner import pretrain

    monkeypatch.setattr(pretrain, "EVALUATE_EVERY", 2)  # checkpoints every 2 steps
    # The WordPiece trainer breaks ties between equally frequent merges differently from call to call (a
    # resumed run reads its tokenizer from the checkpoint): both runs get one tokenizer.
    tokenizer = pretrain.train_wordpiece(w for p in read_unlabelled_pages(str(corpus[0].parent)) for w in p.words)
    monkeypatch.setattr(pretrain, "train_wordpiece", lambda texts, vocab_size: tokenizer)

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step >= 3

    def options(out: Path, resume: bool = False) -> MlmTrainOptions:
        return MlmTrainOptions(corpus=str(corpus[0].parent), output=str(out), max_steps=6, batch_size=6,
                               layout_objective="line", resume=resume, device="cpu")  # fmt: skip

    train_mlm(options(tmp_path / "whole"))
    interrupted = train_mlm(options(tmp_path / "parts"), callbacks=[Interrupt()])
    assert interrupted.steps == 3  # checkpoint-2 is the last one saved
    resumed = train_mlm(options(tmp_path / "parts", resume=True))
    assert resumed.steps == 6
    whole, parts = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("whole", "parts"))
    assert whole.keys() == parts.keys()
    assert all(torch.allclose(whole[k], parts[k]) for k in whole)
    assert [p.step for p in resumed.curve] == [2, 4, 6]  # the curve before the interruption is kept


def test_asking_for_cuda_where_there_is_none_fails_naming_cuda(corpus, tmp_path):
    import torch

    from docfields.cli.main import app

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = CliRunner().invoke(app, ["train", "mlm", "--manifest", str(corpus[0].parent), "-o", str(tmp_path / "b"),
                                      "--device", "cuda"])  # fmt: skip
    assert result.exit_code != 0
    assert "CUDA" in result.output


@pytest.mark.slow
def test_the_command_pre_trains_a_base_and_names_the_next_step(corpus, tmp_path):
    from docfields.cli.main import app

    base = tmp_path / "base"
    result = CliRunner().invoke(app, ["train", "mlm", "--manifest", str(corpus[0].parent), "-o", str(base),
                                      "--max-steps", "4", "--batch-size", "8", "--device", "cpu"],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "saved base" in result.output and f"--base {base}" in result.output
    assert read_base_card(base).steps == 4
