"""A client of a running docfields service: its pipeline configuration (``docfields config show|set``)
and the model calls it recorded (``docfields autoscale trace --from-service``).

Standard library only (``urllib``): the commands work where the service's extra (FastAPI, httpx) is
not installed, e.g. on an operator's laptop. The token goes as ``Authorization: Bearer``, as the
service expects. An answer the service refuses becomes the caller's error (``PipelineConfigError``,
``AutoscaleError``) carrying the service's own message, which names the key at fault.

>>> change_pipeline_config("http://127.0.0.1:8000", {"tagger": "cards-v2"}, token="s3cret")  # doctest: +SKIP
{'thumbnails': True, 'engine': 'auto', 'engine_options': {}, 'tagger': 'cards-v2', ...}
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from docfields.errors import AutoscaleError, DocfieldsError, PipelineConfigError

PIPELINE_CONFIG_PATH = "/config/pipeline"
CALL_TRACE_PATH = "/metrics/trace"
TIMEOUT_SECONDS = 30.0


def read_pipeline_config(url: str, token: str | None = None) -> dict[str, Any]:
    """The pipeline configuration of the service at ``url`` (``GET /config/pipeline``).

    Raises:
        PipelineConfigError: naming the URL when the service cannot be reached or refuses.
    """
    return _config_call("GET", url, None, token)


def change_pipeline_config(url: str, change: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """Apply ``change`` (keys left out stay) to the service at ``url``; returns the new configuration.

    Raises:
        PipelineConfigError: naming the URL, with the service's message (it names the key) on a 422.
    """
    return _config_call("PUT", url, change, token)


def read_call_trace(url: str, deployment: str, token: str | None = None) -> tuple[str, str]:
    """The model calls the service at ``url`` recorded for ``deployment`` (``GET /metrics/trace``), as
    (the endpoint, the trace's JSON lines).

    Raises:
        AutoscaleError: naming the URL when the service cannot be reached, refuses, or has no such calls.
    """
    path = f"{CALL_TRACE_PATH}?{urllib.parse.urlencode({'deployment': deployment})}"
    endpoint, answer = _call("GET", url, path, None, token, AutoscaleError)
    return endpoint, answer.decode("utf-8", errors="replace")


def _config_call(method: str, url: str, body: dict[str, Any] | None, token: str | None) -> dict[str, Any]:
    endpoint, answer = _call(method, url, PIPELINE_CONFIG_PATH, body, token, PipelineConfigError)
    try:
        return json.loads(answer)
    except ValueError as exc:
        raise PipelineConfigError(endpoint, f"service unreachable or not a docfields service ({exc})") from exc


def _call(
    method: str, url: str, path: str, body: dict[str, Any] | None, token: str | None, error: type[DocfieldsError]
) -> tuple[str, bytes]:
    """(the endpoint, the answer's body); ``error(endpoint, reason)`` when the service is unreachable or refuses."""
    endpoint = url.rstrip("/") + path
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(endpoint, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return endpoint, response.read()
    except urllib.error.HTTPError as exc:
        raise error(endpoint, _refusal(exc)) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = f"service unreachable or not a docfields service ({exc})"
        raise error(endpoint, reason) from exc


def _refusal(exc: urllib.error.HTTPError) -> str:
    """The service's reason (its ``detail``), or the status alone; 401 says how to send the token."""
    if exc.code == 401:
        return "HTTP 401: the service wants its API token (--token or DOCFIELDS_API_TOKEN)"
    try:
        detail = json.loads(exc.read()).get("detail")
    except (ValueError, AttributeError, OSError):
        detail = None
    return f"HTTP {exc.code}: {detail}" if detail else f"HTTP {exc.code}"
