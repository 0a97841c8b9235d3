"""Webhooks of async invocations: which addresses may be called, how a call is signed, and delivery.

A client names ``success_url`` / ``error_url`` when it starts an invocation; the service POSTs the
invocation's status (the JSON of ``GET /async/{id}``) there once it is final. The service only
calls what the operator allowed (``--webhook-url PREFIX``, compared whole by scheme, host, port and
path segment) and only when it can sign (``--webhook-secret``): a receiver must be able to tell our
calls from anyone's. Redirects are not followed, so an allowed address cannot send us elsewhere.

Each call carries two headers:

- ``X-Docfields-Timestamp``: the Unix time of the call, in whole seconds;
- ``X-Docfields-Signature``: ``sha256=`` + the hex HMAC-SHA256, keyed by the secret, of
  ``<timestamp>.<body>`` (the timestamp's digits, a dot, the raw body bytes).

A receiver recomputes the HMAC, compares it in constant time and refuses old timestamps (say over
5 minutes), which stops replays. Delivery is at least once: a failed call (no answer, 408, 429 or
5xx) is retried with doubling delays, a few times; a receiver dedupes by ``InvocationId``.

>>> sign(b"secret", b"{}", 1700000000)
'sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163'
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from typing import TYPE_CHECKING

from docfields import __version__
from docfields.normalize.registry import url_allowed

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Docfields-Signature"
TIMESTAMP_HEADER = "X-Docfields-Timestamp"
ATTEMPTS = 5
FIRST_DELAY_SECONDS = 0.5  # then 1, 2, 4: about 8 s of retries in all
TIMEOUT_SECONDS = 10.0
_RETRIED = {408, 429}


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Docfields-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_refusal(url: str, allowed: list[str], secret: str | None) -> str | None:
    """Why ``url`` may not be called back (None: it may); the reason names the URL and the way out."""
    if secret is None or not allowed:
        return (
            f"webhook {url}: this service sends no webhooks; the operator enables them with "
            "--webhook-url PREFIX and --webhook-secret SECRET"
        )
    if not url_allowed(url, allowed):
        return f"webhook {url}: not under an allowed webhook URL ({', '.join(allowed)})"
    return None


def deliver(url: str, body: bytes, secret: str, stop: threading.Event) -> str:
    """POST ``body`` to ``url``, signed, retrying failures; returns the outcome as a sentence.

    The outcome starts with ``delivered``, ``refused`` (a 4xx answer: retrying cannot help),
    ``failed`` (every attempt went unanswered or got 408, 429, 5xx) or ``interrupted``: ``stop``
    was set during a wait (the service is stopping) and the caller keeps the call for the next start.
    """
    import httpx

    delay, problem = FIRST_DELAY_SECONDS, ""
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        for attempt in range(1, ATTEMPTS + 1):
            answer = _post_signed(client, url, body, secret)
            if isinstance(answer, int) and 200 <= answer < 300:
                return f"delivered: HTTP {answer} at attempt {attempt}"
            problem = f"HTTP {answer}" if isinstance(answer, int) else answer
            if isinstance(answer, int) and answer < 500 and answer not in _RETRIED:
                return f"refused: {problem} at attempt {attempt}"
            logger.warning("webhook %s: attempt %d: %s", url, attempt, problem)
            if attempt < ATTEMPTS and stop.wait(delay):
                return "interrupted"
            delay *= 2
    return f"failed: {problem} after {ATTEMPTS} attempts"


def _post_signed(client: httpx.Client, url: str, body: bytes, secret: str) -> int | str:
    """One signed POST: the answer's status, or the name of the transport error."""
    import httpx

    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"docfields/{__version__}",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret.encode(), body, timestamp),
    }
    try:
        return client.post(url, content=body, headers=headers).status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__
