"""Watch a folder: new files are processed, results land in OUT, bad files go to a quarantine folder.

The original's S3 trigger started the pipeline for every object created in its input bucket.
A local folder has no "object created" event for a finished file, so a file is taken once it
looks finished: not hidden, not a partial download (``.part``, ``.tmp``, ``.crdownload``), and
either untouched for ``settle_seconds`` or seen with the same size and mtime in two scans that
far apart.

Each file is submitted under a key made of its path, size and mtime: the store refuses a second
document for the same key, so a file is processed once across restarts, and a file replaced by
a new version is processed again. Outputs are delivered when a document is final: a result (or,
without a model, the OCR JSON) into OUT as ``<stem>.result.json`` / ``<stem>.textract.json``; a
failed file moves to the quarantine folder with ``<name>.reason.txt``. Documents in review are
delivered once the review completes, by a later cycle.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from docfields import storage
from docfields.pipeline.driver import StopSignal
from docfields.pipeline.pipeline import Pipeline
from docfields.pipeline.settings import DocState, DocumentStatus
from docfields.pipeline.stages import OCR

logger = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")


class WatchOptions(BaseModel):
    """Where outputs go and how often the folder is scanned."""

    model_config = ConfigDict(extra="forbid")

    out: str = Field(description="Folder for results (created).")
    quarantine: str | None = Field(None, description="Folder for bad files; default OUT/quarantine.")
    interval: float = Field(5.0, gt=0.0, description="Seconds between scans.")
    once: bool = Field(False, description="Process what is there, deliver, and return.")
    workers: int = Field(1, ge=1, description="Worker processes per cycle (1: in this process).")
    settle_seconds: float = Field(2.0, ge=0.0, description="How long a file must stay unchanged to be taken.")


class WatchSummary(BaseModel):
    """What one watch run did."""

    cycles: int = 0
    submitted: int = 0
    done: int = 0
    failed: int = 0
    in_review: int = Field(0, description="Documents of the folder waiting for review after the last cycle.")


@dataclass(frozen=True)
class WatchEvent:
    """A delivered document: its final status and where its output (or the quarantined file) went."""

    document: DocumentStatus
    output: str | None


@dataclass(frozen=True)
class _Candidate:
    path: Path
    size: int
    mtime_ns: int

    def key(self) -> str:
        return f"watch:{self.path}:{self.size}:{self.mtime_ns}"


def _key_prefix(folder: Path) -> str:
    return f"watch:{folder}/"


def _source_of(key: str) -> tuple[Path, int, int]:
    """The file, size and mtime a watch key was made from."""
    path, size, mtime = key.removeprefix("watch:").rsplit(":", 2)
    return Path(path), int(size), int(mtime)


class _Scanner:
    """Lists the folder's finished-looking files, remembering signatures between scans."""

    def __init__(self, folder: Path, skip: tuple[Path, ...], settle_seconds: float) -> None:
        self.folder, self.skip, self.settle = folder, skip, settle_seconds
        self._seen: dict[Path, tuple[int, int, float]] = {}
        self._reported: set[tuple[Path, str]] = set()

    def _files(self) -> Iterator[Path]:
        files, problems = storage.list_files(self.folder, exclude=self.skip)
        for problem in problems:  # FIFOs, dangling links, unreadable folders: said once, not every scan
            if (problem.path, problem.reason) not in self._reported:
                self._reported.add((problem.path, problem.reason))
                logger.warning("skipped %s: %s", problem.path, problem.reason)
        for path in files:
            if not path.name.endswith(PARTIAL_SUFFIXES):
                yield path

    def stable(self) -> tuple[list[_Candidate], int]:
        """Files that look finished, and how many others are still changing."""
        now, ready, changing = time.time(), [], 0
        for path in self._files():
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            seen = self._seen.get(path)
            first = seen[2] if seen is not None and seen[:2] == signature else now
            self._seen[path] = (*signature, first)
            if now - stat.st_mtime >= self.settle or now - first >= self.settle:
                ready.append(_Candidate(path, *signature))
            else:
                changing += 1
        return ready, changing


class _Watch:
    """One watch run: scanner, pipeline, destinations and the running summary."""

    def __init__(self, pipeline: Pipeline, folder: str, options: WatchOptions) -> None:
        self.pipeline, self.options = pipeline, options
        self.folder = Path(folder).expanduser().resolve()
        self.out = Path(options.out).expanduser().resolve()
        self.quarantine = (
            Path(options.quarantine).expanduser().resolve() if options.quarantine else self.out / "quarantine"
        )
        self.scanner = _Scanner(self.folder, (self.out, self.quarantine), options.settle_seconds)
        self.summary = WatchSummary()

    def submit_new(self) -> int:
        """Submit the finished files not yet known to the store; how many are still changing."""
        ready, changing = self.scanner.stable()
        for candidate in ready:
            key = candidate.key()
            if self.pipeline.store.find_key(key) is not None:
                continue
            relative = candidate.path.relative_to(self.folder)
            self.pipeline.submit(str(candidate.path), name=str(relative), key=key)
            self.summary.submitted += 1
        return changing

    def deliver(self, on_event: Callable[[WatchEvent], None] | None) -> None:
        """Hand on every final, undelivered document of this folder."""
        prefix = _key_prefix(self.folder)
        for row in self.pipeline.store.undelivered(prefix, (DocState.DONE, DocState.FAILED)):
            status = self.pipeline.status(row["id"])
            source, size, mtime = _source_of(row["source_key"])
            relative = source.relative_to(self.folder)
            if status.status == DocState.DONE:
                output = self._write_output(status, relative)
                self.summary.done += 1
            else:
                output = self._quarantine(status, source, relative, (size, mtime))
                self.summary.failed += 1
            self.pipeline.store.mark_delivered(status.id)
            if on_event is not None:
                on_event(WatchEvent(status, output))
        self.summary.in_review = len(self.pipeline.store.undelivered(prefix, (DocState.IN_REVIEW,)))

    def _write_output(self, status: DocumentStatus, relative: Path) -> str | None:
        result = self.pipeline.result(status.id)
        if result is not None:
            target = self.out / relative.parent / f"{relative.stem}.result.json"
            storage.write_text_atomic(str(target), json.dumps(result, indent=2, ensure_ascii=False) + "\n")
            return str(target)
        ocr = self.pipeline.artifact_path(status.id, OCR)
        if ocr is None:
            return None
        target = self.out / relative.parent / f"{relative.stem}.textract.json"
        storage.write_bytes_atomic(str(target), Path(ocr).read_bytes())
        return str(target)

    def _quarantine(self, status: DocumentStatus, source: Path, relative: Path, signature: tuple[int, int]) -> str:
        target = self.quarantine / relative
        if target.exists():
            target = target.with_name(f"{target.stem}-{status.id[:8]}{target.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_file() and (source.stat().st_size, source.stat().st_mtime_ns) == signature:
            shutil.move(source, target)
        else:  # the file was replaced (or removed) meanwhile: keep the new one, quarantine the stored original
            shutil.copyfile(self.pipeline.document_path(status.id), target)
        reason = f"{status.error or 'failed'}\n"
        storage.write_text_atomic(str(target.with_name(target.name + ".reason.txt")), reason)
        logger.warning("quarantined %s: %s", relative, status.error)
        return str(target)


def watch_folder(
    pipeline: Pipeline,
    folder: str,
    options: WatchOptions,
    stop: StopSignal | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
) -> WatchSummary:
    """Process the files that appear in ``folder`` until ``stop`` is set (or once, with ``options.once``).

    >>> watch_folder(Pipeline(settings), "inbox", WatchOptions(out="results", once=True))  # doctest: +SKIP
    WatchSummary(cycles=1, submitted=3, done=2, failed=1)
    """
    watch = _Watch(pipeline, folder, options)
    if not watch.folder.is_dir():
        from docfields.errors import DocumentError

        raise DocumentError(str(watch.folder), "not a folder")
    while True:
        changing = watch.submit_new()
        if options.once and changing:  # give files being written one settle period, then take what is done
            time.sleep(options.settle_seconds)
            changing = watch.submit_new()
        pipeline.run_until_idle(options.workers)
        watch.deliver(on_event)
        watch.summary.cycles += 1
        if options.once:
            if changing:
                logger.warning("%d file(s) still being written were left for the next run", changing)
            return watch.summary
        if stop is None:
            time.sleep(options.interval)
        elif stop.wait(options.interval):
            return watch.summary
