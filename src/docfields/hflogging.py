"""Hugging Face's own console output, kept out of the library's callers' way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' progress bars (loading, writing shards): the library never draws."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


@contextmanager
def transformers_errors_only() -> Iterator[None]:
    """Only transformers' errors: for calls whose warnings docfields reports better itself.

    Loading a pre-trained base as a tagger prints a "LOAD REPORT" table of the head weights it
    leaves and adds; ``ner.model.load_checkpoint`` checks the same keys and names the ones that matter.
    """
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
