"""Label Studio JSON exports: rectangle labels drawn on page images.

The standard export is a JSON list of tasks. A task's ``data`` holds the image URL (``image``)
and, for docfields, the keys a manifest line has: ``textract-ref`` (required), ``page-num``,
``raw-ref``; ``image-width`` / ``image-height`` are read when no rectangle carries the image
size. Each rectangle is a result of ``type: rectanglelabels`` whose ``value`` gives ``x``, ``y``,
``width``, ``height`` in percent of the image (``original_width`` x ``original_height``),
``rotation`` in degrees clockwise about the top-left corner, and the label names. Names become
class ids through the field configuration.

Which annotation of a task counts: the one marked ``ground_truth``, else the first not cancelled
(the original's Ground Truth jobs kept the first worker's answer too). Tasks nobody annotated are
skipped, not read as "all other": an empty page would teach the model that nothing is a field.
An embedded page image (a ``data:`` URI, what ``docfields label export`` writes by default) is
not kept as the page's ``source_ref``: it would copy megabytes into every manifest line.

``import_labelstudio`` writes the pages as a Ground Truth manifest, the one format
``docfields train ner`` reads, so a labelled export goes back to training as it is.

>>> pages = read_labelstudio("export.json", "fields.json")  # doctest: +SKIP
>>> import_labelstudio("export.json", "fields.json", "labelled.manifest.jsonl").pages  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, ValidationError

from docfields import storage
from docfields.annotations.base import AnnotationReader, parent_url, parse_json, read_text, schema_error
from docfields.annotations.classes import read_class_ids
from docfields.annotations.groundtruth import DEFAULT_LABEL_ATTRIBUTE, write_groundtruth
from docfields.annotations.model import AnnotationProblem, PageAnnotation, PageBox, ProblemKind, WireModel
from docfields.annotations.validate import BOX_TOLERANCE, resolve_ref
from docfields.errors import AnnotationError

RECTANGLE_TYPE = "rectanglelabels"


class RectangleValue(WireModel):
    """A rectangle in percent (0..100) of the image, before rotation about its top-left corner."""

    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0
    rectanglelabels: list[str] = Field(min_length=1)


class LabelStudioResult(WireModel):
    """One region of an annotation; only ``rectanglelabels`` results are read."""

    id: str | None = None
    type: str
    value: dict[str, Any] = Field(default_factory=dict)
    original_width: int | None = None
    original_height: int | None = None
    image_rotation: float = 0.0


class LabelStudioAnnotation(WireModel):
    """One annotator's answer for a task."""

    id: int | str | None = None
    result: list[LabelStudioResult] = Field(default_factory=list)
    was_cancelled: bool = False
    ground_truth: bool = False


class LabelStudioTask(WireModel):
    """One exported task (older exports call the annotations ``completions``)."""

    id: int | str | None = None
    data: dict[str, Any]
    annotations: list[LabelStudioAnnotation] = Field(
        default_factory=list, validation_alias=AliasChoices("annotations", "completions")
    )


def percent_to_pixels(value: RectangleValue, width: int, height: int) -> tuple[float, float, float, float]:
    """Pixel ``(left, top, right, bottom)`` of a rectangle given in percent of a ``width`` x ``height`` image.

    A rotated rectangle becomes the upright box around it, since the label rule works on upright
    boxes; Label Studio rotates clockwise about the rectangle's top-left corner.
    """
    x, y = value.x / 100.0 * width, value.y / 100.0 * height
    w, h = value.width / 100.0 * width, value.height / 100.0 * height
    if not value.rotation:
        return x, y, x + w, y + h
    cos, sin = math.cos(math.radians(value.rotation)), math.sin(math.radians(value.rotation))
    corners = [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    xs, ys = [cx for cx, _ in corners], [cy for _, cy in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _data(data: Mapping[str, Any], name: str) -> Any:
    return data.get(name, data.get(name.replace("-", "_")))


def _is_int(value: Any) -> bool:
    """A JSON integer: ``true`` is not page 1 nor a width of 1 px."""
    return isinstance(value, int) and not isinstance(value, bool)


def _source_ref(data: Mapping[str, Any]) -> Any:
    """The page image's reference, unless it is the image itself (a ``data:`` URI)."""
    image = _data(data, "image")
    if isinstance(image, str) and image.startswith("data:"):
        image = None
    return image or _data(data, "source-ref")


def _chosen(task: LabelStudioTask) -> LabelStudioAnnotation | None:
    live = [a for a in task.annotations if not a.was_cancelled]
    marked = [a for a in live if a.ground_truth]
    return (marked or live or [None])[0]


def _image_size(where: str, results: list[LabelStudioResult], data: Mapping[str, Any]) -> tuple[int, int]:
    sizes = {(r.original_width, r.original_height) for r in results if r.original_width and r.original_height}
    if len(sizes) > 1:
        raise AnnotationError(where, f"results disagree on the image size: {sorted(sizes)}", ProblemKind.SCHEMA)
    if sizes:
        return sizes.pop()
    width, height = _data(data, "image-width"), _data(data, "image-height")
    if _is_int(width) and _is_int(height):
        return width, height
    reason = "no rectangle gives original_width/original_height: add image-width and image-height to the task data"
    raise AnnotationError(where, reason, kind=ProblemKind.NO_IMAGE_SIZE)


class LabelStudioReader(AnnotationReader):
    """Reads a Label Studio JSON export into pages, one per annotated task.

    Args:
        url: local path or fsspec URL of the export (a JSON list of tasks).
        class_ids: label name -> class id, or the URL of a field configuration to read it from.
        num_classes: number of field classes; None takes the largest class id + 1.
        tolerance: how far a box may stray outside its image (fraction of the image side).
    """

    def __init__(
        self,
        url: str,
        class_ids: Mapping[str, int] | str,
        num_classes: int | None = None,
        tolerance: float = BOX_TOLERANCE,
    ) -> None:
        ids = dict(read_class_ids(class_ids) if isinstance(class_ids, str) else class_ids)
        if num_classes is None:
            num_classes = max(ids.values(), default=-1) + 1
        super().__init__(url, num_classes, tolerance)
        self.class_ids = ids
        self.unannotated: list[str] = []  # where of each task skipped by the last read, for reports

    def _iter_samples(self) -> Iterator[tuple[str, Any]]:
        tasks = parse_json(read_text(self.url), self.url)
        if not isinstance(tasks, list):
            reason = f"not a Label Studio JSON export: expected a list of tasks, found {type(tasks).__name__}"
            raise AnnotationError(self.url, reason, kind=ProblemKind.SCHEMA)
        self.unannotated = []
        for index, task in enumerate(tasks):
            task_id = task.get("id") if isinstance(task, dict) else None
            yield f"{self.url} task {task_id if task_id is not None else f'#{index}'}", task

    def _class_id(self, where: str, result: LabelStudioResult, name: str) -> int:
        if name in self.class_ids:
            return self.class_ids[name]
        known = ", ".join(sorted(self.class_ids)[:12]) + (" ..." if len(self.class_ids) > 12 else "")
        reason = f"result {result.id}: unknown label {name!r} (the field configuration has: {known})"
        raise AnnotationError(where, reason, kind=ProblemKind.UNKNOWN_LABEL)

    def _boxes(self, where: str, result: LabelStudioResult, width: int, height: int) -> list[PageBox]:
        if result.image_rotation:
            reason = f"result {result.id}: image_rotation {result.image_rotation:g} is not supported (rotate the image)"
            raise AnnotationError(where, reason, kind=ProblemKind.SCHEMA)
        try:
            value = RectangleValue.model_validate(result.value)
        except ValidationError as exc:
            raise schema_error(where, exc, prefix=f"result {result.id}.value") from exc
        left, top, right, bottom = percent_to_pixels(value, width, height)
        size = {"left": left, "top": top, "width": right - left, "height": bottom - top}
        return [PageBox(class_id=self._class_id(where, result, name), **size) for name in value.rectanglelabels]

    def _read_sample(self, where: str, raw: Any) -> PageAnnotation | None:
        try:
            task = LabelStudioTask.model_validate(raw)
        except ValidationError as exc:
            raise schema_error(where, exc) from exc
        annotation = _chosen(task)
        if annotation is None:
            self.unannotated.append(where)
            return None
        textract_ref, page_num = _data(task.data, "textract-ref"), _data(task.data, "page-num")
        if not isinstance(textract_ref, str) or not (page_num is None or _is_int(page_num)):
            reason = "task data needs textract-ref (a string) and, if present, page-num (an integer)"
            raise AnnotationError(where, reason, kind=ProblemKind.SCHEMA)
        results = [r for r in annotation.result if r.type == RECTANGLE_TYPE]
        width, height = _image_size(where, results, task.data)
        boxes = [box for result in results for box in self._boxes(where, result, width, height)]
        names = {class_id: name for name, class_id in self.class_ids.items()}
        try:
            return PageAnnotation(
                textract_ref=textract_ref,
                page_num=page_num,
                raw_ref=_data(task.data, "raw-ref"),
                source_ref=_source_ref(task.data),
                image_width=width,
                image_height=height,
                boxes=tuple(boxes),
                class_names={box.class_id: names[box.class_id] for box in boxes},
                where=where,
                ref_base=parent_url(self.url),
            )
        except ValidationError as exc:
            raise schema_error(where, exc, prefix="data") from exc


def read_labelstudio(
    url: str,
    class_ids: Mapping[str, int] | str,
    num_classes: int | None = None,
    problems: list[AnnotationProblem] | None = None,
) -> list[PageAnnotation]:
    """Read a Label Studio JSON export; see ``LabelStudioReader`` and ``AnnotationReader.iter_pages``.

    >>> pages = read_labelstudio("export.json", {"Provider Name": 16})  # doctest: +SKIP
    """
    return LabelStudioReader(url, class_ids, num_classes).read(problems)


class LabelImportResult(BaseModel):
    """What ``import_labelstudio`` wrote, and the tasks it left out."""

    manifest: str
    pages: int = Field(description="Manifest lines written, one per annotated task")
    boxes: int
    skipped: int = Field(description="Tasks nobody annotated (or whose annotations were all cancelled)")


def _absolute_refs(page: PageAnnotation) -> PageAnnotation:
    """The page with its references resolved: the manifest may be written far from the export."""
    names = ("textract_ref", "raw_ref", "source_ref")
    refs = {name: storage.absolute(resolve_ref(ref, page.ref_base)) for name in names if (ref := getattr(page, name))}
    return page.model_copy(update={**refs, "ref_base": ""})


def import_labelstudio(
    export: str, fields: Mapping[str, int] | str, output: str, label_attribute: str = DEFAULT_LABEL_ATTRIBUTE
) -> LabelImportResult:
    """Write the annotated tasks of a Label Studio export as a Ground Truth manifest (atomically).

    Args:
        export: the project's JSON export (tasks ``docfields label export`` wrote, once labelled).
        fields: the field configuration (or label name -> class id) the project was labelled with.
        output: the manifest to write; ``docfields train ner --manifest`` reads it.
        label_attribute: the manifest key holding the boxes.

    Raises:
        AnnotationError: naming the task, for a task that cannot be read (unknown label, no image
            size, box outside the image), or naming the export when no task is annotated.
    """
    reader = LabelStudioReader(export, fields)
    pages = [_absolute_refs(page) for page in reader.read()]
    if not pages:
        reason = f"none of its {len(reader.unannotated)} task(s) is annotated: label some, then export again"
        raise AnnotationError(export, reason, kind=ProblemKind.SCHEMA)
    write_groundtruth(pages, output, label_attribute, reader.num_classes)
    return LabelImportResult(manifest=output, pages=len(pages), boxes=sum(len(page.boxes) for page in pages),
                             skipped=len(reader.unannotated))  # fmt: skip
