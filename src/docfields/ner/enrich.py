"""Enrichment: every WORD of a Textract JSON gets the tagger's class probabilities.

The output is the input document with, on each classified WORD block (DESIGN.md, "Enriched WORD
blocks"): ``ClassificationProbabilities`` (``num_labels`` floats: the mean of its sub-token
probabilities, averaged over overlapping windows), ``PredictedClass`` (the argmax) and
``PredictedClassConfidence`` (the max). Whatever could not be classified is listed in the
top-level ``Warnings``, so a consumer knows which words carry no prediction and why.

Options follow the original endpoint: ``TargetPageNum`` (1-based) classifies one page only;
with ``TargetPageOnly`` the output holds only that page's blocks, renumbered as page 1, and
``DocumentMetadata.Pages`` is 1. Pages are batched together: windows of all selected pages are
run in length-sorted batches.

>>> tagger = Tagger.load("models/cord")  # doctest: +SKIP
>>> enrich_file("receipt.json", "receipt.enriched.json", tagger)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_pascal

from docfields.errors import DocumentError, TextractFormatError
from docfields.ner.data import PageExample, page_example, word_box
from docfields.ner.model import Tagger
from docfields.textract import (
    TextractDocument,
    iter_pages,
    page_words,
    parse_textract,
    read_textract,
    textract_to_dict,
    validate_textract,
    write_textract,
)

logger = logging.getLogger(__name__)

ENRICH_KEYS = ("ClassificationProbabilities", "PredictedClass", "PredictedClassConfidence")
REQUEST_KEYS = ("Content", "S3Input", "S3Output", "S3Thumbnails", "TargetPageNum", "TargetPageOnly")


class EnrichOptions(BaseModel):
    """Which pages to classify and how to run the model; PascalCase request keys accepted."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")

    target_page_num: int | None = Field(default=None, ge=1, description="Classify only this page (1-based)")
    target_page_only: bool = Field(default=False, description="Output only the target page's blocks")
    batch_size: int = Field(default=8, ge=1, description="Windows per model call")
    bf16: bool = Field(default=False, description="bfloat16 autocast on the CPU: faster on CPUs with bf16, less "
                       "exact (a GPU with native bf16 always uses it)")


def _selected_pages(document: TextractDocument, options: EnrichOptions, source: str) -> list[int]:
    count = sum(1 for _ in iter_pages(document))
    if options.target_page_only and options.target_page_num is None:
        raise DocumentError(source, "TargetPageOnly needs a TargetPageNum")
    if options.target_page_num is None:
        return list(range(1, count + 1))
    if options.target_page_num > count:
        raise DocumentError(source, f"TargetPageNum {options.target_page_num} outside 1..{count}")
    return [options.target_page_num]


def _page_examples(
    document: TextractDocument, pages: list[int], warnings: list[str]
) -> tuple[list[PageExample], set[str]]:
    """One example per selected page, and the ids of WORDs left out for want of a Geometry."""
    examples, skipped = [], set()
    for number in pages:
        words = page_words(document, number)
        usable = [word for word in words if word_box(word) is not None]
        if len(usable) < len(words):
            skipped.update(word.id for word in words if word_box(word) is None)
            warnings.append(f"page {number}: {len(words) - len(usable)} WORD block(s) without Geometry not classified")
        examples.append(page_example(usable, document="<input>", page=number))
    return examples, skipped


def _predictions(examples: list[PageExample], probabilities: list[np.ndarray]) -> dict[str, np.ndarray]:
    by_id = {}
    for example, rows in zip(examples, probabilities, strict=True):
        for block_id, row in zip(example.block_ids, rows, strict=True):
            if np.isfinite(row).all():
                by_id[block_id] = row
    return by_id


def write_prediction(block: dict[str, Any], row: np.ndarray) -> None:
    """Write one WORD dict's enrichment keys from its class probabilities (the class is their argmax)."""
    best = int(row.argmax())
    block["ClassificationProbabilities"] = [float(p) for p in row]
    block["PredictedClass"] = best
    block["PredictedClassConfidence"] = float(row[best])


def _annotate(
    data: dict[str, Any], by_id: dict[str, np.ndarray], pages: list[int], skipped: set[str], warnings: list[str]
) -> None:
    """Write the enrichment keys into the WORD dicts; count other words of selected pages left out."""
    missed: Counter[int] = Counter()
    for block in data["Blocks"]:
        if block.get("BlockType") != "WORD":
            continue
        row = by_id.get(block.get("Id", ""))
        if row is None and block.get("Id") not in skipped:
            page = block.get("Page") or 1  # synchronous Textract omits Page on one-page documents
            missed[page] += page in pages
        if row is not None:
            write_prediction(block, row)
    for page, count in sorted(missed.items()):
        if count:
            warnings.append(f"page {page}: {count} WORD block(s) not reached from a LINE not classified")


def _only_page(data: dict[str, Any], page: int) -> dict[str, Any]:
    """The target page's blocks alone, renumbered as page 1 of a one-page document."""
    blocks = [block for block in data["Blocks"] if (block.get("Page") or 1) == page]
    for block in blocks:
        if "Page" in block:
            block["Page"] = 1
    return {**data, "Blocks": blocks, "DocumentMetadata": {**data["DocumentMetadata"], "Pages": 1}}


def enrich(
    document: TextractDocument, tagger: Tagger, options: EnrichOptions | None = None, source: str = "<json>"
) -> TextractDocument:
    """A copy of ``document`` whose WORDs carry the tagger's class probabilities.

    Raises:
        DocumentError: when ``TargetPageNum`` names no page of the document (names ``source``).

    >>> enriched = enrich(read_textract("receipt.json"), Tagger.load("models/cord"))  # doctest: +SKIP
    """
    options = options or EnrichOptions()
    pages = _selected_pages(document, options, source)
    warnings: list[str] = []
    examples, skipped = _page_examples(document, pages, warnings)
    probabilities = tagger.predict(examples, batch_size=options.batch_size, bf16=options.bf16)
    data = textract_to_dict(document)
    _annotate(data, _predictions(examples, probabilities), pages, skipped, warnings)
    if options.target_page_only and options.target_page_num is not None:
        data = _only_page(data, options.target_page_num)
    if warnings:
        data["Warnings"] = [*(data.get("Warnings") or []), *warnings]
        logger.warning("%s: %s", source, "; ".join(warnings))
    logger.debug("%s: classified %d words on %d page(s)", source, sum(len(e.words) for e in examples), len(pages))
    return parse_textract(data, source)


def _request_document(body: dict[str, Any]) -> tuple[TextractDocument, str]:
    if "Content" in body:
        content = body["Content"]
        if not isinstance(content, dict):
            raise TextractFormatError("<request>: Content must be a Textract JSON object")
        return parse_textract(content, "<request>.Content"), "<request>.Content"
    if "S3Input" in body:
        location = body["S3Input"] if isinstance(body["S3Input"], dict) else {}
        uri = location.get("S3Uri") or (f"s3://{location['Bucket']}/{location['Key']}" if {"Bucket", "Key"} <=
                                        set(location) else None)  # fmt: skip
        if not uri:
            raise TextractFormatError("<request>: S3Input needs S3Uri, or Bucket and Key")
        return read_textract(uri), uri
    root = {key: value for key, value in body.items() if key not in REQUEST_KEYS}
    return parse_textract(root, "<request>"), "<request>"


def enrich_request(body: dict[str, Any], tagger: Tagger, batch_size: int = 8, bf16: bool = False) -> dict[str, Any]:
    """The original endpoint's contract: a Textract JSON, ``{"Content": ...}`` or ``{"S3Input": ...}``.

    Options (``TargetPageNum``, ``TargetPageOnly``) come from the body's root; option keys are
    stripped from a root-level document. ``S3Output`` and ``S3Thumbnails`` are not acted on here
    (a text-and-layout model reads no image): they are named in ``Warnings``.
    """
    try:
        options = EnrichOptions.model_validate({**body, "batch_size": batch_size, "bf16": bf16})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TextractFormatError(f"<request>: {problems}") from exc
    document, source = _request_document(body)
    validate_textract(document, source)  # as the CLI does: NaN boxes, dangling CHILD ids, bad ranges
    result = textract_to_dict(enrich(document, tagger, options, source))
    ignored = [key for key in ("S3Output", "S3Thumbnails") if key in body]
    if ignored:
        result["Warnings"] = [*(result.get("Warnings") or []), f"{', '.join(ignored)} ignored by this service"]
    return result


def enrich_file(source: str, output: str, tagger: Tagger, options: EnrichOptions | None = None) -> TextractDocument:
    """Read a Textract JSON (path or fsspec URL), enrich it and write the result atomically."""
    enriched = enrich(read_textract(source), tagger, options, source)
    write_textract(enriched, output)
    return enriched
