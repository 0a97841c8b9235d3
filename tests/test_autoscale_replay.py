"""Replaying a trace against a running service: latencies, replica samples, and the comparison with the simulator.

The service here is a real HTTP server on 127.0.0.1 with one worker thread (one replica that
serves one request at a time); ``serve --ray`` is replayed the same way by bench/autoscale_bench.py.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from docfields.autoscale import FixedPolicy, Trace, simulate
from docfields.autoscale.replay import compare, replay_trace

SERVICE_S = 0.05


class _OneReplica(BaseHTTPRequestHandler):
    """Serves /work in SERVICE_S seconds; /fail answers 500."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        time.sleep(SERVICE_S)
        self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _OneReplica)  # single-threaded: requests queue, as at one replica
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_replay_records_every_request_and_samples_replicas(server_url: str) -> None:
    trace = Trace(arrivals=(0.0, 0.0, 0.0, 0.1, 0.3), services=(SERVICE_S,) * 5, duration_s=0.3)
    report = replay_trace(trace, lambda i: urllib.request.urlopen(f"{server_url}/work").close(), lambda: 1, 0.02)
    assert report.served == 5 and report.errors == ()
    assert all(latency is not None and latency >= SERVICE_S for latency in report.latencies_s)
    times = [sample.t for sample in report.timeline]
    assert times == sorted(times) and len(times) >= 2
    assert report.peak_replicas == 1
    assert report.replica_seconds == pytest.approx(times[-1] - times[0])


def test_a_failed_request_is_a_figure_not_the_end(server_url: str) -> None:
    trace = Trace(arrivals=(0.0, 0.05), services=(SERVICE_S, SERVICE_S), duration_s=0.05)
    paths = ["/fail", "/work"]
    report = replay_trace(trace, lambda i: urllib.request.urlopen(server_url + paths[i]).close(), lambda: 1, 0.02)
    assert report.latencies_s[0] is None and report.latencies_s[1] is not None
    assert len(report.errors) == 1 and report.errors[0].startswith("request 0:") and "500" in report.errors[0]


def test_comparison_with_the_simulation_of_the_same_trace(server_url: str) -> None:
    trace = Trace(arrivals=(0.0, 0.0, 0.2), services=(SERVICE_S,) * 3, duration_s=0.2)
    report = replay_trace(trace, lambda i: urllib.request.urlopen(f"{server_url}/work").close(), lambda: 1, 0.02)
    rows = {row.figure: row for row in compare(report, simulate(trace, FixedPolicy(name="one", replicas=1)))}
    assert set(rows) == {"replica-seconds", "peak replicas", "latency p50 s", "latency p95 s", "latency p99 s",
                         "mean |replica gap|"}  # fmt: skip
    assert rows["peak replicas"].measured == rows["peak replicas"].simulated == 1
    assert rows["mean |replica gap|"].simulated == 0.0  # one replica all along, in both
    assert rows["replica-seconds"].simulated == pytest.approx(report.timeline[-1].t, rel=0.05)
    assert rows["latency p99 s"].simulated >= rows["latency p50 s"].simulated > 0
