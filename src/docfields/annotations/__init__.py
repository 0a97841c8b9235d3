"""Annotations: Ground Truth manifests and Label Studio exports, and the box -> word label rule.

Every source format is read into ``PageAnnotation`` records (pixel boxes with class ids, per
page), checked (boxes inside the image, known class ids), and turned into word labels against
the page's Textract JSON:

>>> pages = read_groundtruth("cord/train.manifest.jsonl", num_classes=30)  # doctest: +SKIP
>>> for page in label_pages(pages, num_classes=30):  # doctest: +SKIP
...     print(page.annotation.where, page.labels[:5])
"""

from docfields.annotations.base import AnnotationReader
from docfields.annotations.classes import class_ids_from_fields, read_class_ids
from docfields.annotations.groundtruth import (
    GroundTruthReader,
    label_attributes,
    page_to_record,
    read_groundtruth,
    write_groundtruth,
)
from docfields.annotations.labels import (
    LabelledPage,
    annotation_boxes,
    label_pages,
    page_word_labels,
    word_box_matches,
    word_edges,
    word_labels,
)
from docfields.annotations.labelstudio import (
    LabelImportResult,
    LabelStudioReader,
    import_labelstudio,
    percent_to_pixels,
    read_labelstudio,
)
from docfields.annotations.model import AnnotationProblem, PageAnnotation, PageBox, ProblemKind
from docfields.annotations.tasks import (
    LabelExportOptions,
    LabelExportResult,
    PageRef,
    export_labelstudio_tasks,
    labelled_pages,
    labelling_config,
    page_uncertainty,
    read_pages,
    select_pages,
)
from docfields.annotations.validate import (
    BOX_TOLERANCE,
    check_page,
    load_textract,
    page_number,
    page_problems,
    resolve_ref,
)
from docfields.errors import AnnotationError

__all__ = [
    "BOX_TOLERANCE",
    "AnnotationError",
    "AnnotationProblem",
    "AnnotationReader",
    "GroundTruthReader",
    "LabelExportOptions",
    "LabelExportResult",
    "LabelImportResult",
    "LabelStudioReader",
    "LabelledPage",
    "PageAnnotation",
    "PageBox",
    "PageRef",
    "ProblemKind",
    "annotation_boxes",
    "check_page",
    "class_ids_from_fields",
    "export_labelstudio_tasks",
    "import_labelstudio",
    "label_attributes",
    "label_pages",
    "labelled_pages",
    "labelling_config",
    "load_textract",
    "page_number",
    "page_problems",
    "page_to_record",
    "page_uncertainty",
    "page_word_labels",
    "percent_to_pixels",
    "read_class_ids",
    "read_groundtruth",
    "read_labelstudio",
    "read_pages",
    "resolve_ref",
    "select_pages",
    "word_box_matches",
    "word_edges",
    "word_labels",
    "write_groundtruth",
]
