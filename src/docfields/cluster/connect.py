"""Where the Ray cluster is, and a session on it that shuts down only what it started.

``ADDRESS`` of ``--ray``:

- ``local``: start a private Ray on this machine (on 127.0.0.1 only, dashboard off), ended on exit;
- ``auto``: join the cluster already running on this machine (``ray start --head``);
- ``ray://host:port``: a remote cluster through Ray Client (the driver stays on this machine);
- ``host:port``: the GCS address of a cluster this machine is a node of, as ``ray.init`` takes it.

``ray.init()`` without an address attaches to whatever cluster ``/tmp/ray`` last recorded (a stale
one after a crash), so an address is always given explicitly.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from docfields.errors import ClusterError

logger = logging.getLogger(__name__)

#: Given to every Ray task: Tesseract is 4-6x slower with OpenMP threads fighting over cores, and Ray
#: sets OMP_NUM_THREADS but not OMP_THREAD_LIMIT (PLATFORM.md); nothing is reported to Ray's servers.
#: No task, actor or replica requests GPUs (``num_gpus``). CUDA_VISIBLE_DEVICES="" here would keep
#: their ``auto`` off a GPU node's GPUs, but with it in the runtime env the second node of a test cluster
#: got no work in 3 of 4 runs (tests/test_cluster.py); without it, 4 of 4 did.
TASK_ENV = {"OMP_THREAD_LIMIT": "1", "RAY_USAGE_STATS_ENABLED": "0"}

#: Set to "0", Ray keeps every node address on 127.0.0.1 (its switch for clusters on macOS/Windows).
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

_HOST_PORT = re.compile(r"^[\w.\-\[\]:]+:\d{1,5}$")


def check_ray_device(device: str) -> None:
    """Refuse ``--device cuda`` with ``--ray``: Ray actors and replicas reserve no GPUs (``num_gpus``).

    Raises:
        ClusterError: for ``cuda``; ``auto`` and ``cpu`` pass (``auto`` is whatever the node's torch sees).
    """
    if device == "cuda":
        raise ClusterError("--device cuda with --ray: docfields' Ray actors and replicas request no GPUs "
                           "(num_gpus); use --device cpu or auto, or CUDA without --ray")


def init_arguments(address: str) -> dict[str, Any]:
    """The ``ray.init`` arguments for an ``ADDRESS`` of ``--ray``; ``ClusterError`` if it is none."""
    address = address.strip()
    if address == "local":
        return {"address": "local", "include_dashboard": False}
    if address == "auto" or address.startswith("ray://") or _HOST_PORT.match(address):
        return {"address": address}
    raise ClusterError(f"--ray {address!r}: expected local, auto, ray://HOST:PORT or HOST:PORT")


@contextmanager
def ray_session(address: str) -> Iterator[None]:
    """Connect to Ray for the ``with`` block; shut down on exit only a connection made here.

    A caller already connected (a notebook, a test fixture, an outer session) keeps its connection.

    >>> with ray_session("local"):  # doctest: +SKIP
    ...     run_batch_ocr(plan, executor=RayOcrExecutor())
    """
    arguments = init_arguments(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address.strip() == "local":
        # Ray replaces 127.0.0.1 by this machine's network address unless multi-node clusters are
        # off, which a private single-node Ray does not need; read when ray is first imported.
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    import ray

    if ray.is_initialized():
        logger.info("using the Ray connection already open")
        yield
        return
    try:
        ray.init(**arguments, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ClusterError(f"--ray {address}: cannot connect to Ray ({exc})") from exc
    logger.info("connected to Ray at %s: %s", address, ray.cluster_resources())
    try:
        yield
    finally:
        ray.shutdown()
