"""``docfields serve --ray``: the same service on Ray Serve, one deployment per model, each scaling to zero.

The FastAPI app of ``create_app`` is the ingress (exactly one replica: it holds the SQLite store)
and every model kind is its own deployment with its own autoscaling from the autoscaling file:
``thumbnails``, ``ocr-<engine>`` for every registered engine, ``tagger-<name>`` per ``--model``,
``normalizer`` (rules and the default) and ``normalizer-<name>`` per ``--normalizer-model``. A
deployment at zero replicas costs nothing, so every engine is deployed and ``/ocr?engine=`` works
as it does in one process. The routes do not change: ``ServeModels`` is the app's ``ModelBackend``
and sends each ``call(spec, work, *args)`` to the deployment ``spec.deployment``, whose replica
runs the same ``LocalModels.call`` on its own model cache.

The ingress's pipeline stages run on the issue-15 ``RayExecutor`` (``settings.workers`` actors,
one CPU each), created inside the ingress replica: the replica is a Ray worker already connected
to the cluster, its stages are counted in the cluster's CPUs like the model replicas (worker
processes forked inside a replica would use CPUs Ray does not know about), and the actors die with
the replica that owns them. The ingress itself reserves no CPU, so it never keeps a model replica
from starting on a small cluster.

>>> with ray_session("local"):  # doctest: +SKIP
...     service = deploy_service(settings, "127.0.0.1", 8000)
...     service.stop()
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from docfields.autoscale.settings import AutoscalingFile, DeploymentScaling, load_autoscaling, serve_options
from docfields.cluster.connect import TASK_ENV, ray_session
from docfields.errors import AutoscaleError, CapacityError, DocfieldsError, ModelError
from docfields.serve.calls import LocalModels, ModelSpec, document_models
from docfields.serve.models import ModelCache
from docfields.serve.settings import ServeSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

APP_NAME = "docfields"
INGRESS = "ingress"
#: HTTP requests one ingress replica takes at once (Serve's default, 5, would queue a sixth poll).
INGRESS_MAX_ONGOING = 64
#: Retry-After of a 429: about a cold start (2-3 s measured) plus a metrics period.
RETRY_AFTER_SECONDS = 5


def replica_env(metrics_interval_s: float) -> dict[str, str]:
    """Environment of a replica: Tesseract's thread limit, no usage stats, the metrics period.

    The period bounds a cold start. Ray 2.60 still reads it from ``metrics_interval_s``
    (deprecated, set by ``serve_options``); the two variables meant to replace it are set as well,
    so a later Ray keeps the short cold start.
    """
    period = str(metrics_interval_s)
    return {
        **TASK_ENV,
        "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": period,
        "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": period,
    }


class ModelReplica:
    """One replica of a model deployment: its own model cache, kept for the replica's life.

    Serve removes idle replicas (scale to zero), so the cache never unloads on its own.
    """

    def __init__(self) -> None:
        self.models = LocalModels(ModelCache(idle_seconds=0))

    async def call(self, spec: ModelSpec, work: Callable[..., T], *args: Any) -> T:
        """``work(model, *args)`` in a thread: the replica's event loop keeps answering health checks."""
        return await asyncio.to_thread(self.models.call, spec, work, *args)


class ServeModels:
    """The app's ``ModelBackend`` on Ray Serve: each call goes to the deployment ``spec.deployment``.

    Called from FastAPI's threadpool, so it waits for the answer with a blocking ``result()``.
    """

    def __init__(self, handles: Mapping[str, Any], max_replicas: Mapping[str, int]) -> None:
        self.handles = dict(handles)
        self._max_replicas = dict(max_replicas)

    def max_replicas(self, deployment: str) -> int:
        """The autoscaling file's ``max_replicas`` of ``deployment`` (1 for an unknown one)."""
        return self._max_replicas.get(deployment, 1)

    def call(self, spec: ModelSpec, work: Callable[..., T], *args: Any) -> T:
        """Run ``work`` on a replica of the spec's deployment.

        Raises:
            DocfieldsError: what the replica raised, as its own class (the status mapping needs it).
            CapacityError: the deployment already holds its ``max_queued_requests``.
            ModelError: no such deployment (the message lists the deployed ones).
        """
        from ray.serve.exceptions import BackPressureError

        handle = self._handle(spec)
        try:
            return handle.call.remote(spec, work, *args).result()
        except BackPressureError as exc:
            retry = math.ceil(exc.retry_after_s or RETRY_AFTER_SECONDS)
            raise CapacityError(spec.deployment, exc.message, retry) from None
        except Exception as exc:
            cause = getattr(exc, "cause", None)  # Ray wraps what the replica raised in a RayTaskError
            if isinstance(cause, DocfieldsError):
                raise cause from None
            raise

    def _handle(self, spec: ModelSpec) -> Any:
        handle = self.handles.get(spec.deployment)
        if handle is not None:
            return handle
        if spec.kind == "ocr":  # an unknown engine is the client's error, named as in one process (422)
            from docfields.ocr.registry import engine_class

            engine_class(spec.name)
        deployed = ", ".join(sorted(self.handles))
        raise ModelError(f"no deployment {spec.deployment!r} on this service; deployed: {deployed}")


class ServiceIngress:
    """The ingress replica: builds the FastAPI app (and its pipeline executor) inside the replica.

    Serve calls ``__serve_build_asgi_app__`` after ``__init__`` and then runs the app's lifespan
    in the replica (start and stop of the pipeline's driver thread, as under uvicorn).
    """

    def __init__(self, settings: ServeSettings, handles: dict[str, Any], max_replicas: dict[str, int]) -> None:
        self.settings = settings
        self.handles = handles
        self.max_replicas = max_replicas
        self.executor: Any = None

    def __serve_build_asgi_app__(self) -> Any:
        """The app of ``docfields serve`` with its models on the deployments."""
        from docfields.serve.app import create_app

        if self.settings.workers:
            from docfields.cluster.pipeline import RayExecutor

            self.executor = RayExecutor(actors=self.settings.workers)
        models = ServeModels(self.handles, self.max_replicas)
        return create_app(self.settings, executor=self.executor, models=models)

    def __del__(self) -> None:
        """After the app's lifespan stopped the driver thread: end the stage actors."""
        if self.executor is not None:
            self.executor.close()


def model_deployment_names(settings: ServeSettings) -> list[str]:
    """Every model deployment of the service, named as the routes' ``ModelSpec.deployment``."""
    from docfields.serve.routers.normalize import normalizer_deployment

    return [
        *document_models(settings),
        normalizer_deployment(None, settings),
        *(normalizer_deployment(name, settings) for name in sorted(settings.normalizer_models)),
    ]


def check_autoscaling(settings: ServeSettings) -> AutoscalingFile:
    """The service's autoscaling file, checked before Ray starts (defaults without one).

    Raises:
        AutoscaleError: an invalid file (names the deployment and key), or an entry for a
            deployment this service does not have (a typo would silently keep the defaults).
    """
    if settings.autoscaling is None:
        return AutoscalingFile()
    scaling = load_autoscaling(settings.autoscaling)
    known = set(model_deployment_names(settings))  # the ingress has one replica, never scaled
    for name in scaling.deployments:
        if name not in known:
            reason = f"no such deployment; this service has {', '.join(sorted(known))}"
            raise AutoscaleError(settings.autoscaling, reason, deployment=name)
    return scaling


def _model_application(name: str, scaling: DeploymentScaling) -> Any:
    from ray import serve

    options = serve_options(scaling)
    options["ray_actor_options"]["runtime_env"] = {"env_vars": replica_env(scaling.metrics_interval_s)}
    backpressure = {"status_code": 429, "retry_after_s": RETRY_AFTER_SECONDS}
    return serve.deployment(ModelReplica, name=name, backpressure_config=backpressure, **options).bind()


def build_application(settings: ServeSettings, scaling: AutoscalingFile) -> Any:
    """The Serve application: the ingress bound to a handle of every model deployment."""
    import warnings

    from ray import serve

    handles = {}
    with warnings.catch_warnings():  # metrics_interval_s: deprecated, and still the knob in Ray 2.60
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in model_deployment_names(settings):
            handles[name] = _model_application(name, scaling.for_deployment(name))
    period = min(scaling.for_deployment(name).metrics_interval_s for name in handles)  # the handles push too
    ingress = serve.deployment(
        serve.ingress()(ServiceIngress),
        name=INGRESS,
        num_replicas=1,
        max_ongoing_requests=INGRESS_MAX_ONGOING,
        ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": replica_env(period)}},
    )
    most = {name: scaling.for_deployment(name).max_replicas for name in handles}  # read here, not on the ingress's node
    return ingress.bind(settings, handles, most)


@dataclass
class ServeService:
    """A deployed service: its URL, and whether this process started Serve (then it shuts it down)."""

    url: str
    started_serve: bool

    def stop(self) -> None:
        """Remove what ``deploy_service`` added: all of Serve if it started it, else only the app."""
        from ray import serve

        if self.started_serve:
            serve.shutdown()
        else:
            serve.delete(APP_NAME)


def _serve_running() -> bool:
    from ray import serve
    from ray.serve import context
    from ray.serve.exceptions import RayServeException

    # Serve caches its controller's handle per process, keyed by job id; a second private Ray in
    # the same process (tests, benchmarks) starts again at job 01000000, so the handle of the first
    # cluster's controller would be taken for this one's. Forget it: the check finds the controller by name.
    context._disconnect()
    try:
        serve.status()
    except RayServeException:
        return False
    return True


def deploy_service(settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000) -> ServeService:
    """Deploy the service on the connected Ray cluster and return once it answers (the caller stops it).

    Raises:
        AutoscaleError: an unusable autoscaling file.
        ModelError, FieldConfigError: from the app, when the ingress cannot start.
    """
    from ray import serve

    scaling = check_autoscaling(settings)
    started = not _serve_running()
    serve.start(http_options={"host": host, "port": port})
    start = time.perf_counter()
    try:
        serve.run(build_application(settings, scaling), name=APP_NAME, route_prefix="/")
    except BaseException:  # a failed start, or Ctrl-C during it: leave nothing half deployed
        ServeService("", started).stop()
        raise
    logger.info("deployed on Ray Serve in %.1f s", time.perf_counter() - start)
    return ServeService(f"http://{host}:{port}", started)


def run_serve(settings: ServeSettings, address: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve on Ray Serve until Ctrl-C or SIGTERM, then remove what was started here (Serve, a private Ray).

    >>> run_serve(ServeSettings(), "local")  # doctest: +SKIP
    """
    import os

    for name, value in replica_env(check_autoscaling(settings).defaults.metrics_interval_s).items():
        os.environ.setdefault(name, value)  # a private Ray's processes (controller, proxy) inherit them
    with ray_session(address):
        # After ray.init, which installs a SIGTERM handler that aborts the process (exit 134, Serve left up).
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            service = deploy_service(settings, host, port)  # removes what it deployed if interrupted
            logger.info("serving at %s on Ray Serve (%s)", service.url, address)
            try:
                while True:
                    time.sleep(3600)
            finally:
                service.stop()
        except KeyboardInterrupt:
            logger.info("stopped")
        finally:
            signal.signal(signal.SIGTERM, previous)
