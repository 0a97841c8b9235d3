"""A page prepared for OCR (cropped, deskewed, resampled) still gets boxes of the page the user gave.

Words are drawn at known places on a low-resolution page, which is then framed in black and
turned, as a skewed fax-era scan; the real Tesseract reads it through every preparation step,
and each word's box must land on that word in the original image.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import reportlab
from PIL import Image, ImageDraw, ImageFont, ImageOps

from docfields.documents import open_document
from docfields.ocr import load_engine
from docfields.ocr.accuracy import box_iou
from docfields.textract import NormBox, iter_pages, iter_words

VERA = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")
DPI = 110
TURN = 2.0
WORDS = [("Invoice", 0.6, 0.5), ("Balance", 2.4, 0.5), ("Customer", 0.6, 1.6), ("Payment", 2.4, 1.6),
         ("Account", 0.6, 2.7), ("Amount", 2.4, 2.7)]  # fmt: skip


def draw_words(words) -> Image.Image:
    page = Image.new("L", (round(4.5 * DPI), round(3.5 * DPI)), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(VERA, round(14 * DPI / 72))
    for text, x, y in words:
        draw.text((x * DPI, y * DPI), text, fill=0, font=font)
    return page


def as_scan(page: Image.Image) -> Image.Image:
    """Frame in black and turn, as a skewed scan with a dark scanner edge."""
    framed = ImageOps.expand(page, border=40, fill=0)
    return framed.rotate(-TURN, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=0)


def ink_box(image: Image.Image) -> NormBox:
    left, top, right, bottom = ImageOps.invert(image).getbbox()
    return NormBox(left / image.width, top / image.height, (right - left) / image.width, (bottom - top) / image.height)


@pytest.fixture(scope="module")
def scan_png() -> bytes:
    buffer = io.BytesIO()
    as_scan(draw_words(WORDS)).save(buffer, "PNG")
    return buffer.getvalue()


def true_box(word: tuple[str, float, float]) -> NormBox:
    """Where one word's ink lands in the scan: drawn alone, framed white, turned with a white fill."""
    alone = ImageOps.expand(draw_words([word]), border=40, fill=255)
    return ink_box(alone.rotate(-TURN, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255))


def test_boxes_of_a_cropped_deskewed_resampled_page_land_on_the_words(scan_png: bytes):
    engine = load_engine("tesseract", remove_borders=True, deskew=True)
    with open_document(scan_png, name="scan.png") as document:
        result = engine.process(document)
    details = next(iter_pages(result)).model_extra["OcrDetails"]
    assert details["Steps"] == ["remove-borders", "deskew", "resample"]
    assert details["DeskewAngle"] == pytest.approx(TURN, abs=0.4)
    assert details["ResampledDpi"] > DPI
    read = {word.text: word.geometry.bounding_box for word in iter_words(result)}
    for word in WORDS:
        assert word[0] in read, f"{word[0]} not read: {sorted(read)}"
        box = read[word[0]]
        assert box_iou(NormBox(box.left, box.top, box.width, box.height), true_box(word)) >= 0.5, word[0]


def test_a_page_without_preparation_records_its_resolution_and_calibration(shared_data: Path):
    engine = load_engine("tesseract", normalize_resolution=False)
    with open_document(str(shared_data / "ocr" / "phototest.tif")) as document:
        details = next(iter_pages(engine.process(document))).model_extra["OcrDetails"]
    assert set(details) == {"Resolution", "Confidence"}
    assert details["Resolution"]["Source"] == "declared"
    assert details["Confidence"].startswith("calibrated: chance the word is right")
