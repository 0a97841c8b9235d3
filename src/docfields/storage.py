"""Reading and writing artifacts on local paths or any fsspec URL, with atomic writes.

A batch that is killed half-way must never leave a half-written JSON behind, or a rerun would
take it for finished work: local writes go to a temporary file in the same folder and are renamed
into place. Object stores (``s3://`` ...) already replace an object in one PUT.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from docfields.errors import OutputError


def is_local(url: str) -> bool:
    """Tell whether ``url`` is a plain path or a ``file://`` URL."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> Path:
    """Turn a plain path or ``file://`` URL into a Path."""
    return Path(url.removeprefix("file://"))


def absolute(url: str) -> str:
    """A local path made absolute (manifests written here are read from other folders); URLs as given."""
    return str(local_path(url).resolve()) if is_local(url) else url


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` for URLs and the OS separator for local paths."""
    if is_local(base) and not base.startswith("file://"):
        return str(Path(base, *parts))
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def check_output_folder(url: str) -> None:
    """Refuse an output folder that exists as something else (a file, a FIFO), before any work.

    Without this a batch fails deep inside its first write with ``NotADirectoryError``.
    """
    if is_local(url):
        path = local_path(url)
        if path.exists() and not path.is_dir():
            raise OutputError(f"{url}: exists and is not a folder (name a folder for the output)")
        return
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path) and not fs.isdir(path):
        raise OutputError(f"{url}: exists and is not a folder (name a folder for the output)")


def read_bytes(url: str) -> bytes:
    """Read a whole file from a local path or fsspec URL."""
    if is_local(url):
        return local_path(url).read_bytes()
    import fsspec

    with fsspec.open(url, "rb") as handle:
        return handle.read()


def size(url: str) -> int:
    """Size in bytes without reading the file."""
    if is_local(url):
        return local_path(url).stat().st_size
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return int(fs.size(path))


def exists(url: str) -> bool:
    """Tell whether a file exists."""
    if is_local(url):
        return local_path(url).exists()
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return bool(fs.exists(path))


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write ``data`` so that readers see either the old file or the whole new one."""
    if not is_local(url):
        import fsspec

        fs, path = fsspec.core.url_to_fs(url)
        fs.makedirs(fs._parent(path), exist_ok=True)
        with fs.open(path, "wb") as handle:
            handle.write(data)
        return
    target = local_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(url: str, text: str) -> None:
    """Write UTF-8 text atomically (see ``write_bytes_atomic``)."""
    write_bytes_atomic(url, text.encode("utf-8"))
