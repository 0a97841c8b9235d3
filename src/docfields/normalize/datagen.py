"""``docfields datagen dates`` and ``datagen money``: generated pairs written with their recipe.

The recipe (options, including the whole format table) is written beside the data as
``datagen.json`` (inside a dataset folder, or ``<file>.datagen.json`` next to a JSON-lines
file), so that a dataset found on disk months later can be generated again, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from docfields import storage
from docfields.normalize.dates import DateDataOptions, generate_date_examples
from docfields.normalize.pairs import PairFormat, guess_pair_format, write_pairs

logger = logging.getLogger(__name__)


def write_date_dataset(options: DateDataOptions, out: str | Path, fmt: PairFormat | None = None) -> Path:
    """Generate ``options.n`` date pairs and write them (dataset folder or ``.jsonl``).

    >>> write_date_dataset(DateDataOptions(n=100, seed=42), "data/dates.jsonl")  # doctest: +SKIP
    PosixPath('data/dates.jsonl')
    """
    examples = generate_date_examples(options)
    return write_dataset(examples, options, out, fmt, "Synthetic date normalization pairs (docfields datagen dates)")


class _Pair(Protocol):
    src: str
    tgt: str


def write_dataset(
    examples: Sequence[_Pair], recipe: BaseModel, out: str | Path, fmt: PairFormat | None, description: str
) -> Path:
    """Write generated (src, tgt) examples and, beside them, the options that generated them."""
    fmt = fmt or guess_pair_format(out)
    out = write_pairs([e.src for e in examples], [e.tgt for e in examples], out, fmt, description=description)
    recipe_path = out / "datagen.json" if fmt == "hf" else out.with_name(out.name + ".datagen.json")
    storage.write_text_atomic(str(recipe_path), recipe.model_dump_json(indent=2))
    logger.info("wrote %d pairs to %s (seed %s)", len(examples), out, getattr(recipe, "seed", "?"))
    return out
