"""Reading and writing artifacts on local paths or any fsspec URL, with atomic writes.

A batch that is killed half-way must never leave a half-written JSON behind, or a rerun would
take it for finished work: local writes go to a temporary file in the same folder and are renamed
into place. Object stores (``s3://`` ...) already replace an object in one PUT.

Reading refuses anything that is not a regular file before opening it: ``open()`` on a FIFO waits
for a writer for ever, and a device never ends. Folder walks (``list_files``) report such entries,
dangling or looping symlinks and unreadable folders instead of skipping them silently.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from docfields.errors import DocumentError, OutputError

FOLDER = "is a folder, not a file"
_KINDS = {
    stat.S_IFDIR: FOLDER,
    stat.S_IFIFO: "is a FIFO (named pipe), not a regular file",
    stat.S_IFSOCK: "is a socket, not a regular file",
    stat.S_IFCHR: "is a character device, not a regular file",
    stat.S_IFBLK: "is a block device, not a regular file",
}


def is_local(url: str) -> bool:
    """Tell whether ``url`` is a plain path or a ``file://`` URL."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> Path:
    """Turn a plain path or ``file://`` URL into a Path."""
    return Path(url.removeprefix("file://"))


def absolute(url: str) -> str:
    """A local path made absolute (manifests written here are read from other folders); URLs as given."""
    return os.path.realpath(local_path(url)) if is_local(url) else url  # Path.resolve raises on a symlink loop


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` for URLs and the OS separator for local paths."""
    if is_local(base) and not base.startswith("file://"):
        return str(Path(base, *parts))
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def relative_inside(folder: str, url: str) -> str | None:
    """``url`` relative to ``folder`` once ``..`` and symlinks are resolved, or None if not strictly inside.

    Outputs named by users' data (manifest references, file names) must never land elsewhere.
    """
    if is_local(folder) != is_local(url):
        return None
    if is_local(folder):
        try:
            base, target = Path(absolute(folder)), Path(absolute(url))
        except ValueError:  # a NUL byte: not a usable place anyway
            return None
        return target.relative_to(base).as_posix() if target != base and target.is_relative_to(base) else None
    (protocol, path), (base_protocol, base) = url.split("://", 1), folder.split("://", 1)
    base, path = posixpath.normpath("/" + base).rstrip("/") + "/", posixpath.normpath("/" + path)
    return path.removeprefix(base) if protocol == base_protocol and path.startswith(base) else None


def check_output_folder(url: str) -> None:
    """Refuse an output folder that exists as something else (a file, a FIFO), before any work.

    Without this a batch fails deep inside its first write with ``NotADirectoryError``.
    """
    if is_local(url):
        path = local_path(url)
        blocked = path.exists() and not path.is_dir()
    else:
        import fsspec

        fs, remote = fsspec.core.url_to_fs(url)
        blocked = fs.exists(remote) and not fs.isdir(remote)
    if blocked:
        raise OutputError(f"{url}: exists and is not a folder (name a folder for the output)")


def read_bytes(url: str) -> bytes:
    """Read a whole file from a local path or fsspec URL; a FIFO or device raises ``DocumentError``."""
    if is_local(url):
        return _read_regular_file(url)
    import fsspec

    with fsspec.open(url, "rb") as handle:
        return handle.read()


def _read_regular_file(url: str) -> bytes:
    """Check the kind of file before opening it, and again on the opened descriptor (no race).

    ``O_NONBLOCK`` makes the open of a FIFO return at once instead of waiting for a writer.
    """
    path = local_path(url)
    kind = _KINDS.get(stat.S_IFMT(path.stat().st_mode))
    if kind is None:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        kind = _KINDS.get(stat.S_IFMT(os.fstat(fd).st_mode))
        if kind is None:
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb") as handle:
                return handle.read()
        os.close(fd)
    raise DocumentError(url, kind)


@dataclass(frozen=True)
class FileProblem:
    """An entry of a folder walk that is not a readable file or folder, and why."""

    path: Path
    reason: str


def file_problem(path: Path) -> str | None:
    """None for a regular file (or a symlink to one), ``FOLDER`` for a folder, else what is wrong."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if path.is_symlink():
            return f"dangling symlink (points to {os.readlink(path)}, which does not exist)"
        return f"cannot read: {exc.strerror}"
    if stat.S_ISREG(mode):
        return None
    return FOLDER if stat.S_ISDIR(mode) else _KINDS.get(stat.S_IFMT(mode), "is not a regular file")


def list_files(root: Path, exclude: tuple[Path, ...] = ()) -> tuple[list[Path], list[FileProblem]]:
    """Regular files under ``root`` (recursive, hidden entries skipped, symlinks followed), sorted.

    FIFOs, sockets, devices, dangling symlinks, symlinks that lead back to a folder above them
    and folders that cannot be listed come back as problems: a batch reports them and goes on.
    ``exclude`` names folders not to enter, directly or through a symlink (an output folder
    inside the input folder).
    """
    files: list[Path] = []
    problems: list[FileProblem] = []
    stack: list[tuple[Path, frozenset[tuple[int, int]]]] = [(root, frozenset())]
    while stack:
        folder, above = stack.pop()
        info = folder.stat()
        here = (info.st_dev, info.st_ino)
        if here in above:
            problems.append(FileProblem(folder, "symlink loop: leads back to a folder above it"))
            continue
        try:
            names = sorted(entry.name for entry in os.scandir(folder))
        except OSError as exc:
            problems.append(FileProblem(folder, f"cannot list the folder: {exc.strerror}"))
            continue
        for path in (folder / name for name in names if not name.startswith(".")):
            problem = file_problem(path)
            if problem is None:
                files.append(path)
            elif problem == FOLDER:
                if path not in exclude and path.resolve() not in exclude:
                    stack.append((path, above | {here}))
            else:
                problems.append(FileProblem(path, problem))
    return sorted(files, key=str), sorted(problems, key=lambda p: str(p.path))


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
    _publish(url, lambda handle: handle.write(data))


@contextmanager
def open_atomic(url: str) -> Iterator[BinaryIO]:
    """A binary file to write piece by piece; it appears at ``url`` whole when the block ends.

    For outputs too big to hold in memory (a long document's Textract JSON). The pieces go to a
    temporary file without a name (beside a local target), which vanishes with the process if it
    is killed half-way; at the end its bytes are published as ``write_bytes_atomic`` does. An
    exception leaves the old file (or none) and no temporary file.
    """
    folder = None
    if is_local(url):
        folder = local_path(url).parent
        _make_folder(local_path(url))
    with tempfile.TemporaryFile(dir=folder) as staged:
        yield staged
        staged.seek(0)
        _publish(url, lambda handle: shutil.copyfileobj(staged, handle, 2**20))


def _publish(url: str, write: Callable[[BinaryIO], object]) -> None:
    """Local: ``write`` into a temporary file beside the target, renamed into place; else one put."""
    if not is_local(url):
        import fsspec

        fs, path = fsspec.core.url_to_fs(url)
        fs.makedirs(fs._parent(path), exist_ok=True)
        with fs.open(path, "wb") as handle:
            write(handle)
        return
    target = local_path(url)
    _make_folder(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_folder(target: Path) -> None:
    """Create the folder of ``target``; a file standing in the way is an ``OutputError`` naming it."""
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise OutputError(f"{blocker}: exists and is not a folder (cannot write {target})") from exc


def write_text_atomic(url: str, text: str) -> None:
    """Write UTF-8 text atomically (see ``write_bytes_atomic``)."""
    write_bytes_atomic(url, text.encode("utf-8"))
