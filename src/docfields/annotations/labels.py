"""Word labels from annotation boxes: the rule of DESIGN.md ("Manifests"), vectorised.

A word takes class c when **one** box of class c covers at least half of the word's area; ties
go to the lowest class id; a word no box covers is "other". The test is per box, as in the
original ("for any annotation box"): two boxes of one class that each cover 30 % of a word do
not label it, which is why annotators draw one box per line of a field. Boxes and words are
compared in page fractions (pixel boxes divided by the image size they were drawn on).

Choices the rule leaves open, made here:

- "At least half" is ``2 * intersection >= area * (1 - 1e-9)``: a half that is exact on paper
  (0.1 - 0.05 = 0.05 in decimal) is not lost to floating point.
- A zero-area word (OCR reports them for single thin glyphs) has no area to cover; it takes the
  class of a box that contains its centre point (edges included).
- Boxes are not clipped to the image: parts outside it cover no word anyway.

>>> word_labels([[0.1, 0.1, 0.2, 0.2]], [[0.0, 0.0, 0.15, 1.0]], [3], other_class=5).tolist()
[3]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from docfields.annotations.model import AnnotationProblem, PageAnnotation
from docfields.annotations.validate import check_page, load_textract, page_number, resolve_ref
from docfields.errors import AnnotationError
from docfields.textract import Block, TextractDocument, page_words, pixels_to_normalized

logger = logging.getLogger(__name__)

HALF_TOLERANCE = 1e-9  # relative: "exactly half" survives floating point


def _edges(boxes: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as left, top, right, bottom; got {array.shape}")
    return array


def word_box_matches(word_boxes: npt.ArrayLike, boxes: npt.ArrayLike) -> np.ndarray:
    """Which box covers at least half of which word: a boolean (words, boxes) matrix.

    Both inputs are ``(n, 4)`` left, top, right, bottom in one space (page fractions). The
    matrix is what a reviewer view needs to flag words matched by boxes of several classes.
    """
    words, regions = _edges(word_boxes, "word_boxes"), _edges(boxes, "boxes")
    wl, wt, wr, wb = (words[:, i, None] for i in range(4))
    bl, bt, br, bb = (regions[None, :, i] for i in range(4))
    overlap_w = np.clip(np.minimum(wr, br) - np.maximum(wl, bl), 0.0, None)
    overlap_h = np.clip(np.minimum(wb, bb) - np.maximum(wt, bt), 0.0, None)
    area = np.clip(wr - wl, 0.0, None) * np.clip(wb - wt, 0.0, None)
    by_area = 2.0 * overlap_w * overlap_h >= area * (1.0 - HALF_TOLERANCE)
    cx, cy = (wl + wr) / 2.0, (wt + wb) / 2.0
    by_centre = (bl <= cx) & (cx <= br) & (bt <= cy) & (cy <= bb)
    return np.where(area > 0.0, by_area, by_centre)


def word_labels(
    word_boxes: npt.ArrayLike, boxes: npt.ArrayLike, box_classes: npt.ArrayLike, other_class: int
) -> np.ndarray:
    """The class of each word by the rule above: an ``int64`` array, one label per word.

    Args:
        word_boxes: ``(N, 4)`` word boxes, left, top, right, bottom in page fractions (0..1).
        boxes: ``(M, 4)`` annotation boxes in the same space.
        box_classes: ``(M,)`` class id of each box.
        other_class: the label of words no box covers (the last class, ``num_classes``).
    """
    classes = np.asarray(box_classes, dtype=np.int64).reshape(-1)
    matches = word_box_matches(word_boxes, boxes)
    if matches.shape[1] != classes.size:
        raise ValueError(f"{matches.shape[1]} boxes but {classes.size} box classes")
    labels = np.full(matches.shape[0], other_class, dtype=np.int64)
    if matches.size:
        lowest = np.where(matches, classes[None, :], np.iinfo(np.int64).max).min(axis=1)
        hit = matches.any(axis=1)
        labels[hit] = lowest[hit]
    return labels


def annotation_boxes(annotation: PageAnnotation) -> tuple[np.ndarray, np.ndarray]:
    """The page's boxes in page fractions ``(M, 4)`` (left, top, right, bottom) and their classes ``(M,)``."""
    width, height = annotation.image_width, annotation.image_height
    edges = []
    for box in annotation.boxes:
        norm = pixels_to_normalized(box.left, box.top, box.right, box.bottom, width, height)
        edges.append((norm.left, norm.top, norm.left + norm.width, norm.top + norm.height))
    classes = np.fromiter((box.class_id for box in annotation.boxes), dtype=np.int64, count=len(annotation.boxes))
    return np.asarray(edges, dtype=np.float64).reshape(-1, 4), classes


def word_edges(words: Sequence[Block]) -> np.ndarray:
    """WORD boxes as ``(N, 4)`` left, top, right, bottom page fractions (no geometry: a zero box)."""
    edges = np.zeros((len(words), 4), dtype=np.float64)
    for row, word in enumerate(words):
        if word.geometry is not None:
            box = word.geometry.bounding_box
            edges[row] = (box.left, box.top, box.left + box.width, box.top + box.height)
    return edges


def page_word_labels(
    annotation: PageAnnotation, textract_document: TextractDocument, num_classes: int
) -> tuple[list[Block], np.ndarray]:
    """The page's WORD blocks in reading order and their labels (``num_classes`` is "other").

    Errors (an AnnotationError naming the manifest line): a class id outside
    ``0..num_classes-1``, a box outside the image, a page-num beyond the document's pages.
    """
    check_page(annotation, num_classes)
    words = page_words(textract_document, page_number(annotation, textract_document))
    boxes, classes = annotation_boxes(annotation)
    return words, word_labels(word_edges(words), boxes, classes, other_class=num_classes)


@dataclass(frozen=True)
class LabelledPage:
    """One annotated page with its words and their labels, ready for a dataset."""

    annotation: PageAnnotation
    words: list[Block]
    labels: np.ndarray


class _DocumentCache:
    """The last few Textract documents read: pages of one document follow each other in manifests."""

    def __init__(self, prefixes: Mapping[str, str] | None, size: int = 4) -> None:
        self.prefixes, self.size = prefixes, size
        self.documents: dict[str, TextractDocument] = {}

    def get(self, annotation: PageAnnotation) -> TextractDocument:
        key = resolve_ref(annotation.textract_ref, annotation.ref_base, self.prefixes)
        if key not in self.documents:
            if len(self.documents) >= self.size:
                self.documents.pop(next(iter(self.documents)))
            self.documents[key] = load_textract(annotation, self.prefixes)
        return self.documents[key]


def label_pages(
    annotations: Iterable[PageAnnotation],
    num_classes: int,
    textract_prefixes: Mapping[str, str] | None = None,
    problems: list[AnnotationProblem] | None = None,
) -> Iterator[LabelledPage]:
    """Label the words of every annotated page, reading each page's Textract JSON.

    Args:
        annotations: pages from ``read_groundtruth`` or ``read_labelstudio``.
        num_classes: number of field classes; words no box covers get label ``num_classes``.
        textract_prefixes: reference prefix -> folder or URL (``{"s3://bucket/textracted/":
            "/data/textract"}``), for manifests written where the files lived elsewhere.
        problems: when given, pages with problems (missing Textract file, page-num beyond the
            document ...) are recorded there and skipped; otherwise the first one raises.

    >>> pages = read_groundtruth("cord/train.manifest.jsonl", num_classes=30)  # doctest: +SKIP
    >>> labelled = list(label_pages(pages, num_classes=30))  # doctest: +SKIP
    """
    cache = _DocumentCache(textract_prefixes)
    for annotation in annotations:
        try:
            words, labels = page_word_labels(annotation, cache.get(annotation), num_classes)
        except AnnotationError as exc:
            if problems is None:
                raise
            problems.append(AnnotationProblem.from_error(exc))
            continue
        logger.debug("%s: %d words, %d labelled", annotation.where, len(words), int((labels != num_classes).sum()))
        yield LabelledPage(annotation, words, labels)
