"""The one interface every annotation source format sits behind.

A format says how to split its file into samples (``_iter_samples``: manifest lines, export
tasks) and how to turn one sample into a ``PageAnnotation`` (``_read_sample``). Everything else
(checks, raise-or-collect, skipping) is shared here, so a new format is two small methods and
behaves like the others in a batch.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from docfields import storage
from docfields.annotations.model import AnnotationProblem, PageAnnotation, ProblemKind
from docfields.annotations.validate import BOX_TOLERANCE, page_problems
from docfields.errors import AnnotationError

logger = logging.getLogger(__name__)


def parent_url(url: str) -> str:
    """The folder of a file, against which its relative references resolve."""
    if storage.is_local(url) and not url.startswith("file://"):
        return str(Path(url).parent)
    return url.rsplit("/", 1)[0]


def read_text(url: str) -> str:
    """Read a manifest or export as UTF-8 text (a leading byte-order mark, as Windows editors
    write, is dropped); an unreadable or non-UTF-8 file is an AnnotationError."""
    try:
        return storage.read_bytes(url).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte offset {exc.start}): save the file as UTF-8"
        raise AnnotationError(url, reason, kind=ProblemKind.UNREADABLE) from exc
    except (OSError, ImportError, ValueError) as exc:
        raise AnnotationError(url, f"cannot read annotation file: {exc}", kind=ProblemKind.UNREADABLE) from exc


def parse_json(text: str, where: str) -> Any:
    """``json.loads`` whose error names the line or task."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:  # its own "line 1" would contradict the manifest line
        at = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno}"
        raise AnnotationError(where, f"not valid JSON ({at}): {exc.msg}", kind=ProblemKind.JSON) from exc


def schema_error(where: str, exc: ValidationError, prefix: str = "") -> AnnotationError:
    """A pydantic error as an AnnotationError naming the key path (at most three problems)."""
    parts = []
    for error in exc.errors()[:3]:
        key = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")
        parts.append(f"{key or '<record>'}: {error['msg']}")
    more = exc.error_count() - len(parts)
    suffix = f"; and {more} more" if more > 0 else ""
    return AnnotationError(where, "; ".join(parts) + suffix, kind=ProblemKind.SCHEMA)


class AnnotationReader(ABC):
    """Reads one annotation file into checked ``PageAnnotation`` records.

    Args:
        url: local path or fsspec URL of the manifest or export.
        num_classes: number of field classes; boxes with other class ids are problems. None
            skips that check (reading a manifest without knowing its field configuration).
        tolerance: how far a box may stray outside its image (fraction of the image side).
    """

    def __init__(self, url: str, num_classes: int | None = None, tolerance: float = BOX_TOLERANCE) -> None:
        self.url = url
        self.num_classes = num_classes
        self.tolerance = tolerance

    @abstractmethod
    def _iter_samples(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(where, raw sample)`` pairs; ``where`` is what errors about the sample name."""

    @abstractmethod
    def _read_sample(self, where: str, raw: Any) -> PageAnnotation | None:
        """One sample as a page, None to skip it (not annotated), or an AnnotationError."""

    def _checked(self, where: str, raw: Any) -> tuple[PageAnnotation | None, list[AnnotationProblem]]:
        try:
            page = self._read_sample(where, raw)
        except AnnotationError as exc:
            return None, [AnnotationProblem.from_error(exc)]
        if page is None:
            return None, []
        return page, page_problems(page, self.num_classes, self.tolerance)

    def iter_pages(self, problems: list[AnnotationProblem] | None = None) -> Iterator[PageAnnotation]:
        """Pages in file order. With ``problems`` given, bad samples are recorded there and skipped.

        Without it the first problem raises, which suits a one-off script; a batch passes a list
        so that one run reports every broken line at once.
        """
        skipped = 0
        for where, raw in self._iter_samples():
            page, found = self._checked(where, raw)
            if found and problems is None:
                raise found[0].to_error()
            if found and problems is not None:
                problems.extend(found)
            elif page is None:
                skipped += 1
            else:
                yield page
        if skipped:
            logger.info("%s: skipped %d sample(s) without an annotation", self.url, skipped)

    def read(self, problems: list[AnnotationProblem] | None = None) -> list[PageAnnotation]:
        """All pages of the file (see ``iter_pages`` for ``problems``)."""
        return list(self.iter_pages(problems))
