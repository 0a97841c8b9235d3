"""OCR one document, or a whole corpus with a process pool, resumably.

``ocr_file`` is the per-document unit of work: a plain, picklable function that never raises on
bad input (it returns the failure), so the same function serves the process pool here and the
Ray executor (``docfields.cluster``). Only the executor, which turns tasks into outcomes, differs:
plan, outputs, ``failures.jsonl``, skipping and resume are this module's. A batch writes each
result atomically; a rerun skips documents whose output exists, so an interrupted batch resumes
where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from docfields import storage
from docfields.documents import DocumentLimits, open_document
from docfields.errors import DocfieldsError, OutputError
from docfields.ocr.inputs import InputItem, InputProblem, list_inputs
from docfields.ocr.registry import EngineCache, check_engine_options, load_engine
from docfields.textract import TextractDocument

logger = logging.getLogger(__name__)

OUTPUT_NAME = "consolidated.json"
MANIFEST_NAME = "manifest.jsonl"
FAILURES_NAME = "failures.jsonl"


def ocr_document(
    source: str,
    engine: str = "auto",
    *,
    password: str | None = None,
    limits: DocumentLimits | None = None,
    **options: Any,
) -> TextractDocument:
    """OCR one document into Textract-compatible JSON.

    >>> doc = ocr_document("invoice.pdf", engine="auto", fallback_options={"languages": ["eng"]})  # doctest: +SKIP
    """
    ocr_engine = load_engine(engine, **options)
    try:
        with open_document(source, password=password, limits=limits) as document:
            return ocr_engine.process(document)
    finally:
        ocr_engine.close()


class BatchOcrOptions(BaseModel):
    """How a batch runs: engine and its options, workers, limits."""

    model_config = ConfigDict(extra="forbid")

    engine: str = Field("auto", description="OCR engine name (see `docfields engines`).")
    engine_options: dict[str, Any] = Field(default_factory=dict, description="Options of that engine.")
    workers: int | None = Field(None, ge=1, description="Worker processes; default: all cores; 1: in-process.")
    force: bool = Field(False, description="Redo documents whose output already exists.")
    password: str | None = Field(None, description="Password for encrypted PDFs.")
    limits: DocumentLimits = Field(default_factory=DocumentLimits, description="File size, page and pixel limits.")


@dataclass(frozen=True)
class OcrTask:
    """One document to OCR into ``output`` (everything a worker needs, picklable)."""

    source: str
    output: str
    engine: str
    engine_options: dict[str, Any]
    password: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OcrOutcome:
    """What happened to one document."""

    source: str
    output: str | None
    pages: int = 0
    pages_per_engine: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    error_type: str | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """True when the document has an output (new or already there)."""
        return self.error is None


_PROCESS_ENGINES = EngineCache()  # owned by the process: a pool or Ray worker loads each engine once


def ocr_file(task: OcrTask) -> OcrOutcome:
    """OCR one document and write its JSON; failures come back as data, never as exceptions."""
    start = time.perf_counter()
    try:
        engine = _PROCESS_ENGINES.get(task.engine, task.engine_options)
        limits = DocumentLimits(**task.limits)
        with open_document(task.source, password=task.password, limits=limits) as document:
            engines = engine.process_to(document, task.output)  # streamed: memory of one page
    except DocfieldsError as exc:
        return _failure(task.source, exc, start)
    except Exception as exc:  # a bug or a library crash must not stop the batch: record it
        logger.exception("%s: unexpected error", task.source)
        return _failure(task.source, exc, start, prefix="internal error: ")
    return OcrOutcome(task.source, task.output, sum(engines.values()), engines, time.perf_counter() - start)


def _failure(source: str, exc: BaseException, start: float, prefix: str = "") -> OcrOutcome:
    return OcrOutcome(
        source, None, seconds=time.perf_counter() - start, error=f"{prefix}{exc}", error_type=type(exc).__name__
    )


@dataclass
class BatchPlan:
    """The documents of a batch: to do, already done, and manifest lines that name none.

    ``records`` are the output manifest's lines, one per input line: a per-page manifest names
    a document once per page, and every page keeps its line while the document is read once.
    """

    out: str
    tasks: list[OcrTask]
    records: list[dict[str, Any]]
    done: list[OcrOutcome]
    problems: list[InputProblem]

    @property
    def total(self) -> int:
        """Documents found (to do plus done)."""
        return len(self.tasks) + len(self.done)


def output_for(out: str, item: InputItem) -> str:
    """Where a document's JSON goes, always strictly inside ``out``.

    A manifest's ``textract-ref`` names it when that lies inside ``out`` (a relative one is taken
    relative to ``out``); one elsewhere is not written to (a manifest from someone else must not
    overwrite files outside the folder the user named), and the document takes the original's
    layout ``<out>/<relative path>/consolidated.json`` like any other. A relative path that would
    still leave ``out`` (through a symlink) becomes ``_outside/<hash>-<name>``: unique per source
    and the same on every run. Raises ``OutputError`` when even that is not inside ``out``.
    """
    explicit = item.record.get("textract-ref")
    if isinstance(explicit, str) and explicit:
        target = explicit if "://" in explicit or os.path.isabs(explicit) else storage.join(out, explicit)
        if _is_output_place(out, target):
            return target
        logger.warning("%s: textract-ref %s is outside %s; writing inside it instead", item.where, explicit, out)
    target = storage.join(out, item.relative, OUTPUT_NAME)
    if _is_output_place(out, target):
        return target
    digest = hashlib.sha256(item.source.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    name = re.sub(r"[^\w.-]", "_", posixpath.basename(item.relative)).lstrip(".") or "document"
    target = storage.join(out, "_outside", f"{digest}-{name}", OUTPUT_NAME)
    if not _is_output_place(out, target):
        raise OutputError(f"{target}: would be written outside the output folder {out}")
    return target


def _is_output_place(out: str, target: str) -> bool:
    """Inside ``out``, and neither at nor under the batch's own manifest and failures files."""
    relative = storage.relative_inside(out, target)
    return relative is not None and relative.split("/")[0] not in (MANIFEST_NAME, FAILURES_NAME)


def plan_batch_ocr(input_spec: str, out: str, options: BatchOcrOptions | None = None) -> BatchPlan:
    """List a batch's documents and decide which still need OCR (outputs present are skipped).

    The output folder is checked first, so a file in its place fails before any work. A line
    whose output cannot be placed inside ``out`` becomes a problem of the batch, not an error.
    """
    options = options or BatchOcrOptions()
    storage.check_output_folder(out)
    check_engine_options(options.engine, **options.engine_options)  # fail once, not once per document
    items, problems = list_inputs(input_spec)
    tasks, done, records, planned = [], [], [], set()
    limits = options.limits.model_dump()
    for item in items:
        try:
            output = output_for(out, item)
            exists = not options.force and output not in planned and storage.exists(output)
        except (OutputError, OSError) as exc:
            problems.append(InputProblem(item.where or item.source, f"no output place: {exc}"))
            continue
        # Absolute references: readers resolve relative ones against the manifest's folder.
        references = {"raw-ref": storage.absolute(item.source), "textract-ref": storage.absolute(output)}
        records.append({**item.record, **references})
        if output in planned:
            continue
        planned.add(output)
        if exists:
            done.append(OcrOutcome(item.source, output, skipped=True))
            continue
        tasks.append(OcrTask(item.source, output, options.engine, options.engine_options, options.password, limits))
    return BatchPlan(out, tasks, records, done, problems)


class BatchSummary(BaseModel):
    """The closing figures of a batch."""

    documents: int
    processed: int
    skipped: int
    failed: int
    pages: int
    pages_per_engine: dict[str, int]
    seconds: float
    pages_per_second: float
    interrupted: bool
    manifest: str
    failures: str | None


#: Runs tasks and yields one outcome per task, in any order (``ocr_file`` does the work of each).
OcrExecutor = Callable[[list[OcrTask]], Iterator[OcrOutcome]]


def run_batch_ocr(
    plan: BatchPlan,
    options: BatchOcrOptions | None = None,
    on_outcome: Callable[[OcrOutcome], None] | None = None,
    executor: OcrExecutor | None = None,
) -> BatchSummary:
    """Run a planned batch; Ctrl-C stops it cleanly and a rerun of the same plan resumes.

    ``executor`` runs the tasks (default: ``options.workers`` local processes; a Ray cluster with
    ``docfields.cluster.RayOcrExecutor``). ``manifest.jsonl`` (inputs plus ``textract-ref``) and
    ``failures.jsonl`` (file and reason) are written to the output folder at the end, interrupted
    or not.
    """
    options = options or BatchOcrOptions()
    execute = executor or (lambda tasks: _execute(tasks, options.workers or os.cpu_count() or 1))
    start = time.perf_counter()
    outcomes: list[OcrOutcome] = []
    interrupted = False
    try:
        for outcome in execute(plan.tasks):
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    except KeyboardInterrupt:
        interrupted = True
        logger.warning("interrupted after %d of %d documents; rerun to resume", len(outcomes), len(plan.tasks))
    return _finish(plan, outcomes, time.perf_counter() - start, interrupted)


def _execute(tasks: list[OcrTask], workers: int) -> Iterator[OcrOutcome]:
    if workers == 1 or len(tasks) <= 1:
        _limit_threads()
        yield from map(ocr_file, tasks)
        return
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), initializer=_init_worker)
    try:
        yield from pool.imap_unordered(ocr_file, tasks, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _limit_threads() -> None:
    # OpenMP oversubscription made Debian's Tesseract 4-6x slower on 2 cores (PLATFORM.md).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def _init_worker() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool."""
    _limit_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _finish(plan: BatchPlan, outcomes: list[OcrOutcome], seconds: float, interrupted: bool) -> BatchSummary:
    succeeded = {storage.absolute(o.output) for o in [*plan.done, *outcomes] if o.ok}
    manifest_lines = [json.dumps(record) for record in plan.records if record["textract-ref"] in succeeded]
    manifest = storage.join(plan.out, MANIFEST_NAME)
    storage.write_text_atomic(manifest, "".join(line + "\n" for line in manifest_lines))
    failed = [o for o in outcomes if not o.ok]
    failure_lines = [json.dumps({"raw-ref": o.source, "error": o.error, "type": o.error_type}) for o in failed]
    failure_lines += [
        json.dumps({"raw-ref": p.where, "error": p.reason, "type": "InputProblem"}) for p in plan.problems
    ]
    failures = storage.join(plan.out, FAILURES_NAME)
    if failure_lines:
        storage.write_text_atomic(failures, "".join(line + "\n" for line in failure_lines))
    elif storage.exists(failures):
        storage.write_text_atomic(failures, "")
    engines: Counter[str] = Counter()
    for outcome in outcomes:
        engines.update(outcome.pages_per_engine)
    pages = sum(engines.values())
    return BatchSummary(
        documents=plan.total,
        processed=sum(1 for o in outcomes if o.ok),
        skipped=len(plan.done),
        failed=len(failed) + len(plan.problems),
        pages=pages,
        pages_per_engine=dict(engines),
        seconds=seconds,
        pages_per_second=pages / seconds if seconds > 0 else 0.0,
        interrupted=interrupted,
        manifest=manifest,
        failures=failures if failure_lines else None,
    )
