"""Resolution estimation and resampling on real renderings: text drawn at known resolutions and
positions (Bitstream Vera, shipped with reportlab), PNGs with true, lying and missing DPI tags,
scanned and born-digital PDFs, and the real Tesseract reading a resampled page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import reportlab
from PIL import Image, ImageDraw, ImageFont
from reportlab.pdfgen import canvas

from docfields.documents import open_document
from docfields.ocr import load_engine
from docfields.ocr.accuracy import box_iou
from docfields.ocr.resolution import ResolutionEstimate, estimate_resolution, render_for_ocr, resample
from docfields.textract import NormBox

VERA = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")
SENTENCES = (
    "Invoice number 2024-0117 for services rendered in July",
    "Please pay the total amount within thirty days",
    "Consulting hours, on-site visit and travel expenses",
    "Subtotal 1,250.00  Tax 87.50  Total due 1,337.50",
)
WORDS = (("Invoice", "Customer", "Payment"), ("Amount", "Balance", "Total"), ("Number", "Account", "Date"))
MAX_PIXELS = 40_000_000


def text_page(dpi: float, inches: tuple[float, float] = (5, 6), lines: int = 16) -> Image.Image:
    """A white page of 10.5 pt body text, as a scanner at ``dpi`` would see it."""
    image = Image.new("RGB", (round(inches[0] * dpi), round(inches[1] * dpi)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(VERA, round(10.5 * dpi / 72))
    for line in range(lines):
        draw.text((0.4 * dpi, (0.4 + line * 0.19) * dpi), SENTENCES[line % len(SENTENCES)], fill="black", font=font)
    return image


def png_bytes(image: Image.Image, dpi: float | None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return buffer.getvalue()


def estimate_png(image: Image.Image, dpi: float | None) -> tuple[Image.Image, ResolutionEstimate]:
    with open_document(png_bytes(image, dpi), name="page.png") as document:
        return render_for_ocr(document, 1, 300, MAX_PIXELS)


def test_trusted_dpi_tag_is_used():
    _, estimate = estimate_png(text_page(200), 200)
    assert estimate.source == "declared"
    assert estimate.dpi == pytest.approx(200, abs=0.5)  # PNG stores dots per metre
    assert estimate.as_details() == {"Dpi": 200, "Source": "declared", "Reason": estimate.reason}
    assert "consistent with text lines" in estimate.reason


def test_untagged_image_is_measured_by_its_text():
    image, estimate = estimate_png(text_page(150), None)
    assert image.size == (750, 900)
    assert estimate.source == "text-height"
    assert estimate.dpi == pytest.approx(150, rel=0.25)
    assert estimate.reason.startswith("no DPI tag; text lines")


@pytest.mark.parametrize("tag", [72, 96])
def test_default_dpi_tag_is_ignored(tag):
    _, estimate = estimate_png(text_page(150), tag)
    assert estimate.source == "text-height"
    assert estimate.dpi == pytest.approx(150, rel=0.25)
    assert f"DPI tag {tag} ignored" in estimate.reason


def test_dpi_tag_contradicted_by_the_text_is_ignored():
    """A 100-DPI scan tagged 300 (a scanner that upsampled nothing but wrote its nominal DPI)."""
    estimate = estimate_resolution(text_page(100), 300)
    assert estimate.source == "text-height"
    assert estimate.dpi == pytest.approx(100, rel=0.25)
    assert "DPI tag 300 ignored" in estimate.reason


def test_blank_page_is_unknown_and_left_alone():
    blank = Image.new("RGB", (850, 1100), (250, 250, 248))
    estimate = estimate_resolution(blank, None)
    assert (estimate.source, estimate.dpi) == ("unknown", 0.0)
    assert estimate.as_details()["Dpi"] is None
    assert resample(blank, estimate, 300, MAX_PIXELS) == (blank, 0.0)


def test_tagged_blank_page_keeps_its_tag():
    estimate = estimate_resolution(Image.new("L", (600, 800), 255), 200)
    assert (estimate.source, estimate.dpi) == ("declared", 200)
    assert "no measurable text lines" in estimate.reason


def test_receipt_on_a_dark_table_is_measured(shared_data):
    """SROIE 230: a receipt photographed on black; ink is what is darker than the paper around it."""
    with open_document(str(shared_data / "sroie" / "images" / "230.jpg")) as document:
        _, estimate = render_for_ocr(document, 1, 300, MAX_PIXELS)
    assert estimate.source == "text-height"
    assert 120 < estimate.dpi < 400


def scanned_pdf(image: Image.Image, dpi: float) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=dpi)
    return buffer.getvalue()


def test_scanned_pdf_renders_at_the_scans_resolution():
    scan = text_page(150, inches=(4, 5))
    with open_document(scanned_pdf(scan, 150), name="scan.pdf") as document:
        image, estimate = render_for_ocr(document, 1, 300, MAX_PIXELS)
    assert abs(image.width - scan.width) <= 2 and abs(image.height - scan.height) <= 2
    assert estimate.source == "page-size"
    assert estimate.dpi == pytest.approx(150, rel=0.01)


def test_scanned_pdf_with_a_default_page_size_is_measured():
    """Pillow's default PDF resolution (72) makes the page 150/72 times too big: the text decides."""
    scan = text_page(150, inches=(4, 5))
    with open_document(scanned_pdf(scan, 72), name="scan.pdf") as document:
        image, estimate = render_for_ocr(document, 1, 300, MAX_PIXELS)
    assert abs(image.width - scan.width) <= 2
    assert estimate.source == "text-height"
    assert estimate.dpi == pytest.approx(150, rel=0.25)


def test_scanned_pdf_is_capped_by_max_pixels():
    scan = text_page(150, inches=(4, 5))
    with open_document(scanned_pdf(scan, 150), name="scan.pdf") as document:
        image, estimate = render_for_ocr(document, 1, 300, 200_000)
    assert image.width * image.height <= 200_000
    assert estimate.dpi < 150 and "capped by max_pixels" in estimate.reason


def test_born_digital_pdf_renders_at_the_chosen_dpi():
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(4 * 72, 3 * 72))
    for line, sentence in enumerate(SENTENCES * 10):
        pdf.drawString(18, 200 - line * 4, sentence)  # enough characters to be no scan
    pdf.save()
    with open_document(buffer.getvalue(), name="digital.pdf") as document:
        image, estimate = render_for_ocr(document, 1, 200, MAX_PIXELS)
    assert image.size == (800, 600)
    assert (estimate.source, estimate.dpi) == ("rendered", 200)


@pytest.mark.parametrize(
    ("dpi", "size", "effective"),
    [(100, (1500, 1800), 300), (600, (250, 300), 300), (280, (500, 600), 280), (330, (500, 600), 330)],
)
def test_resample_to_the_target(dpi, size, effective):
    image = Image.new("L", (500, 600), 255)
    resampled, after = resample(image, ResolutionEstimate(dpi, "declared", ""), 300, MAX_PIXELS)
    assert resampled.size == size
    assert after == pytest.approx(effective)


def test_resample_never_exceeds_max_pixels():
    image = Image.new("L", (1000, 1000), 255)
    resampled, after = resample(image, ResolutionEstimate(75, "text-height", ""), 300, 2_000_000)
    assert resampled.width * resampled.height <= 2_000_000
    assert resampled.size == (1414, 1414)
    assert after == pytest.approx(75 * 1.414)


def word_page(dpi: float) -> tuple[Image.Image, dict[str, NormBox]]:
    """A card of 12 pt words at known places, and each word's ink box in 0..1 of the card."""
    image = Image.new("RGB", (round(4 * dpi), round(2.5 * dpi)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(VERA, round(12 * dpi / 72))
    boxes: dict[str, NormBox] = {}
    for row, words in enumerate(WORDS):
        for column, word in enumerate(words):
            origin = ((0.3 + 1.25 * column) * dpi, (0.4 + 0.6 * row) * dpi)
            draw.text(origin, word, fill="black", font=font)
            left, top, right, bottom = draw.textbbox(origin, word, font=font)
            boxes[word] = NormBox(
                left / image.width, top / image.height, (right - left) / image.width, (bottom - top) / image.height
            )
    return image, boxes


def test_boxes_read_on_the_resampled_image_land_on_the_original_words():
    """Resampling scales the image uniformly, so the engine's 0..1 boxes need no mapping back."""
    original, truth = word_page(100)
    resampled, after = resample(original, ResolutionEstimate(100, "declared", ""), 300, MAX_PIXELS)
    assert resampled.size == (1200, 750) and after == 300
    engine = load_engine("tesseract")
    try:
        read = {word.text: word.box for line in engine.read_image(resampled) for word in line.words}
    finally:
        engine.close()
    for word, box in truth.items():
        assert word in read, f"{word} not read; read {sorted(read)}"
        assert box_iou(read[word], box) >= 0.5, (word, read[word], box)
