"""Token accuracy, the original's focus accuracy, and entity scores per field (no torch)."""

from __future__ import annotations

import pytest

from docfields.ner.data import IGNORE_INDEX
from docfields.ner.metrics import (
    chance_entity_f1,
    confusion_matrix,
    entity_scores,
    entity_spans,
    macro_score,
    token_metrics,
)

OTHER = 2


def test_entity_spans_are_runs_of_one_class():
    assert entity_spans([0, 0, 2, 1, 1, 0, 2, 2], other_class=OTHER) == [(0, 2, 0), (3, 5, 1), (5, 6, 0)]
    assert entity_spans([], other_class=OTHER) == []
    assert entity_spans([2, 2], other_class=OTHER) == []


def test_accuracy_skips_ignored_tokens_and_averages_per_example():
    labels = [[IGNORE_INDEX, 0, 2, 2, IGNORE_INDEX], [1, 1]]
    predictions = [[1, 0, 2, 0, 1], [1, 0]]
    metrics = token_metrics(predictions, labels, OTHER)
    assert metrics.n_examples == 2
    assert metrics.acc == pytest.approx((2 / 3 + 1 / 2) / 2)
    # focus tokens: truth or prediction not "other": example 1 has [0, 2->0], example 2 all
    assert metrics.focus_acc == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert metrics.focus_else_acc_minus_one == metrics.focus_acc


def test_focus_falls_back_to_accuracy_minus_one_before_any_field_is_right():
    metrics = token_metrics([[2, 2, 2]], [[0, 2, 2]], OTHER)
    assert metrics.focus_acc == 0.0 and metrics.n_focus_examples == 1
    assert metrics.focus_else_acc_minus_one == pytest.approx(2 / 3 - 1)
    assert token_metrics([[IGNORE_INDEX]], [[IGNORE_INDEX]], OTHER).n_examples == 0


def test_entity_scores_per_field_and_micro():
    labels = [[0, 0, 2, 1, 2], [1, 2, 0]]
    predictions = [[0, 0, 2, 1, 1], [2, 2, 0]]
    scores = {s.name: s for s in entity_scores(predictions, labels, ["name", "price"])}
    assert (scores["name"].support, scores["name"].predicted, scores["name"].f1) == (2, 2, 1.0)
    # price: truth (3,4) and (0,1); predicted (3,5) only: no exact match
    assert (scores["price"].support, scores["price"].predicted, scores["price"].precision) == (2, 1, 0.0)
    micro = scores["micro"]
    assert micro.class_id is None and micro.precision == pytest.approx(2 / 3) and micro.recall == 0.5
    assert micro.f1 == pytest.approx(2 * 2 / (4 + 3))


def test_entity_scores_refuse_pages_of_different_lengths():
    with pytest.raises(ValueError, match="predictions"):
        entity_scores([[0]], [[0, 1]], ["a"])


def test_chance_is_far_below_a_perfect_tagger_and_seeded():
    labels = [[0, 0, 3, 1, 3, 2, 2, 3, 3, 3] * 5 for _ in range(20)]
    chance = chance_entity_f1(labels, num_labels=4, seed=3)
    assert 0.0 <= chance < 0.5
    assert chance == chance_entity_f1(labels, num_labels=4, seed=3)
    assert entity_scores(labels, labels, ["a", "b", "c"])[-1].f1 == 1.0


def test_macro_averages_only_the_fields_the_pages_hold():
    labels = [[0, 0, 2, 1, 2, 2]]
    predictions = [[0, 0, 2, 1, 1, 2]]  # "name" right; "price" predicted over (3, 5), true (3, 4)
    rows = entity_scores(predictions, labels, ["name", "price"])
    macro = macro_score(rows[:-1])
    assert (macro.name, macro.class_id) == ("macro", None)
    assert macro.f1 == pytest.approx((1.0 + 0.0) / 2) and macro.recall == pytest.approx(0.5)
    absent = entity_scores([[2, 1, 2]], [[2, 2, 2]], ["name", "price"])  # a false "price", no true entity at all
    assert macro_score(absent[:-1]).f1 == 0.0 and macro_score(absent[:-1]).support == 0


def test_confusion_counts_words_by_true_and_predicted_class():
    confusion = confusion_matrix([[0, 1, 2, 2], [1]], [[0, 2, 2, 1], [1]], ["name", "price"])
    assert confusion.labels == ["name", "price", "other"]
    assert confusion.counts == [[1, 0, 0], [0, 1, 1], [0, 1, 1]]
    assert confusion.accuracy() == pytest.approx(3 / 5)
    assert confusion.confusions() == [("price", "other", 1), ("other", "price", 1)]
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix([[0]], [[0, 1]], ["a"])
