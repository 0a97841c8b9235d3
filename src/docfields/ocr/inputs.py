"""What a batch reads: a folder (recursive), a glob, one file, or a JSON-lines manifest.

Each input keeps the path relative to its root, because outputs mirror it
(``<OUT>/<relative path>/consolidated.json``, the original's layout). Hidden files and folders
are skipped. Local paths and fsspec URLs are treated alike.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from docfields.errors import DocfieldsError

MANIFEST_SUFFIXES = (".jsonl", ".manifest")


@dataclass(frozen=True)
class InputItem:
    """One document to process; ``record`` is its manifest line, if it came from one."""

    source: str
    relative: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InputProblem:
    """A manifest line that names no usable document."""

    where: str
    reason: str


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url)


def _full(fs: Any, path: str, like: str) -> str:
    """Give a listed path the protocol of the URL it came from (plain paths stay plain)."""
    return fs.unstrip_protocol(path) if "://" in like else path


def _visible(relative: str) -> bool:
    return not any(part.startswith(".") for part in relative.split("/"))


def list_inputs(spec: str) -> tuple[list[InputItem], list[InputProblem]]:
    """Expand a folder, glob, file or manifest into documents, sorted by relative path."""
    fs, path = _fs(spec)
    if any(c in spec for c in "*?["):
        root = path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]
        return _from_paths(fs, fs.glob(path), root, spec), []
    if fs.isdir(path):
        return _from_paths(fs, fs.find(path), path, spec), []
    if not fs.exists(path):
        raise DocfieldsError(f"{spec}: no such file or folder")
    if path.endswith(MANIFEST_SUFFIXES):
        return _from_manifest(spec)
    return [InputItem(source=spec, relative=posixpath.basename(path))], []


def _from_paths(fs: Any, paths: list[str], root: str, spec: str) -> list[InputItem]:
    items = []
    for path in sorted(paths):
        relative = posixpath.relpath(path, root) if root else path
        if _visible(relative) and fs.isfile(path):
            items.append(InputItem(source=_full(fs, path, spec), relative=relative))
    return items


def _from_manifest(spec: str) -> tuple[list[InputItem], list[InputProblem]]:
    from docfields.storage import read_bytes

    records: list[tuple[int, dict[str, Any]]] = []
    problems = []
    for number, line in enumerate(read_bytes(spec).decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{spec} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(where, f"not JSON: {exc}"))
            continue
        if not isinstance(record, dict) or not isinstance(record.get("raw-ref"), str):
            problems.append(InputProblem(where, "no 'raw-ref' string (the document to read)"))
            continue
        records.append((number, record))
    root = _common_root([r["raw-ref"] for _, r in records])
    items = [InputItem(r["raw-ref"], _relative_to(r["raw-ref"], root), r) for _, r in records]
    return items, problems


def _strip(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def _common_root(refs: list[str]) -> str:
    folders = [posixpath.dirname(_strip(ref)) for ref in refs]
    if not folders:
        return ""
    try:
        return posixpath.commonpath(folders)
    except ValueError:  # absolute and relative paths mixed
        return ""


def _relative_to(ref: str, root: str) -> str:
    path = _strip(ref)
    return posixpath.relpath(path, root) if root else path.lstrip("/")
