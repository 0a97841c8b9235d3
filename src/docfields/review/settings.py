"""Settings of the review desk: who may log in, who may open which task, how pages are drawn.

Secrets are never stored in clear: a password or a token is kept as a salted scrypt (or
PBKDF2) hash made by ``hash_password`` (``docfields review hash-password`` prints one), and
checked with ``verify_password``, which compares digests in constant time.

>>> settings = ReviewSettings(users={"alice": hash_password("correct horse")})  # doctest: +SKIP
>>> verify_password("correct horse", settings.users["alice"])  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from docfields import storage
from docfields.errors import ReviewError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000
_HASH_KINDS = ("scrypt", "pbkdf2_sha256")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$N$r$p$<salt>$<hash>`` (base64 parts).

    Settings files hold these, never the password: a leaked settings file must not leak logins.
    """
    if not password:
        raise ReviewError("settings", "an empty password cannot be hashed")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _digest(password: str, stored: str) -> tuple[bytes, bytes]:
    """(digest of ``password`` with the parameters of ``stored``, the stored digest)."""
    kind, *parts = stored.split("$")
    raw = password.encode("utf-8")
    if kind == "scrypt" and len(parts) == 5:
        n, r, p = (int(v) for v in parts[:3])
        salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
        return hashlib.scrypt(raw, salt=salt, n=n, r=r, p=p, dklen=len(expected)), expected
    if kind == "pbkdf2_sha256" and len(parts) == 3:
        salt, expected = base64.b64decode(parts[1]), base64.b64decode(parts[2])
        return hashlib.pbkdf2_hmac("sha256", raw, salt, int(parts[0]), dklen=len(expected)), expected
    raise ValueError(f"unknown password hash format {kind!r} (known: {', '.join(_HASH_KINDS)})")


def check_hash_format(stored: str) -> str:
    """Return ``stored`` if it parses as a hash ``verify_password`` understands; raise ValueError else."""
    kind, *parts = stored.split("$")
    expected_parts = {"scrypt": 5, "pbkdf2_sha256": 3}.get(kind)
    if expected_parts != len(parts):
        raise ValueError(
            f"not a password hash ({', '.join(_HASH_KINDS)}): make one with `docfields review hash-password`"
        )
    try:
        [int(v) for v in parts[:-2]]
        [base64.b64decode(v, validate=True) for v in parts[-2:]]
    except ValueError as exc:
        raise ValueError(f"malformed {kind} hash: {exc}") from exc
    return stored


def verify_password(password: str, stored: str) -> bool:
    """Tell whether ``password`` matches the ``stored`` hash, comparing in constant time."""
    digest, expected = _digest(password, stored)
    return hmac.compare_digest(digest, expected)


class Assignment(BaseModel):
    """Restricts matching tasks to some reviewers: ``documents`` is a glob on the id or the name."""

    model_config = ConfigDict(extra="forbid")

    documents: str = Field(description="fnmatch pattern on the document id or name, e.g. 'contracts/*'")
    reviewers: list[str] = Field(min_length=1, description="Reviewers who may open these tasks")

    def matches(self, doc_id: str, name: str) -> bool:
        """Tell whether this rule covers the document."""
        return fnmatch.fnmatchcase(doc_id, self.documents) or fnmatch.fnmatchcase(name, self.documents)


class ReviewSettings(BaseModel):
    """Everything the review desk needs besides the pipeline; the edge (CLI, service) builds it.

    A reviewer logs in with a name and password (``users``: name -> password hash) or with a
    token alone (``tokens``: name -> token hash, for a kiosk or a script). Tasks matched by an
    ``assignments`` rule are visible only to that rule's reviewers; others are open to everyone.
    """

    model_config = ConfigDict(extra="forbid")

    users: dict[str, str] = Field(default_factory=dict, description="Reviewer name -> password hash")
    tokens: dict[str, str] = Field(default_factory=dict, description="Reviewer name -> access token hash")
    assignments: list[Assignment] = Field(default_factory=list, description="Tasks restricted to some reviewers")
    secret_key: SecretStr | None = Field(
        default=None, description="Signs session cookies; None: a random key per process (logins end at restart)"
    )
    session_seconds: int = Field(default=8 * 3600, gt=0, description="How long a login lasts")
    secure_cookies: bool = Field(default=False, description="Send cookies over HTTPS only (set behind TLS)")
    threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Fields below this confidence are flagged for attention"
    )
    page_width: int = Field(default=1200, ge=200, le=4000, description="Width in pixels of rendered page images")
    cache_dir: str | None = Field(default=None, description="Rendered page cache; None: <pipeline home>/cache/review")

    @field_validator("users", "tokens")
    @classmethod
    def _hashes_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, stored in value.items():
            if not name.strip():
                raise ValueError("a reviewer name must not be empty")
            try:
                check_hash_format(stored)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        return value

    def allowed(self, reviewer: str, doc_id: str, name: str) -> bool:
        """Tell whether ``reviewer`` may open the task of this document (assignment rules)."""
        rules = [rule for rule in self.assignments if rule.matches(doc_id, name)]
        return not rules or any(reviewer in rule.reviewers for rule in rules)


def load_review_settings(url: str) -> ReviewSettings:
    """Read review settings from a JSON file; errors name the file and the key."""
    from pydantic import ValidationError

    try:
        return ReviewSettings.model_validate_json(storage.read_bytes(url))
    except FileNotFoundError as exc:
        raise ReviewError(url, "review settings file not found") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise ReviewError(url, f"invalid review settings: {problems}") from exc
