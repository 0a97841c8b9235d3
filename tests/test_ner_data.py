"""Page windows, sub-token alignment, merging of window predictions and the document split (no torch)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from docfields.annotations import label_pages, read_groundtruth
from docfields.ner.data import (
    CLS_BOX,
    IGNORE_INDEX,
    SEP_BOX,
    PageExample,
    SpecialTokens,
    Window,
    drop_tokens,
    encode_page,
    encode_window,
    hide_boxes,
    merge_window_probabilities,
    pad_windows,
    page_example,
    plan_windows,
    segment_boxes,
    shift_boxes,
    split_by_document,
)

SPECIALS = SpecialTokens(cls_id=2, sep_id=3, pad_id=0, unk_id=1)


def example(n: int, labels: bool = True, document: str = "doc", page: int = 1) -> PageExample:
    boxes = tuple((i % 1000, 0, i % 1000 + 1, 10) for i in range(n))
    return PageExample(
        document=document, page=page, words=tuple(f"w{i}" for i in range(n)), boxes=boxes,
        labels=tuple(i % 3 for i in range(n)) if labels else None,
    )  # fmt: skip


def check_windows(counts: list[int], budget: int, overlap: int, windows: list[Window]) -> None:
    capped = [min(max(c, 1), budget) for c in counts]
    covered = set()
    for window in windows:
        assert window.start < window.end
        assert sum(capped[window.start : window.end]) <= budget
        covered.update(range(window.start, window.end))
    assert covered == set(range(len(counts)))
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.start < after.start <= before.end  # moves forward, no gap
        assert after.end > before.end


def test_a_short_page_is_one_window():
    assert plan_windows([1, 2, 3], budget=10, overlap=4) == [Window(0, 3)]


def test_an_empty_page_has_no_window():
    assert plan_windows([], budget=10, overlap=4) == []


@pytest.mark.parametrize("seed", range(20))
def test_random_pages_are_covered_within_budget(seed):
    rng = random.Random(seed)
    counts = [rng.choice([0, 1, 1, 1, 2, 3, 7]) for _ in range(rng.randint(1, 400))]
    budget = rng.choice([8, 16, 30, 510])
    overlap = rng.randint(0, budget // 2)
    check_windows(counts, budget, overlap, plan_windows(counts, budget, overlap))


def test_neighbouring_windows_share_up_to_overlap_tokens():
    counts = [1] * 100
    windows = plan_windows(counts, budget=20, overlap=5)
    for before, after in zip(windows[:-2], windows[1:-1], strict=True):
        assert before.end - after.start == 5
    assert windows[-1].end - windows[-1].start == 20  # the tail is pulled back to a full window


def test_no_overlap_gives_disjoint_windows():
    windows = plan_windows([1] * 50, budget=10, overlap=0)
    assert [w.start for w in windows[:-1]] == [0, 10, 20, 30]


def test_a_word_longer_than_the_budget_gets_its_own_window():
    windows = plan_windows([2, 50, 2], budget=10, overlap=3)
    assert any(w.start <= 1 < w.end for w in windows)
    check_windows([2, 50, 2], 10, 3, windows)


@pytest.mark.parametrize(("budget", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_window_settings_raise(budget, overlap):
    with pytest.raises(ValueError, match="budget"):
        plan_windows([1, 2], budget=budget, overlap=overlap)


def test_sub_tokens_inherit_word_box_and_label_special_tokens_are_ignored():
    page = example(3)
    window = encode_window(0, [[10, 11], [12], [13, 14, 15]], page, Window(0, 3), SPECIALS, budget=20)
    assert window.input_ids == (2, 10, 11, 12, 13, 14, 15, 3)
    assert window.labels == (IGNORE_INDEX, 0, 0, 1, 2, 2, 2, IGNORE_INDEX)
    assert window.bbox[0] == CLS_BOX and window.bbox[-1] == SEP_BOX
    assert window.bbox[1:3] == (page.boxes[0], page.boxes[0])
    assert window.word_ids == (-1, 0, 0, 1, 2, 2, 2, -1)


def test_a_word_with_no_token_becomes_unk_and_a_long_word_is_cut():
    page = example(2, labels=False)
    window = encode_window(0, [[], list(range(100, 130))], page, Window(0, 2), SPECIALS, budget=5)
    assert window.input_ids[1] == SPECIALS.unk_id
    assert window.input_ids[2:-1] == (100, 101, 102, 103, 104)
    assert set(window.labels) == {IGNORE_INDEX}  # inference: no labels


def test_encode_page_windows_fit_the_model():
    page = example(300)
    tokens = [[7] * (1 + i % 3) for i in range(300)]
    windows = encode_page(0, tokens, page, SPECIALS, max_length=64, overlap=16)
    assert len(windows) > 1
    assert all(len(w.input_ids) <= 64 for w in windows)
    assert {i for w in windows for i in w.word_ids if i >= 0} == set(range(300))


def test_encode_page_refuses_misaligned_tokens():
    with pytest.raises(ValueError, match="words"):
        encode_page(0, [[1]], example(2), SPECIALS, max_length=16, overlap=2)


def test_padding_rounds_up_to_a_multiple_of_8():
    page = example(3)
    short = encode_window(0, [[1], [1], [1]], page, Window(0, 1), SPECIALS, budget=10)
    long = encode_window(0, [[1], [1], [1]], page, Window(0, 3), SPECIALS, budget=10)
    batch = pad_windows([short, long], pad_id=0)
    assert batch["input_ids"].shape == (2, 8) and batch["bbox"].shape == (2, 8, 4)
    assert batch["attention_mask"].sum(axis=1).tolist() == [3, 5]
    assert batch["labels"][0, 3:].tolist() == [IGNORE_INDEX] * 5
    assert pad_windows([short], pad_id=0, multiple=None)["input_ids"].shape == (1, 3)


def test_merge_averages_sub_tokens_then_windows():
    first = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.8]])
    second = np.array([[0.0, 1.0], [0.6, 0.4]])
    merged = merge_window_probabilities(3, [(first, [-1, 0, 0, 1]), (second, [1, 2])], num_labels=2)
    assert merged[0].tolist() == pytest.approx([0.25, 0.75])  # mean of its two sub-tokens
    assert merged[1].tolist() == pytest.approx([0.1, 0.9])  # mean of the two windows holding it
    assert merged[2].tolist() == pytest.approx([0.6, 0.4])


def test_merge_marks_words_no_window_held():
    merged = merge_window_probabilities(2, [(np.array([[0.3, 0.7]]), [0])], num_labels=2)
    assert np.isnan(merged[1]).all() and np.isfinite(merged[0]).all()


def test_every_word_of_a_2000_word_page_gets_a_merged_prediction():
    rng = random.Random(5)
    tokens = [[9] * rng.randint(1, 4) for _ in range(2000)]
    page = example(2000, labels=False)
    windows = encode_page(0, tokens, page, SPECIALS, max_length=512, overlap=128)
    outputs = [(np.full((len(w.input_ids), 3), 1 / 3), w.word_ids) for w in windows]
    merged = merge_window_probabilities(2000, outputs, num_labels=3)
    assert len(windows) >= 10
    assert np.isfinite(merged).all() and merged.sum(axis=1) == pytest.approx(np.ones(2000))


def test_split_by_document_keeps_documents_whole():
    pages = [example(3, document=f"d{d}", page=p) for d in range(20) for p in (1, 2, 3)]
    train, validation = split_by_document(pages, validation_share=0.2, seed=1)
    assert {e.document for e in train}.isdisjoint({e.document for e in validation})
    assert len({e.document for e in validation}) == 4 and len(train) + len(validation) == 60
    assert split_by_document(pages, 0.2, seed=1) == (train, validation)
    assert split_by_document(pages, 0.2, seed=2) != (train, validation)


def test_split_holds_out_one_document_at_least_and_never_all():
    two = [example(2, document="a"), example(2, document="b")]
    train, validation = split_by_document(two, validation_share=0.01)
    assert len(train) == 1 and len(validation) == 1
    assert split_by_document([example(2)], validation_share=0.5) == ([example(2)], [])
    with pytest.raises(ValueError, match="validation_share"):
        split_by_document(two, validation_share=1.0)


def test_cord_pages_become_examples_with_layoutlm_boxes(shared_data):
    pages = read_groundtruth(str(shared_data / "cord" / "val.manifest.jsonl"), num_classes=30)[:5]
    for labelled in label_pages(pages, num_classes=30):
        page = page_example(labelled.words, "cord", 1, labelled.labels.tolist())
        assert len(page.words) == len(page.boxes) == len(page.labels) == len(page.block_ids) > 0
        assert all(0 <= v <= 1000 for box in page.boxes for v in box)
        assert all(box[0] <= box[2] and box[1] <= box[3] for box in page.boxes)
        assert set(page.labels) <= set(range(31)) and len(set(page.labels)) > 1


def test_page_example_refuses_labels_of_another_length(shared_data):
    pages = read_groundtruth(str(shared_data / "cord" / "val.manifest.jsonl"), num_classes=30)[:1]
    labelled = next(label_pages(pages, num_classes=30))
    with pytest.raises(ValueError, match="labels"):
        page_example(labelled.words, "cord", 1, [0])


def test_token_dropout_hides_word_tokens_only_and_keeps_boxes_and_labels():
    page = example(400)
    window = encode_page(0, [[10 + i] for i in range(400)], page, SPECIALS, max_length=512, overlap=0)[0]
    dropped = drop_tokens(window, 0.25, SPECIALS.unk_id, random.Random(3))
    hidden = [i for i, (a, b) in enumerate(zip(window.input_ids, dropped.input_ids, strict=True)) if a != b]
    assert 60 < len(hidden) < 140 and all(dropped.input_ids[i] == SPECIALS.unk_id for i in hidden)
    assert dropped.input_ids[0] == SPECIALS.cls_id and dropped.input_ids[-1] == SPECIALS.sep_id
    assert (dropped.bbox, dropped.labels, dropped.word_ids) == (window.bbox, window.labels, window.word_ids)
    assert drop_tokens(window, 0.0, SPECIALS.unk_id, random.Random(3)) is window


def test_box_shift_moves_word_boxes_only_and_stays_on_the_page():
    page = example(6)
    page = PageExample(page.document, page.page, page.words, ((0, 0, 0, 0), (5, 990, 20, 998), *page.boxes[2:]),
                       page.labels)  # fmt: skip
    window = encode_page(0, [[10 + i] for i in range(6)], page, SPECIALS, max_length=64, overlap=0)[0]
    moved = shift_boxes(window, -10, 7)
    assert moved.bbox[0] == CLS_BOX and moved.bbox[-1] == SEP_BOX
    assert moved.bbox[1] == (0, 0, 0, 0)  # an empty box (no geometry, or zeroed: text only) stays empty
    assert moved.bbox[2] == (0, 997, 10, 1000)  # clipped to the page
    assert moved.bbox[3] == (0, 7, 0, 17) and moved.bbox[4] == (0, 7, 0, 17)  # words 2 and 3: x 2..3 - 10
    assert moved.bbox[6] == (0, 7, 0, 17)
    assert (moved.input_ids, moved.labels, moved.word_ids) == (window.input_ids, window.labels, window.word_ids)
    assert shift_boxes(window, 0, 0) is window
    far = shift_boxes(window, 500, 0)
    assert far.bbox[6] == (505, 0, 506, 10)


def test_hide_boxes_empties_word_boxes_only():
    window = encode_page(0, [[10 + i] for i in range(6)], example(6), SPECIALS, max_length=64, overlap=0)[0]
    hidden = hide_boxes(window)
    assert hidden.bbox[0] == CLS_BOX and hidden.bbox[-1] == SEP_BOX
    assert set(hidden.bbox[1:-1]) == {(0, 0, 0, 0)} and set(window.bbox[1:-1]) != {(0, 0, 0, 0)}
    assert (hidden.input_ids, hidden.labels, hidden.word_ids) == (window.input_ids, window.labels, window.word_ids)


def test_segment_boxes_join_a_line_of_words_and_split_at_wide_gaps_and_line_breaks():
    line = [(100, 200, 140, 212), (146, 200, 190, 212), (195, 201, 230, 213)]  # one phrase, spaces of ~5
    value = (700, 200, 740, 212)  # same row, far right: a table cell of its own
    below = [(100, 220, 150, 232), (155, 220, 200, 232)]  # the next line
    segments = segment_boxes([*line, value, *below])
    assert segments[:3] == ((100, 200, 230, 213),) * 3
    assert segments[3] == value
    assert segments[4:] == ((100, 220, 200, 232),) * 2


def test_segment_boxes_keep_empty_boxes_and_single_words():
    empty = (0, 0, 0, 0)
    boxes = [empty, empty, (10, 10, 20, 20), empty, (30, 10, 40, 20)]
    assert segment_boxes(boxes) == tuple(boxes)  # text-only pages stay text-only; a gap breaks a segment
    assert segment_boxes([]) == ()
