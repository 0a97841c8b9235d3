"""Word-classification examples, windows over long pages, and the merge of window predictions.

No torch here: everything between Textract words and the tensors a model eats is plain Python
and numpy, so it is tested fast and shared by training and enrichment.

- A page becomes a ``PageExample``: its WORD texts, their boxes in LayoutLM's 0..1000 space and,
  for training, one label per word (``len(fields)`` is "other").
- A page longer than the model window is cut into overlapping ``Window`` s of whole words, never
  truncated: a word's sub-tokens are never split across windows. At inference each word gets the
  mean of its sub-token probabilities in every window that holds it, averaged over windows.
- Every sub-token inherits its word's label; special tokens get ``IGNORE_INDEX`` and the boxes
  of the original (CLS and PAD ``(0, 0, 0, 0)``, SEP ``(1000, 1000, 1000, 1000)``).
- Train and validation are split by document, so pages of one document never sit on both sides.

>>> plan_windows([3, 3, 3, 3], budget=7, overlap=3)
[Window(start=0, end=2), Window(start=1, end=3), Window(start=2, end=4)]
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from docfields.textract import LAYOUTLM_SCALE, Block, normalized_to_layoutlm

IGNORE_INDEX = -100  # label of special and padding tokens: the loss skips them
CLS_BOX = (0, 0, 0, 0)
SEP_BOX = (LAYOUTLM_SCALE,) * 4
PAD_BOX = (0, 0, 0, 0)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class PageExample:
    """One page as the model sees it: word texts, 0..1000 boxes, labels (None at inference).

    ``document`` groups pages for the train/validation split; ``block_ids`` point back to the
    WORD blocks, so predictions can be written into the JSON they came from.
    """

    document: str
    page: int
    words: tuple[str, ...]
    boxes: tuple[Box, ...]
    labels: tuple[int, ...] | None = None
    block_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Window:
    """Words ``start`` (included) to ``end`` (excluded) of a page, fitting one model input."""

    start: int
    end: int


@dataclass(frozen=True)
class EncodedWindow:
    """One model input without padding: ids, boxes, labels and the page word of each token.

    ``word_ids`` holds page word indices (not window ones), -1 for special tokens.
    """

    page: int
    input_ids: tuple[int, ...]
    bbox: tuple[Box, ...]
    labels: tuple[int, ...]
    word_ids: tuple[int, ...]


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the tokens that frame every window and fill padding."""

    cls_id: int
    sep_id: int
    pad_id: int
    unk_id: int


def word_box(word: Block) -> Box | None:
    """A WORD's box in LayoutLM's 0..1000 space; None when the block has no geometry."""
    if word.geometry is None:
        return None
    return normalized_to_layoutlm(word.geometry.bounding_box)


def page_example(words: Sequence[Block], document: str, page: int, labels: Sequence[int] | None = None) -> PageExample:
    """A page's WORD blocks (reading order) as an example; words without geometry get a zero box.

    Callers that must report such words (enrichment) filter them first with ``word_box``.
    """
    boxes = tuple(word_box(word) or PAD_BOX for word in words)
    texts = tuple(word.text or "" for word in words)
    ids = tuple(word.id for word in words)
    kept = None if labels is None else tuple(int(label) for label in labels)
    if kept is not None and len(kept) != len(texts):
        raise ValueError(f"{document} page {page}: {len(texts)} words but {len(kept)} labels")
    return PageExample(document=document, page=page, words=texts, boxes=boxes, labels=kept, block_ids=ids)


def segment_boxes(boxes: Sequence[Box], gap: float = 1.5) -> tuple[Box, ...]:
    """Each word's box replaced by the box of its segment: the run of words it shares a line with.

    Consecutive words (reading order) belong to one segment while the next one sits on the same
    line (their vertical extents overlap by half the smaller height) and starts at most ``gap``
    line heights after the previous one ends. A table row's label and its value far to the right
    are two segments; a line of prose is one. Segment-level boxes are what LayoutLMv3 and
    StructuralLM are fine-tuned with: every word of a phrase gets the same layout, so the layout
    says where a phrase sits and cannot pull single words out of it. Empty boxes stay empty.

    From scratch on held-out demo documents (``bench/ner_bench.py``, three seeds) word boxes left
    holes of "other" inside long phrases and scored below the same model without boxes; segment
    boxes scored above it. The price: words of two fields on one tight line (a receipt's count and
    item name) share a box, so on CORD segment boxes score a little below word boxes.
    """
    segments: list[list[int]] = []
    for index, box in enumerate(boxes):
        if segments and _continues(boxes[segments[-1][-1]], box, gap):
            segments[-1].append(index)
        else:
            segments.append([index])
    result: list[Box] = list(boxes)
    for members in segments:
        if len(members) > 1:
            union = (min(boxes[i][0] for i in members), min(boxes[i][1] for i in members),
                     max(boxes[i][2] for i in members), max(boxes[i][3] for i in members))  # fmt: skip
            for i in members:
                result[i] = union
    return tuple(result)


def _continues(previous: Box, box: Box, gap: float) -> bool:
    if PAD_BOX in (previous, box):
        return False
    height = min(previous[3] - previous[1], box[3] - box[1])
    overlap = min(previous[3], box[3]) - max(previous[1], box[1])
    return height > 0 and overlap >= 0.5 * height and -height <= box[0] - previous[2] <= gap * height


def plan_windows(token_counts: Sequence[int], budget: int, overlap: int) -> list[Window]:
    """Cut a page into windows of whole words holding at most ``budget`` sub-tokens each.

    Consecutive windows share their last / first words, up to ``overlap`` sub-tokens, so that
    words near a cut also get context from both sides. The last window is pulled back to a full
    budget (the original's rule against a short tail). A word longer than the budget counts as
    ``budget`` tokens (``encode_window`` cuts it): every word lands in some window.

    Args:
        token_counts: sub-tokens per word, in reading order.
        budget: sub-tokens per window, without the special tokens.
        overlap: sub-tokens shared by neighbouring windows; below half the budget.
    """
    if budget < 1 or not 0 <= overlap < budget:
        raise ValueError(f"need budget >= 1 and 0 <= overlap < budget, got {budget} and {overlap}")
    counts = [min(max(count, 1), budget) for count in token_counts]
    windows: list[Window] = []
    start = 0
    while start < len(counts):
        end, used = start, 0
        while end < len(counts) and used + counts[end] <= budget:
            used += counts[end]
            end += 1
        if end == len(counts):
            windows.append(Window(_pulled_back(counts, start, end, budget, bool(windows)), end))
            break
        windows.append(Window(start, end))
        start = _next_start(counts, start, end, min(overlap, budget - counts[end]))
    return windows


def _pulled_back(counts: Sequence[int], start: int, end: int, budget: int, has_previous: bool) -> int:
    if not has_previous:
        return start
    used = sum(counts[start:end])
    while start > 0 and used + counts[start - 1] <= budget:
        start -= 1
        used += counts[start]
    return start


def _next_start(counts: Sequence[int], start: int, end: int, overlap: int) -> int:
    """Where the next window begins: back from ``end`` by at most ``overlap`` tokens, past ``start``.

    The caller caps ``overlap`` so that word ``end`` fits in the next window: every window then
    reaches further than the one before.
    """
    back, kept = end, 0
    while back > start + 1 and kept + counts[back - 1] <= overlap:
        back -= 1
        kept += counts[back]
    return back


def encode_window(
    page_index: int,
    word_tokens: Sequence[Sequence[int]],
    example: PageExample,
    window: Window,
    specials: SpecialTokens,
    budget: int,
) -> EncodedWindow:
    """One window as ``[CLS] tokens [SEP]``: each sub-token takes its word's box and label.

    A word with no sub-token (text the vocabulary drops entirely) becomes ``[UNK]``, and a word
    longer than ``budget`` keeps its first ``budget`` sub-tokens, so every word is predicted.
    """
    ids, boxes, labels, words = [specials.cls_id], [CLS_BOX], [IGNORE_INDEX], [-1]
    for index in range(window.start, window.end):
        tokens = list(word_tokens[index][:budget]) or [specials.unk_id]
        label = IGNORE_INDEX if example.labels is None else example.labels[index]
        ids += tokens
        boxes += [example.boxes[index]] * len(tokens)
        labels += [label] * len(tokens)
        words += [index] * len(tokens)
    ids.append(specials.sep_id)
    boxes.append(SEP_BOX)
    labels.append(IGNORE_INDEX)
    words.append(-1)
    return EncodedWindow(page_index, tuple(ids), tuple(boxes), tuple(labels), tuple(words))


def encode_page(
    page_index: int,
    word_tokens: Sequence[Sequence[int]],
    example: PageExample,
    specials: SpecialTokens,
    max_length: int,
    overlap: int,
) -> list[EncodedWindow]:
    """All windows of a page for a model taking ``max_length`` tokens (two are CLS and SEP)."""
    if len(word_tokens) != len(example.words):
        raise ValueError(f"{len(example.words)} words but {len(word_tokens)} tokenized words")
    budget = max_length - 2
    windows = plan_windows([len(tokens) for tokens in word_tokens], budget, min(overlap, budget // 2))
    return [encode_window(page_index, word_tokens, example, window, specials, budget) for window in windows]


def drop_tokens(window: EncodedWindow, share: float, unk_id: int, rng: random.Random) -> EncodedWindow:
    """A copy of a training window with about ``share`` of its word sub-tokens replaced by ``unk_id``.

    Token dropout: a model from scratch memorizes the exact words of a few hundred pages within
    minutes; hiding some of them makes it tag a word from its neighbours and its box as well,
    which is what carries over to unseen documents. Special tokens, boxes and labels are kept.
    """
    if share <= 0:
        return window
    ids = tuple(unk_id if word >= 0 and rng.random() < share else token
                for token, word in zip(window.input_ids, window.word_ids, strict=True))  # fmt: skip
    return EncodedWindow(window.page, ids, window.bbox, window.labels, window.word_ids)


def shift_boxes(window: EncodedWindow, dx: int, dy: int) -> EncodedWindow:
    """A copy of a window with every word box moved by ``(dx, dy)``, clipped to the page.

    Box augmentation: a field's label and value keep their places relative to each other when
    a template puts them elsewhere on the page, and a model trained on pages moved at random
    learns the relation rather than the place. Special tokens and empty (zeroed) boxes stay.
    """
    if dx == 0 and dy == 0:
        return window

    def moved(box: Box, word: int) -> Box:
        if word < 0 or box == PAD_BOX:
            return box
        x0, y0, x1, y1 = box
        return (_clip(x0 + dx), _clip(y0 + dy), _clip(x1 + dx), _clip(y1 + dy))

    boxes = tuple(moved(box, word) for box, word in zip(window.bbox, window.word_ids, strict=True))
    return EncodedWindow(window.page, window.input_ids, boxes, window.labels, window.word_ids)


def hide_boxes(window: EncodedWindow) -> EncodedWindow:
    """A copy of a window with every word box emptied, as a text-only page has them.

    Box dropout (``NerTrainOptions.box_dropout``): on 120 demo documents a layout model from scratch
    stalled (0.83 held-out F1) while the same model without boxes kept improving (0.92): it learns
    where fields sat on its training pages faster than the words around them. Trained on some
    windows without boxes, it must also learn what the text alone says. Off by default: at 0.5,
    four demo runs were no better than text only on average (the spread between runs was 0.1), and
    it cost 0.04 F1 on CORD, where layout matters. Special tokens keep their boxes.
    """
    boxes = tuple(box if word < 0 else PAD_BOX for box, word in zip(window.bbox, window.word_ids, strict=True))
    return EncodedWindow(window.page, window.input_ids, boxes, window.labels, window.word_ids)


def _clip(value: int) -> int:
    return min(max(value, 0), LAYOUTLM_SCALE)


def pad_windows(windows: Sequence[EncodedWindow], pad_id: int, multiple: int | None = 8) -> dict[str, np.ndarray]:
    """Right-pad a batch to its longest window, rounded up to ``multiple`` (tensor-core friendly).

    Returns ``input_ids``, ``bbox``, ``attention_mask``, ``labels`` and ``word_ids`` arrays.
    """
    width = max((len(w.input_ids) for w in windows), default=0)
    if multiple:
        width = math.ceil(width / multiple) * multiple
    size = len(windows)
    batch = {
        "input_ids": np.full((size, width), pad_id, dtype=np.int64),
        "bbox": np.zeros((size, width, 4), dtype=np.int64),
        "attention_mask": np.zeros((size, width), dtype=np.int64),
        "labels": np.full((size, width), IGNORE_INDEX, dtype=np.int64),
        "word_ids": np.full((size, width), -1, dtype=np.int64),
    }
    for row, window in enumerate(windows):
        n = len(window.input_ids)
        batch["input_ids"][row, :n] = window.input_ids
        batch["bbox"][row, :n] = window.bbox
        batch["attention_mask"][row, :n] = 1
        batch["labels"][row, :n] = window.labels
        batch["word_ids"][row, :n] = window.word_ids
    return batch


class WordProbabilities:
    """Accumulates token probabilities into per-word means, across the windows of one page.

    Within a window a word's vector is the mean over its sub-tokens; across windows (overlap)
    the word's vectors are averaged, each window counting once.
    """

    def __init__(self, num_words: int, num_labels: int) -> None:
        self.sums = np.zeros((num_words, num_labels), dtype=np.float64)
        self.counts = np.zeros(num_words, dtype=np.int64)

    def add(self, token_probabilities: np.ndarray, word_ids: Sequence[int] | np.ndarray) -> None:
        """Add one window: ``(tokens, labels)`` probabilities and each token's page word (-1: none)."""
        ids = np.asarray(word_ids)[: len(token_probabilities)]
        keep = ids >= 0
        ids, probs = ids[keep], np.asarray(token_probabilities, dtype=np.float64)[keep]
        if ids.size == 0:
            return
        words, inverse, per_word = np.unique(ids, return_inverse=True, return_counts=True)
        window_sums = np.zeros((words.size, probs.shape[1]), dtype=np.float64)
        np.add.at(window_sums, inverse, probs)
        self.sums[words] += window_sums / per_word[:, None]
        self.counts[words] += 1

    def result(self) -> np.ndarray:
        """``(words, labels)`` mean probabilities; rows of words no window held are NaN."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums / self.counts[:, None]


def merge_window_probabilities(
    num_words: int, windows: Iterable[tuple[np.ndarray, Sequence[int] | np.ndarray]], num_labels: int
) -> np.ndarray:
    """Per-word probabilities of a page from ``(token_probabilities, word_ids)`` per window."""
    merged = WordProbabilities(num_words, num_labels)
    for probabilities, word_ids in windows:
        merged.add(probabilities, word_ids)
    return merged.result()


def split_by_document(
    examples: Sequence[PageExample], validation_share: float = 0.1, seed: int = 1337
) -> tuple[list[PageExample], list[PageExample]]:
    """Train and validation pages, split by document so no document sits on both sides.

    At least one document goes to validation when there are two or more; page order is kept.
    """
    if not 0.0 <= validation_share < 1.0:
        raise ValueError(f"validation_share must be in [0, 1), got {validation_share}")
    documents = sorted({example.document for example in examples})
    random.Random(seed).shuffle(documents)
    wanted = round(len(documents) * validation_share)
    if validation_share > 0 and len(documents) >= 2:
        wanted = min(max(wanted, 1), len(documents) - 1)
    held_out = set(documents[:wanted])
    train = [e for e in examples if e.document not in held_out]
    validation = [e for e in examples if e.document in held_out]
    return train, validation
