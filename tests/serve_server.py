"""Run the docfields service for real in tests: uvicorn on a free loopback port.

``serve_app(app)`` runs an app in a thread of the test process (the test can reach into
``app.state``); ``serve_cli(args)`` runs ``docfields serve`` in a subprocess, as a user would,
and stops it with SIGINT so that its lifespan shutdown (workers, models) runs. Both wait for
``/healthz`` before yielding the base URL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout: float, alive: Any = None) -> None:
    """Poll ``/healthz`` until it answers 200; ``alive()`` False (server died) fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"server at {url} exited before answering /healthz")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server at {url} did not answer /healthz within {timeout} s")


@contextmanager
def serve_app(app: Any, timeout: float = 60) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout, thread.is_alive)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)


@contextmanager
def serve_cli(args: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 90) -> Iterator[str]:
    """Run ``docfields serve ARGS`` on a free port; yields its base URL; its output goes to ``log``."""
    port = free_port()
    command = [sys.executable, "-m", "docfields.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout, lambda: process.poll() is None)
        yield url
    except BaseException:
        sys.stderr.write(f"--- docfields serve output ({log}) ---\n{log.read_text(errors='replace')}\n")
        raise
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve_on_ray(settings: Any, cpus: int = 2) -> Iterator[str]:
    """Deploy ``settings`` on Ray Serve in a private Ray started here; yields the proxy's base URL.

    The cluster is this test process's own (127.0.0.1, no dashboard, a small object store); on exit
    Serve is shut down, then Ray, so nothing is left running.
    """
    import logging

    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # every address stays 127.0.0.1
        import ray

        from docfields.cluster.serving import deploy_service

        ray.init(address="local", num_cpus=cpus, object_store_memory=100 * 2**20, include_dashboard=False,
                 _node_ip_address="127.0.0.1", logging_level=logging.WARNING)  # fmt: skip
        try:
            service = deploy_service(settings, "127.0.0.1", free_port())
            try:
                wait_healthy(service.url, 60)
                yield service.url
            finally:
                service.stop()
        finally:
            ray.shutdown()
