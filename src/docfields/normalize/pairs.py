"""Reading and writing (source, target) text pairs: a Hugging Face dataset folder or JSON lines.

Both shapes have the original's columns, ``src_texts`` and ``tgt_texts``, so data generated here
trains the original's code and data exported from the original trains ours. Generated data,
review corrections and hand-written examples all go through these two functions.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from docfields import storage
from docfields.errors import NormalizerError

logger = logging.getLogger(__name__)

SRC, TGT = "src_texts", "tgt_texts"
PairFormat = Literal["hf", "jsonl"]


@dataclass(frozen=True)
class TextPairs:
    """Parallel lists of sources and targets."""

    src: list[str]
    tgt: list[str]

    def __len__(self) -> int:
        return len(self.src)


def guess_pair_format(path: str | Path) -> PairFormat:
    """JSON lines for ``*.jsonl`` / ``*.json`` files, a dataset folder otherwise."""
    return "jsonl" if str(path).endswith((".jsonl", ".json")) else "hf"


def write_pairs(
    src: Sequence[str],
    tgt: Sequence[str],
    out: str | Path,
    fmt: PairFormat | None = None,
    description: str = "",
) -> Path:
    """Write pairs atomically: readers see the old data or all of the new, never a half.

    Args:
        src: Source texts (prompts).
        tgt: Target texts, one per source.
        out: A ``.jsonl`` file or a folder for ``datasets.Dataset.save_to_disk``.
        fmt: Force a shape; by default guessed from ``out``.
        description: Stored in the dataset's info (folder shape only).
    """
    if len(src) != len(tgt):
        raise NormalizerError(f"{out}: {len(src)} sources but {len(tgt)} targets")
    out = Path(out)
    if (fmt or guess_pair_format(out)) == "jsonl":
        lines = (json.dumps({SRC: s, TGT: t}, ensure_ascii=False) for s, t in zip(src, tgt, strict=True))
        storage.write_text_atomic(str(out), "".join(f"{line}\n" for line in lines))
        return out
    from datasets import Dataset, DatasetInfo
    from datasets.utils import logging as ds_logging

    bars = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()  # a library does not draw on the user's terminal
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        info = DatasetInfo(description=description)
        Dataset.from_dict({SRC: list(src), TGT: list(tgt)}, info=info).save_to_disk(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if bars:
            ds_logging.enable_progress_bar()
    return out


def read_pairs(path: str | Path) -> TextPairs:
    """Read pairs from a JSON-lines file or a dataset folder written by ``save_to_disk``.

    Raises:
        NormalizerError: naming the path (and line) when it is missing or lacks a column.
    """
    path = Path(path)
    if not path.exists():
        raise NormalizerError(f"{path}: no such file or folder of text pairs")
    if path.is_file():
        return _read_jsonl(path)
    if not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
        files = sorted(path.glob("*.jsonl"))
        if len(files) == 1:
            return _read_jsonl(files[0])
        raise NormalizerError(f"{path}: not a dataset folder (no dataset_info.json) nor one .jsonl")
    from datasets import load_from_disk

    try:
        data = load_from_disk(str(path))
    except (OSError, ValueError) as exc:
        raise NormalizerError(f"{path}: cannot load dataset: {exc}") from exc
    missing = {SRC, TGT} - set(data.column_names)
    if missing:
        raise NormalizerError(f"{path}: dataset lacks column(s) {sorted(missing)}")
    return TextPairs([str(s) for s in data[SRC]], [str(t) for t in data[TGT]])


def _read_jsonl(path: Path) -> TextPairs:
    src, tgt = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            src.append(str(row[SRC]))
            tgt.append(str(row[TGT]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise NormalizerError(f"{path}, line {number}: expected {{{SRC!r}, {TGT!r}}}") from exc
    return TextPairs(src, tgt)
