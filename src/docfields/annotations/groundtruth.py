"""SageMaker Ground Truth bounding-box manifests: read them, and write them for other stages.

A manifest is JSON lines; each line names a page (``textract-ref``, ``page-num``, optionally
``raw-ref`` and ``source-ref``) and holds the boxes under a label attribute named after the
labelling job (``augmentation-1``, ``labels`` ...), with ``<attribute>-metadata`` beside it
(``class-map`` and job details). Review corrections and the demo corpus write the same format, so
every training path reads one thing.

>>> pages = read_groundtruth("annotations/train.manifest.jsonl", num_classes=30)  # doctest: +SKIP
>>> write_groundtruth(pages, "out/train.manifest.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import Field, ValidationError

from docfields import storage
from docfields.annotations.base import AnnotationReader, parent_url, parse_json, read_text, schema_error
from docfields.annotations.classes import ClassId
from docfields.annotations.model import AnnotationProblem, PageAnnotation, PageBox, ProblemKind, WireModel
from docfields.annotations.validate import BOX_TOLERANCE, check_page
from docfields.errors import AnnotationError

DEFAULT_LABEL_ATTRIBUTE = "label"
DETECTION_TYPE = "groundtruth/object-detection"


class GroundTruthBox(WireModel):
    """One box of a Ground Truth result, in pixels (``label`` and other keys are kept)."""

    class_id: ClassId
    left: float
    top: float
    width: float
    height: float


class GroundTruthImageSize(WireModel):
    """Size in pixels of the image the boxes were drawn on."""

    width: int
    height: int
    depth: int | None = None


class GroundTruthBoxes(WireModel):
    """The value of a manifest's label attribute: one image size and the boxes drawn on it."""

    image_size: list[GroundTruthImageSize] = Field(min_length=1)
    annotations: list[GroundTruthBox] = Field(default_factory=list)


class ManifestRefs(WireModel):
    """The page references of a manifest line (kebab-case on the wire)."""

    textract_ref: str = Field(alias="textract-ref")
    page_num: int | None = Field(default=None, alias="page-num")
    raw_ref: str | None = Field(default=None, alias="raw-ref")
    source_ref: str | None = Field(default=None, alias="source-ref")


def label_attributes(record: Mapping[str, Any]) -> list[str]:
    """Keys of a manifest line whose value looks like Ground Truth boxes (image_size + annotations)."""
    wanted = {"image_size", "annotations"}
    return [key for key, value in record.items() if isinstance(value, dict) and wanted <= set(value)]


def _class_map(record: Mapping[str, Any], attribute: str, where: str) -> dict[int, str]:
    metadata = record.get(f"{attribute}-metadata")
    raw = metadata.get("class-map") if isinstance(metadata, dict) else None
    if not isinstance(raw, dict):
        return {}
    try:
        return {int(key): str(name) for key, name in raw.items()}
    except ValueError as exc:
        reason = f"{attribute}-metadata.class-map: keys must be class ids: {exc}"
        raise AnnotationError(where, reason, kind=ProblemKind.SCHEMA) from exc


def record_to_page(record: Mapping[str, Any], attribute: str, where: str, ref_base: str = "") -> PageAnnotation:
    """One manifest line (already parsed) as a PageAnnotation; errors name ``where`` and the key."""
    try:
        refs = ManifestRefs.model_validate(record)
    except ValidationError as exc:
        raise schema_error(where, exc) from exc
    try:
        label = GroundTruthBoxes.model_validate(record[attribute])
    except ValidationError as exc:
        raise schema_error(where, exc, prefix=attribute) from exc
    size = label.image_size[0]
    boxes = tuple(
        PageBox(class_id=b.class_id, left=b.left, top=b.top, width=b.width, height=b.height) for b in label.annotations
    )
    return PageAnnotation(
        textract_ref=refs.textract_ref,
        page_num=refs.page_num,
        raw_ref=refs.raw_ref,
        source_ref=refs.source_ref,
        image_width=size.width,
        image_height=size.height,
        boxes=boxes,
        class_names=_class_map(record, attribute, where),
        where=where,
        ref_base=ref_base,
    )


class GroundTruthReader(AnnotationReader):
    """Reads a Ground Truth bounding-box manifest (JSON lines), one page per non-empty line.

    Args:
        url: local path or fsspec URL of the manifest.
        label_attribute: the key holding the boxes. None detects it: the one key whose value has
            ``image_size`` and ``annotations``; every line must then use the key of the first.
        num_classes: number of field classes, to reject unknown class ids (None: not checked).
        tolerance: how far a box may stray outside its image (fraction of the image side).
    """

    def __init__(
        self,
        url: str,
        label_attribute: str | None = None,
        num_classes: int | None = None,
        tolerance: float = BOX_TOLERANCE,
    ) -> None:
        super().__init__(url, num_classes, tolerance)
        self.label_attribute = label_attribute
        self._ref_base = parent_url(url)

    def _iter_samples(self) -> Iterator[tuple[str, str]]:
        for number, line in enumerate(read_text(self.url).splitlines(), start=1):
            if line.strip():
                yield f"{self.url} line {number}", line

    def _attribute(self, where: str, record: Mapping[str, Any]) -> str:
        if self.label_attribute is not None:
            if self.label_attribute not in record:
                reason = f"no label attribute {self.label_attribute!r} (keys: {', '.join(record)})"
                raise AnnotationError(where, reason, kind=ProblemKind.LABEL_ATTRIBUTE)
            return self.label_attribute
        found = label_attributes(record)
        if len(found) != 1:
            what = "several label attributes " + ", ".join(found) if found else "no label attribute"
            reason = f"{what} (a key holding image_size and annotations); name one with label_attribute"
            raise AnnotationError(where, reason, kind=ProblemKind.LABEL_ATTRIBUTE)
        self.label_attribute = found[0]
        return found[0]

    def _read_sample(self, where: str, raw: str) -> PageAnnotation:
        record = parse_json(raw, where)
        if not isinstance(record, dict):
            reason = f"a manifest line must be a JSON object, not {type(record).__name__}"
            raise AnnotationError(where, reason, kind=ProblemKind.SCHEMA)
        return record_to_page(record, self._attribute(where, record), where, self._ref_base)


def read_groundtruth(
    url: str,
    label_attribute: str | None = None,
    num_classes: int | None = None,
    problems: list[AnnotationProblem] | None = None,
) -> list[PageAnnotation]:
    """Read a Ground Truth manifest; see ``GroundTruthReader`` and ``AnnotationReader.iter_pages``.

    >>> pages = read_groundtruth("augmentation-1.manifest.jsonl")  # doctest: +SKIP
    >>> pages[0].where, len(pages[0].boxes)  # doctest: +SKIP
    ('augmentation-1.manifest.jsonl line 1', 6)
    """
    return GroundTruthReader(url, label_attribute, num_classes).read(problems)


def _pixels(box: PageBox) -> dict[str, int]:
    left, top = round(box.left), round(box.top)
    width, height = round(box.right) - left, round(box.bottom) - top
    return {"class_id": box.class_id, "left": left, "top": top, "width": width, "height": height}


def page_to_record(
    page: PageAnnotation, label_attribute: str = DEFAULT_LABEL_ATTRIBUTE, class_names: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """One page as a Ground Truth manifest line (pixel coordinates rounded to integers, as SMGT's).

    The metadata holds what SMGT consumers read (``class-map`` for the classes present, ``type``,
    ``objects``); no ``creation-date``, so that writing the same pages gives the same bytes.
    """
    names = {**page.class_names, **(class_names or {})}
    present = sorted({box.class_id for box in page.boxes})
    record: dict[str, Any] = {}
    for key, value in (("raw-ref", page.raw_ref), ("source-ref", page.source_ref)):
        if value is not None:
            record[key] = value
    record["textract-ref"] = page.textract_ref
    if page.page_num is not None:
        record["page-num"] = page.page_num
    size = {"width": page.image_width, "height": page.image_height, "depth": 3}
    record[label_attribute] = {"image_size": [size], "annotations": [_pixels(box) for box in page.boxes]}
    record[f"{label_attribute}-metadata"] = {
        "objects": [{"confidence": 0} for _ in page.boxes],
        "class-map": {str(c): names[c] for c in present if c in names},
        "type": DETECTION_TYPE,
        "human-annotated": "yes",
    }
    return record


def write_groundtruth(
    pages: Iterable[PageAnnotation],
    url: str,
    label_attribute: str = DEFAULT_LABEL_ATTRIBUTE,
    num_classes: int | None = None,
    class_names: Mapping[int, str] | None = None,
) -> int:
    """Write pages as a Ground Truth manifest, atomically; returns the number of lines.

    Every page is checked first (boxes inside the image, class ids below ``num_classes``): a
    manifest this writes is one the reader accepts.
    """
    lines = []
    for page in pages:
        check_page(page, num_classes)
        lines.append(json.dumps(page_to_record(page, label_attribute, class_names), ensure_ascii=False))
    storage.write_text_atomic(url, "".join(line + "\n" for line in lines))
    return len(lines)
