"""Class names to class ids, read minimally from a field configuration.

Label Studio stores label *names*; training needs class *ids*. The field configuration (JSON list
of ``{"ClassId": 0, "Name": "Provider Name", ...}``, snake_case accepted) is the one place that
maps them. Only those two keys are read here: the full model lives with field consolidation,
which comes after annotations in the flow and must not be imported from here.

The ClassId rules live here too, because both ``train ner`` and ``fields check`` (which come
after annotations) must apply the same ones: a ClassId is a JSON integer in ``0..MAX_CLASS_ID``
(``"0"``, ``true`` or ``1e23`` are not coerced), and a tagger's classes are exactly ``0..n-1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator

from docfields.annotations.model import ProblemKind
from docfields.errors import AnnotationError

MAX_CLASS_ID = 9_999
"""ClassIds index a tagger's output layer; SageMaker Ground Truth caps a label list at 50 classes."""


def class_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a ClassId (an integer, not a boolean, string or float, in 0..MAX_CLASS_ID), or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"must be an integer, not {type(value).__name__} {value!r}"
    if not 0 <= value <= MAX_CLASS_ID:
        return f"must lie in 0..{MAX_CLASS_ID}, not {value}"
    return None


def _checked_class_id(value: Any) -> int:
    problem = class_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


ClassId = Annotated[int, BeforeValidator(_checked_class_id)]
"""A pydantic field type that applies ``class_id_problem`` (field configurations, manifest boxes)."""


def tagger_classes_problem(class_ids: Sequence[int]) -> tuple[int | None, str] | None:
    """(index of the field at fault, reason) when ``class_ids`` are not exactly ``0..n-1``, or None.

    A tagger has one output per field plus "other" at ``n``: an id past ``n-1`` would never be
    predicted, and the missing ids would be classes without a field.
    """
    if not class_ids:
        return None, "the field configuration has no field"
    count, seen = len(class_ids), set[int]()
    for index, class_id in enumerate(class_ids):
        if class_id >= count or class_id in seen:
            missing = sorted(set(range(count)) - set(class_ids))
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            return index, f"ClassIds must be 0..{count - 1} without gaps, one per field: {class_id} leaves out {shown}"
        seen.add(class_id)
    return None


def _key(entry: Mapping[str, Any], pascal: str, snake: str, where: str) -> Any:
    if pascal in entry and snake in entry:
        raise AnnotationError(where, f"both {pascal} and {snake} given; keep one", kind=ProblemKind.SCHEMA)
    for key in (pascal, snake):
        if key in entry:
            return entry[key]
    raise AnnotationError(where, f"no {pascal!r} key (keys: {', '.join(entry)})", kind=ProblemKind.SCHEMA)


def _entry(entry: Any, where: str) -> tuple[str, int]:
    if not isinstance(entry, Mapping):
        raise AnnotationError(where, f"a field must be a JSON object, not {type(entry).__name__}", ProblemKind.SCHEMA)
    class_id, name = _key(entry, "ClassId", "class_id", where), _key(entry, "Name", "name", where)
    problem = class_id_problem(class_id)
    if problem:
        raise AnnotationError(where, f"ClassId {problem}", ProblemKind.SCHEMA)
    if not isinstance(name, str) or not name:
        raise AnnotationError(where, f"Name must be a non-empty string, not {name!r}", ProblemKind.SCHEMA)
    return name, class_id


def class_ids_from_fields(fields: Sequence[Any], source: str = "<fields>") -> dict[str, int]:
    """Name -> ClassId from field configuration entries; duplicates are errors naming the field."""
    ids: dict[str, int] = {}
    for index, entry in enumerate(fields):
        where = f"{source} field {index}"
        name, class_id = _entry(entry, where)
        if name in ids:
            raise AnnotationError(where, f"field name {name!r} appears twice", kind=ProblemKind.SCHEMA)
        if class_id in ids.values():
            raise AnnotationError(where, f"ClassId {class_id} appears twice", kind=ProblemKind.SCHEMA)
        ids[name] = class_id
    return ids


def read_class_ids(url: str) -> dict[str, int]:
    """Name -> ClassId from a field configuration file (local path or fsspec URL), in either shape.

    Read by the one configuration reader (``docfields.fields.read_field_entries``), so a file
    the pipeline accepts (a list, or ``{"Fields": [...]}``) is accepted here too.

    >>> read_class_ids("cord/fields.json")["menu.nm"]  # doctest: +SKIP
    0
    """
    from docfields.errors import FieldConfigError
    from docfields.fields.config import read_field_entries

    try:
        fields = read_field_entries(url)
    except FieldConfigError as exc:
        raise AnnotationError(url, exc.reason, kind=ProblemKind.SCHEMA) from exc
    return class_ids_from_fields(fields, url)
