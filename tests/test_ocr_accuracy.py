"""Box-matched OCR scores (docTR's end-to-end protocol): pairs by IoU, one to one, exact text."""

from __future__ import annotations

import pytest

from docfields.ocr.accuracy import box_iou, match_boxes
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
