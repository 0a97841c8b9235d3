"""Stage outputs stored by a key derived from everything that determines them.

An artifact key is the sha256 of the stage name, its input keys (the original's content hash, or
the upstream artifact's key) and the versions of what transforms them (OCR engine and docfields
version, the model directory's fingerprint, the field configuration's hash). Same key, same
output: a stage whose artifact exists is not run again, whichever document asked first, and a
changed model or configuration gets new keys without any invalidation step.

Artifacts are written atomically, so an artifact that exists is complete even after a crash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from docfields import __version__, storage

SMALL_FILE_BYTES = 4 * 2**20  # model files up to this size are hashed; bigger ones (weights) by size and mtime


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_key(stage: str, *parts: str) -> str:
    """The key of a stage's output from its inputs' keys and the versions that transform them."""
    return bytes_sha256(json.dumps([stage, __version__, *parts]).encode("utf-8"))


def model_fingerprint(directory: str | Path) -> str:
    """A tagger directory's identity: small files by content, large ones (weights) by size and mtime.

    Hashing multi-hundred-megabyte weights on every document would cost more than the
    enrichment itself; a retrained model is written anew, so its size or mtime changes.
    """
    root = Path(directory)
    entries = []
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        stat = path.stat()
        if stat.st_size <= SMALL_FILE_BYTES:
            entries.append([path.name, file_sha256(path)])
        else:
            entries.append([path.name, stat.st_size, stat.st_mtime_ns])
    return bytes_sha256(json.dumps(entries).encode("utf-8"))


class ArtifactStore:
    """Artifacts as files under one folder: ``<stage>/<key[:2]>/<key>.<ext>``, the extension the stage's own."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        """Where the artifact of ``stage`` with ``key`` is (whether or not it exists)."""
        from docfields.pipeline.stages import stage_named  # the stage table imports this module

        return self.root / stage / key[:2] / f"{key}.{stage_named(stage).extension}"

    def exists(self, stage: str, key: str) -> bool:
        """True when that artifact was written completely."""
        return self.path(stage, key).is_file()

    def write(self, stage: str, key: str, data: bytes) -> Path:
        """Write an artifact atomically and return its path."""
        target = self.path(stage, key)
        storage.write_bytes_atomic(str(target), data)
        return target

    def read(self, stage: str, key: str) -> bytes:
        """The artifact's bytes."""
        return self.path(stage, key).read_bytes()
