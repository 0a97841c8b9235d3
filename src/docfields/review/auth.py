"""Logins, signed session cookies and CSRF tokens for the review desk, with the standard library only.

A session is a small JSON payload (reviewer, session id, CSRF token, expiry) signed with
HMAC-SHA256 and kept in a cookie, so a forged or edited cookie fails the signature check; and
the session id must also be live in the server's ``SessionStore``, so a cookie stops working at
logout even though its signature still holds. Each signature is bound to a purpose ("session",
"login", "opened"), so a value signed for one use cannot be replayed as another. The CSRF token
lives in the session and in a hidden form field; a submission is accepted only when both match
(``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from docfields.review.settings import ReviewSettings, hash_password, verify_password

SESSION_COOKIE = "docfields_review"
LOGIN_COOKIE = "docfields_review_login"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A logged-in reviewer: their name, the session's id, the CSRF token of their forms, and when the login ends."""

    reviewer: str
    sid: str
    csrf: str
    expires: float


class Signer:
    """Signs and checks small JSON payloads for one purpose each, with an expiry."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"docfields-review\x00" + secret).digest()

    def _mac(self, purpose: str, body: str) -> str:
        message = f"{purpose}\x00{body}".encode("ascii")
        return _b64encode(hmac.new(self._key, message, hashlib.sha256).digest())

    def sign(self, purpose: str, payload: dict[str, object], seconds: float) -> str:
        """``payload`` with an expiry ``seconds`` from now, as ``<body>.<signature>``."""
        data = {**payload, "exp": time.time() + seconds}
        body = _b64encode(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac(purpose, body)}"

    def unsign(self, purpose: str, token: str | None) -> dict[str, object] | None:
        """The payload of a token signed for ``purpose`` and not expired; None otherwise."""
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            if not hmac.compare_digest(mac.encode("ascii"), self._mac(purpose, body).encode("ascii")):
                return None
            data = json.loads(_b64decode(body))
        except (ValueError, UnicodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int | float) or data["exp"] < time.time():
            return None
        return data

    def new_session(self, reviewer: str, seconds: float) -> tuple[str, Session]:
        """A fresh session for ``reviewer`` (new CSRF token) and its cookie value."""
        payload = {"u": reviewer, "sid": secrets.token_urlsafe(32), "csrf": secrets.token_urlsafe(32)}
        cookie = self.sign("session", payload, seconds)
        session = self.session(cookie)
        if session is None:
            raise ValueError(f"a session of {seconds} s expires at once")
        return cookie, session

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged or expired."""
        data = self.unsign("session", cookie) or {}
        reviewer, sid, csrf, expires = data.get("u"), data.get("sid"), data.get("csrf"), data.get("exp")
        if not (isinstance(reviewer, str) and isinstance(sid, str) and isinstance(csrf, str)):
            return None
        if not isinstance(expires, int | float):
            return None
        return Session(reviewer=reviewer, sid=sid, csrf=csrf, expires=float(expires))


class SessionStore:
    """The sessions that are live on the server: a cookie is a session only while its id is here.

    Logout deletes the id, so a copied or stolen cookie ends with the login it belongs to (a
    signed cookie alone would stay valid until it expires). The store is an SQLite file (in the
    pipeline home) so sessions survive a restart when the secret key is fixed, and every process
    of the server sees one logout. It keeps the SHA-256 of each id, not the id: the file opens no
    session, and the cookie still needs the signing key.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, reviewer TEXT, expires REAL)")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    @staticmethod
    def _digest(session: Session) -> str:
        return hashlib.sha256(session.sid.encode("utf-8")).hexdigest()

    def add(self, session: Session) -> None:
        """Make ``session`` live (and forget sessions that expired)."""
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
                       (self._digest(session), session.reviewer, session.expires))  # fmt: skip

    def active(self, session: Session) -> bool:
        """Tell whether ``session`` is live: added, not removed, not expired."""
        with self._db() as db:
            row = db.execute("SELECT reviewer FROM sessions WHERE digest = ? AND expires >= ?",
                             (self._digest(session), time.time())).fetchone()  # fmt: skip
        return row is not None and row[0] == session.reviewer

    def remove(self, session: Session) -> None:
        """End ``session``: its cookie is refused from now on."""
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE digest = ?", (self._digest(session),))


def csrf_matches(session: Session, submitted: str | None) -> bool:
    """Tell whether a form's CSRF token is the session's (constant-time comparison)."""
    return bool(submitted) and hmac.compare_digest(session.csrf.encode(), str(submitted).encode())


def signer_for(settings: ReviewSettings) -> Signer:
    """The signer of the settings' secret key, or of a random key when none is set."""
    secret = settings.secret_key.get_secret_value().encode() if settings.secret_key else os.urandom(32)
    return Signer(secret)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("docfields-no-such-user", salt=b"\x00" * 16)


def authenticate(settings: ReviewSettings, username: str, password: str) -> str | None:
    """The reviewer's name if the password matches their hash, else None.

    An unknown name costs one hash too, so response times do not tell which names exist.
    """
    stored = settings.users.get(username)
    if stored is None or not password:
        verify_password(password or "-", _dummy_hash())
        return None
    return username if verify_password(password, stored) else None


def authenticate_token(settings: ReviewSettings, token: str) -> str | None:
    """The reviewer whose access token this is, else None (every hash is checked)."""
    found = None
    for name, stored in settings.tokens.items():
        if token and verify_password(token, stored):
            found = name
    if not settings.tokens:
        verify_password(token or "-", _dummy_hash())
    return found


def throttle_key(account: str, address: str) -> str:
    """The throttle's key of a sign-in attempt: the account and the client address together.

    Not the address alone: colleagues behind one proxy share it, and one of them (or an attacker
    among them) failing five times would lock every one of them out. Not the account alone: anyone
    anywhere could lock a reviewer out by failing five times with their name. Per (account,
    address), guessing one account's password is slowed to ``limit`` tries per window from each
    address, while its owner, from their own address, still signs in, and so do colleagues behind
    the attacker's proxy under their own names. The price: an attacker with many addresses gets
    ``limit`` guesses per address; passwords are scrypt-hashed, which keeps each guess slow.
    """
    return f"{account}\x00{address}"


class LoginThrottle:
    """Refuses logins for a key (``throttle_key``) after ``limit`` failures within ``window`` seconds.

    Slows password guessing down to a few tries per window without any store; the record is
    per process, which is what a one-machine desk needs.
    """

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] < now - self.window:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        """Tell whether any of ``keys`` has used up its failures."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        """Record one failed login for each key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
