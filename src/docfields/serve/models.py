"""Models loaded on first use and unloaded after an idle time: the service scales to zero in memory.

Taggers, normalizer models and OCR engines take hundreds of megabytes and seconds to load, and
a service may know many of them while serving a few. ``ModelCache`` loads one when a request
first needs it, lends it to one request at a time (neither Tesseract nor a shared torch model
is safe to drive from two threads at once), and a background thread drops the ones nobody used
for ``idle_seconds``. Loads and unloads are counted for ``/metrics``.

>>> cache = ModelCache(idle_seconds=300)
>>> with cache.use("normalizer", "date:YYYY-MM-DD", lambda: "a loaded model") as model:
...     model
'a loaded model'
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
ModelKey = tuple[str, str]  # (kind, name)


@dataclass
class _Entry:
    """One cache slot: the model (None until loaded), its lock, and who uses it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None
    release: Callable[[Any], None] | None = None
    users: int = 0
    loaded_at: float = 0.0
    last_used: float = 0.0


@dataclass(frozen=True)
class LoadedModel:
    """A model in memory, as ``/metrics`` and ``/healthz`` report it."""

    kind: str
    name: str
    loaded_at: float
    idle_seconds: float
    in_use: bool


class ModelCache:
    """Lazily loaded models keyed by (kind, name), each unloaded after ``idle_seconds`` unused.

    Args:
        idle_seconds: Unload a model nobody used for this long; 0 keeps models until ``close``.
        clock: Monotonic seconds (a test may pass its own).
    """

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.loads: Counter[ModelKey] = Counter()
        self.unloads: Counter[ModelKey] = Counter()
        self._entries: dict[ModelKey, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    @contextmanager
    def use(
        self, kind: str, name: str, load: Callable[[], T], release: Callable[[T], None] | None = None
    ) -> Iterator[T]:
        """Lend the model (kind, name), loading it with ``load()`` if it is not in memory.

        One caller at a time holds a given model; others wait. A failed load raises and
        leaves nothing behind, so the next request tries again.
        """
        key = (kind, name)
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            entry.users += 1
        try:
            with entry.lock:
                if entry.value is None:
                    self._load(key, entry, load, release)
                yield entry.value
        finally:
            with self._lock:
                entry.users -= 1
                entry.last_used = self.clock()
                if entry.value is None and entry.users == 0:
                    self._entries.pop(key, None)

    def _load(
        self, key: ModelKey, entry: _Entry, load: Callable[[], Any], release: Callable[[Any], None] | None
    ) -> None:
        start = time.perf_counter()
        entry.value = load()
        entry.release = release
        entry.loaded_at = self.clock()
        self.loads[key] += 1
        logger.info("loaded %s %s in %.1f s", key[0], key[1], time.perf_counter() - start)

    def loaded(self) -> list[LoadedModel]:
        """The models in memory now, sorted by kind and name."""
        now = self.clock()
        with self._lock:
            return [
                LoadedModel(kind, name, entry.loaded_at, now - entry.last_used, entry.users > 0)
                for (kind, name), entry in sorted(self._entries.items())
                if entry.value is not None
            ]

    def unload_idle(self) -> list[ModelKey]:
        """Unload every model unused for ``idle_seconds``; returns their keys. 0 unloads nothing."""
        if self.idle_seconds <= 0:
            return []
        cutoff = self.clock() - self.idle_seconds
        with self._lock:
            idle = [key for key, e in self._entries.items() if e.users == 0 and e.last_used <= cutoff]
            entries = [(key, self._entries.pop(key)) for key in idle]
        self._release(entries)
        return [key for key, entry in entries if entry.value is not None]

    def clear(self) -> None:
        """Unload every model not in use now (at shutdown)."""
        with self._lock:
            idle = [key for key, e in self._entries.items() if e.users == 0]
            entries = [(key, self._entries.pop(key)) for key in idle]
        self._release(entries)

    def _release(self, entries: list[tuple[ModelKey, _Entry]]) -> None:
        for key, entry in entries:
            if entry.value is None:
                continue
            if entry.release is not None:
                try:
                    entry.release(entry.value)
                except Exception:  # one model failing to close must not keep the others loaded
                    logger.exception("releasing %s %s failed", *key)
            entry.value = None
            self.unloads[key] += 1
            logger.info("unloaded %s %s", *key)
        if entries:
            gc.collect()  # give the memory of torch models back now, not at some later collection

    def start(self) -> None:
        """Start the background thread that unloads idle models (a no-op when idle_seconds is 0)."""
        if self.idle_seconds <= 0 or self._reaper is not None:
            return
        self._stop.clear()
        self._reaper = threading.Thread(target=self._reap, name="docfields-model-reaper", daemon=True)
        self._reaper.start()

    def close(self) -> None:
        """Stop the background thread and unload everything."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join()
            self._reaper = None
        self.clear()

    def _reap(self) -> None:
        # Check four times per idle period: a model goes at most 25% later than its deadline.
        interval = min(max(self.idle_seconds / 4, 0.05), 30.0)
        while not self._stop.wait(interval):
            self.unload_idle()
