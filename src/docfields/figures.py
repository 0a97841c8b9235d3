"""matplotlib for the pictures docfields writes (simulator timelines, calibration plots): files only.

The Agg backend needs no display, so plots are written the same on a server, in CI and on a
laptop; a figure becomes a PNG written atomically, so a reader never sees half a picture.
"""

from __future__ import annotations

import io
from typing import Any

from docfields import storage
from docfields.errors import MissingExtraError
from docfields.extras import install_hint


def pyplot(extra: str, purpose: str) -> Any:
    """matplotlib's pyplot on the Agg backend; a missing install names the extra that brings it.

    Raises:
        MissingExtraError: ``purpose`` and the pip command of ``extra``, when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        from matplotlib import pyplot
    except ImportError as exc:
        raise MissingExtraError(extra, f"{purpose} needs matplotlib: {install_hint(extra)}") from exc
    return pyplot


def save_png(figure: Any, target: str) -> str:
    """Lay the figure out, write it to ``target`` as a PNG (atomically), close it; returns ``target``."""
    from matplotlib import pyplot

    try:
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        pyplot.close(figure)
    storage.write_bytes_atomic(target, buffer.getvalue())
    return target
