"""The OCR engine registry: names from the ``docfields.ocr_engines`` entry-point group.

Listing names imports no engine, so a missing optional library only fails when that engine is
used. A third party adds an engine by declaring an entry point in that group.
"""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from docfields.errors import OcrError, UnknownEngineError
from docfields.ocr.base import OcrEngine, OcrOptions

ENTRY_POINT_GROUP = "docfields.ocr_engines"


def engine_entry_points() -> dict[str, EntryPoint]:
    """Registered engines by name; two different engines under one name is an error."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        known = found.get(point.name)
        if known is not None and known.value != point.value:
            raise OcrError(f"OCR engine name {point.name!r} is registered twice: {known.value} and {point.value}")
        found[point.name] = point
    return found


def available_engines() -> list[str]:
    """Names of the registered engines, sorted."""
    return sorted(engine_entry_points())


def engine_class(name: str) -> type[OcrEngine]:
    """The engine class registered under ``name``."""
    points = engine_entry_points()
    if name not in points:
        known = ", ".join(sorted(points)) or "none (is docfields installed?)"
        raise UnknownEngineError(f"unknown OCR engine {name!r}; known engines: {known}")
    cls = points[name].load()
    if not (isinstance(cls, type) and issubclass(cls, OcrEngine)):
        raise OcrError(f"entry point {name!r} ({points[name].value}) is not an OcrEngine class")
    return cls


def check_engine_options(name: str, **options: Any) -> OcrOptions:
    """Validate an engine's name and options without building the engine (no model loads)."""
    from pydantic import ValidationError

    cls = engine_class(name)
    try:
        return cls.options_class(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise OcrError(f"invalid options for OCR engine {name!r}: {problems}") from exc


def load_engine(name: str, **options: Any) -> OcrEngine:
    """Build an engine from its name and options, e.g. ``load_engine("tesseract", languages=["eng"])``.

    >>> engine = load_engine("pdftext")
    >>> engine.name
    'pdftext'
    """
    return engine_class(name)(check_engine_options(name, **options))


class EngineCache:
    """Engines built once per name and options, for whoever runs many documents with them.

    Its owner decides how long engines live: a pipeline worker's ``Resources``, or the batch
    runner's worker process (and each Ray worker process that runs ``ocr_file``).
    """

    def __init__(self) -> None:
        self._engines: dict[str, OcrEngine] = {}

    def get(self, name: str, options: dict[str, Any]) -> OcrEngine:
        """The engine of that name and options, built at the first call."""
        key = json.dumps([name, options], sort_keys=True)
        if key not in self._engines:
            self._engines[key] = load_engine(name, **options)
        return self._engines[key]

    def clear(self) -> None:
        """Close and drop every engine."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


def engine_options(
    name: str, languages: list[str] | None = None, dpi: int | None = None, quality: str | None = None
) -> dict[str, Any]:
    """Route the options every command offers (languages, DPI, quality) to the engine that takes them.

    ``auto`` passes languages and DPI to its fallback engine and takes the quality itself; an engine
    without such an option gets an error that names it, rather than a silently ignored flag.
    """
    given: dict[str, Any] = {}
    if languages:
        given["languages"] = languages
    if dpi is not None:
        given["dpi"] = dpi
    if name != "auto":
        if quality is not None:
            raise OcrError(f"--quality chooses engines for the auto engine; {name!r} is one engine (use --engine auto)")
        return given
    return ({"fallback_options": given} if given else {}) | ({"quality": str(quality)} if quality else {})
