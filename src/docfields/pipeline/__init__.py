"""The durable pipeline: OCR and thumbnails, enrich, fields, then done or review; a folder watch.

The original ran this on Step Functions with an S3 trigger. Here one SQLite file holds the
state, stage outputs are files keyed by what produced them, and workers run in this process or
as worker processes; a ``kill -9`` at any moment loses and duplicates nothing.

>>> from docfields.pipeline import Pipeline, PipelineSettings
>>> pipeline = Pipeline(PipelineSettings(home=".docfields", model="models/cards"))  # doctest: +SKIP
>>> ids = [pipeline.submit(path) for path in ["a.pdf", "b.png"]]  # doctest: +SKIP
>>> pipeline.run_until_idle(workers=2)  # doctest: +SKIP
"""

from docfields.errors import PipelineError, UnknownDocumentError
from docfields.pipeline.batch import ProcessedFile, ProcessSummary, process_files
from docfields.pipeline.executors import Executor, InlineExecutor, StageCall, StageOutcome
from docfields.pipeline.pipeline import Pipeline, Submission
from docfields.pipeline.settings import (
    DocState,
    DocumentStatus,
    PipelineConfig,
    PipelineSettings,
    StageState,
    StageStatus,
)
from docfields.pipeline.watch import WatchEvent, WatchOptions, WatchSummary, watch_folder
from docfields.pipeline.workers import WorkerPool

__all__ = [
    "DocState",
    "DocumentStatus",
    "Executor",
    "InlineExecutor",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "PipelineSettings",
    "ProcessSummary",
    "ProcessedFile",
    "StageCall",
    "StageOutcome",
    "StageState",
    "StageStatus",
    "Submission",
    "UnknownDocumentError",
    "WatchEvent",
    "WatchOptions",
    "WatchSummary",
    "WorkerPool",
    "process_files",
    "watch_folder",
]
