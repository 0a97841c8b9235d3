"""Reviewed results become training data: box annotations for the tagger, text pairs for normalizers.

For every reviewed document (status ``done`` with a ``Review``), each page becomes one line of a
SageMaker Ground Truth manifest (DESIGN.md, Manifests): ``raw-ref`` (the stored original),
``textract-ref`` (its OCR, copied beside the manifest), ``source-ref`` (the page rendered to
PNG beside the manifest), ``page-num``, and boxes in pixels of that PNG, one per text line of
every occurrence of every reviewed value (see ``docfields.review.locate``). Every page of a
reviewed document is written, boxes or not: the reviewer checked all fields, so a page without
boxes says truthfully that its words belong to no field. ``docfields train ner --manifest`` reads
the result as it reads any Ground Truth manifest.

Where a reviewed value corrects what a detection read, (raw text -> value) pairs are written in
the ``src_texts``/``tgt_texts`` JSON lines of ``docfields.normalize.pairs``, each source prefixed
with the field's normalizer prompt (default ``Normalize <Field>: ``, the original's convention
for review-trained normalizers).

>>> summary = export_corrections(pipeline, "review/annotations.manifest.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from docfields import storage
from docfields.annotations import PageAnnotation, PageBox, write_groundtruth
from docfields.annotations.base import parent_url
from docfields.annotations.groundtruth import DEFAULT_LABEL_ATTRIBUTE
from docfields.errors import DocfieldsError, ReviewError
from docfields.normalize.pairs import write_pairs
from docfields.pipeline.settings import DocState
from docfields.pipeline.stages import OCR
from docfields.review.flowback import is_multi
from docfields.review.locate import Claim, WordIndex, claims_for, correction_sources, locate_value, resolve_claims
from docfields.review.pages import PageImages, png_size
from docfields.textract import BoundingBox, normalized_to_pixels, read_textract

if TYPE_CHECKING:
    from docfields.pipeline import Pipeline

logger = logging.getLogger(__name__)

PAIRS_FILE = "normalizer-pairs.jsonl"


class ExportSummary(BaseModel):
    """What an export wrote, and the reviewed values it could not find on their pages."""

    manifest: str
    pairs: str
    documents: int = Field(description="Reviewed documents exported")
    pages: int = Field(description="Manifest lines (one per page)")
    boxes: int
    pair_count: int = Field(description="(raw text -> corrected value) pairs written")
    not_found: list[str] = Field(default_factory=list, description="'<doc id> <field>: <value>' not found in the OCR")
    failed: list[str] = Field(default_factory=list, description="Reviewed documents that could not be exported, why")


@dataclass
class _DocumentExport:
    pages: list[PageAnnotation] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


def _value_detections(entry: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(value, its detections) for each non-empty value of a result field."""
    if is_multi(entry):
        values = entry.get("Values") or []
        return [(str(v.get("Value", "")), list(v.get("Detections") or [])) for v in values if v.get("Value")]
    value = str(entry.get("Value") or "")
    return [(value, list(entry.get("Detections") or []))] if value else []


def _field_claims(
    doc_id: str, name: str, entry: Mapping[str, Any], index: WordIndex, prompt: str, out: _DocumentExport
) -> list[Claim]:
    """The words one field's values claim; pairs and values not found go to ``out``."""
    pairs = _value_detections(entry)
    every = [d for _, detections in pairs for d in detections]
    claims = []
    for value, detections in pairs:
        spans, source = locate_value(index, value, detections, every, single=not is_multi(entry))
        if not spans:
            out.not_found.append(f"{doc_id} {name}: {value!r}")
        claims += claims_for(int(entry["ClassId"]), spans, source, every)
        for raw in correction_sources(value, spans, source, every):
            out.sources.append(prompt + raw)
            out.targets.append(value)
    return claims


def _page_box(class_id: int, box: BoundingBox, width: int, height: int) -> PageBox:
    left, top, right, bottom = normalized_to_pixels(box, width, height)
    return PageBox(class_id=class_id, left=left, top=top, width=right - left, height=bottom - top)


class _Exporter:
    """Writes one reviewed document's pages (PNG, Textract copy) and collects its annotations."""

    def __init__(self, pipeline: Pipeline, out_dir: str, images: PageImages, prompts: Mapping[str, str]) -> None:
        self.pipeline, self.out_dir, self.images, self.prompts = pipeline, out_dir, images, prompts

    def export(self, doc_id: str, result: Mapping[str, Any]) -> _DocumentExport:
        ocr_url = self.pipeline.artifact_path(doc_id, OCR)
        if ocr_url is None:
            raise ReviewError(doc_id, "reviewed document has no OCR artifact to take word boxes from")
        textract_ref = f"textract/{doc_id}.json"
        storage.write_bytes_atomic(storage.join(self.out_dir, textract_ref), storage.read_bytes(ocr_url))
        index = WordIndex(read_textract(ocr_url))
        out = _DocumentExport()
        claims = []
        for name, entry in (result.get("Fields") or {}).items():
            prompt = self.prompts.get(name, f"Normalize {name}: ")
            claims += _field_claims(doc_id, name, entry, index, prompt, out)
        boxes: dict[int, list[tuple[int, BoundingBox]]] = {}
        for claim in resolve_claims(claims):
            boxes.setdefault(claim.span.page, []).extend((claim.class_id, box) for box in claim.span.line_boxes())
        document_url = self.pipeline.document_path(doc_id)
        for page in range(1, index.page_count + 1):
            source_ref = f"pages/{doc_id}-p{page:04d}.png"
            png = self.images.png(document_url, page)
            storage.write_bytes_atomic(storage.join(self.out_dir, source_ref), png)
            width, height = png_size(png)
            page_boxes = tuple(_page_box(c, box, width, height) for c, box in boxes.get(page, []))
            out.pages.append(
                PageAnnotation(
                    textract_ref=textract_ref, page_num=page, raw_ref=document_url, source_ref=source_ref,
                    image_width=width, image_height=height, boxes=page_boxes, where=f"{doc_id} page {page}",
                )
            )  # fmt: skip
        return out


def export_corrections(
    pipeline: Pipeline,
    out_manifest: str,
    pairs_out: str | None = None,
    prompts: Mapping[str, str] | None = None,
    images: PageImages | None = None,
    label_attribute: str = DEFAULT_LABEL_ATTRIBUTE,
) -> ExportSummary:
    """Write the manifest and normalizer pairs of every reviewed document of ``pipeline``.

    Args:
        pipeline: the pipeline whose reviewed results (status ``done`` with ``Review``) are read.
        out_manifest: the Ground Truth manifest to write; page PNGs go to ``pages/`` and Textract
            copies to ``textract/`` beside it, referenced relative to it.
        pairs_out: the pairs file (default ``normalizer-pairs.jsonl`` beside the manifest).
        prompts: normalizer prompt by field name (a field configuration's ``NormalizerPrompt``).
        images: the page renderer (default: 1200 px wide, cached under the pipeline's home).
        label_attribute: the manifest key holding the boxes.
    """
    out_dir = parent_url(out_manifest)
    pairs_out = pairs_out or storage.join(out_dir, PAIRS_FILE)
    images = images or PageImages(storage.join(pipeline.settings.home, "cache", "review"))
    exporter = _Exporter(pipeline, out_dir, images, prompts or {})
    total = _DocumentExport()
    class_names: dict[int, str] = {}
    documents = 0
    failed: list[str] = []
    for status in pipeline.list(DocState.DONE):
        result = pipeline.result(status.id)
        if not result or "Review" not in result:
            continue
        try:
            exported = exporter.export(status.id, result)
        except DocfieldsError as exc:  # one broken document must not lose the others' corrections
            logger.warning("cannot export reviewed document %s: %s", status.id, exc)
            failed.append(f"{status.id}: {exc}")
            continue
        documents += 1
        class_names.update({int(f["ClassId"]): name for name, f in result["Fields"].items()})
        total.pages += exported.pages
        total.sources += exported.sources
        total.targets += exported.targets
        total.not_found += exported.not_found
    write_groundtruth(total.pages, out_manifest, label_attribute, class_names=class_names)
    write_pairs(total.sources, total.targets, pairs_out, fmt="jsonl")
    if total.not_found:
        logger.warning("%d reviewed values not found in their OCR words", len(total.not_found))
    return ExportSummary(
        manifest=out_manifest, pairs=str(pairs_out), documents=documents, pages=len(total.pages),
        boxes=sum(len(p.boxes) for p in total.pages), pair_count=len(total.sources), not_found=total.not_found,
        failed=failed,
    )  # fmt: skip


def existing_pipeline(home: str) -> Pipeline:
    """The pipeline whose store is in ``home``; a folder without one is refused rather than made a new pipeline.

    Raises:
        ReviewError: when ``home`` holds no pipeline store.
    """
    from docfields.pipeline import Pipeline, PipelineSettings

    if not (storage.local_path(home).expanduser() / "docfields.db").is_file():
        raise ReviewError(home, "no pipeline here (no docfields.db): pass the pipeline's --home")
    return Pipeline(PipelineSettings(home=home))


def export_home(home: str, out_manifest: str, pairs_out: str | None = None, fields: str | None = None) -> ExportSummary:
    """``export_corrections`` for the pipeline in ``home``, with prompts from a field configuration file.

    Raises:
        ReviewError: when ``home`` holds no pipeline store.
    """
    from docfields.fields import load_field_configuration

    pipeline = existing_pipeline(home)
    prompts = {}
    if fields is not None:
        config = load_field_configuration(fields)
        prompts = {spec.name: spec.normalizer_prompt for spec in config.fields if spec.normalizer_prompt}
    return export_corrections(pipeline, out_manifest, pairs_out, prompts)
