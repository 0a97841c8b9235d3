"""Page annotations as every source format delivers them: pixel boxes with a class id, per page.

Ground Truth manifests, Label Studio exports and review corrections all become the same records,
so the label rule, the validators and the ``ner`` datasets see one shape. Boxes stay in pixels
of the annotated image (as annotators drew them); they are normalised only when words are
labelled, by the image size stored beside them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from docfields.errors import AnnotationError


class WireModel(BaseModel):
    """Base of the file formats read here: keys this code does not use are kept, not dropped.

    Values are of the JSON type the format says (strict: ``"12"`` or ``true`` is no number), and
    ``NaN`` and ``Infinity``, which Python's JSON reader accepts, are refused: no coordinate, size
    or angle can be one.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False, strict=True)


class ProblemKind(StrEnum):
    """Classes of annotation problems, so a batch report can count them."""

    UNREADABLE = "unreadable"  # the manifest or export file cannot be read
    JSON = "json"  # a line or file is not valid JSON
    SCHEMA = "schema"  # keys missing or of the wrong type
    LABEL_ATTRIBUTE = "label-attribute"  # no (or no unique) label attribute on a manifest line
    BOX_OUTSIDE_IMAGE = "box-outside-image"
    NEGATIVE_BOX = "negative-box"
    UNKNOWN_CLASS = "unknown-class"  # class id outside 0..num_classes-1
    UNKNOWN_LABEL = "unknown-label"  # Label Studio label name not in the field configuration
    NO_IMAGE_SIZE = "no-image-size"
    TEXTRACT_MISSING = "textract-missing"
    TEXTRACT_INVALID = "textract-invalid"
    PAGE_OUT_OF_RANGE = "page-out-of-range"


class PageBox(BaseModel):
    """One annotation box in pixels of the annotated image, origin top-left."""

    model_config = ConfigDict(frozen=True)

    class_id: int
    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        """Right edge in pixels."""
        return self.left + self.width

    @property
    def bottom(self) -> float:
        """Bottom edge in pixels."""
        return self.top + self.height


class PageAnnotation(BaseModel):
    """The boxes drawn on one page, and where the page's words and image live.

    ``textract_ref`` and ``source_ref`` are kept as written in the source file; relative ones are
    resolved against ``ref_base`` (the manifest's folder) only when read, so that writing a page
    back gives the same references. ``where`` ("<manifest> line N") is what every error names.
    ``page_num`` None means the record names no page: allowed for one-page Textract documents.
    """

    model_config = ConfigDict(frozen=True)

    textract_ref: str
    page_num: int | None = None
    image_width: int
    image_height: int
    boxes: tuple[PageBox, ...] = ()
    raw_ref: str | None = None
    source_ref: str | None = None
    class_names: dict[int, str] = Field(default_factory=dict)
    where: str = "<annotation>"
    ref_base: str = ""


class AnnotationProblem(BaseModel):
    """One problem found while reading or labelling annotations, stored as data for a report."""

    model_config = ConfigDict(frozen=True)

    where: str
    kind: str
    message: str

    @classmethod
    def from_error(cls, error: AnnotationError) -> AnnotationProblem:
        """The problem an AnnotationError describes."""
        return cls(where=error.where, kind=error.kind, message=error.reason)

    def to_error(self) -> AnnotationError:
        """The AnnotationError to raise for this problem."""
        return AnnotationError(self.where, self.message, kind=self.kind)
