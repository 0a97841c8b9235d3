"""The durable store: documents, their stages, and every attempt, in one SQLite file (WAL mode).

Why this survives ``kill -9`` at any moment without losing or duplicating a document:

- A document and all its stage rows are inserted in one transaction; stage rows are unique per
  (document, stage), and an optional idempotency key is unique per document: the insert says
  ``ON CONFLICT (source_key) DO NOTHING``, so submissions racing with one key make one document.
- A worker claims a stage in a ``BEGIN IMMEDIATE`` transaction (one writer at a time, across
  processes) and gets a lease: its worker id and an expiry time it keeps pushing forward
  (heartbeat). A stage whose lease expired belongs to a dead worker and is claimed again.
- Completing or failing a stage is fenced by the lease owner: a worker that lost its lease (it
  was presumed dead) cannot overwrite the work of the one that took over.
- Outputs are written (atomically) before the stage is marked done, so a done stage always has
  its artifact; a crash in between only means the artifact is found and reused.

A stage may start when every stage of a lower level of its document is done or skipped; OCR
and thumbnails share level 0. Times are wall-clock seconds (``time.time()``), shared by processes,
read once the write lock is held (a writer that waited for the lock does not record a stale time).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docfields.errors import PipelineError, UnknownDocumentError
from docfields.pipeline.settings import DocState, DocumentStatus, StageStatus

logger = logging.getLogger(__name__)

ACTIVE = (DocState.QUEUED, DocState.RUNNING)
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    settings TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    pages INTEGER,
    confidence REAL,
    review_reason TEXT,
    error TEXT,
    source_key TEXT UNIQUE,
    delivered REAL,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS documents_status ON documents (status, created);
CREATE INDEX IF NOT EXISTS documents_seq ON documents (seq);
CREATE TABLE IF NOT EXISTS stages (
    document_id TEXT NOT NULL REFERENCES documents (id),
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    owner TEXT,
    lease_expires REAL,
    started REAL,
    finished REAL,
    seconds REAL,
    error TEXT,
    artifact TEXT,
    reused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (document_id, name)
);
CREATE INDEX IF NOT EXISTS stages_state ON stages (state);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    worker TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    outcome TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_document ON attempts (document_id);
"""

_CANDIDATES = """
SELECT s.document_id, s.name, s.state, s.attempts FROM stages s JOIN documents d ON d.id = s.document_id
WHERE d.status IN ('queued', 'running')
  AND ((s.state = 'pending' AND s.not_before <= :now) OR (s.state = 'running' AND s.lease_expires < :now))
  AND NOT EXISTS (SELECT 1 FROM stages r WHERE r.document_id = s.document_id AND r.level < s.level
                  AND r.state NOT IN ('done', 'skipped'))
ORDER BY d.created, d.rowid, s.level, s.name
LIMIT 20
"""


@dataclass(frozen=True)
class StagePlan:
    """A stage row to create at submission: its name, level and first state (pending or skipped)."""

    name: str
    level: int
    state: str = "pending"


@dataclass(frozen=True)
class NewDocument:
    """What a submission stores: the document row and its stage plan."""

    id: str
    name: str
    sha256: str
    path: str
    settings: str
    stages: tuple[StagePlan, ...]
    source_key: str | None = None


@dataclass(frozen=True)
class Claim:
    """A stage leased to one worker, with what it needs to run it."""

    document_id: str
    stage: str
    attempt: int
    worker: str
    name: str
    path: str
    sha256: str
    settings: str
    artifacts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The document's state once its last stage is done: done or in_review, and why."""

    status: str
    confidence: float | None = None
    review_reason: str | None = None


class Store:
    """The SQLite store of one pipeline home; one connection per thread, safe across processes."""

    def __init__(self, path: str | Path, busy_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_seconds = busy_seconds
        self._local = threading.local()
        self._conn().executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_seconds * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # a submitted document survives a power cut too
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so two writers never deadlock."""
        conn = self._conn()
        if conn.in_transaction:  # left open by an interrupt (Ctrl-C, SIGTERM) between BEGIN and the try
            conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- submission ---------------------------------------------------------------------------

    def add_document(self, new: NewDocument, now: float | None = None, *, retry_failed: bool = False) -> str:
        """Insert a document and its stages; with a known ``source_key`` return the existing id instead.

        The caller tells a reuse from a new document by the id: ``new.id`` only when inserted.
        ``retry_failed`` lets a failed document give up its key (it keeps its record, keyless),
        so submitting it again retries it as a new document instead of returning the failure.
        """
        with self._write() as conn:
            now = time.time() if now is None else now
            if retry_failed and new.source_key is not None:
                conn.execute(
                    "UPDATE documents SET source_key = NULL WHERE source_key = ? AND status = 'failed'",
                    (new.source_key,),
                )
            inserted = conn.execute(
                "INSERT INTO documents (id, name, sha256, path, settings, status, created, updated, source_key) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (source_key) DO NOTHING",
                (new.id, new.name, new.sha256, new.path, new.settings, now, now, new.source_key),
            ).rowcount
            if not inserted:
                row = conn.execute("SELECT id FROM documents WHERE source_key = ?", (new.source_key,)).fetchone()
                return str(row["id"])
            conn.executemany(
                "INSERT INTO stages (document_id, name, level, state) VALUES (?, ?, ?, ?)",
                [(new.id, s.name, s.level, s.state) for s in new.stages],
            )
            self._touch(conn, new.id, now)
            self._finish_if_complete(conn, new.id, None, now)
        return new.id

    # -- claiming -----------------------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, max_attempts: int, now: float | None = None) -> Claim | None:
        """Lease the oldest ready stage to ``worker``, or None when nothing is ready.

        A running stage whose lease expired is taken over (its worker died); after
        ``max_attempts`` lost or failed attempts the stage, and its document, fail instead.
        """
        with self._write() as conn:
            now = time.time() if now is None else now
            for row in conn.execute(_CANDIDATES, {"now": now}).fetchall():
                doc_id, stage, attempts = row["document_id"], row["name"], row["attempts"]
                if row["state"] == "running":
                    self._close_attempt(conn, doc_id, stage, attempts, "lost", "worker stopped renewing its lease", now)
                    if attempts >= max_attempts:
                        reason = f"{stage}: its worker was lost {attempts} times (killed, or out of memory?)"
                        self._fail_stage(conn, doc_id, stage, reason, now)
                        continue
                return self._lease(conn, doc_id, stage, attempts + 1, worker, now + lease_seconds, now)
        return None

    def _lease(
        self, conn: sqlite3.Connection, doc_id: str, stage: str, attempt: int, worker: str, expires: float, now: float
    ) -> Claim:
        conn.execute(
            "UPDATE stages SET state = 'running', owner = ?, lease_expires = ?, attempts = ?, started = ?, "
            "finished = NULL, seconds = NULL WHERE document_id = ? AND name = ?",
            (worker, expires, attempt, now, doc_id, stage),
        )
        conn.execute(
            "INSERT INTO attempts (document_id, stage, attempt, worker, started, outcome) VALUES (?, ?, ?, ?, ?, ?)",
            (doc_id, stage, attempt, worker, now, "running"),
        )
        conn.execute("UPDATE documents SET status = 'running' WHERE id = ? AND status = 'queued'", (doc_id,))
        self._touch(conn, doc_id, now)
        doc = conn.execute("SELECT name, path, sha256, settings FROM documents WHERE id = ?", (doc_id,)).fetchone()
        artifacts = {
            r["name"]: r["artifact"]
            for r in conn.execute(
                "SELECT name, artifact FROM stages WHERE document_id = ? AND state = 'done'", (doc_id,)
            )
        }
        return Claim(
            doc_id, stage, attempt, worker, doc["name"], doc["path"], doc["sha256"], doc["settings"], artifacts
        )

    def renew(self, worker: str, lease_seconds: float, now: float | None = None) -> int:
        """Push the leases of ``worker``'s running stages forward (the heartbeat); returns how many."""
        with self._write() as conn:
            now = time.time() if now is None else now
            cursor = conn.execute(
                "UPDATE stages SET lease_expires = ? WHERE owner = ? AND state = 'running'",
                (now + lease_seconds, worker),
            )
            return cursor.rowcount

    def release(self, worker: str, now: float | None = None) -> int:
        """Give back ``worker``'s running stages at a clean stop; the interrupted attempt does not count."""
        with self._write() as conn:
            now = time.time() if now is None else now
            rows = conn.execute(
                "SELECT document_id, name, attempts FROM stages WHERE owner = ? AND state = 'running'", (worker,)
            ).fetchall()
            for row in rows:
                self._close_attempt(conn, row["document_id"], row["name"], row["attempts"], "released", None, now)
            conn.execute(
                "UPDATE stages SET state = 'pending', owner = NULL, lease_expires = NULL, attempts = attempts - 1 "
                "WHERE owner = ? AND state = 'running'",
                (worker,),
            )
            return len(rows)

    # -- outcomes -----------------------------------------------------------------------------

    def complete(
        self,
        claim: Claim,
        artifact: str,
        seconds: float,
        reused: bool,
        *,
        pages: int | None = None,
        decision: Decision | None = None,
        now: float | None = None,
    ) -> bool:
        """Mark a claimed stage done; False (and nothing changed) when the lease was lost meanwhile.

        When it was the document's last open stage, the document becomes ``decision.status``
        (``done`` without a decision: a pipeline that stops after OCR and thumbnails).
        """
        with self._write() as conn:
            now = time.time() if now is None else now
            cursor = conn.execute(
                "UPDATE stages SET state = 'done', owner = NULL, lease_expires = NULL, finished = ?, seconds = ?, "
                "error = NULL, artifact = ?, reused = ? "
                "WHERE document_id = ? AND name = ? AND owner = ? AND state = 'running'",
                (now, seconds, artifact, int(reused), claim.document_id, claim.stage, claim.worker),
            )
            if cursor.rowcount == 0:
                return False
            self._close_attempt(conn, claim.document_id, claim.stage, claim.attempt, "reused" if reused else "done",
                                None, now)  # fmt: skip
            if pages is not None:
                conn.execute("UPDATE documents SET pages = ? WHERE id = ?", (pages, claim.document_id))
            self._touch(conn, claim.document_id, now)
            self._finish_if_complete(conn, claim.document_id, decision, now)
        return True

    def fail(self, claim: Claim, error: str, retry_in: float | None, now: float | None = None) -> bool:
        """Record a failed attempt: retry after ``retry_in`` seconds, or (None) fail the document.

        False when the lease was lost meanwhile (another worker owns the stage now).
        """
        with self._write() as conn:
            now = time.time() if now is None else now
            owned = conn.execute(
                "SELECT 1 FROM stages WHERE document_id = ? AND name = ? AND owner = ? AND state = 'running'",
                (claim.document_id, claim.stage, claim.worker),
            ).fetchone()
            if owned is None:
                return False
            self._close_attempt(conn, claim.document_id, claim.stage, claim.attempt,
                                "retry" if retry_in is not None else "failed", error, now)  # fmt: skip
            if retry_in is None:
                self._fail_stage(conn, claim.document_id, claim.stage, f"{claim.stage}: {error}", now)
            else:
                conn.execute(
                    "UPDATE stages SET state = 'pending', owner = NULL, lease_expires = NULL, not_before = ?, "
                    "error = ?, finished = ? WHERE document_id = ? AND name = ?",
                    (now + retry_in, error, now, claim.document_id, claim.stage),
                )
        return True

    def _fail_stage(self, conn: sqlite3.Connection, doc_id: str, stage: str, error: str, now: float) -> None:
        """The stage failed for good: so does the document; its stages not yet started are skipped."""
        conn.execute(
            "UPDATE stages SET state = 'failed', owner = NULL, lease_expires = NULL, finished = ?, error = ? "
            "WHERE document_id = ? AND name = ?",
            (now, error, doc_id, stage),
        )
        conn.execute("UPDATE stages SET state = 'skipped' WHERE document_id = ? AND state = 'pending'", (doc_id,))
        conn.execute(
            "UPDATE documents SET status = 'failed', error = ? WHERE id = ? AND status IN (?, ?)",
            (error, doc_id, *ACTIVE),
        )
        self._touch(conn, doc_id, now)

    def _finish_if_complete(self, conn: sqlite3.Connection, doc_id: str, decision: Decision | None, now: float) -> None:
        open_stages = conn.execute(
            "SELECT COUNT(*) FROM stages WHERE document_id = ? AND state NOT IN ('done', 'skipped')", (doc_id,)
        ).fetchone()[0]
        if open_stages:
            return
        decision = decision or Decision(DocState.DONE)
        conn.execute(
            "UPDATE documents SET status = ?, confidence = ?, review_reason = ? WHERE id = ? AND status IN (?, ?)",
            (decision.status, decision.confidence, decision.review_reason, doc_id, *ACTIVE),
        )
        self._touch(conn, doc_id, now)

    def _touch(self, conn: sqlite3.Connection, doc_id: str, now: float) -> None:
        """Stamp a change: its time, and the next number of the store's change sequence.

        Writers are serialized, so a change committed later always has a higher number: a
        reader that remembers the highest number it saw misses no change (timestamps, read
        before a commit becomes visible, could).
        """
        conn.execute(
            "UPDATE documents SET updated = ?, seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM documents) WHERE id = ?",
            (now, doc_id),
        )

    def _close_attempt(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        stage: str,
        attempt: int,
        outcome: str,
        error: str | None,
        now: float,
    ) -> None:
        conn.execute(
            "UPDATE attempts SET finished = ?, outcome = ?, error = ? "
            "WHERE document_id = ? AND stage = ? AND attempt = ? AND outcome = 'running'",
            (now, outcome, error, doc_id, stage, attempt),
        )

    def finish_review(
        self, doc_id: str, store_result: Callable[[], None], confidence: float | None, now: float | None = None
    ) -> None:
        """Move an in_review document to done; ``store_result`` writes the reviewed result first."""
        with self._write() as conn:
            now = time.time() if now is None else now
            row = conn.execute("SELECT status FROM documents WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                raise UnknownDocumentError(f"no document with id {doc_id!r}")
            if row["status"] != DocState.IN_REVIEW:
                raise PipelineError(f"document {doc_id}: cannot complete a review, its status is {row['status']}")
            store_result()
            conn.execute("UPDATE documents SET status = 'done', confidence = ? WHERE id = ?", (confidence, doc_id))
            self._touch(conn, doc_id, now)

    def mark_delivered(self, doc_id: str, now: float | None = None) -> None:
        """Record that a final document's output was handed on (e.g. to a watched folder's OUT)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE documents SET delivered = ? WHERE id = ?", (time.time() if now is None else now, doc_id)
            )

    # -- reading ------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def _row(self, doc_id: str) -> sqlite3.Row:
        rows = self._query("SELECT * FROM documents WHERE id = ?", (doc_id,))
        if not rows:
            raise UnknownDocumentError(f"no document with id {doc_id!r}")
        return rows[0]

    def document(self, doc_id: str) -> DocumentStatus:
        """The status of one document."""
        return self._status(self._row(doc_id))

    def documents(self, status: str | None = None) -> list[DocumentStatus]:
        """Documents, oldest first, optionally of one status."""
        query = "SELECT * FROM documents" + (" WHERE status = ?" if status else "") + " ORDER BY created, rowid"
        return [self._status(row) for row in self._query(query, (status,) if status else ())]

    def ids_by_reason(self, status: str, reason_prefix: str) -> list[str]:
        """Ids of the documents of ``status`` whose review reason starts with ``reason_prefix`` (audit samples)."""
        query = "SELECT id FROM documents WHERE status = ? AND substr(review_reason, 1, ?) = ? ORDER BY created, rowid"
        return [row["id"] for row in self._query(query, (status, len(reason_prefix), reason_prefix))]

    def last_change(self) -> int:
        """The number of the latest change (see ``changed_after``)."""
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM documents")[0][0])

    def changed_after(self, seq: int) -> tuple[list[DocumentStatus], int]:
        """Documents changed after change number ``seq`` (0: all), oldest change first, and the last number."""
        rows = self._query("SELECT * FROM documents WHERE seq > ? ORDER BY seq", (seq,))
        return [self._status(row) for row in rows], max((row["seq"] for row in rows), default=seq)

    def record(self, doc_id: str) -> dict[str, Any]:
        """The raw document row (path, sha256, settings, source_key ...) plus its stage artifacts."""
        row = self._row(doc_id)
        stages = self._query("SELECT name, artifact FROM stages WHERE document_id = ?", (doc_id,))
        return {**dict(row), "artifacts": {s["name"]: s["artifact"] for s in stages if s["artifact"]}}

    def undelivered(self, key_prefix: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        """Documents of these statuses whose source key starts with ``key_prefix``, not yet handed on."""
        marks = ", ".join("?" * len(statuses))
        rows = self._query(
            "SELECT id, source_key, status FROM documents WHERE delivered IS NULL AND source_key >= ? "
            f"AND source_key < ? AND status IN ({marks}) ORDER BY created, rowid",
            (key_prefix, key_prefix + "\U0010ffff", *statuses),
        )
        return [dict(row) for row in rows]

    def find_key(self, source_key: str) -> str | None:
        """The id of the document submitted under ``source_key``, if any."""
        rows = self._query("SELECT id FROM documents WHERE source_key = ?", (source_key,))
        return str(rows[0]["id"]) if rows else None

    def attempts(self, doc_id: str) -> list[dict[str, Any]]:
        """The attempt log of one document, oldest first."""
        return [dict(row) for row in self._query("SELECT * FROM attempts WHERE document_id = ? ORDER BY id", (doc_id,))]

    def status_counts(self) -> dict[str, int]:
        """Documents per status, counted by SQLite (a metrics scrape must not load every document)."""
        return {row[0]: int(row[1]) for row in self._query("SELECT status, COUNT(*) FROM documents GROUP BY status")}

    def active_count(self) -> int:
        """Documents still queued or running."""
        return int(self._query("SELECT COUNT(*) FROM documents WHERE status IN (?, ?)", ACTIVE)[0][0])

    def next_event(self, now: float | None = None) -> float | None:
        """When a waiting stage becomes claimable at the earliest (a retry delay or a lease running out)."""
        now = time.time() if now is None else now
        [row] = self._query(
            "SELECT MIN(CASE WHEN s.state = 'pending' THEN s.not_before ELSE s.lease_expires END) "
            "FROM stages s JOIN documents d ON d.id = s.document_id WHERE d.status IN (?, ?) "
            "AND ((s.state = 'pending' AND s.not_before > ?) OR s.state = 'running')",
            (*ACTIVE, now),
        )
        return None if row[0] is None else float(row[0])

    def _status(self, row: sqlite3.Row) -> DocumentStatus:
        stages = self._query("SELECT * FROM stages WHERE document_id = ? ORDER BY level, name", (row["id"],))
        return DocumentStatus(
            id=row["id"], name=row["name"], status=row["status"], created=row["created"], updated=row["updated"],
            pages=row["pages"], confidence=row["confidence"], review_reason=row["review_reason"], error=row["error"],
            stages=[
                StageStatus(name=s["name"], state=s["state"], attempts=s["attempts"], seconds=s["seconds"],
                            error=s["error"], reused=bool(s["reused"]), started=s["started"], finished=s["finished"])
                for s in stages
            ],
        )  # fmt: skip
