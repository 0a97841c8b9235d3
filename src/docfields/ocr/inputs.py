"""What a batch reads: a folder (recursive), a glob, one file, or a JSON-lines manifest.

Each input keeps the path relative to its root, because outputs mirror it
(``<OUT>/<relative path>/consolidated.json``, the original's layout). Hidden files and folders
are skipped. Local paths and fsspec URLs are treated alike.

Relative paths never climb: a manifest's references are normalised (local ones made absolute,
``..`` resolved by name) before their common folder is taken, so ``../other/e.pdf`` beside
``sub/a.pdf`` gives ``other/e.pdf`` and ``m/sub/a.pdf``, never a path outside the output folder.
What a folder walk cannot use (FIFOs, devices, dangling or looping symlinks, unreadable
folders) comes back as an ``InputProblem``, like a bad manifest line.
"""

from __future__ import annotations

import codecs
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docfields import storage
from docfields.errors import AnnotationError, DocfieldsError

MANIFEST_SUFFIXES = (".jsonl", ".manifest")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip


@dataclass(frozen=True)
class InputItem:
    """One document to process; ``record`` is its manifest line and ``where`` names that line."""

    source: str
    relative: str
    record: dict[str, Any] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True)
class InputProblem:
    """A manifest line that names no usable document, or a folder entry that is not a file."""

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
        return _from_paths(fs, fs.glob(path), root, spec)
    if storage.is_local(spec) and os.path.isdir(path):
        return _from_local_folder(fs, Path(path), spec)
    if fs.isdir(path):
        return _from_paths(fs, fs.find(path), path, spec)
    if not fs.exists(path):
        raise DocfieldsError(f"{spec}: no such file or folder")
    if path.endswith(MANIFEST_SUFFIXES):
        return _from_manifest(spec)
    return [InputItem(source=spec, relative=posixpath.basename(path))], []


def _from_local_folder(fs: Any, root: Path, spec: str) -> tuple[list[InputItem], list[InputProblem]]:
    files, problems = storage.list_files(root)
    items = [InputItem(_full(fs, str(path), spec), path.relative_to(root).as_posix()) for path in files]
    return items, [InputProblem(str(problem.path), problem.reason) for problem in problems]


def _from_paths(fs: Any, paths: list[str], root: str, spec: str) -> tuple[list[InputItem], list[InputProblem]]:
    """Glob matches or a store's listing: files become items; local FIFOs and the like, problems."""
    items, problems = [], []
    for path in sorted(paths):
        relative = posixpath.relpath(path, root) if root else path
        if not _visible(relative):
            continue
        problem = storage.file_problem(Path(path)) if storage.is_local(spec) else None
        if problem is None and fs.isfile(path):
            items.append(InputItem(source=_full(fs, path, spec), relative=relative))
        elif problem is not None and problem != storage.FOLDER:
            problems.append(InputProblem(path, problem))
    return items, problems


def _from_manifest(spec: str) -> tuple[list[InputItem], list[InputProblem]]:
    records: list[tuple[str, dict[str, Any]]] = []
    problems = []
    for number, line in enumerate(_manifest_text(spec).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{spec} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(where, f"not JSON: {exc}"))
            continue
        reason = _raw_ref_problem(record)
        if reason is not None:
            problems.append(InputProblem(where, reason))
            continue
        records.append((where, record))
    names = _relative_names([record["raw-ref"] for _, record in records])
    items = [InputItem(r["raw-ref"], name, r, where) for (where, r), name in zip(records, names, strict=True)]
    return items, problems


def _manifest_text(spec: str) -> str:
    """The manifest decoded: UTF-8 (a BOM is dropped), or UTF-16/32 when a BOM says so.

    Anything else is refused whole, naming the line and byte, rather than guessed at: a wrong
    guess would silently turn names into other names.
    """
    data = storage.read_bytes(spec)
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0)
        line = data[:offset].count(b"\n") + 1 if encoding.startswith("utf-8") else None
        reason = (
            f"not {encoding.removesuffix('-sig').upper()} text: byte {offset} ({data[offset : offset + 1]!r}) "
            "cannot be decoded; save the manifest as UTF-8"
        )
        raise AnnotationError(f"{spec} line {line}" if line else spec, reason, "encoding") from exc


def _raw_ref_problem(record: object) -> str | None:
    """Why a manifest line names no document it could read, or None."""
    if not isinstance(record, dict) or not isinstance(record.get("raw-ref"), str) or not record["raw-ref"]:
        return "no 'raw-ref' string (the document to read)"
    ref = record["raw-ref"]
    if "\x00" in ref:
        return f"raw-ref {ref!r} contains a NUL byte"
    try:
        os.fsencode(ref)
    except UnicodeError:
        return f"raw-ref {ref!r} cannot be a file name here (unpaired surrogate)"
    if "://" in ref and not _SCHEME.fullmatch(ref.split("://", 1)[0]):
        return f"raw-ref {ref!r} is neither a path nor a URL"
    return None


def _location(ref: str) -> list[str]:
    """Where a reference points, as parts: its protocol, then folders and name, ``..`` resolved.

    Local paths are made absolute against the current folder, where they are opened.
    """
    if storage.is_local(ref):
        protocol, path = "file", os.path.abspath(storage.local_path(ref))
    else:
        protocol, rest = ref.split("://", 1)
        path = posixpath.normpath("/" + rest)
    return [protocol, *(part for part in path.split("/") if part)]


def _relative_names(refs: list[str]) -> list[str]:
    """Each reference relative to the deepest folder all share (protocol first when they differ)."""
    locations = [_location(ref) for ref in refs]
    common = len(os.path.commonprefix([location[:-1] for location in locations])) if locations else 0
    return ["/".join(location[common:]) for location in locations]
