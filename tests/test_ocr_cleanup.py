"""Image clean-up before OCR on rendered pages: skew found and undone, boxes mapped back, borders cut, faint print."""

from __future__ import annotations

from contextlib import closing

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from docfields.ocr import load_engine
from docfields.ocr.accuracy import box_iou, word_accuracy
from docfields.ocr.cleanup import binarize, content_box, estimate_skew, normalize_contrast, rotate, rotate_box_back
from docfields.textract import NormBox

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian's fonts-dejavu-core
LINES = [
    "Invoice 2041 issued to Harbour Supplies Ltd",
    "Delivery of forty boxes of printer paper",
    "Unit price 12.50 quantity 40 amount 500.00",
    "Service charge for weekend delivery 35.00",
    "Subtotal before tax comes to 535.00 exactly",
    "Sales tax at six percent adds 32.10 more",
    "Total amount due within thirty days 567.10",
    "Please quote the invoice number when paying",
]


def text_page(ink: int = 0, paper: int = 255, size: tuple[int, int] = (1100, 620)) -> Image.Image:
    """A straight grey page of LINES in a 26 px sans serif, ink on paper."""
    page = Image.new("L", size, paper)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 26)
    for row, line in enumerate(LINES):
        draw.text((70, 60 + row * 62), line, font=font, fill=ink)
    return page


def ink_box(image: Image.Image) -> NormBox:
    """The 0..1 box around the dark pixels."""
    ys, xs = np.nonzero(np.asarray(image) < 128)
    width, height = image.size
    left, top, right, bottom = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return NormBox(left / width, top / height, (right - left) / width, (bottom - top) / height)


def words_read(engine, image: Image.Image) -> list[str]:
    return [word.text for line in engine.read_image(image) for word in line.words]


@pytest.mark.parametrize("angle", [2.5, -3.0])
def test_estimate_skew_finds_the_turn_that_undoes_a_known_rotation(angle):
    skewed = rotate(text_page(), angle)
    assert estimate_skew(skewed) == pytest.approx(-angle, abs=0.3)


def test_straight_and_blank_pages_need_no_turn():
    assert estimate_skew(text_page()) == 0.0
    assert estimate_skew(Image.new("L", (800, 600), 255)) == 0.0
    assert estimate_skew(Image.new("RGB", (800, 600), (250, 248, 240))) == 0.0


def test_rotate_keeps_the_size_fills_white_and_returns_grey():
    turned = rotate(text_page().convert("RGB"), 4.0)
    assert turned.mode == "L" and turned.size == (1100, 620)
    assert turned.getpixel((0, 0)) == 255 and turned.getpixel((1099, 619)) == 255
    assert ink_box(turned) != ink_box(text_page())


def test_a_box_found_on_the_rotated_page_maps_back_onto_the_word():
    page = Image.new("L", (900, 700), 255)
    ImageDraw.Draw(page).text((740, 40), "TOTAL", font=ImageFont.truetype(FONT, 40), fill=0)
    for angle in (2.5, -3.0):
        turned = rotate(page, angle)
        back = rotate_box_back(ink_box(turned), angle, turned.size)
        assert box_iou(back, ink_box(page)) >= 0.7
        assert box_iou(ink_box(turned), ink_box(page)) < 0.5  # the word did move: the mapping is doing the work


def test_rotate_box_back_clips_to_the_page():
    box = rotate_box_back(NormBox(0.0, 0.0, 1.0, 1.0), 5.0, (1000, 800))
    assert (box.left, box.top, box.left + box.width, box.top + box.height) == (0.0, 0.0, 1.0, 1.0)


def test_deskewing_lets_tesseract_read_more_words_right():
    reference = " ".join(LINES).split()
    skewed = rotate(text_page(), 4.5)
    straightened = rotate(skewed, estimate_skew(skewed))
    with closing(load_engine("tesseract")) as engine:
        before, after = words_read(engine, skewed), words_read(engine, straightened)
    assert word_accuracy(after, reference) > word_accuracy(before, reference)


def test_content_box_drops_a_black_frame_and_keeps_the_text():
    page = text_page()
    framed = Image.new("L", (page.width + 90, page.height + 70), 10)
    framed.paste(page, (50, 30))
    left, top, right, bottom = content_box(framed.convert("RGB"))
    assert (left, top, right, bottom) == (50, 30, 50 + page.width, 30 + page.height)


def test_content_box_drops_a_dark_scanner_edge_on_one_side_only():
    page = text_page()
    page.paste(25, (0, 0, 40, page.height))
    assert content_box(page) == (40, 0, page.width, page.height)


def test_content_box_keeps_a_frameless_page_whole():
    page = text_page()
    assert content_box(page) == (0, 0, page.width, page.height)
    assert content_box(Image.new("L", (300, 200), 0)) == (0, 0, 300, 200)


def test_binarize_turns_faint_print_on_off_white_black_on_white():
    faint = text_page(ink=185, paper=228)
    black = np.asarray(binarize(faint))
    assert binarize(faint).mode == "L" and set(np.unique(black)) == {0, 255}
    text = np.asarray(text_page()) < 128
    assert (black[text] == 0).mean() > 0.9  # the strokes are black
    assert (black[~text] == 255).mean() > 0.99  # the paper is white


def test_binarize_ignores_a_shadow_across_the_page():
    page = np.asarray(text_page(ink=60), dtype=np.float64)
    shadow = np.linspace(1.0, 0.45, page.shape[1])[None, :]  # the shaded paper is darker than the ink on the left
    black = np.asarray(binarize(Image.fromarray((page * shadow).astype(np.uint8))))
    text = np.asarray(text_page()) < 128
    assert (black[text] == 0).mean() > 0.85
    assert (black[~text] == 255).mean() > 0.99


def test_normalize_contrast_stretches_a_washed_out_page_and_keeps_grey():
    flat = text_page(ink=110, paper=175)
    stretched = np.asarray(normalize_contrast(flat.convert("RGB")))
    assert stretched.min() <= 10 and stretched.max() >= 245
    text = np.asarray(text_page()) < 128
    assert np.median(stretched[text]) < 60 and np.median(stretched[~text]) > 240
    assert len(np.unique(stretched)) > 2  # grey levels kept, not binarised


def test_normalize_contrast_lifts_a_shadow_off_the_paper():
    page = np.asarray(text_page(ink=40), dtype=np.float64)
    shadow = np.linspace(1.0, 0.6, page.shape[1])[None, :]
    flattened = np.asarray(normalize_contrast(Image.fromarray((page * shadow).astype(np.uint8))))
    paper = np.asarray(text_page()) == 255
    shaded_paper = flattened[:, -300:][paper[:, -300:]]
    assert np.percentile(shaded_paper, 5) > 200  # the shaded paper is paper again (it was at most 170)
