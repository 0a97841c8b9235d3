"""The cross-process rate limiter, with real processes (spawn) on one real SQLite file.

Each worker records, from inside the held block, when it entered and left: those intervals lie
within the real holds, so the most that overlap is a lower bound of the holders at once, and it
must never exceed the cap. Start times are compared by their spacing, not by wall-clock targets.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from docfields.errors import OcrError
from docfields.ocr.ratelimit import RateLimiter

pytestmark = pytest.mark.slow


def _hold(path: str, cap: int, rate: float, holders: list[str], hold: float, queue) -> None:
    limiter = RateLimiter(path, max_in_flight=cap, starts_per_second=rate)
    for holder in holders:
        with limiter.acquire(holder):
            entered = time.time()
            time.sleep(hold)
            queue.put((holder, entered, time.time()))


def _die_holding(path: str) -> None:
    limiter = RateLimiter(path, max_in_flight=1, starts_per_second=100.0)
    with limiter.acquire("crashed-job"):
        os._exit(0)  # the process dies inside the block: no release


def run_workers(path: str, cap: int, rate: float, jobs: list[list[str]], hold: float) -> list[tuple[str, float, float]]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_hold, args=(path, cap, rate, holders, hold, queue)) for holders in jobs]
    for process in processes:
        process.start()
    records = [queue.get(timeout=120) for _ in range(sum(len(holders) for holders in jobs))]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return sorted(records, key=lambda record: record[1])


def most_overlapping(records: list[tuple[str, float, float]]) -> int:
    events = sorted([(entered, 1) for _, entered, _ in records] + [(left, -1) for _, _, left in records])
    current = best = 0
    for _, step in events:  # at equal times a leave (-1) sorts before an enter (+1)
        current += step
        best = max(best, current)
    return best


def test_at_most_n_jobs_in_flight_across_processes(tmp_path):
    jobs = [[f"job-{p}"] for p in range(6)]
    records = run_workers(str(tmp_path / "limit.db"), cap=2, rate=100.0, jobs=jobs, hold=0.4)
    assert len(records) == 6
    assert most_overlapping(records) == 2  # the cap is reached and never passed
    assert records[-1][1] - records[0][1] >= 2 * 0.4 - 0.05  # six holds of 0.4 s, two at a time
    assert RateLimiter(tmp_path / "limit.db", 2, 100.0).holders() == []


def test_at_most_m_starts_per_second_across_processes(tmp_path):
    jobs = [[f"p{p}-a", f"p{p}-b"] for p in range(5)]
    records = run_workers(str(tmp_path / "limit.db"), cap=100, rate=5.0, jobs=jobs, hold=0.0)
    starts = [entered for _, entered, _ in records]
    assert len(starts) == 10
    assert starts[-1] - starts[0] >= 1.6  # ten starts at 5/s: nine gaps of 0.2 s
    busiest = max(sum(1 for t in starts if start <= t < start + 0.9) for start in starts)
    assert busiest <= 5  # never more than 5 starts within (less than) a second


def test_holder_of_a_dead_process_is_reaped(tmp_path):
    path = str(tmp_path / "limit.db")
    process = multiprocessing.get_context("spawn").Process(target=_die_holding, args=(path,))
    process.start()
    process.join(timeout=60)
    limiter = RateLimiter(path, max_in_flight=1, starts_per_second=100.0)
    assert [holder.holder for holder in limiter.holders()] == ["crashed-job"]
    started = time.monotonic()
    with limiter.acquire("next-job"):
        assert [holder.holder for holder in limiter.holders()] == ["next-job"]
    assert time.monotonic() - started < 5.0
    assert limiter.holders() == []


def test_hold_older_than_the_lease_is_reaped(tmp_path):
    path = tmp_path / "limit.db"
    leaky = RateLimiter(path, max_in_flight=1, starts_per_second=100.0, lease_seconds=0.5)
    stuck = leaky.acquire("stuck-job")
    stuck.__enter__()  # held by this live process and never released: only the lease frees it
    started = time.monotonic()
    with leaky.acquire("next-job"):
        waited = time.monotonic() - started
    assert 0.4 <= waited < 5.0
    assert leaky.holders() == []


def test_retried_job_takes_over_its_own_hold(tmp_path):
    limiter = RateLimiter(tmp_path / "limit.db", max_in_flight=1, starts_per_second=1.0)
    with limiter.acquire("doc-1"):
        started = time.monotonic()
        with limiter.acquire("doc-1"):  # same id: no second slot, no second start
            assert len(limiter.holders()) == 1
        assert time.monotonic() - started < 0.5


def test_unusable_database_is_an_ocr_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OcrError, match="rate limiter database"):
        RateLimiter(tmp_path / "file" / "limit.db", max_in_flight=1, starts_per_second=1.0)
