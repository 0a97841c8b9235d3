"""Optional parts of docfields (pip extras) and the one-line hint when one is missing.

The core package OCRs a corpus with nothing but its own dependencies; the service, the models,
RapidOCR, AWS Textract and Ray come with extras (``pip install 'docfields[ray]'``). A command that
needs one calls ``require`` at the CLI edge, before any work, so a missing extra is one line naming
the install command and an exit code, never an ``ImportError`` traceback from deep inside.
"""

from __future__ import annotations

import importlib.util

from docfields.errors import MissingExtraError

#: The modules each extra provides, in the order they are checked (pyproject.toml lists the packages).
EXTRAS: dict[str, tuple[str, ...]] = {
    "ray": ("ray",),
    "serve": ("fastapi", "uvicorn", "jinja2"),
    "ml": ("torch", "transformers"),
    "rapidocr": ("rapidocr", "onnxruntime"),
    "aws": ("boto3",),
    "autoscale": ("yaml", "matplotlib"),
}


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f"pip install 'docfields[{extra}]'"


def require(extra: str, purpose: str) -> None:
    """Raise ``MissingExtraError`` naming the install command unless the modules of ``extra`` are there.

    The modules are looked up, not imported: importing is the caller's job, when it needs them
    (``ray`` must, for one, see settings made just before its import).

    >>> require("ray", "--ray")  # doctest: +SKIP
    """
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError) as exc:
            found, reason = False, str(exc)
        else:
            reason = f"no module named {module!r}"
        if not found:
            raise MissingExtraError(extra, f"{purpose} needs the {extra} extra: {install_hint(extra)} ({reason})")
