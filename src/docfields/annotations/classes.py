"""Class names to class ids, read minimally from a field configuration.

Label Studio stores label *names*; training needs class *ids*. The field configuration (JSON list
of ``{"ClassId": 0, "Name": "Provider Name", ...}``, snake_case accepted) is the one place that
maps them. Only those two keys are read here: the full model lives with field consolidation,
which comes after annotations in the flow and must not be imported from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docfields.annotations.base import parse_json, read_text
from docfields.annotations.model import ProblemKind
from docfields.errors import AnnotationError


def _key(entry: Mapping[str, Any], pascal: str, snake: str, where: str) -> Any:
    for key in (pascal, snake):
        if key in entry:
            return entry[key]
    raise AnnotationError(where, f"no {pascal!r} key (keys: {', '.join(entry)})", kind=ProblemKind.SCHEMA)


def _entry(entry: Any, where: str) -> tuple[str, int]:
    if not isinstance(entry, Mapping):
        raise AnnotationError(where, f"a field must be a JSON object, not {type(entry).__name__}", ProblemKind.SCHEMA)
    class_id, name = _key(entry, "ClassId", "class_id", where), _key(entry, "Name", "name", where)
    if not isinstance(class_id, int) or isinstance(class_id, bool) or class_id < 0:
        raise AnnotationError(where, f"ClassId must be an integer >= 0, not {class_id!r}", ProblemKind.SCHEMA)
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
    """Name -> ClassId from a field configuration file (local path or fsspec URL).

    >>> read_class_ids("cord/fields.json")["menu.nm"]  # doctest: +SKIP
    0
    """
    fields = parse_json(read_text(url), url)
    if not isinstance(fields, list):
        raise AnnotationError(url, "a field configuration is a JSON list of fields", kind=ProblemKind.SCHEMA)
    return class_ids_from_fields(fields, url)
