"""Box-matched OCR scores (docTR's end-to-end protocol): pairs by IoU, one to one, exact text."""

from __future__ import annotations

import pytest

from docfields.ocr.accuracy import MatchScore, box_iou, exact_matches, match_boxes, pool_scores, split_line
from docfields.textract import NormBox

TOTAL = NormBox(0.1, 0.1, 0.4, 0.05)
CASH = NormBox(0.1, 0.5, 0.4, 0.05)


def test_iou_of_equal_disjoint_and_half_overlapping_boxes():
    assert box_iou(TOTAL, TOTAL) == pytest.approx(1.0)
    assert box_iou(TOTAL, CASH) == 0.0
    assert box_iou(TOTAL, NormBox(0.3, 0.1, 0.4, 0.05)) == pytest.approx(1 / 3)


def test_exact_text_at_its_place_counts_and_whitespace_runs_are_one_space():
    score = match_boxes([(TOTAL, "TOTAL  9.00"), (CASH, "CASH 10.00")], [(TOTAL, "TOTAL 9.00"), (CASH, "CASH 10.00")])
    assert (score.recall, score.precision, score.matched_cer) == (1.0, 1.0, 0.0)


def test_pairs_are_one_to_one_and_need_half_the_union():
    twice = [(TOTAL, "TOTAL 9.00"), (TOTAL, "TOTAL 9.00")]
    score = match_boxes(twice, [(TOTAL, "TOTAL 9.00")])
    assert (score.located, score.exact, score.recall, score.precision) == (1, 1, 1.0, 0.5)
    shifted = NormBox(0.3, 0.1, 0.4, 0.05)  # IoU 1/3: the right text in the wrong place does not count
    assert match_boxes([(shifted, "TOTAL 9.00")], [(TOTAL, "TOTAL 9.00")]).located == 0


def test_a_misread_line_is_located_but_not_exact_and_its_errors_are_counted():
    score = match_boxes([(TOTAL, "T0TAL 9.00")], [(TOTAL, "TOTAL 9.00"), (CASH, "CASH")])
    assert (score.located, score.exact) == (1, 0)
    assert score.recall == 0.0 and score.precision == 0.0
    assert score.matched_cer == pytest.approx(1 / len("TOTAL 9.00"))


def test_nothing_to_find_and_nothing_found():
    assert match_boxes([], []).recall == match_boxes([], []).precision == 1.0
    assert match_boxes([], [(TOTAL, "TOTAL")]).recall == 0.0


def test_case_is_ignored_only_when_asked():
    predicted, truth = [(TOTAL, "Total 9.00")], [(TOTAL, "TOTAL 9.00")]
    assert match_boxes(predicted, truth).exact == 0
    assert match_boxes(predicted, truth, casefold=True).exact == 1
    assert exact_matches(predicted, truth) == [False]
    assert exact_matches(predicted, truth, casefold=True) == [True]


def test_exact_matches_says_which_predictions_are_right_at_their_place():
    predicted = [(CASH, "CASH"), (TOTAL, "T0TAL"), (NormBox(0.6, 0.8, 0.1, 0.05), "TOTAL")]
    assert exact_matches(predicted, [(TOTAL, "TOTAL"), (CASH, "CASH")]) == [True, False, False]


def test_a_line_splits_into_words_in_proportion_to_their_characters():
    line = NormBox(0.2, 0.3, 0.5, 0.04)
    words = split_line(line, "TOTAL  9.00 RM")  # 13 characters once the double space is one
    assert [text for _, text in words] == ["TOTAL", "9.00", "RM"]
    unit = 0.5 / 13
    assert words[0][0] == NormBox(0.2, 0.3, pytest.approx(5 * unit), 0.04)
    assert words[1][0].left == pytest.approx(0.2 + 6 * unit)
    assert words[2][0].left + words[2][0].width == pytest.approx(0.7)
    assert split_line(line, "   ") == []


def test_word_truth_split_from_lines_matches_words_read_at_their_place():
    truth = split_line(NormBox(0.1, 0.1, 0.8, 0.05), "CASH 10.00")
    predicted = [(NormBox(0.1, 0.1, 0.3, 0.05), "CASH"), (NormBox(0.5, 0.1, 0.4, 0.05), "10.00")]
    assert match_boxes(predicted, truth).recall == 1.0


def test_pooled_scores_sum_counts_and_weight_cer_by_located_items():
    pooled = pool_scores([MatchScore(10, 8, 4, 3, 0.1), MatchScore(5, 5, 1, 1, 0.0)])
    assert (pooled.truth, pooled.predicted, pooled.located, pooled.exact) == (15, 13, 5, 4)
    assert pooled.matched_cer == pytest.approx(0.08)
    assert pool_scores([]).recall == 1.0
