"""Tagger build, save and load: named configs, checkpoints that do not fit, field configurations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from docfields.errors import ModelError
from docfields.ner import NAMED_CONFIGS, PageExample, Tagger, build_tagger, field_names, load_checkpoint, read_fields

FIELDS = [{"ClassId": 0, "Name": "Total"}, {"ClassId": 1, "Name": "Date"}]
TEXTS = ["Total", "amount", "due", "Date", "2024-01-31", "12,000", "receipt", "thank", "you"] * 20
PAGE = PageExample(
    document="d", page=1, words=("Total", "12,000", "Date", "2024-01-31", "zzqx"),
    boxes=((10, 10, 100, 30), (120, 10, 200, 30), (10, 40, 80, 60), (90, 40, 200, 60), (0, 0, 0, 0)),
)  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", [name for name in NAMED_CONFIGS if name.endswith("-tiny")])
def test_named_configs_build_save_and_load_to_the_same_predictions(name, tmp_path):
    tagger = build_tagger(name, FIELDS, TEXTS, seed=3)
    assert tagger.num_labels == 3 and tagger.other_class == 2
    assert tagger.model.config.id2label == {0: "Total", 1: "Date", 2: "other"}
    before = tagger.predict([PAGE])[0]
    assert before.shape == (5, 3) and np.allclose(before.sum(axis=1), 1.0)
    loaded = Tagger.load(tagger.save(tmp_path / name))
    assert loaded.card.model_type == NAMED_CONFIGS[name][0] and loaded.card.field_names == ["Total", "Date"]
    assert np.allclose(loaded.predict([PAGE])[0], before, atol=1e-5)
    assert json.loads((tmp_path / name / "fields.json").read_text()) == FIELDS


def test_same_seed_same_weights():
    """Weights only: tokenizers' WordPiece trainer breaks ties between merges differently per run."""
    import torch

    first = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=1).model.state_dict()
    again = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=1).model.state_dict()
    other = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=2).model.state_dict()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["classifier.weight"], other["classifier.weight"])


def test_the_trained_wordpiece_knows_corpus_words():
    tagger = build_tagger("layoutlm-tiny", FIELDS, TEXTS)
    tokens = tagger.tokenize_words(["Total", "receipt", "zzqx"])
    assert tagger.specials.unk_id not in tokens[0] + tokens[1]
    assert all(tokens)


def test_a_checkpoint_directory_is_a_base_for_new_fields(tmp_path):
    build_tagger("layoutlm-tiny", FIELDS, TEXTS).save(tmp_path / "base")
    fields = [*FIELDS, {"ClassId": 2, "Name": "Vendor"}]
    tagger = build_tagger(str(tmp_path / "base"), fields)
    assert tagger.num_labels == 4 and tagger.card.tokenizer == "pretrained"
    assert tagger.predict([PAGE])[0].shape == (5, 4)


def test_a_checkpoint_that_does_not_fit_lists_its_keys(tmp_path):
    build_tagger("layoutlm-tiny", FIELDS, TEXTS).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"missing keys: .*encoder\.layer\.2"):
        load_checkpoint(str(tmp_path / "m"))
    with pytest.raises(ModelError, match="missing keys"):
        Tagger.load(tmp_path / "m")


@pytest.mark.parametrize("missing", ["config.json", "docfields_ner.json", "fields.json"])
def test_an_incomplete_directory_names_the_missing_file(tmp_path, missing):
    path = build_tagger("layoutlm-tiny", FIELDS, TEXTS).save(tmp_path / "m")
    (path / missing).unlink()
    with pytest.raises(ModelError, match=missing):
        Tagger.load(path)


def test_an_unknown_base_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not a named config"):
        build_tagger(str(tmp_path / "nothing-here"), FIELDS)
    with pytest.raises(ModelError, match="corpus texts"):
        build_tagger("layoutlm-tiny", FIELDS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([], "no field"),
        ([{"ClassId": 0, "Name": "a"}, {"ClassId": 2, "Name": "b"}], "without gaps"),
        ([{"ClassId": 0, "Name": "a"}, {"ClassId": 1, "Name": "a"}], "appears twice"),
        ([{"Name": "a"}], "ClassId"),
    ],
)
def test_bad_field_configurations(fields, message):
    with pytest.raises(ModelError, match=message):
        field_names(fields)


def test_read_fields_names_the_file(tmp_path):
    (tmp_path / "f.json").write_text('{"not": "a list"}')
    with pytest.raises(ModelError, match="f.json"):
        read_fields(str(tmp_path / "f.json"))
    with pytest.raises(ModelError, match="missing.json"):
        read_fields(str(tmp_path / "missing.json"))


def test_named_configs_start_with_smooth_box_embeddings_and_windows_can_be_shorter():
    """Near coordinates get near vectors (random tables would make every coordinate a stranger)."""
    import torch

    tagger = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=1, max_length=64)
    assert tagger.card.max_length == 64 and tagger.card.overlap == 16
    table = tagger.model.layoutlm.embeddings.x_position_embeddings.weight.detach()
    near = torch.nn.functional.cosine_similarity(table[500:600], table[501:601]).mean()
    far = torch.nn.functional.cosine_similarity(table[100:200], table[700:800]).mean()
    assert near > 0.8 and far < 0.5
    assert build_tagger("layoutlm-mini", FIELDS, TEXTS).card.max_length == 128


def test_box_tables_are_coarse_and_smaller_than_the_position_table():
    """No box wavelength under 5% of the page (exact coordinates would tell pages apart), and
    the six box vectors together about one word vector's size."""
    import torch

    embeddings = build_tagger("layoutlm-mini", FIELDS, TEXTS, seed=1).model.layoutlm.embeddings
    boxes = embeddings.y_position_embeddings.weight.detach()
    positions = embeddings.position_embeddings.weight.detach()
    similarity = torch.nn.functional.cosine_similarity
    assert similarity(boxes[100:900], boxes[110:910]).mean() > 0.6  # 1% of the page apart: nearly alike
    assert similarity(positions[20:100], positions[30:110]).mean() < 0.5  # tokens 10 apart: distinct
    ratio = boxes.norm(dim=1).mean() / positions.norm(dim=1).mean()
    assert 0.25 < ratio < 0.35


def test_a_new_tagger_gives_each_word_its_segment_box_and_keeps_it_when_loaded(tmp_path):
    tagger = build_tagger("layoutlm-tiny", FIELDS, TEXTS)
    line = PageExample(document="d", page=1, words=("Total", "amount", "due", "12,000"),
                       boxes=((10, 10, 60, 30), (66, 10, 130, 30), (136, 10, 170, 30), (800, 10, 880, 30)))  # fmt: skip
    window = tagger.encode(0, line)[0]
    boxes = {word: box for word, box in zip(window.word_ids, window.bbox, strict=True) if word >= 0}
    assert boxes == {0: (10, 10, 170, 30), 1: (10, 10, 170, 30), 2: (10, 10, 170, 30), 3: (800, 10, 880, 30)}
    loaded = Tagger.load(tagger.save(tmp_path / "segments"))
    assert loaded.card.box_level == "segment"
    assert np.allclose(loaded.predict([line])[0], tagger.predict([line])[0], atol=1e-5)
    assert build_tagger("layoutlm-tiny", FIELDS, TEXTS, box_level="word").encode(0, line)[0].bbox[1] == (10, 10, 60, 30)
    card = json.loads((tmp_path / "segments" / "docfields_ner.json").read_text())
    del card["box_level"]  # a tagger saved before box levels existed saw word boxes
    (tmp_path / "segments" / "docfields_ner.json").write_text(json.dumps(card))
    assert Tagger.load(tmp_path / "segments").encode(0, line)[0].bbox[1] == (10, 10, 60, 30)
