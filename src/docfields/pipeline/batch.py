"""Process a list of files end to end and write one result file per document (``docfields process``).

A file that cannot be read, or fails in a stage, is reported with its error and the others go
on. Results of finished documents go to ``<out>/<stem>.result.json``. A document sent to review
gets ``<out>/<stem>.in-review.json`` instead: the model's result, which a reader of final
results must not mistake for one (the reviewed result comes from ``Pipeline.result`` or the
service once a reviewer has submitted). Each written result names its source file in a
top-level ``Source`` key (the Result contract's readers keep unknown keys).

A rerun is idempotent: a file already submitted with the same content and settings reuses its
document (``Pipeline.submit_once``) and only its result file is written again.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, Field

from docfields import storage
from docfields.errors import DocfieldsError
from docfields.pipeline.driver import OnChange
from docfields.pipeline.pipeline import Pipeline
from docfields.pipeline.settings import DocState, DocumentStatus


class ProcessedFile(BaseModel):
    """One input file: its final status (None when it could not even be submitted), result and output file."""

    source: str
    reused: bool = Field(False, description="Processed before with the same settings: that document was reused.")
    status: DocumentStatus | None = None
    result: dict[str, Any] | None = None
    output: str | None = Field(None, description="The written <stem>.result.json (or .in-review.json), if any.")
    error: str | None = None

    @property
    def state(self) -> str:
        """done | in_review | failed."""
        return self.status.status if self.status is not None else DocState.FAILED


class ProcessSummary(BaseModel):
    """All files of a ``process`` run, in input order, and the time it took."""

    files: list[ProcessedFile]
    seconds: float

    def count(self, state: str) -> int:
        """How many files ended in ``state`` (done, in_review, failed)."""
        return sum(1 for item in self.files if item.state == state)


RESULT_SUFFIX = ".result.json"
IN_REVIEW_SUFFIX = ".in-review.json"


def _output_stems(sources: list[str]) -> list[str]:
    """The result name of each file, whatever the input order, so that no result overwrites another.

    A stem only one file has is the name. Files sharing a stem are named by their path relative
    to the folder all inputs share, separators as ``__``: ``a/x.pdf`` and ``b/x.pdf`` give
    ``a__x.pdf`` and ``b__x.pdf``.
    """
    paths = [tuple(storage.absolute(source).replace(os.sep, "/").split("/")) for source in sources]
    common = len(os.path.commonprefix([path[:-1] for path in paths]))
    stems = [PurePath(source).stem for source in sources]
    counts = Counter(stems)
    return [stem if counts[stem] == 1 else "__".join(path[common:]) for stem, path in zip(stems, paths, strict=True)]


def process_files(
    pipeline: Pipeline, files: list[str], out: str | None = None, workers: int = 1, on_change: OnChange | None = None
) -> ProcessSummary:
    """Submit ``files`` (reusing what an earlier run did), process them to the end, write each result into ``out``.

    Raises:
        OutputError: when ``out`` exists and is not a folder (before any work).

    >>> summary = process_files(Pipeline(settings), ["a.pdf", "b.png"], out="results")  # doctest: +SKIP
    >>> summary.count("done"), summary.count("in_review"), summary.count("failed")  # doctest: +SKIP
    (1, 1, 0)
    """
    start = time.perf_counter()
    if out is not None:
        storage.check_output_folder(out)
    items: list[tuple[ProcessedFile, str | None]] = []
    for source in files:
        try:
            submission = pipeline.submit_once(source)
        except DocfieldsError as exc:
            items.append((ProcessedFile(source=source, error=str(exc)), None))
            continue
        items.append((ProcessedFile(source=source, reused=submission.reused), submission.id))
    pipeline.run_until_idle(workers, on_change)
    for (item, doc_id), stem in zip(items, _output_stems(files), strict=True):
        if doc_id is None:
            continue
        item.status = pipeline.status(doc_id)
        item.error = item.status.error
        item.result = pipeline.result(doc_id)
        suffix = {DocState.DONE: RESULT_SUFFIX, DocState.IN_REVIEW: IN_REVIEW_SUFFIX}.get(item.state)
        if out is not None and suffix and item.result is not None:
            item.output = storage.join(out, stem + suffix)
            written = {**item.result, "Source": storage.absolute(item.source)}
            storage.write_text_atomic(item.output, json.dumps(written, indent=2, ensure_ascii=False) + "\n")
    return ProcessSummary(files=[item for item, _ in items], seconds=time.perf_counter() - start)
