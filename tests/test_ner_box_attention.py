"""The relative 2-D attention bias: buckets, relations instead of places, save and load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from docfields.errors import ModelError
from docfields.ner import PageExample, Tagger, build_tagger
from docfields.ner.box_attention import BoxAttention, LayoutLMWithBoxBias, relative_buckets

FIELDS = [{"ClassId": 0, "Name": "Fee"}, {"ClassId": 1, "Name": "Rate"}]
TEXTS = ["Annual", "Fee", "$95", "Rate", "19.99%", "late", "payment"] * 20
PAGE = PageExample(
    document="d", page=1, words=("Annual", "Fee", "$95", "Rate", "19.99%"),
    boxes=((10, 10, 60, 30), (66, 10, 100, 30), (600, 10, 650, 30), (10, 60, 60, 80), (600, 60, 680, 80)),
)  # fmt: skip

# CLS, four words, SEP; then everything (SEP too, within 0..1000) moved down and right
BOXES = [[0, 0, 0, 0], [10, 10, 60, 30], [600, 10, 650, 30], [10, 60, 60, 80], [600, 60, 680, 80], [700] * 4]
MOVED = [[x0 + 200, y0 + 250, x1 + 200, y1 + 250] for x0, y0, x1, y1 in BOXES]

pytestmark = pytest.mark.slow


def test_buckets_split_by_sign_are_exact_when_near_and_log_spaced_when_far():
    distances = torch.arange(-1000, 1001)
    buckets = relative_buckets(distances, 64, 512)
    assert buckets.min() == 0 and buckets.max() == 63
    assert torch.equal(buckets[1000:1016], torch.tensor([0, *range(33, 48)]))  # 0..15 right: one bucket each
    assert torch.equal(buckets[985:1000].flip(0), torch.arange(1, 16))  # and 1..15 left
    assert (buckets[1001:] >= 32).all() and (buckets[:1001] < 32).all()  # right and left never share
    right = buckets[1001:]
    assert (right[1:] >= right[:-1]).all()  # farther never falls into a nearer bucket
    assert buckets[1000 + 512] == buckets[2000] == 63  # beyond max_distance: the last bucket


def _biased_model(seed: int = 0) -> LayoutLMWithBoxBias:
    model = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=seed).model
    with torch.no_grad():  # a trained bias: an untrained one is zero and changes nothing
        model.box_attention_bias.x_buckets.weight.normal_(0.0, 2.0)
        model.box_attention_bias.y_buckets.weight.normal_(0.0, 2.0)
    return model.eval()


def _logits(model: LayoutLMWithBoxBias, bbox: list[list[int]]) -> torch.Tensor:
    ids = torch.tensor([[2, 7, 8, 9, 10, 3]])
    with torch.no_grad():
        return model(input_ids=ids, bbox=torch.tensor([bbox]), attention_mask=torch.ones_like(ids)).logits


def test_the_model_sees_where_words_sit_relative_to_each_other_not_where_on_the_page():
    model = _biased_model()
    boxes, moved = BOXES, MOVED
    assert torch.allclose(_logits(model, boxes), _logits(model, moved), atol=1e-5)
    swapped = [boxes[0], boxes[2], boxes[1], *boxes[3:]]  # label and value change places
    assert not torch.allclose(_logits(model, boxes), _logits(model, swapped), atol=1e-3)


def test_with_absolute_boxes_the_place_on_the_page_counts_too():
    model = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=0).model
    config = model.config
    config.box_attention = BoxAttention(absolute_boxes=True).model_dump()
    absolute = LayoutLMWithBoxBias(config).eval()
    boxes, moved = BOXES, MOVED
    assert not torch.allclose(_logits(absolute, boxes), _logits(absolute, moved), atol=1e-4)


def test_the_bias_is_trained_saved_and_loaded(tmp_path):
    tagger = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=1)
    assert isinstance(tagger.model, LayoutLMWithBoxBias)
    assert not tagger.model.box_attention_bias.x_buckets.weight.any()  # starts as no bias
    loss = tagger.model(input_ids=torch.tensor([[2, 7, 8, 3]]), bbox=torch.tensor([[[0] * 4, [10, 10, 60, 30],
                        [600, 40, 650, 60], [1000] * 4]]), labels=torch.tensor([[-100, 0, 1, -100]])).loss  # fmt: skip
    loss.backward()
    assert tagger.model.box_attention_bias.x_buckets.weight.grad.abs().sum() > 0
    tagger.model = _biased_model(seed=1)
    path = tagger.save(tmp_path / "tagger")
    assert json.loads((path / "config.json").read_text())["box_attention"] == BoxAttention().model_dump()
    loaded = Tagger.load(path)
    assert isinstance(loaded.model, LayoutLMWithBoxBias)
    saved_table = tagger.model.box_attention_bias.y_buckets.weight
    assert torch.equal(loaded.model.box_attention_bias.y_buckets.weight, saved_table)
    assert np.allclose(loaded.predict([PAGE])[0], tagger.predict([PAGE])[0], atol=1e-5)


def test_bad_bias_settings_in_a_saved_config_name_the_directory(tmp_path):
    path = build_tagger("layoutlm-tiny", FIELDS, TEXTS).save(tmp_path / "tagger")
    config = json.loads((path / "config.json").read_text())
    config["box_attention"]["buckets"] = 1
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"(?s)tagger.*BoxAttention.*buckets"):
        Tagger.load(path)
