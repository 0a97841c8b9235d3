"""The field configuration: which tagger classes are fields, and how each is consolidated.

A JSON list (or ``{"Fields": [...]}``) of objects with PascalCase keys, as the original's
``FieldConfiguration`` (DESIGN.md, "Field configuration"); snake_case keys load too. docfields
adds ``Normalizer``: a built-in rule (``date:YYYY-MM-DD``, ``money:USD``, ``percent``), an http(s)
normalizer service, or a local model directory. ``NormalizerEndpoint`` + ``NormalizerPrompt`` keep the original's
spelling; the endpoint is a URL, a model directory, or a name as the original's SageMaker endpoint
names (``date-norm-endpoint``) that the caller registered (``endpoints``: name -> URL or model
directory; ``resolve_endpoint_names`` puts the target in its place). ``export_original`` writes a
configuration back with exactly the original's keys.

Validation is strict because a typo must not pass silently: an unknown key, both spellings of
one key, a value of the wrong JSON type (``"ClassId": "0"``, ``"Optional": "yes"`` are not
coerced), a ClassId outside ``0..MAX_CLASS_ID``, an unknown ``Select``, a duplicate ``ClassId``
or ``Name``, an endpoint without its prompt (or the reverse), or a normalizer name that is no
rule, URL or directory (nor, for an endpoint, a registered name) is a ``FieldConfigError`` naming
the file, the field and the key.
Normalizer models are not loaded here, only their names checked.

A configuration used for extraction may list only some of a tagger's classes; one that trains
a tagger must number its fields ``0..n-1``: ``check_tagger_classes`` applies the rule
``train ner`` applies (``fields check`` does, unless told the configuration is partial).

>>> config = parse_field_configuration([{"ClassId": 0, "Name": "Total", "Select": "Longest"}])
>>> config.fields[0].select
'longest'
"""

from __future__ import annotations

import json
import logging
import re
import reprlib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_pascal

from docfields import storage
from docfields.annotations.classes import ClassId, tagger_classes_problem
from docfields.errors import DocfieldsError, FieldConfigError

logger = logging.getLogger(__name__)

SelectStrategy = Literal["confidence", "first", "last", "longest", "shortest"]
_TOP_LEVEL_KEYS = ("Fields", "fields")
# A SageMaker endpoint name: letters, digits and inner hyphens, at most 63 characters.
ENDPOINT_NAME_PATTERN = re.compile(r"[A-Za-z0-9](?:-*[A-Za-z0-9]){0,62}")
# The keys of the original's FieldConfiguration (its constructor's arguments, PascalCase).
ORIGINAL_KEYS = ("ClassId", "Name", "Ignore", "Optional", "Select", "AnnotationGuidance", "NormalizerEndpoint",
                 "NormalizerPrompt")  # fmt: skip


class FieldSpec(BaseModel):
    """One field: a tagger class, its name in results, and how its mentions become a value."""

    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )

    class_id: ClassId = Field(description="Tagger class index (0-based, at most MAX_CLASS_ID)")
    name: str = Field(description="Field name (not blank); the key in the result's Fields")
    ignore: bool | None = Field(default=None, description="Leave out of results (words count as 'other')")
    optional: bool | None = Field(default=None, description="May be absent without forcing review")
    select: SelectStrategy | None = Field(
        default=None, description="How one value is chosen among several; None makes a multi-value field"
    )
    annotation_guidance: str | None = Field(default=None, description="HTML instructions for annotators")
    normalizer_endpoint: str | None = Field(default=None, description="Normalizer service URL (with a prompt)")
    normalizer_prompt: str | None = Field(default=None, description="Prefix put before each text for a model")
    normalizer: str | None = Field(
        default=None, description="date:<FORMAT>, money:<CURRENCY> or percent rule, service URL or model directory"
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_both_spellings(cls, data: Any) -> Any:
        """``ClassId`` and ``class_id`` in one field would otherwise report "unknown key"."""
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if info.alias in data and name in data:
                    raise ValueError(f"{info.alias}: both {info.alias} and {name} given; keep one")
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("select", mode="before")
    @classmethod
    def _lowercase_select(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_normalizer(self, info: ValidationInfo) -> FieldSpec:
        if self.normalizer_endpoint is not None and self.normalizer_prompt is None:
            raise ValueError("NormalizerEndpoint: set without NormalizerPrompt (set both, or use Normalizer)")
        if self.normalizer_prompt is not None and self.normalizer_endpoint is None and self.normalizer is None:
            raise ValueError("NormalizerPrompt: set without NormalizerEndpoint or Normalizer")
        if self.normalizer_endpoint is not None and self.normalizer is not None:
            raise ValueError("Normalizer: set together with NormalizerEndpoint; keep one of them")
        context = info.context or {}
        check_location = context.get("check_locations", True)
        for key, spec in (("NormalizerEndpoint", self.normalizer_endpoint), ("Normalizer", self.normalizer)):
            if key == "NormalizerEndpoint" and spec is not None:
                problem = _endpoint_name_problem(spec, context.get("endpoints") or {}, check_location)
            else:
                problem = None if spec is None else _normalizer_problem(spec, check_location)
            if problem:
                raise ValueError(f"{key}: {problem}")
        return self

    @property
    def normalizer_spec(self) -> str | None:
        """The normalizer to resolve: ``Normalizer``, else ``NormalizerEndpoint``."""
        return self.normalizer or self.normalizer_endpoint

    @property
    def is_multi_value(self) -> bool:
        """Without ``Select`` a field keeps every distinct value (e.g. several card names)."""
        return self.select is None


class FieldConfiguration(BaseModel):
    """All fields of one document type, in configuration order (which is the results' order)."""

    model_config = ConfigDict(frozen=True)

    fields: list[FieldSpec]

    @model_validator(mode="after")
    def _check_unique(self) -> FieldConfiguration:
        problems = _duplicate_problems(self.fields)
        if problems:
            field, key, reason = problems[0]
            raise ValueError(f"field {field}: {key}: {reason}")
        return self

    def active(self) -> list[FieldSpec]:
        """Fields not ignored, in configuration order; their index is the result's SortOrder."""
        return [spec for spec in self.fields if not spec.ignore]

    def by_class_id(self) -> dict[int, FieldSpec]:
        """Every field (ignored ones too) by ClassId."""
        return {spec.class_id: spec for spec in self.fields}

    def to_json_list(self) -> list[dict[str, Any]]:
        """The JSON list with PascalCase keys; unset (None) keys are left out."""
        return [spec.model_dump(by_alias=True, exclude_none=True) for spec in self.fields]


def is_endpoint_name(spec: str) -> bool:
    """Whether ``spec`` reads as a SageMaker endpoint name (``date-norm-endpoint``), not a URL or a path."""
    return ENDPOINT_NAME_PATTERN.fullmatch(spec.strip()) is not None


def _endpoint_name_problem(spec: str, endpoints: Mapping[str, str], check_location: bool) -> str | None:
    """Why a ``NormalizerEndpoint`` names nothing: a registered name passes, a name-shaped value that is
    no registered name (nor an existing model folder) is refused with the known names, the rest is
    checked as any normalizer."""
    name = spec.strip()
    if name in endpoints:
        return None
    if is_endpoint_name(name) and not (check_location and _is_dir(name)):
        known = ", ".join(sorted(endpoints)) or "none"
        return (f"{name!r} is not a registered normalizer endpoint name (known: {known}); register it "
                "with --normalizer-endpoint NAME=URL")  # fmt: skip
    return _normalizer_problem(spec, check_location)


def _normalizer_problem(spec: str, check_location: bool = True) -> str | None:
    """Why ``spec`` names no normalizer, or None; checks names without loading any model.

    A rule (``date:``, ``money:``, ``percent``) is built (cheap) without loading its ``model=``,
    whose location must be a URL or an existing directory, as must a plain model directory.
    Without ``check_location`` (a configuration from a client, whose locations the service checks
    by its own rule) the file system is not asked: the answer must not tell whether a server path exists.
    """
    from docfields.normalize.registry import check_rule_spec, rule_kind

    spec = spec.strip()
    if not rule_kind(spec):
        return _location_problem(spec) if check_location else None
    try:
        model = check_rule_spec(spec).options.get("model")
    except DocfieldsError as exc:
        return str(exc)
    if model is None or not check_location:
        return None
    return _location_problem(model, model_option=True)


def _location_problem(location: str, model_option: bool = False) -> str | None:
    if location.startswith(("http://", "https://")) or _is_dir(location):
        return None
    if model_option:
        return f"model={location}: neither an http(s) URL nor an existing model directory"
    return (
        f"{location!r} is not a normalizer: use date:<FORMAT> (e.g. date:YYYY-MM-DD), money:<CURRENCY>, percent, "
        "an http(s) URL, or an existing model directory"
    )


def _is_dir(location: str) -> bool:
    """``Path.is_dir`` that answers False for names no file system accepts (too long, NUL)."""
    try:
        return Path(location).is_dir()
    except (OSError, ValueError):
        return False


def _duplicate_problems(fields: list[FieldSpec]) -> list[tuple[str, str, str]]:
    """(field, key, reason) for every field whose ClassId or Name an earlier field already uses."""
    problems: list[tuple[str, str, str]] = []
    ids: dict[int, str] = {}
    names: dict[str, str] = {}
    for index, spec in enumerate(fields):
        label = _label(spec.name, index)
        if spec.class_id in ids:
            problems.append((label, "ClassId", f"{spec.class_id} is already used by field {ids[spec.class_id]}"))
        if spec.name in names:
            problems.append((label, "Name", f"already used by field {names[spec.name]}"))
        ids.setdefault(spec.class_id, label)
        names.setdefault(spec.name, label)
    return problems


def _label(name: Any, index: int) -> str:
    return f"{name!r} (index {index})" if isinstance(name, str) and name.strip() else f"index {index}"


def _error_key_and_reason(error: Any) -> tuple[str | None, str]:
    """A pydantic error as (key, reason); our validators put the key first in their message."""
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        return loc[0], "unknown key (known: " + ", ".join(_known_keys()) + ")"
    reason = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    if error["type"] not in ("value_error", "missing"):
        reason += f", not {reprlib.repr(error['input'])}"
    if not loc and ": " in reason:
        key, _, reason = reason.partition(": ")
        return key, reason
    return (".".join(loc) or None), reason


def _known_keys() -> list[str]:
    return [info.alias or name for name, info in FieldSpec.model_fields.items()]


def _parse_entry(entry: Any, index: int, source: str, context: dict[str, Any]) -> FieldSpec:
    if not isinstance(entry, dict):
        raise FieldConfigError(
            source, f"a field must be a JSON object, not {type(entry).__name__}", _label(None, index)
        )
    try:
        return FieldSpec.model_validate(entry, context=context)
    except ValidationError as exc:
        error = exc.errors()[0]
        key, reason = _error_key_and_reason(error)
        more = len(exc.errors()) - 1
        reason += f" (and {more} more problem(s) in this field)" if more else ""
        name = entry.get("Name", entry.get("name"))
        raise FieldConfigError(source, reason, _label(name, index), key) from exc


def _field_list(data: Any, source: str) -> list[Any]:
    if isinstance(data, dict):
        keys = [key for key in _TOP_LEVEL_KEYS if key in data]
        if keys and len(data) == 1:
            data = data[keys[0]]
        else:
            raise FieldConfigError(
                source, f"expected a JSON list of fields or {{'Fields': [...]}}, got keys {sorted(data)}"
            )
    if not isinstance(data, list):
        raise FieldConfigError(source, f"expected a JSON list of fields, not {type(data).__name__}")
    return data


def parse_field_configuration(
    data: Any,
    source: str = "<fields>",
    check_locations: bool = True,
    endpoints: Mapping[str, str] | None = None,
) -> FieldConfiguration:
    """A field configuration from loaded JSON (a list, or ``{"Fields": [...]}``), fully checked.

    Args:
        data: The loaded JSON.
        source: What errors name (the file, or the request).
        check_locations: Check that a normalizer's model directory exists. A service leaves this
            to its own rule for clients (which names no server path at all).
        endpoints: Registered normalizer endpoint names (name -> URL or model directory): a
            ``NormalizerEndpoint`` may hold one of them. The names stay in the configuration.

    Raises:
        FieldConfigError: naming ``source``, the field (Name or index) and the key.
    """
    context = {"check_locations": check_locations, "endpoints": dict(endpoints or {})}
    entries = enumerate(_field_list(data, source))
    fields = [_parse_entry(entry, index, source, context) for index, entry in entries]
    problems = _duplicate_problems(fields)
    if problems:
        field, key, reason = problems[0]
        raise FieldConfigError(source, reason, field, key)
    return FieldConfiguration.model_validate({"fields": fields}, context=context)


def resolve_endpoint_names(config: FieldConfiguration, endpoints: Mapping[str, str]) -> FieldConfiguration:
    """The configuration with each ``NormalizerEndpoint`` that holds a name of ``endpoints`` replaced by
    the URL or model directory registered under it (what extraction resolves), the rest unchanged."""

    def resolved(spec: FieldSpec) -> FieldSpec:
        name = (spec.normalizer_endpoint or "").strip()
        return spec.model_copy(update={"normalizer_endpoint": endpoints[name]}) if name in endpoints else spec

    return config.model_copy(update={"fields": [resolved(spec) for spec in config.fields]})


def check_tagger_classes(config: FieldConfiguration, source: str = "<fields>") -> None:
    """Refuse a configuration a tagger cannot train on: its ClassIds must be exactly ``0..n-1``.

    The rule ``train ner`` applies, so that ``fields check`` passes what training accepts; an
    extraction-only configuration may list fewer classes and need not pass it.

    Raises:
        FieldConfigError: naming ``source``, the field whose ClassId leaves a gap and ``ClassId``.
    """
    problem = tagger_classes_problem([spec.class_id for spec in config.fields])
    if problem:
        index, reason = problem
        field = None if index is None else _label(config.fields[index].name, index)
        raise FieldConfigError(source, reason, field, None if index is None else "ClassId")


def read_field_entries(url: str) -> list[Any]:
    """The entries of a field configuration file (a JSON list, or ``{"Fields": [...]}``), unchecked.

    The one reader of configuration files: the tagger, the annotation tools and the pipeline
    all see the same entries, whichever of the two shapes the file has.

    Raises:
        FieldConfigError: naming the file when it cannot be read, is not JSON, or has another shape.
    """
    try:
        raw = storage.read_bytes(url)
    except OSError as exc:
        raise FieldConfigError(url, f"cannot read the field configuration: {exc}") from exc
    return field_entries(raw, url)


def field_entries(raw: bytes, source: str) -> list[Any]:
    """The entries of a field configuration given as bytes (either shape), unchecked."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise FieldConfigError(source, f"not valid JSON: {exc}") from exc
    return _field_list(data, source)


def parse_field_configuration_bytes(
    raw: bytes, source: str, endpoints: Mapping[str, str] | None = None
) -> FieldConfiguration:
    """A field configuration from a file's bytes (either shape), fully checked (``endpoints``: as
    ``parse_field_configuration``)."""
    return parse_field_configuration(field_entries(raw, source), source=source, endpoints=endpoints)


def load_field_configuration(url: str, endpoints: Mapping[str, str] | None = None) -> FieldConfiguration:
    """Read and check a field configuration file (local path or fsspec URL); ``endpoints`` are the
    registered normalizer endpoint names its ``NormalizerEndpoint`` keys may hold.

    >>> load_field_configuration("examples/fields/credit-card.json").active()[0].name  # doctest: +SKIP
    'Agreement Effective Date'
    """
    return parse_field_configuration(read_field_entries(url), source=url, endpoints=endpoints)


def to_original_entries(config: FieldConfiguration) -> list[dict[str, Any]]:
    """The configuration as the original's post-processing loads it: exactly its keys (``ORIGINAL_KEYS``).

    The original's ``NormalizerEndpoint`` is a SageMaker endpoint name set together with its prompt:
    a field normalized by a ``Normalizer`` (a rule, a URL, a model folder) or by an endpoint that is
    a URL or a folder cannot say so there, and is written without a normalizer, with a WARNING
    naming the field.
    """
    entries = []
    for spec in config.fields:
        entry = {key: value for key, value in spec.model_dump(by_alias=True, exclude_none=True).items()
                 if key in ORIGINAL_KEYS}  # fmt: skip
        endpoint = (spec.normalizer_endpoint or "").strip()
        if spec.normalizer or (endpoint and not (is_endpoint_name(endpoint) and spec.normalizer_prompt)):
            logger.warning("field %r: its normalizer %r cannot be expressed in the original's configuration "
                           "(a SageMaker endpoint name with a prompt): written without one",
                           spec.name, spec.normalizer_spec)  # fmt: skip
            entry.pop("NormalizerEndpoint", None)
            entry.pop("NormalizerPrompt", None)
        entries.append(entry)
    return entries


def export_original(config: FieldConfiguration, url: str) -> list[dict[str, Any]]:
    """Write ``to_original_entries(config)`` atomically to ``url`` as a JSON list; returns the entries."""
    entries = to_original_entries(config)
    storage.write_text_atomic(url, json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    return entries


def credit_card_configuration() -> FieldConfiguration:
    """The original's 19-field credit-card agreement configuration, shipped with the package."""
    text = resources.files("docfields").joinpath("samples", "fields.json").read_text(encoding="utf-8")
    return parse_field_configuration(json.loads(text), source="docfields/samples/fields.json")
