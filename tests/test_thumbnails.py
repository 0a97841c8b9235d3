"""docfields.thumbnails: sizes, fitting, the original's npz format, and writing files."""

from __future__ import annotations

import io
from pathlib import Path

import fsspec
import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat
from pydantic import ValidationError

from docfields.documents import open_document
from docfields.errors import DocumentError
from docfields.thumbnails import (
    ThumbnailOptions,
    image_to_png,
    make_thumbnail,
    make_thumbnails,
    thumbnails_from_npz,
    thumbnails_to_npz,
    write_thumbnails,
)

NICS = "pdfs/nics-background-checks-2015-11.pdf"  # 1 landscape page, 1008 x 612 pt
FORM = "pdfs/f1040nr.pdf"  # 5 pages
SCOTUS = "pdfs/scotus-transcript-p1.pdf"  # 1 page
TWO_PAGES = "textract/textractor-multipage-doc.pdf"


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def png_to_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return (
        a.size == b.size
        and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    )


@pytest.mark.parametrize(
    "relative", [FORM, NICS, "ocr/phototest.tif", "textract/single-page-1.png"]
)
def test_default_is_224_square_rgb(shared_data: Path, relative: str) -> None:
    with open_document(shared_data / relative) as document:
        thumbnail = make_thumbnail(document, 1)
    assert thumbnail.size == (224, 224) and thumbnail.mode == "RGB"
    assert ImageStat.Stat(thumbnail.convert("L")).extrema[0][0] < 128  # the page shows


def test_stretch_fills_the_canvas_and_looks_like_the_original_method(shared_data: Path) -> None:
    """The original rendered at 300 dpi and shrank with bicubic; ours must look the same."""
    with open_document(shared_data / NICS) as document:
        ours = make_thumbnail(document, 1)
        original = document.render(1, dpi=300).resize((224, 224), Image.Resampling.BICUBIC)
    assert ours.getpixel((112, 1)) != (128, 128, 128)  # no letterbox bar: the page is stretched
    difference = ImageStat.Stat(ImageChops.difference(ours, original).convert("L")).mean[0]
    assert difference < 14, difference  # drawn at 224 px directly, hairlines make it 27


def test_letterbox_keeps_aspect_with_bars_of_the_colour(shared_data: Path) -> None:
    colour = (10, 200, 30)
    options = ThumbnailOptions(fit="letterbox", letterbox_color=colour)
    with open_document(shared_data / NICS) as document:
        thumbnail = make_thumbnail(document, 1, options)
    assert thumbnail.size == (224, 224)
    pixels = np.asarray(thumbnail)
    bar_rows = [y for y in range(224) if (pixels[y] == colour).all()]
    page_height = 224 - len(bar_rows)
    assert abs(page_height - 224 * 612 / 1008) <= 1  # 136 rows of page, aspect kept
    top = sum(1 for y in bar_rows if y < 112)
    bottom = len(bar_rows) - top
    assert bar_rows == [*range(top), *range(224 - bottom, 224)]  # one bar above, one below,
    assert abs(top - bottom) <= 1  # of equal height: the page is centred
    assert not (pixels[112] == colour).all(axis=1).any()  # no bar colour inside the page row


def test_letterbox_of_a_portrait_page_has_side_bars(shared_data: Path) -> None:
    options = ThumbnailOptions(fit="letterbox", width=300, height=100)
    with open_document(shared_data / SCOTUS) as document:
        thumbnail = make_thumbnail(document, 1, options)
    assert thumbnail.size == (300, 100)
    assert thumbnail.getpixel((0, 50)) == (128, 128, 128) == thumbnail.getpixel((299, 50))
    assert thumbnail.getpixel((150, 50)) != (128, 128, 128)


def test_custom_size_and_every_page(shared_data: Path) -> None:
    with open_document(shared_data / FORM) as document:
        thumbnails = make_thumbnails(document, ThumbnailOptions(width=100, height=130))
    assert [t.size for t in thumbnails] == [(100, 130)] * 5
    assert not same_pixels(thumbnails[0], thumbnails[1])  # pages in order, not one page 5 times


def test_npz_of_several_pages_holds_png_bytes(shared_data: Path) -> None:
    with open_document(shared_data / FORM) as document:
        thumbnails = make_thumbnails(document)
    arrays = load_npz(thumbnails_to_npz(thumbnails))
    assert list(arrays) == ["images"]
    assert arrays["images"].dtype.kind == "S" and arrays["images"].shape == (5,)
    decoded = [png_to_image(bytes(item)) for item in arrays["images"]]
    assert [image.size for image in decoded] == [(224, 224)] * 5
    assert all(same_pixels(a, b) for a, b in zip(decoded, thumbnails, strict=True))


def test_npz_of_one_page_holds_pixels(shared_data: Path) -> None:
    with open_document(shared_data / SCOTUS) as document:
        thumbnail = make_thumbnail(document, 1)
    arrays = load_npz(thumbnails_to_npz([thumbnail]))
    assert list(arrays) == ["image"]
    assert arrays["image"].dtype == np.uint8 and arrays["image"].shape == (224, 224, 3)
    assert (arrays["image"] == np.asarray(thumbnail)).all()


@pytest.mark.parametrize("relative", [FORM, SCOTUS])
def test_npz_round_trip(shared_data: Path, relative: str) -> None:
    with open_document(shared_data / relative) as document:
        thumbnails = make_thumbnails(document)
    back = thumbnails_from_npz(thumbnails_to_npz(thumbnails))
    assert len(back) == len(thumbnails)
    assert all(same_pixels(a, b) for a, b in zip(back, thumbnails, strict=True))


def test_npz_errors() -> None:
    with pytest.raises(DocumentError, match="not a thumbnails npz file"):
        thumbnails_from_npz(b"definitely not numpy")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, other=np.zeros(3))
    with pytest.raises(
        DocumentError, match=r"no 'images' or 'image' array in the npz \(found other\)"
    ):
        thumbnails_from_npz(buffer.getvalue())
    with pytest.raises(ValueError, match="no thumbnails"):
        thumbnails_to_npz([])


def test_image_to_png_is_lossless() -> None:
    image = Image.frombytes("RGB", (64, 48), bytes(range(256)) * 36)
    data = image_to_png(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert same_pixels(png_to_image(data), image)


def test_write_npz(shared_data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out" / "form.npz")
    assert write_thumbnails(str(shared_data / FORM), out) == [out]
    arrays = load_npz(Path(out).read_bytes())
    assert arrays["images"].shape == (5,)
    assert png_to_image(bytes(arrays["images"][4])).size == (224, 224)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["form.npz"]  # no temp file left


def test_write_png_of_one_page(shared_data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "scotus.png")
    options = ThumbnailOptions(width=120, height=160)
    assert write_thumbnails(str(shared_data / SCOTUS), out, options) == [out]
    assert png_to_image(Path(out).read_bytes()).size == (120, 160)


def test_write_png_of_many_pages_names_the_file(shared_data: Path, tmp_path: Path) -> None:
    source = str(shared_data / FORM)
    out = str(tmp_path / "form.png")
    with pytest.raises(DocumentError) as excinfo:
        write_thumbnails(source, out)
    message = str(excinfo.value)
    assert message.startswith(f"{source}: cannot write {out}: a PNG holds one page")
    assert "has 5" in message
    assert not Path(out).exists()


def test_write_folder(shared_data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "thumbs")
    written = write_thumbnails(str(shared_data / TWO_PAGES), out)
    names = ["textractor-multipage-doc-0001.png", "textractor-multipage-doc-0002.png"]
    assert written == [str(tmp_path / "thumbs" / name) for name in names]
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == names
    assert all(png_to_image(Path(p).read_bytes()).size == (224, 224) for p in written)


def test_write_encrypted_with_password_to_memory_url(shared_data: Path) -> None:
    source = str(shared_data / "pdfs/libreoffice-writer-password.pdf")
    out = "memory://docfields-thumbs/secret.npz"
    try:
        assert write_thumbnails(source, out, password="openpassword") == [out]
        arrays = load_npz(fsspec.filesystem("memory").cat(out))
        assert arrays["image"].shape == (224, 224, 3)
    finally:
        fsspec.filesystem("memory").rm("memory://docfields-thumbs", recursive=True)
    with pytest.raises(DocumentError, match="encrypted PDF: pass a password"):
        write_thumbnails(source, out)


def test_options_are_checked() -> None:
    assert ThumbnailOptions().model_dump() == {
        "width": 224,
        "height": 224,
        "fit": "stretch",
        "letterbox_color": (128, 128, 128),
    }
    with pytest.raises(ValidationError):
        ThumbnailOptions(fit="crop")
    with pytest.raises(ValidationError):
        ThumbnailOptions(letterbox_color=(0, 0, 256))
    with pytest.raises(ValidationError):
        ThumbnailOptions(widht=100)
