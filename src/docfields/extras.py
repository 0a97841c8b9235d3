"""Optional parts of docfields (pip extras) and the one-line hint when one is missing.

The core package OCRs a corpus with nothing but its own dependencies; the service, the models,
RapidOCR, AWS Textract and Ray come with extras (``pip install 'docfields[ray]'``). A command that
needs one calls ``require`` at the CLI edge, before any work, so a missing extra is one line naming
the install command and an exit code, never an ``ImportError`` traceback from deep inside.
"""

from __future__ import annotations

import importlib

from docfields.errors import MissingExtraError

#: The modules each extra provides, in the order they are checked (pyproject.toml lists the packages).
EXTRAS: dict[str, tuple[str, ...]] = {
    "ray": ("ray",),
    "serve": ("fastapi", "uvicorn", "jinja2"),
    "ml": ("torch", "transformers"),
    "rapidocr": ("rapidocr", "onnxruntime"),
    "aws": ("boto3",),
}


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f"pip install 'docfields[{extra}]'"


def require(extra: str, purpose: str) -> None:
    """Import the modules of ``extra``, or raise ``MissingExtraError`` naming the install command.

    The modules are imported, not just looked up: an install that is present but broken (a missing
    dependency of its own) fails here too, with the import error in the message.

    >>> require("ray", "--ray")  # doctest: +SKIP
    """
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(
                extra, f"{purpose} needs the {extra} extra: {install_hint(extra)} ({exc})"
            ) from exc
