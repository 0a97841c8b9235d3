"""The demo corpus: determinism, ground truth read back by OCR, and the real manifest's shape."""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from docfields.documents import open_document
from docfields.ocr import ocr_document
from docfields.samples import LAYOUTS, credit_card_fields, generate_credit_card_corpus
from docfields.samples.flow import Span
from docfields.samples.layouts import MAX_PAGES, draw_agreement
from docfields.samples.scans import PageGeometry
from docfields.samples.values import draw_agreement_values
from docfields.textract import iter_words, page_words

SEED = 11
MANIFEST_KEYS = {"raw-ref", "source-ref", "page-num", "label", "label-metadata"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_credit_card_corpus(out, n=6, seed=SEED, scan_share=0.5)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def manifest_by_page(corpus: Path) -> dict[tuple[str, int], dict]:
    return {(Path(r["raw-ref"]).name, r["page-num"]): r for r in read_jsonl(corpus / "annotations.manifest.jsonl")}


def covers_half(word: tuple[float, float, float, float], box: list[int]) -> bool:
    """The word-label rule: a box covers at least half of the word's area."""
    left, top, width, height = box
    x0, y0, x1, y1 = word
    overlap = max(0.0, min(x1, left + width) - max(x0, left)) * max(0.0, min(y1, top + height) - max(y0, top))
    return overlap >= 0.5 * (x1 - x0) * (y1 - y0)


def words_in_pixels(document, page: int, width: int, height: int) -> list[tuple[str, tuple[float, ...]]]:
    words = []
    for word in page_words(document, page):
        box = word.geometry.bounding_box
        rect = (box.left * width, box.top * height, (box.left + box.width) * width, (box.top + box.height) * height)
        words.append((word.text, rect))
    return words


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "annotations.manifest.jsonl"
    }


def test_same_seed_same_corpus_byte_for_byte(corpus, tmp_path):
    again = tmp_path / "again"
    generate_credit_card_corpus(again, n=6, seed=SEED, scan_share=0.5)
    assert tree_digest(again) == tree_digest(corpus)
    manifest = (again / "annotations.manifest.jsonl").read_text().replace(str(again.resolve()), "ROOT")
    assert manifest == (corpus / "annotations.manifest.jsonl").read_text().replace(str(corpus.resolve()), "ROOT")


def test_another_seed_another_corpus(corpus, tmp_path):
    generate_credit_card_corpus(tmp_path, n=2, seed=SEED + 1, scan_share=0.0)
    other = read_jsonl(tmp_path / "truth.jsonl")
    mine = read_jsonl(corpus / "truth.jsonl")[:2]
    assert [d["fields"] for d in other] != [d["fields"] for d in mine]


def test_words_under_each_box_spell_the_value(corpus):
    """Born-digital PDFs read back with pdftext: the half-area rule recovers every value exactly."""
    pages = manifest_by_page(corpus)
    checked = Counter()
    for doc in (d for d in read_jsonl(corpus / "truth.jsonl") if not d["scan"]):
        ocr = ocr_document(str(corpus / doc["file"]), engine="pdftext")
        for number in range(1, doc["pages"] + 1):
            record = pages[(Path(doc["file"]).name, number)]
            size = record["label"]["image_size"][0]
            words = words_in_pixels(ocr, number, size["width"], size["height"])
            annotations = record["label"]["annotations"]
            boxes = [(a["class_id"], [a["left"], a["top"], a["width"], a["height"]]) for a in annotations]
            labels = [min((c for c, box in boxes if covers_half(rect, box)), default=None) for _, rect in words]
            expected: Counter = Counter()
            for mention in (m for m in doc["mentions"] if m["page"] == number):
                under = [i for box in mention["boxes"] for i, (_, rect) in enumerate(words) if covers_half(rect, box)]
                assert " ".join(words[i][0] for i in under) == mention["text"], (doc["id"], number, mention)
                assert {labels[i] for i in under} == {mention["class_id"]}
                expected[mention["class_id"]] += len(under)
                checked["boxes"] += len(mention["boxes"])
            assert Counter(label for label in labels if label is not None) == expected  # no other word is labelled
        checked["documents"] += 1
    assert checked["documents"] >= 3 and checked["boxes"] >= 40


def test_truth_fields_are_the_values_drawn(corpus):
    names = {f["Name"] for f in credit_card_fields()}
    for doc in read_jsonl(corpus / "truth.jsonl"):
        assert {"Card Name", "Provider Name"} <= set(doc["fields"]) <= names
        assert isinstance(doc["fields"]["Card Name"], list)
        for name, value in doc["fields"].items():
            values = value if isinstance(value, list) else [value]
            assert set(values) == {m["text"] for m in doc["mentions"] if m["field"] == name}
        assert 1 <= doc["pages"] <= MAX_PAGES and doc["layout"] in LAYOUTS
        assert (corpus / doc["file"]).is_file()


def test_manifest_has_the_real_ground_truth_shape(corpus, shared_data):
    real = read_jsonl(shared_data / "attp" / "augmentation-1.manifest.jsonl")[0]
    real_metadata = set(real["augmentation-1-metadata"])
    real_box_keys = set(real["augmentation-1"]["annotations"][0])
    names = {f["ClassId"]: f["Name"] for f in json.loads((corpus / "fields.json").read_text())}
    records = read_jsonl(corpus / "annotations.manifest.jsonl")
    assert len(records) == sum(d["pages"] for d in read_jsonl(corpus / "truth.jsonl"))
    for record in records:
        assert set(record) == MANIFEST_KEYS
        assert Path(record["raw-ref"]).is_absolute() and Path(record["raw-ref"]).is_file()
        size = record["label"]["image_size"][0]
        with Image.open(record["source-ref"]) as image:
            assert (size["width"], size["height"], size["depth"]) == (*image.size, len(image.getbands()))
        metadata, annotations = record["label-metadata"], record["label"]["annotations"]
        assert set(metadata) == real_metadata and metadata["type"] == "groundtruth/object-detection"
        assert len(metadata["objects"]) == len(annotations)
        assert metadata["class-map"] == {str(a["class_id"]): names[a["class_id"]] for a in annotations}
        for box in annotations:
            assert set(box) == real_box_keys and all(isinstance(v, int) for v in box.values())
            assert box["left"] >= 0 and box["top"] >= 0 and box["width"] > 0 and box["height"] > 0
            assert box["left"] + box["width"] <= size["width"] and box["top"] + box["height"] <= size["height"]


def test_batch_ocr_reads_the_manifest(corpus, tmp_path):
    from docfields.ocr import plan_batch_ocr

    plan = plan_batch_ocr(str(corpus / "annotations.manifest.jsonl"), str(tmp_path))
    assert not plan.problems
    assert {Path(task.source).name for task in plan.tasks} == {
        Path(doc["file"]).name for doc in read_jsonl(corpus / "truth.jsonl")
    }


def test_fields_json_is_the_original_configuration(corpus):
    fields = json.loads((corpus / "fields.json").read_text())
    assert fields == credit_card_fields()
    assert [f["ClassId"] for f in fields] == list(range(19))
    by_name = {f["Name"]: f for f in fields}
    keys = {"ClassId", "Name", "Ignore", "Optional", "Select", "AnnotationGuidance"}
    assert all(set(f) - {"Normalizer"} == keys for f in fields)  # Normalizer: docfields' addition
    normalizers = {n: f.get("Normalizer") for n, f in by_name.items()}
    assert normalizers["Agreement Effective Date"] == "date:YYYY-MM-DD;order=MDY"
    assert all(normalizers[n] == "percent" for n in by_name if n.startswith("APR - "))
    assert all(normalizers[n] == "money:USD" for n in by_name if n.startswith("Fee - "))
    assert sum(v is not None for v in normalizers.values()) == 1 + 7 + 6
    assert [n for n, f in by_name.items() if f["Ignore"]] == ["Fee - Other", "Min Payment Calculation", "Local Terms"]
    assert (by_name["Card Name"]["Optional"], by_name["Card Name"]["Select"]) == (False, None)
    assert (by_name["Provider Name"]["Optional"], by_name["Provider Name"]["Select"]) == (False, "longest")
    assert by_name["Agreement Effective Date"]["Select"] == "first"
    assert by_name["Fee - Foreign Transaction"]["Select"] == "shortest"


def test_scans_are_images_without_text(corpus):
    scans = [d for d in read_jsonl(corpus / "truth.jsonl") if d["scan"]]
    assert len(scans) == 3
    pages = manifest_by_page(corpus)
    for doc in scans:
        path = corpus / doc["file"]
        with open_document(str(path)) as document:
            assert document.format == {"jpg": "jpeg", "tif": "tiff", "pdf": "pdf"}[doc["format"]]
            assert document.page_count == doc["pages"]
            if document.format != "pdf":  # the page images are the decoded scan, pixel for pixel
                source = pages[(path.name, 1)]["source-ref"]
                assert document.render(1).tobytes() == Image.open(source).convert("RGB").tobytes()
        if doc["format"] == "pdf":
            assert not list(iter_words(ocr_document(str(path), engine="pdftext")))
        assert len(doc["scan_details"]["pages"]) == doc["pages"]


@pytest.mark.slow
def test_tesseract_reads_the_values_of_a_scan(corpus):
    doc = next(d for d in read_jsonl(corpus / "truth.jsonl") if d["scan"])
    record = manifest_by_page(corpus)[(Path(doc["file"]).name, 1)]
    size = record["label"]["image_size"][0]
    ocr = ocr_document(record["source-ref"], engine="tesseract")
    words = words_in_pixels(ocr, 1, size["width"], size["height"])
    mentions = [m for m in doc["mentions"] if m["page"] == 1]
    read = [" ".join(t for box in m["boxes"] for t, rect in words if covers_half(rect, box)) for m in mentions]
    exact = sum(text == m["text"] for text, m in zip(read, mentions, strict=True))
    assert exact >= 0.8 * len(mentions), list(zip(read, [m["text"] for m in mentions], strict=True))


def test_boxes_follow_a_turned_page():
    image = Image.new("L", (400, 300), 255)
    image.paste(0, (300, 50, 310, 60))  # a dark square centred on (305, 55)
    turned = image.rotate(5, resample=Image.Resampling.BILINEAR, fillcolor=255)
    ys, xs = zip(*[(y, x) for y in range(300) for x in range(400) if turned.getpixel((x, y)) < 128], strict=True)
    geometry = PageGeometry(height_pt=300 * 72 / 100, dpi=100, image_size=(400, 300), angle=5)
    x, y = geometry.point_to_pixel(305 * 72 / 100, (300 - 55) * 72 / 100)
    assert math.isclose(x, sum(xs) / len(xs), abs_tol=1.0) and math.isclose(y, sum(ys) / len(ys), abs_tol=1.0)


def test_layouts_stay_within_six_pages_and_draw_every_value():
    seen = Counter()
    for index in range(24):
        rng = random.Random(f"layouts:{index}")
        agreement = draw_agreement_values(rng)
        rendered = draw_agreement(agreement, LAYOUTS[index % len(LAYOUTS)], rng)
        assert 1 <= rendered.pages <= MAX_PAGES
        drawn = {(m.field, m.text) for m in rendered.mentions}
        values = [*agreement.values.items(), *(("Card Name", card) for card in agreement.card_names)]
        for name, value in values:
            assert (name, " ".join(value.split())) in drawn, (rendered.layout, name)
        seen[rendered.pages] += 1
    assert len(seen) >= 3


def test_a_value_glued_to_punctuation_is_refused():
    from reportlab.pdfgen.canvas import Canvas

    from docfields.samples.flow import Flow

    flow = Flow(Canvas(io.BytesIO()), (50, 50, 50, 50))
    with pytest.raises(ValueError, match="glued"):
        flow.tokens([Span("rate "), Span("19.99%", "APR - Purchases"), Span(", variable")])


def test_cli_writes_a_corpus(tmp_path):
    command = [sys.executable, "-m", "docfields.cli", "samples", "credit-cards"]
    options = ["-n", "2", "-o", str(tmp_path), "--seed", "5", "--scan-share", "0.5"]
    result = subprocess.run([*command, *options], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 (1 scanned)" in result.stdout
    assert len(read_jsonl(tmp_path / "truth.jsonl")) == 2
    for name in ("annotations.manifest.jsonl", "fields.json", "corpus.json"):
        assert (tmp_path / name).is_file()
    bad = subprocess.run([*command, "-n", "0", "-o", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2
