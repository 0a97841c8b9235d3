"""Checks on page annotations, and the resolution of their Textract references.

An annotation batch fails late and expensively (in training, hours later) when one box is off
the page or carries a class the model does not have. These checks run when a file is read, and
when words are labelled (the Textract file and its page count are only known then); each problem
is an ``AnnotationError`` naming the manifest line, or an ``AnnotationProblem`` in collect mode.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping

from docfields import storage
from docfields.annotations.model import AnnotationProblem, PageAnnotation, PageBox, ProblemKind
from docfields.errors import AnnotationError, DocumentError, TextractFormatError
from docfields.textract import TextractDocument, iter_pages, read_textract

BOX_TOLERANCE = 0.005  # a box may stray this fraction of the image side (at least 1 px) outside it


def _outside(box: PageBox, width: int, height: int, tolerance: float) -> bool:
    slack_x, slack_y = max(1.0, tolerance * width), max(1.0, tolerance * height)
    return box.left < -slack_x or box.top < -slack_y or box.right > width + slack_x or box.bottom > height + slack_y


def _describe(index: int, box: PageBox) -> str:
    edges = ", ".join(f"{v:g}" for v in (box.left, box.top, box.right, box.bottom))
    return f"box {index} (class {box.class_id}, left/top/right/bottom {edges} px)"


def _box_problems(
    index: int, box: PageBox, page: PageAnnotation, num_classes: int | None, tolerance: float
) -> Iterator[tuple[ProblemKind, str]]:
    if not all(math.isfinite(edge) for edge in (box.left, box.top, box.right, box.bottom)):
        yield ProblemKind.BOX_OUTSIDE_IMAGE, f"{_describe(index, box)} has an edge that is not a finite number"
    elif box.width < 0 or box.height < 0:
        yield ProblemKind.NEGATIVE_BOX, f"{_describe(index, box)} has a negative width or height"
    elif _outside(box, page.image_width, page.image_height, tolerance):
        size = f"{page.image_width} x {page.image_height}"
        yield ProblemKind.BOX_OUTSIDE_IMAGE, f"{_describe(index, box)} lies outside the {size} px image"
    if box.class_id < 0 or (num_classes is not None and box.class_id >= num_classes):
        known = f"0..{num_classes - 1}" if num_classes is not None else "ids >= 0"
        yield ProblemKind.UNKNOWN_CLASS, f"{_describe(index, box)}: unknown class id {box.class_id} (known: {known})"


def page_problems(
    page: PageAnnotation, num_classes: int | None = None, tolerance: float = BOX_TOLERANCE
) -> list[AnnotationProblem]:
    """Every problem of one page that needs no Textract file: boxes off the image, bad class ids.

    Args:
        page: the page to check.
        num_classes: number of field classes; class ids must lie in ``0..num_classes-1``. None
            checks only that they are not negative.
        tolerance: how far (fraction of the image side, at least 1 px) a box may stray outside
            the image, since annotation tools let a drag end a little past the edge.
    """
    problems = []
    if page.image_width <= 0 or page.image_height <= 0:
        message = f"image size {page.image_width} x {page.image_height} is not positive"
        problems.append(AnnotationProblem(where=page.where, kind=ProblemKind.NO_IMAGE_SIZE, message=message))
    elif page.page_num is not None and page.page_num < 1:
        message = f"page-num {page.page_num} is not 1-based"
        problems.append(AnnotationProblem(where=page.where, kind=ProblemKind.PAGE_OUT_OF_RANGE, message=message))
    for index, box in enumerate(page.boxes):
        for kind, message in _box_problems(index, box, page, num_classes, tolerance):
            problems.append(AnnotationProblem(where=page.where, kind=kind, message=message))
    return problems


def check_page(page: PageAnnotation, num_classes: int | None = None, tolerance: float = BOX_TOLERANCE) -> None:
    """Raise the first of ``page_problems`` as an AnnotationError naming the manifest line."""
    problems = page_problems(page, num_classes, tolerance)
    if problems:
        raise problems[0].to_error()


def _mapped(ref: str, prefixes: Mapping[str, str]) -> str | None:
    for prefix in sorted(prefixes, key=len, reverse=True):
        if ref.startswith(prefix):
            rest = ref[len(prefix) :].lstrip("/")
            return storage.join(prefixes[prefix], rest) if rest else prefixes[prefix]
    return None


def resolve_ref(ref: str, base: str = "", prefixes: Mapping[str, str] | None = None) -> str:
    """Where a manifest reference points: mapped by prefix, absolute as is, else under ``base``.

    Upstream manifests name ``s3://`` objects of the bucket the pages were labelled in; training
    elsewhere maps that prefix to a local folder (``{"s3://bucket/textracted/": "/data/textract"}``),
    as the original's ``textract_prefix`` did. The longest matching prefix wins.
    """
    mapped = _mapped(ref, prefixes or {})
    if mapped is not None:
        return mapped
    if "://" in ref or os.path.isabs(ref) or not base:
        return ref
    return storage.join(base, ref)


def _install_hint(url: str) -> str:
    scheme = url.split("://", 1)[0]
    return f"no file system for {scheme}:// (install its fsspec backend, e.g. s3fs) or map the prefix to a local folder"


def load_textract(page: PageAnnotation, prefixes: Mapping[str, str] | None = None) -> TextractDocument:
    """Read the Textract JSON a page refers to; a missing or broken file names the manifest line."""
    url = resolve_ref(page.textract_ref, page.ref_base, prefixes)
    try:
        return read_textract(url)
    except DocumentError as exc:
        reason = f"Textract file {url} (textract-ref {page.textract_ref}) cannot be read: {exc.reason}"
        raise AnnotationError(page.where, reason, kind=ProblemKind.TEXTRACT_MISSING) from exc
    except (ImportError, ValueError) as exc:  # fsspec: backend not installed, or unknown protocol
        reason = f"Textract file {url} cannot be read: {_install_hint(url)} ({exc})"
        raise AnnotationError(page.where, reason, kind=ProblemKind.TEXTRACT_MISSING) from exc
    except TextractFormatError as exc:
        raise AnnotationError(page.where, f"bad Textract file: {exc}", kind=ProblemKind.TEXTRACT_INVALID) from exc


def page_number(page: PageAnnotation, document: TextractDocument) -> int:
    """The 1-based page of ``document`` the annotation is about, checked against its PAGE blocks.

    A record without ``page-num`` is accepted only for a one-page document: the original copied
    such annotations to every page, which labels a multi-page document with one page's boxes.
    """
    pages = sum(1 for _ in iter_pages(document))
    if page.page_num is None and pages == 1:
        return 1
    if page.page_num is None:
        reason = f"no page-num, but textract-ref {page.textract_ref} has {pages} pages"
        raise AnnotationError(page.where, reason, kind=ProblemKind.PAGE_OUT_OF_RANGE)
    if not 1 <= page.page_num <= pages:
        reason = f"page-num {page.page_num} is beyond textract-ref {page.textract_ref}, which has {pages} page(s)"
        raise AnnotationError(page.where, reason, kind=ProblemKind.PAGE_OUT_OF_RANGE)
    return page.page_num
