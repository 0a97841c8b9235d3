"""What stands between a stranger and the models: the API token and the request size limit.

The size limit is an ASGI middleware, so it acts before any body is read: a ``Content-Length``
over the limit is answered 413 at once, and a body sent without one (chunked) is counted as it
streams in and cut off with 413 as soon as it passes the limit; nothing holds more than the
limit in memory. (FastAPI's own ``max_body_size`` does the same but answers a bare "Content
Too Large" that does not say what the limit is.)
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from docfields.serve.dependencies import get_settings
from docfields.serve.settings import ServeSettings

TOKEN_HEADERS = ("Authorization: Bearer <token>", "X-API-Key: <token>")


def require_token(request: Request, settings: Annotated[ServeSettings, Depends(get_settings)]) -> None:
    """Let the request through when no token is configured or when it carries the right one.

    The token may come as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``; the
    comparison takes the same time whatever the guess.
    """
    if settings.api_token is None:
        return
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    given = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "")
    if not secrets.compare_digest(given.encode(), settings.api_token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"missing or wrong API token: send {' or '.join(TOKEN_HEADERS)}",
            headers={"WWW-Authenticate": "Bearer"},
        )


def too_large_message(limit: int, size: str) -> str:
    """The 413 detail: how big the body is and what the limit is."""
    return f"request body too large: {size}, over the limit of {limit:,} bytes ({limit / 2**20:.1f} MiB)"


class RequestTooLarge(HTTPException):
    """Raised while a body streams in; an HTTPException, so FastAPI answers it with 413 and its detail."""

    def __init__(self, limit: int, received: int) -> None:
        message = too_large_message(limit, f"more than {received:,} bytes received")
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, detail=message)


class BodyLimitMiddleware:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413, before reading them."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_413(send, too_large_message(self.max_bytes, f"{declared:,} bytes (Content-Length)"))
            return
        received = 0

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes, received)
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Any, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status.HTTP_413_CONTENT_TOO_LARGE, "headers": headers})
    await send({"type": "http.response.body", "body": body})
