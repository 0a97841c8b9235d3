"""A rate limiter shared by processes: at most N jobs in flight, at most M starts per second.

The original wrapped its Textract step in a DynamoDB semaphore (spec section 8.4): a lock item
with a holder count, one attribute per holding execution and a next-available time, acquired by
a conditional update and released by a decrement, plus a reaper for the holders of executions
that died. Pipeline workers here are processes on one machine, so the same item lives in a
SQLite file: a ``holders`` table (name, holder id, pid, host, acquired time) and a ``limits``
row with the next time a start is allowed. Every acquire and release is one ``BEGIN IMMEDIATE``
transaction, which SQLite serializes across processes.

Leaked holders (the process died inside the block, or the hold outlived ``lease_seconds``) are
reaped at the next acquire, as the original's reaper did. Holder ids must be unique among jobs in
flight (e.g. the document id): acquiring an id that is already held takes the hold over, which is
what a retried job needs, as in the original.

>>> limiter = RateLimiter("state/textract.db", max_in_flight=90, starts_per_second=2.0)  # doctest: +SKIP
>>> with limiter.acquire("doc-42"):  # doctest: +SKIP
...     call_textract()
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from docfields.errors import OcrError

logger = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS holders (name TEXT NOT NULL, holder TEXT NOT NULL, pid INTEGER NOT NULL, "
    "host TEXT NOT NULL, acquired REAL NOT NULL, PRIMARY KEY (name, holder))",
    "CREATE TABLE IF NOT EXISTS limits (name TEXT PRIMARY KEY, next_start REAL NOT NULL)",
)


@dataclass(frozen=True)
class Holder:
    """One job in flight: its id, the process holding it, and when it started (epoch seconds)."""

    holder: str
    pid: int
    host: str
    acquired: float


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class RateLimiter:
    """At most ``max_in_flight`` holders and ``starts_per_second`` acquisitions, across processes.

    Args:
        path: SQLite file shared by the processes (created with its folder).
        max_in_flight: Jobs allowed inside ``acquire`` at once.
        starts_per_second: Acquisitions allowed per second; consecutive starts are at least
            ``1 / starts_per_second`` apart.
        lease_seconds: A hold older than this is taken as leaked and reaped.
        name: Limiters sharing one file but counting separately use different names.
        poll_seconds: Longest wait between two attempts while the limiter is full.
    """

    def __init__(
        self,
        path: str | Path,
        max_in_flight: int,
        starts_per_second: float,
        lease_seconds: float = 1800.0,
        name: str = "textract",
        poll_seconds: float = 0.05,
    ) -> None:
        if max_in_flight < 1 or starts_per_second <= 0 or lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("max_in_flight >= 1 and positive starts_per_second, lease and poll are required")
        self.path = Path(path)
        self.max_in_flight = max_in_flight
        self.interval = 1.0 / starts_per_second
        self.lease_seconds = lease_seconds
        self.name = name
        self.poll_seconds = poll_seconds
        self._host = socket.gethostname()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OcrError(f"{self.path}: rate limiter database: cannot create its folder: {exc}") from exc
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection per transaction: safe after fork and spawn, never shared between threads."""
        try:
            with closing(sqlite3.connect(self.path, timeout=60.0, isolation_level=None)) as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            raise OcrError(f"{self.path}: rate limiter database: {exc}") from exc

    def _reap(self, db: sqlite3.Connection, now: float) -> None:
        rows = db.execute("SELECT holder, pid, host, acquired FROM holders WHERE name = ?", (self.name,))
        for holder, pid, host, acquired in rows.fetchall():
            dead = host == self._host and not _pid_alive(pid)
            if dead or now - acquired > self.lease_seconds:
                logger.warning("%s: reaped leaked holder %r (pid %d, %s)", self.path, holder, pid,
                               "process gone" if dead else "lease expired")  # fmt: skip
                db.execute("DELETE FROM holders WHERE name = ? AND holder = ?", (self.name, holder))

    def _try_acquire(self, holder: str) -> float:
        """Take the hold and return 0, or return how long to wait before the next attempt."""
        with self._transaction() as db:
            now = time.time()
            self._reap(db, now)
            row = (self.name, holder, os.getpid(), self._host, now)
            held = db.execute("SELECT 1 FROM holders WHERE name = ? AND holder = ?", row[:2]).fetchone()
            if held:  # a retried job taking over its own hold: no new start is counted
                db.execute("UPDATE holders SET pid = ?, host = ?, acquired = ? WHERE name = ? AND holder = ?",
                           (*row[2:], *row[:2]))  # fmt: skip
                return 0.0
            (count,) = db.execute("SELECT COUNT(*) FROM holders WHERE name = ?", (self.name,)).fetchone()
            found = db.execute("SELECT next_start FROM limits WHERE name = ?", (self.name,)).fetchone()
            next_start = found[0] if found else 0.0
            if count >= self.max_in_flight:
                return self.poll_seconds
            if now < next_start:
                return min(next_start - now, self.poll_seconds * 10)
            db.execute("INSERT INTO holders (name, holder, pid, host, acquired) VALUES (?, ?, ?, ?, ?)", row)
            db.execute(
                "INSERT OR REPLACE INTO limits (name, next_start) VALUES (?, ?)", (self.name, now + self.interval)
            )
            return 0.0

    def release(self, holder: str) -> None:
        """Give the hold back (also done by ``acquire`` on leaving its block)."""
        with self._transaction() as db:
            db.execute("DELETE FROM holders WHERE name = ? AND holder = ?", (self.name, holder))

    @contextmanager
    def acquire(self, holder: str) -> Iterator[None]:
        """Block until the job ``holder`` may start, hold a slot for the block, then release it."""
        while (wait := self._try_acquire(holder)) > 0:
            time.sleep(wait)
        try:
            yield
        finally:
            self.release(holder)

    def holders(self) -> list[Holder]:
        """The jobs in flight now, oldest first."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT holder, pid, host, acquired FROM holders WHERE name = ? ORDER BY acquired", (self.name,)
            ).fetchall()
        return [Holder(*row) for row in rows]
