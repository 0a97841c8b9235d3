"""docfields.thumbnails: sizes, fitting, the original's npz format, and writing files."""

from __future__ import annotations

import asyncio
import io
import subprocess
import tempfile
from pathlib import Path

import fsspec
import httpx
import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat
from pydantic import ValidationError

from docfields.documents import open_document
from docfields.errors import DocumentError, DocumentLimitError
from docfields.thumbnails import (
    MAX_THUMBNAIL_PIXELS,
    MAX_THUMBNAIL_SIDE,
    ThumbnailOptions,
    image_to_png,
    make_thumbnail,
    make_thumbnails,
    thumbnails_from_npz,
    thumbnails_to_npz,
    write_thumbnails,
)
from memory_support import DOCFIELDS, write_shared_xobject_pdf

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
        thumbnails = list(make_thumbnails(document, ThumbnailOptions(width=100, height=130)))
    assert [t.size for t in thumbnails] == [(100, 130)] * 5
    assert not same_pixels(thumbnails[0], thumbnails[1])  # pages in order, not one page 5 times


def test_npz_of_several_pages_holds_png_bytes(shared_data: Path) -> None:
    with open_document(shared_data / FORM) as document:
        thumbnails = list(make_thumbnails(document))
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
        thumbnails = list(make_thumbnails(document))
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


# -- issue 14 items 5 and 8: a thumbnail's side and a document's thumbnail pixels are capped ------


def test_thumbnail_side_over_the_cap_is_refused_naming_the_parameter() -> None:
    assert ThumbnailOptions(width=MAX_THUMBNAIL_SIDE, height=MAX_THUMBNAIL_SIDE).width == 4096
    with pytest.raises(ValidationError) as raised:
        ThumbnailOptions(width=100_000, height=100_000)
    message = str(raised.value)
    assert "thumbnail width 100000 is over the limit of 4096 pixels a side" in message
    assert "thumbnail height 100000" in message and "--size" in message


def test_cli_thumbnails_size_over_the_cap_exits_2_before_rendering(shared_data: Path, tmp_path: Path) -> None:
    """``--size 100000x100000`` grew to 23 GB until the kernel killed it; now it is a usage error."""
    out = tmp_path / "thumbs.npz"
    result = subprocess.run(
        [*DOCFIELDS, "thumbnails", str(shared_data / FORM), "-o", str(out), "--size", "100000x100000"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert "width 100000 is over the limit of 4096" in result.stderr and "--size" in result.stderr
    assert not out.exists()


def test_service_side_limit_is_the_library_constant() -> None:
    from docfields.serve.settings import ServeSettings

    assert ServeSettings().max_thumbnail_side == MAX_THUMBNAIL_SIDE
    assert ServeSettings(max_thumbnail_side=1024).max_thumbnail_side == 1024  # an operator may lower it
    with pytest.raises(ValidationError, match="max_thumbnail_side"):
        ServeSettings(max_thumbnail_side=MAX_THUMBNAIL_SIDE + 1)


@pytest.fixture(scope="module")
def shared_page_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """40 pages drawing one XObject: a few kB that ask for 40 full renders."""
    path = write_shared_xobject_pdf(tmp_path_factory.mktemp("xobject") / "forty.pdf", 40)
    return path.read_bytes()


def test_thumbnails_over_the_pixel_cap_are_refused_before_rendering(shared_page_pdf: bytes) -> None:
    assert len(shared_page_pdf) < 20_000
    options = ThumbnailOptions(width=4096, height=4096)
    with open_document(shared_page_pdf, name="forty.pdf") as document:
        with pytest.raises(DocumentLimitError) as raised:
            make_thumbnails(document, options)  # refused at the call, not at the first page
    message = str(raised.value)
    assert message.startswith("forty.pdf: thumbnails too large: 40 pages x width 4096 x height 4096")
    assert f"over the limit of {MAX_THUMBNAIL_PIXELS:,}" in message


def test_npz_items_are_padded_as_numpy_pads_them() -> None:
    """The npz is written item by item; it must load as the array numpy itself would have saved."""
    images = [Image.new("RGB", (8 + 8 * n, 8), (n * 60, 0, 0)) for n in range(3)]
    pngs = [image_to_png(image) for image in images]
    assert len(set(map(len, pngs))) == 3
    arrays = load_npz(thumbnails_to_npz(iter(images)))
    assert arrays["images"].dtype == np.dtype(f"S{max(map(len, pngs))}")
    assert arrays["images"].tolist() == np.array(pngs, dtype=np.bytes_).tolist()


def post_thumbnails(data: bytes, **params: int) -> httpx.Response:
    """POST /thumbnails to the real app in-process (httpx's ASGI transport)."""
    from docfields.pipeline import PipelineSettings
    from docfields.serve.app import create_app
    from docfields.serve.settings import ServeSettings

    async def post(home: str) -> httpx.Response:
        app = create_app(ServeSettings(pipeline=PipelineSettings(home=home), workers=0))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as client:
            headers = {"Content-Type": "application/pdf"}
            return await client.post("/thumbnails", content=data, headers=headers, params=params)

    with tempfile.TemporaryDirectory() as home:
        return asyncio.run(post(home))


def test_service_answers_413_naming_the_parameters_over_the_pixel_cap(shared_page_pdf: bytes) -> None:
    """40 x 4096 x 4096 took 74 s and 3.8 GB; now it is refused before any page is drawn."""
    refused = post_thumbnails(shared_page_pdf, width=4096, height=4096)
    assert refused.status_code == 413
    detail = refused.json()["detail"]
    assert "40 pages x width 4096 x height 4096" in detail and "MAX_THUMBNAIL_PIXELS" in detail
    within = post_thumbnails(shared_page_pdf, width=160, height=120)
    assert within.status_code == 200 and within.headers["content-type"] == "application/x-npz"
    pngs = load_npz(within.content)["images"]
    assert pngs.shape == (40,)
    assert {png_to_image(bytes(png)).size for png in pngs} == {(160, 120)}
