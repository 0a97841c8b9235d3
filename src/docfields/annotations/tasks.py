"""Starting a labelling round: the pages worth labelling next, as Label Studio tasks.

``docfields ocr`` writes a pages manifest (``raw-ref``, ``textract-ref``, ``page-num``; a line
without ``page-num`` stands for every page of its document). This module picks N of its pages
and writes them as a Label Studio JSON import, with the labelling configuration made from the
field configuration (each field's ``AnnotationGuidance`` as its hint) beside it. Each task's
``data`` holds the page image and the keys ``read_labelstudio`` reads back (``textract-ref``,
``page-num``, ``raw-ref``, ``image-width``, ``image-height``), so the export of the labelled
project is training data as it is.

Which pages: the ones the tagger is least sure of (``uncertain``), the original's stratified
sample (``stratified``: first pages boosted to 40 % of the pick, as its labelling jobs did), or a
seeded uniform sample (``random``, the baseline active learning must beat). Pages already in a
labelled manifest or export (``exclude``) are never picked.

With a tagger, every task carries its predictions as pre-annotations: rectangles over the
predicted words, which the annotator corrects instead of drawing every box.

>>> export_labelstudio_tasks(LabelExportOptions(manifest="ocr/manifest.jsonl", fields="fields.json",
...                                             output="tasks.json", model="models/cord", pages=20))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import posixpath
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from docfields import storage
from docfields.annotations.base import parent_url, parse_json, read_text
from docfields.annotations.labels import word_box_matches, word_edges
from docfields.annotations.model import ProblemKind
from docfields.annotations.validate import resolve_ref
from docfields.device import DeviceChoice
from docfields.errors import AnnotationError, DocfieldsError, ModelError, TextractFormatError
from docfields.textract import Block, TextractDocument, iter_pages, line_words, page_lines, read_textract

if TYPE_CHECKING:
    from docfields.fields.config import FieldConfiguration
    from docfields.ner.data import PageExample
    from docfields.ner.model import Tagger

logger = logging.getLogger(__name__)

Strategy = Literal["uncertain", "stratified", "random"]
FIRST_PAGE_SHARE = 0.4  # the original's labelling jobs: 20 pages, 40 % of them first pages
IMAGE_WIDTH = 1200  # pixels: the review page's width, enough to read 8-point print
LOCAL_FILES_PREFIX = "/data/local-files/?d="  # Label Studio's local file serving
FROM_NAME, TO_NAME = "label", "image"  # the labelling configuration's control and object tags
PREDICTION_CHUNK = 64  # pages predicted together when scoring a whole manifest


class PageRef(BaseModel):
    """One page of a pages manifest; ``textract_ref`` is resolved (absolute), so it is the page's key."""

    model_config = ConfigDict(frozen=True)

    textract_ref: str
    page_num: int = Field(ge=1)
    raw_ref: str | None = None
    source_ref: str | None = Field(default=None, description="The page's own image, when the manifest names one")
    document: str

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the page across manifests and exports: (textract-ref, page-num)."""
        return self.textract_ref, self.page_num


class LabelExportOptions(BaseModel):
    """What ``docfields label export`` writes, and from what."""

    model_config = ConfigDict(extra="forbid")

    manifest: str = Field(description="Pages manifest (what `docfields ocr` writes): textract-ref, page-num, raw-ref")
    fields: str = Field(description="Field configuration: the labels and their hints")
    output: str = Field(description="Label Studio tasks JSON to write")
    config_output: str | None = Field(default=None, description="Labelling configuration XML (default: <output>.xml)")
    model: str | None = Field(default=None, description="Tagger directory: pre-annotations and uncertainty")
    pages: int | None = Field(default=None, ge=1, description="Pages to pick (default: every candidate)")
    strategy: Strategy | None = Field(default=None, description="Default: uncertain with a model, else stratified")
    exclude: list[str] = Field(default_factory=list, description="Labelled manifests or exports: their pages are out")
    images: str = Field(default="embed", description="'embed' (PNG data URIs) or a folder to write page PNGs into")
    image_url_prefix: str = Field(default=LOCAL_FILES_PREFIX, description="URL Label Studio fetches images under")
    image_width: int = Field(default=IMAGE_WIDTH, ge=64, le=8000, description="Width pages are rendered at")
    first_page_share: float = Field(default=FIRST_PAGE_SHARE, ge=0.0, le=1.0)
    seed: int = 0
    batch_size: int = Field(default=8, ge=1, description="Windows per model call")
    device: DeviceChoice = "auto"

    @model_validator(mode="after")
    def _strategy_needs(self) -> LabelExportOptions:
        if self.strategy == "uncertain" and self.model is None:
            raise ValueError("strategy 'uncertain' ranks pages by the tagger's doubt: it needs a model")
        return self

    @property
    def chosen_strategy(self) -> Strategy:
        """The strategy given, else ``uncertain`` with a model and ``stratified`` without."""
        return self.strategy or ("uncertain" if self.model else "stratified")


class LabelExportResult(BaseModel):
    """What was written, and how the pages were chosen."""

    tasks: str
    config: str
    candidates: int = Field(description="Pages of the manifest not excluded")
    excluded: int = Field(description="Pages of the manifest left out because they are labelled")
    picked: int
    strategy: Strategy
    first_pages: int = Field(description="Picked pages that are their document's first")
    images: str = Field(description="'embed', or the folder the page images were written to")
    model_version: str | None = None
    mean_uncertainty: float | None = Field(default=None, description="Over the picked pages, with a model")


# -- the labelling configuration ------------------------------------------------------------------------------


def labelling_config(fields: list[dict[str, Any]] | FieldConfiguration) -> str:
    """The Label Studio labelling configuration: one rectangle label per field, its guidance as the hint.

    The label values are the field names, which ``read_labelstudio`` maps back to class ids
    through the same configuration. Built with ElementTree, so names and HTML guidance are escaped.

    >>> print(labelling_config([{"ClassId": 0, "Name": "Total", "AnnotationGuidance": "<b>sum</b> due"}]))
    <View>
      <Image name="image" value="$image" zoom="true" />
      <RectangleLabels name="label" toName="image">
        <Label value="Total" hint="&lt;b&gt;sum&lt;/b&gt; due" />
      </RectangleLabels>
    </View>
    """
    from docfields.fields.config import FieldConfiguration, parse_field_configuration

    if not isinstance(fields, FieldConfiguration):
        fields = parse_field_configuration(fields, check_locations=False)  # normalizers play no part here
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=TO_NAME, value="$image", zoom="true")
    labels = ET.SubElement(view, "RectangleLabels", name=FROM_NAME, toName=TO_NAME)
    for spec in sorted(fields.fields, key=lambda s: s.class_id):
        hint = {"hint": spec.annotation_guidance} if spec.annotation_guidance else {}
        ET.SubElement(labels, "Label", value=spec.name, **hint)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


# -- the pages manifest and the labelled pages ----------------------------------------------------------------


def _records(url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) of a JSON-lines manifest, or of the tasks' ``data`` of a Label Studio JSON list."""
    text = read_text(url)
    if text.lstrip().startswith("["):
        for index, task in enumerate(parse_json(text, url)):
            data = task.get("data") if isinstance(task, dict) else None
            yield f"{url} task #{index}", data if isinstance(data, dict) else {}
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            record = parse_json(line, f"{url} line {number}")
            yield f"{url} line {number}", record if isinstance(record, dict) else {}


def _key_value(record: dict[str, Any], name: str) -> Any:
    return record.get(name, record.get(name.replace("-", "_")))


def _textract_ref(where: str, record: dict[str, Any], base: str) -> str:
    ref = _key_value(record, "textract-ref")
    if not isinstance(ref, str) or not ref:
        reason = "no textract-ref (`docfields ocr` writes a pages manifest that has one)"
        raise AnnotationError(where, reason, ProblemKind.SCHEMA)
    return storage.absolute(resolve_ref(ref, base))


def _page_num(where: str, record: dict[str, Any]) -> int | None:
    value = _key_value(record, "page-num")
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise AnnotationError(where, f"page-num must be an integer from 1, not {value!r}", ProblemKind.SCHEMA)


def _read_textract(where: str, url: str) -> TextractDocument:
    try:
        return read_textract(url)
    except TextractFormatError as exc:
        raise AnnotationError(where, f"bad Textract file {url}: {exc}", ProblemKind.TEXTRACT_INVALID) from exc
    except DocfieldsError as exc:
        reason = f"Textract file {url} cannot be read: {exc}"
        raise AnnotationError(where, reason, ProblemKind.TEXTRACT_MISSING) from exc


def read_pages(url: str) -> list[PageRef]:
    """The pages of a pages manifest, in its order; a line without ``page-num`` gives all its document's pages.

    Raises:
        AnnotationError: naming the line, for a missing ``textract-ref``, a bad ``page-num`` or a
            Textract file that does not exist.
    """
    base, pages, seen = parent_url(url), [], set[str]()
    for where, record in _records(url):
        ref, number = _textract_ref(where, record, base), _page_num(where, record)
        if number is None:
            numbers = range(1, sum(1 for _ in iter_pages(_read_textract(where, ref))) + 1)
        else:
            if ref not in seen and not storage.exists(ref):
                raise AnnotationError(where, f"Textract file {ref} does not exist", ProblemKind.TEXTRACT_MISSING)
            numbers = range(number, number + 1)
        seen.add(ref)
        raw, source = _key_value(record, "raw-ref"), _key_value(record, "source-ref")
        raw = resolve_ref(raw, base) if isinstance(raw, str) else None
        source = resolve_ref(source, base) if isinstance(source, str) else None
        document = PurePath(raw or posixpath.dirname(ref) or ref).name
        pages += [PageRef(textract_ref=ref, page_num=n, raw_ref=raw, source_ref=source if number else None,
                          document=document) for n in numbers]  # fmt: skip
    return pages


def labelled_pages(url: str) -> set[tuple[str, int]]:
    """Keys of the pages a Ground Truth manifest or a Label Studio export (or import) names.

    Every task of an export counts, annotated or not: a page already sent to annotators is not
    sent again. A record without ``page-num`` is page 1 (the readers accept it only for one-page
    documents).
    """
    base = parent_url(url)
    return {(_textract_ref(where, record, base), _page_num(where, record) or 1) for where, record in _records(url)}


# -- choosing pages --------------------------------------------------------------------------------------------


def select_pages(
    pages: Sequence[PageRef],
    n: int,
    strategy: Strategy,
    *,
    uncertainty: Sequence[float] | None = None,
    exclude: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
    first_page_share: float = FIRST_PAGE_SHARE,
    seed: int = 0,
) -> list[PageRef]:
    """Up to ``n`` pages not in ``exclude``, in manifest order.

    - ``uncertain``: the ``n`` with the highest ``uncertainty`` (one score per page; ties go to
      the earlier page).
    - ``stratified``: the original's labelling sample. First pages carry what the rest of a
      document does not (names, dates, the summary box) and are a small share of the pages, so a
      uniform sample would show annotators few of them: ``round(n * first_page_share)`` pages are
      drawn among first pages, the rest among the others, each side topping the other up when it
      runs short.
    - ``random``: a seeded uniform sample (the baseline for the other two).
    """
    if uncertainty is not None and len(uncertainty) != len(pages):
        raise ValueError(f"{len(uncertainty)} uncertainty scores for {len(pages)} pages")
    candidates = [i for i, page in enumerate(pages) if page.key not in exclude]
    rng = random.Random(seed)
    if strategy == "uncertain":
        if uncertainty is None:
            raise ValueError("strategy 'uncertain' needs the pages' uncertainty (page_uncertainty)")
        chosen = sorted(candidates, key=lambda i: -uncertainty[i])[:n]
    elif strategy == "stratified":
        chosen = _stratified(pages, candidates, n, first_page_share, rng)
    elif strategy == "random":
        chosen = rng.sample(candidates, min(n, len(candidates)))
    else:
        raise ValueError(f"unknown strategy {strategy!r}: uncertain, stratified or random")
    return [pages[i] for i in sorted(chosen)]


def _stratified(pages: Sequence[PageRef], candidates: list[int], n: int, share: float, rng: random.Random) -> list[int]:
    firsts = [i for i in candidates if pages[i].page_num == 1]
    others = [i for i in candidates if pages[i].page_num != 1]
    n = min(n, len(candidates))
    n_first = min(len(firsts), max(round(n * share), n - len(others)))
    return rng.sample(firsts, n_first) + rng.sample(others, n - n_first)


# -- the tagger's view of the pages ---------------------------------------------------------------------------


def page_uncertainty(tagger: Tagger, examples: Sequence[PageExample], batch_size: int = 8) -> list[float]:
    """How unsure the tagger is of each page: the mean over its words of 1 - the top class probability.

    The mean of least confidence rather than entropy: it is in the unit the review threshold and
    ``PredictedClassConfidence`` use (one minus the chance the tagger's class is right, once
    calibrated), it does not grow with the number of classes, and a mean (not a sum) keeps long
    pages from winning by length alone. A page with no words scores 0: there is nothing to label.
    """
    return [_uncertainty(rows) for rows in tagger.predict(list(examples), batch_size=batch_size)]


def _uncertainty(rows: np.ndarray) -> float:
    return float(np.mean(1.0 - rows.max(axis=1))) if len(rows) else 0.0


class PageWords:
    """A page's WORDs that have a geometry (what the tagger sees), by LINE, and the tagger's example of them."""

    def __init__(self, document: TextractDocument, page: PageRef) -> None:
        from docfields.ner.data import page_example, word_box

        page_block = list(iter_pages(document))[page.page_num - 1]
        self.lines = [[w for w in line_words(document, line) if word_box(w) is not None]
                      for line in page_lines(document, page_block)]  # fmt: skip
        self.words: list[Block] = [word for line in self.lines for word in line]
        self.example = page_example(self.words, document=page.document, page=page.page_num)


def _page_words(pages: Sequence[PageRef]) -> list[PageWords]:
    documents: dict[str, TextractDocument] = {}
    result = []
    for page in pages:
        if page.textract_ref not in documents:
            documents = {page.textract_ref: _read_document(page)}  # manifests list a document's pages together
        result.append(PageWords(documents[page.textract_ref], page))
    return result


def _read_document(page: PageRef) -> TextractDocument:
    where = f"{page.document} page {page.page_num}"
    document = _read_textract(where, page.textract_ref)
    count = sum(1 for _ in iter_pages(document))
    if page.page_num > count:
        reason = f"page-num {page.page_num} is beyond {page.textract_ref}, which has {count} page(s)"
        raise AnnotationError(where, reason, ProblemKind.PAGE_OUT_OF_RANGE)
    return document


def manifest_uncertainty(tagger: Tagger, pages: Sequence[PageRef], batch_size: int = 8) -> list[float]:
    """``page_uncertainty`` of every page, a chunk of pages (and their Textract JSON) in memory at a time."""
    scores: list[float] = []
    for start in range(0, len(pages), PREDICTION_CHUNK):
        chunk = _page_words(pages[start : start + PREDICTION_CHUNK])
        scores += page_uncertainty(tagger, [page.example for page in chunk], batch_size)
        logger.info("uncertainty of %d / %d pages", len(scores), len(pages))
    return scores


# -- pre-annotations ------------------------------------------------------------------------------------------


def _runs(page: PageWords, classes: dict[str, int], other: int) -> Iterator[list[int]]:
    """Indices (into ``page.words``) of each run of consecutive words of one predicted field on a LINE."""
    start = 0
    for line in page.lines:
        run: list[int] = []
        for index in range(start, start + len(line)):
            label = classes[page.words[index].id]
            if run and classes[page.words[run[-1]].id] != label:
                yield run
                run = []
            if label != other:
                run.append(index)
        if run:
            yield run
        start += len(line)


def _whole_pixels(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boxes (page fractions, left top right bottom) grown to whole pixels of a ``size`` image.

    Ground Truth manifests hold whole pixels: a box tight around a word would be rounded into it
    on ``label import`` and could lose the word. A box on whole pixels survives the trip as it is.
    """
    scale = np.array([size[0], size[1], size[0], size[1]], dtype=float)
    pixels = boxes * scale
    grown = np.concatenate([np.floor(pixels[..., :2] + 1e-6), np.ceil(pixels[..., 2:] - 1e-6)], axis=-1)
    return grown / scale


def _rectangles(
    page: PageWords, rows: np.ndarray, other: int, size: tuple[int, int]
) -> Iterator[tuple[list[int], np.ndarray]]:
    """One rectangle (page fractions, on whole pixels) per run, or one per word where the run's would label others.

    One box per field line is what annotators draw and correct fastest; the union of a run's
    words can still cover half of a word outside the run (a word of the line below that sticks
    up), and then the run is boxed word by word, so that accepting the pre-annotations gives
    every word exactly the predicted class under the label rule.
    """
    edges = word_edges(page.words)
    classes = {word.id: int(row.argmax()) for word, row in zip(page.words, rows, strict=True)}
    for run in _runs(page, classes, other):
        box = _whole_pixels(np.concatenate([edges[run, :2].min(axis=0), edges[run, 2:].max(axis=0)]), size)
        covered = set(np.flatnonzero(word_box_matches(edges, box[None, :])[:, 0]).tolist())
        if covered == set(run):
            yield run, box
        else:
            yield from (([index], _whole_pixels(edges[index], size)) for index in run)


def prediction_results(
    page: PageWords, rows: np.ndarray, names: Sequence[str], size: tuple[int, int]
) -> list[dict[str, Any]]:
    """Label Studio ``rectanglelabels`` results for the predicted fields of one page (``size``: image pixels)."""
    width, height = size
    results = []
    for number, (run, box) in enumerate(_rectangles(page, rows, len(names), size)):
        left, top, right, bottom = (float(v) * 100.0 for v in box)
        label = names[int(rows[run[0]].argmax())]
        value = {"x": left, "y": top, "width": right - left, "height": bottom - top, "rotation": 0.0,
                 "rectanglelabels": [label]}  # fmt: skip
        results.append({"id": f"w{number}", "type": "rectanglelabels", "from_name": FROM_NAME, "to_name": TO_NAME,
                        "original_width": width, "original_height": height, "image_rotation": 0, "value": value,
                        "score": float(rows[run].max(axis=1).mean())})  # fmt: skip
    return results


# -- page images and tasks ------------------------------------------------------------------------------------


def _image_source(page: PageRef) -> tuple[str, int]:
    """The file to render and its page: the manifest's page image, else the document's page."""
    if page.source_ref:
        return page.source_ref, 1
    if page.raw_ref:
        return page.raw_ref, page.page_num
    reason = f"page {page.page_num} of {page.textract_ref}: no raw-ref nor source-ref, so no image to label on"
    raise AnnotationError(page.document, reason, ProblemKind.SCHEMA)


def render_pages(pages: Sequence[PageRef], width: int = IMAGE_WIDTH) -> Iterator[tuple[bytes, tuple[int, int]]]:
    """PNG bytes and pixel size of each page, ``width`` pixels wide; a document is opened once per run of its pages."""
    from docfields.documents import open_document
    from docfields.thumbnails import image_to_png

    opened: tuple[str, Any] | None = None
    try:
        for page in pages:
            source, number = _image_source(page)
            if opened is None or opened[0] != source:
                if opened is not None:
                    opened[1].close()
                opened = source, open_document(source)
            image = opened[1].render(number, size=(width, width * 20))
            yield image_to_png(image), image.size
    finally:
        if opened is not None:
            opened[1].close()


def _image_url(page: PageRef, png: bytes, options: LabelExportOptions) -> str:
    if options.images == "embed":
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    digest = hashlib.sha256(page.textract_ref.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    name = f"{PurePath(page.document).stem}-{digest}-p{page.page_num:04d}.png"
    storage.write_bytes_atomic(storage.join(options.images, name), png)
    prefix = options.image_url_prefix
    return prefix + name if prefix.endswith(("/", "=")) else f"{prefix}/{name}"


def _task(page: PageRef, url: str, size: tuple[int, int]) -> dict[str, Any]:
    data = {"image": url, "textract-ref": page.textract_ref, "page-num": page.page_num, "raw-ref": page.raw_ref,
            "document": page.document, "image-width": size[0], "image-height": size[1]}  # fmt: skip
    return {"data": {key: value for key, value in data.items() if value is not None}}


def _load_tagger(model: str, names: Sequence[str], fields_url: str, device: str) -> Tagger:
    from docfields.ner.model import Tagger

    tagger = Tagger.load(model, device)
    missing = [name for name in tagger.card.field_names if name not in names]
    if missing:
        raise ModelError(f"{model}: fields {', '.join(map(repr, missing))} are not in {fields_url}: "
                         "its predictions could not be labelled with them")  # fmt: skip
    return tagger


def _tasks(pages: Sequence[PageRef], options: LabelExportOptions, tagger: Tagger | None) -> list[dict[str, Any]]:
    tasks = []
    for start in range(0, len(pages), PREDICTION_CHUNK):
        chunk = pages[start : start + PREDICTION_CHUNK]
        images = list(render_pages(chunk, options.image_width))
        chunk_tasks = [_task(page, _image_url(page, png, options), size)
                       for page, (png, size) in zip(chunk, images, strict=True)]  # fmt: skip
        if tagger is not None:
            _add_predictions(chunk_tasks, _page_words(chunk), [size for _, size in images], tagger, options)
        tasks += chunk_tasks
        logger.info("prepared %d / %d tasks", len(tasks), len(pages))
    return tasks


def _add_predictions(
    tasks: list[dict[str, Any]], pages: list[PageWords], sizes: list[tuple[int, int]], tagger: Tagger,
    options: LabelExportOptions,
) -> None:  # fmt: skip
    version = PurePath(str(options.model)).name
    rows = tagger.predict([page.example for page in pages], batch_size=options.batch_size)
    for task, page, page_rows, size in zip(tasks, pages, rows, sizes, strict=True):
        results = prediction_results(page, page_rows, tagger.card.field_names, size)
        task["predictions"] = [{"model_version": version, "score": 1.0 - _uncertainty(page_rows), "result": results}]


def export_labelstudio_tasks(options: LabelExportOptions) -> LabelExportResult:
    """Pick the pages worth labelling next and write them as Label Studio tasks, with the labelling configuration.

    Raises:
        AnnotationError: a manifest line without textract-ref, or naming a Textract file that is missing.
        FieldConfigError: the field configuration is invalid (names the file, field and key).
        ModelError: the tagger cannot be loaded, or predicts fields the configuration lacks.
        DocumentError: a page image cannot be rendered (names the file).
        OutputError: the images folder exists as a file.
    """
    from docfields.fields.config import parse_field_configuration, read_field_entries

    config = parse_field_configuration(read_field_entries(options.fields), options.fields, check_locations=False)
    if options.images != "embed":
        storage.check_output_folder(options.images)
    pages = read_pages(options.manifest)
    labelled = set().union(*(labelled_pages(url) for url in options.exclude))
    candidates = [page for page in pages if page.key not in labelled]
    tagger = None if options.model is None else _load_tagger(options.model, [f.name for f in config.fields],
                                                             options.fields, options.device)  # fmt: skip
    strategy = options.chosen_strategy
    uncertainty = None
    if strategy == "uncertain" and tagger is not None:
        uncertainty = manifest_uncertainty(tagger, candidates, options.batch_size)
    picked = select_pages(candidates, options.pages or len(candidates), strategy, uncertainty=uncertainty,
                          first_page_share=options.first_page_share, seed=options.seed)  # fmt: skip
    tasks = _tasks(picked, options, tagger)
    config_url = options.config_output or str(PurePath(options.output).with_suffix(".xml"))
    storage.write_text_atomic(options.output, json.dumps(tasks, ensure_ascii=False) + "\n")
    storage.write_text_atomic(config_url, labelling_config(config) + "\n")
    scores = [t["predictions"][0]["score"] for t in tasks if "predictions" in t]
    return LabelExportResult(
        tasks=options.output, config=config_url, candidates=len(candidates), excluded=len(pages) - len(candidates),
        picked=len(picked), strategy=strategy, first_pages=sum(page.page_num == 1 for page in picked),
        images=options.images, model_version=None if options.model is None else PurePath(options.model).name,
        mean_uncertainty=1.0 - float(np.mean(scores)) if scores else None,
    )  # fmt: skip
