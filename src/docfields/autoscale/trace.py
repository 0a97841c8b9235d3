"""Request traces for the autoscaling simulator: read, write and generate them.

A trace is what arrived and how long each request kept a replica busy. On disk it is JSON lines
(an optional first line ``{"duration_s": ...}`` gives the window, then one
``{"arrival_s": ..., "service_s": ...}`` per request) or CSV with the header ``arrival_s,service_s``.
The window matters for cost: an always-on deployment pays for the idle night too.

Generated kinds (seeded, so the same seed writes the same bytes):

- ``office-day``: 24 h, requests only 9-18 h, a steady trickle with bursts of heavy load;
- ``nightly-batch``: 24 h, one batch submitted at 02:00 within a few minutes;
- ``idle-night``: 14 h of nothing, then a single request in the next minute, then a quiet hour.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from docfields import storage
from docfields.errors import AutoscaleError, DocumentError

HOUR = 3600.0
TRACE_KINDS = ("office-day", "nightly-batch", "idle-night")


@dataclass(frozen=True)
class Trace:
    """Requests sorted by arrival: ``arrivals[i]`` and ``services[i]`` in seconds; the window is ``duration_s``."""

    arrivals: tuple[float, ...]
    services: tuple[float, ...]
    duration_s: float

    def __len__(self) -> int:
        return len(self.arrivals)


def generate_trace(kind: str, seed: int = 0, service_s: float = 2.0) -> Trace:
    """A generated trace of ``kind`` (one of ``TRACE_KINDS``); service times are lognormal around ``service_s``.

    >>> len(generate_trace("idle-night"))
    1
    """
    rng = np.random.default_rng(seed)
    if kind == "office-day":
        arrivals, duration = _office_day(rng), 24 * HOUR
    elif kind == "nightly-batch":
        arrivals, duration = 2 * HOUR + np.sort(rng.uniform(0, 300, size=1500)), 24 * HOUR
    elif kind == "idle-night":
        arrivals, duration = 14 * HOUR + rng.uniform(0, 60, size=1), 15 * HOUR
    else:
        raise AutoscaleError(kind, f"unknown trace kind; known: {', '.join(TRACE_KINDS)}")
    services = rng.lognormal(mean=math.log(service_s), sigma=0.4, size=len(arrivals))
    return Trace(_rounded(arrivals), _rounded(services), duration)


def _office_day(rng: np.random.Generator) -> np.ndarray:
    """Poisson arrivals 9-18 h: 0.1 request/s, and in each hour a 10-minute burst at 1.2 request/s."""
    steady = _poisson(rng, 0.1, 9 * HOUR, 18 * HOUR)
    bursts = [
        _poisson(rng, 1.2, start, start + 600) for start in 9 * HOUR + HOUR * np.arange(9) + rng.uniform(0, 3000, 9)
    ]
    return np.sort(np.concatenate([steady, *bursts]))


def _poisson(rng: np.random.Generator, rate: float, start: float, end: float) -> np.ndarray:
    count = rng.poisson(rate * (end - start))
    return rng.uniform(start, end, size=count)


def _rounded(values: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(value), 3) for value in values)


def trace_to_jsonl(trace: Trace) -> str:
    """The JSON-lines form: the window first, then one request per line."""
    lines = [json.dumps({"duration_s": trace.duration_s})]
    lines += [json.dumps({"arrival_s": a, "service_s": s}) for a, s in zip(trace.arrivals, trace.services, strict=True)]
    return "\n".join(lines) + "\n"


def write_trace(trace: Trace, target: str) -> None:
    """Write ``trace`` as JSON lines, atomically."""
    storage.write_text_atomic(target, trace_to_jsonl(trace))


def read_trace(source: str) -> Trace:
    """Read a JSON-lines or CSV (``.csv``) trace; a bad line raises ``AutoscaleError`` naming it."""
    try:
        text = storage.read_bytes(source).decode("utf-8")
    except (OSError, UnicodeDecodeError, DocumentError) as exc:
        raise AutoscaleError(source, f"cannot read the trace: {exc}") from exc
    return parse_trace(source, text)


def parse_trace(source: str, text: str) -> Trace:
    """Parse a trace's text: CSV when ``source`` ends in ``.csv``, JSON lines otherwise."""
    if PurePath(source).suffix.lower() == ".csv":
        rows = [(number, dict(row)) for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2)]
    else:
        rows = [(number, _json_row(source, number, line)) for number, line in enumerate(text.splitlines(), start=1)]
    return _trace_from_rows(source, [(number, row) for number, row in rows if row is not None])


def fetch_trace(url: str, deployment: str, token: str | None = None) -> Trace:
    """The calls a running service recorded for ``deployment`` (its ``GET /metrics/trace``), as a trace.

    Raises:
        AutoscaleError: naming the URL when the service does not answer, refuses, or has no such calls.
    """
    from docfields.service_client import read_call_trace

    source, text = read_call_trace(url, deployment, token)
    return parse_trace(source, text)


def _json_row(source: str, number: int, line: str) -> dict | None:
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AutoscaleError(source, f"not valid JSON: {exc.msg}", line=number) from exc
    if not isinstance(row, dict):
        raise AutoscaleError(source, "must be an object with arrival_s and service_s", line=number)
    return row


def _trace_from_rows(source: str, rows: list[tuple[int, dict]]) -> Trace:
    duration = None
    if rows and set(rows[0][1]) == {"duration_s"}:
        duration = _number(source, rows[0][0], rows[0][1], "duration_s", minimum=0.0)
        rows = rows[1:]
    arrivals: list[float] = []
    services: list[float] = []
    for number, row in rows:
        extra = set(row) - {"arrival_s", "service_s"}
        if extra:
            raise AutoscaleError(source, f"unknown key {sorted(extra)[0]!r}", line=number)
        arrival = _number(source, number, row, "arrival_s", minimum=arrivals[-1] if arrivals else 0.0)
        arrivals.append(arrival)
        services.append(_number(source, number, row, "service_s", minimum=0.0, strict=True))
    if not arrivals:
        raise AutoscaleError(source, "no requests in the trace")
    return Trace(tuple(arrivals), tuple(services), max(duration or 0.0, arrivals[-1]))


def _number(source: str, number: int, row: dict, key: str, minimum: float, strict: bool = False) -> float:
    """One finite number >= ``minimum`` (> when ``strict``); arrivals must not go back in time."""
    raw = row.get(key)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AutoscaleError(source, f"{key} must be a number, got {raw!r}", line=number) from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"above {minimum:g}" if strict else f"at least {minimum:g} (the previous arrival or 0)"
        raise AutoscaleError(source, f"{key} {raw!r} must be finite and {bound}", line=number)
    return value
