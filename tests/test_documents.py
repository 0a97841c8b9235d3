"""docfields.documents on real PDFs (real PDFium) and images made on the spot with Pillow."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import fsspec
import pypdfium2
import pytest
from PIL import Image
from pydantic import ValidationError

from docfields.documents import (
    DocumentLimits,
    ImageDocument,
    PageSize,
    PdfDocument,
    fit_size,
    open_document,
    sniff_format,
)
from docfields.errors import DocumentError, DocumentLimitError

RED = (255, 0, 0)
WHITE = (255, 255, 255)
PDF_PAGES = [
    ("pdfs/federal-register-2020-17221.pdf", 15),
    ("pdfs/f1040nr.pdf", 5),
    ("pdfs/scotus-transcript-p1.pdf", 1),
    ("pdfs/nics-background-checks-2015-11.pdf", 1),
    ("textract/textractor-multipage-doc.pdf", 2),
]
IMAGE_FORMATS = [
    ("PNG", "png", "image/png"),
    ("JPEG", "jpeg", "image/jpeg"),
    ("BMP", "bmp", "image/bmp"),
    ("WEBP", "webp", "image/webp"),
    ("GIF", "gif", "image/gif"),
]


def marked_image(size: tuple[int, int] = (300, 200), color: tuple[int, int, int] = WHITE):
    """A plain image with a red 40 x 40 marker in its top-left corner."""
    image = Image.new("RGB", size, color)
    image.paste(RED, (0, 0, 40, 40))
    return image


def image_bytes(image: Image.Image, pil_format: str, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pil_format, **save_args)
    return buffer.getvalue()


def is_red(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


def raised(excinfo: pytest.ExceptionInfo[DocumentError]) -> str:
    return str(excinfo.value)


# --- PDFs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("relative", "pages"), PDF_PAGES)
def test_pdf_page_count(shared_data: Path, relative: str, pages: int) -> None:
    with open_document(shared_data / relative) as document:
        assert isinstance(document, PdfDocument)
        assert (document.format, document.mime_type) == ("pdf", "application/pdf")
        assert document.page_count == pages
        assert document.source == str(shared_data / relative)


def test_pdf_page_size_landscape(shared_data: Path) -> None:
    with open_document(shared_data / "pdfs/nics-background-checks-2015-11.pdf") as document:
        assert document.page_size(1) == PageSize(1008, 612, "pt")


@pytest.mark.parametrize("dpi", [72, 100, 150])
def test_pdf_render_at_dpi(shared_data: Path, dpi: int) -> None:
    with open_document(shared_data / "pdfs/f1040nr.pdf") as document:
        size = document.page_size(2)
        image = document.render(2, dpi=dpi)
    assert image.mode == "RGB"
    assert abs(image.width - size.width * dpi / 72) <= 1
    assert abs(image.height - size.height * dpi / 72) <= 1
    assert image.convert("L").getextrema()[0] < 100  # the form's text is drawn


def test_pdf_render_default_dpi_is_300(shared_data: Path) -> None:
    with open_document(shared_data / "pdfs/scotus-transcript-p1.pdf") as document:
        size = document.page_size(1)
        image = document.render(1, grayscale=True)
    assert image.mode == "L"
    assert abs(image.width - size.width * 300 / 72) <= 1


@pytest.mark.parametrize(
    ("relative", "box", "expected"),
    [
        ("pdfs/nics-background-checks-2015-11.pdf", (224, 224), (224, 136)),
        ("pdfs/federal-register-2020-17221.pdf", (224, 224), (173, 224)),
        ("pdfs/federal-register-2020-17221.pdf", (1000, 100), (77, 100)),
    ],
)
def test_pdf_render_fits_size(
    shared_data: Path, relative: str, box: tuple[int, int], expected: tuple[int, int]
) -> None:
    with open_document(shared_data / relative) as document:
        image = document.render(1, size=box)
        page = document.page_size(1)
    assert image.width <= box[0] and image.height <= box[1]
    assert abs(image.width - expected[0]) <= 1 and abs(image.height - expected[1]) <= 1
    assert abs(image.width / image.height - page.width / page.height) < 0.02


def test_pdf_last_page_renders_and_past_it_fails(shared_data: Path) -> None:
    path = shared_data / "pdfs/federal-register-2020-17221.pdf"
    with open_document(path) as document:
        assert document.render(15, size=(50, 50)).height == 50
        with pytest.raises(DocumentError, match="no page 16: pages run from 1 to 15"):
            document.render(16)
        with pytest.raises(DocumentError, match="no page 0"):
            document.page_size(0)


def test_pdfium_exposed_for_the_text_layer(shared_data: Path) -> None:
    with open_document(shared_data / "pdfs/scotus-transcript-p1.pdf") as document:
        assert isinstance(document.pdfium, pypdfium2.PdfDocument)
        page = document.pdfium_page(1)
        try:
            text = page.get_textpage().get_text_range()
            assert page.get_size() == (document.page_size(1).width, document.page_size(1).height)
        finally:
            page.close()
    assert "SUPREME COURT" in text.upper()


# --- images -------------------------------------------------------------------------------


@pytest.mark.parametrize(("pil_format", "name", "mime"), IMAGE_FORMATS)
def test_image_formats(pil_format: str, name: str, mime: str) -> None:
    data = image_bytes(marked_image(), pil_format)
    with open_document(data, name=f"made.{name}") as document:
        assert isinstance(document, ImageDocument)
        assert (document.format, document.mime_type, document.page_count) == (name, mime, 1)
        assert document.page_size(1) == PageSize(300, 200, "px")
        image = document.render(1, dpi=600)  # dpi does not apply to pixels
        small = document.render(1, size=(150, 150))
    assert image.mode == "RGB" and image.size == (300, 200)
    assert is_red(image.getpixel((10, 10))) and not is_red(image.getpixel((290, 190)))
    assert small.size == (150, 100)
    assert is_red(small.getpixel((5, 5))) and not is_red(small.getpixel((140, 90)))


def test_big_jpeg_renders_at_thumbnail_size() -> None:
    data = image_bytes(marked_image((4000, 3000)), "JPEG")
    with open_document(data) as document:
        image = document.render(1, size=(224, 224), grayscale=True)
    assert image.size == (224, 168) and image.mode == "L"
    assert image.getpixel((1, 1)) < 120 and image.getpixel((200, 150)) > 240


def test_jpeg_exif_orientation_6_is_rotated() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display = rotate 90 degrees clockwise
    data = image_bytes(marked_image((300, 200)), "JPEG", exif=exif.tobytes())
    with open_document(data, name="camera.jpg") as document:
        assert document.page_size(1) == PageSize(200, 300, "px")
        image = document.render(1)
        small = document.render(1, size=(100, 100))
    assert image.size == (200, 300)
    assert is_red(image.getpixel((190, 10)))  # stored top-left turns into the top-right
    assert not is_red(image.getpixel((10, 10)))
    assert small.size == (67, 100)
    assert is_red(small.getpixel((63, 3))) and not is_red(small.getpixel((3, 3)))


def test_three_frame_tiff_has_one_page_per_frame() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (120 + 10 * i, 80), c) for i, c in enumerate(colours)]
    data = image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    with open_document(data, name="scan.tif") as document:
        assert (document.format, document.mime_type, document.page_count) == (
            "tiff",
            "image/tiff",
            3,
        )
        for number, colour in enumerate(colours, 1):
            assert document.page_size(number) == PageSize(110 + 10 * number, 80, "px")
            assert document.render(number).getpixel((5, 5)) == colour


def test_phototest_tiff(shared_data: Path) -> None:
    with open_document(shared_data / "ocr/phototest.tif") as document:
        assert (document.format, document.page_count) == ("tiff", 1)
        assert document.page_size(1) == PageSize(640, 480, "px")
        image = document.render(1)
    assert image.mode == "RGB" and image.size == (640, 480)
    assert image.getextrema() == ((0, 255), (0, 255), (0, 255))  # black text on white


def test_transparent_png_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    with open_document(image_bytes(image, "PNG")) as document:
        assert document.render(1).getpixel((25, 25)) == WHITE


def test_png_named_pdf_opens_as_png(tmp_path: Path) -> None:
    path = tmp_path / "x.pdf"
    path.write_bytes(image_bytes(marked_image(), "PNG"))
    with open_document(path) as document:
        assert (document.format, document.mime_type) == ("png", "image/png")
        assert document.render(1).size == (300, 200)


# --- sources ------------------------------------------------------------------------------


def test_open_from_bytes_file_url_and_memory_url(shared_data: Path) -> None:
    path = shared_data / "pdfs/f1040nr.pdf"
    data = path.read_bytes()
    memory_url = "memory://docfields-tests/f1040nr.pdf"
    fsspec.filesystem("memory").pipe(memory_url, data)
    try:
        for source in (data, f"file://{path}", memory_url):
            with open_document(source) as document:
                assert document.page_count == 5
                assert document.render(5, size=(60, 60)).height == 60
    finally:
        fsspec.filesystem("memory").rm(memory_url)
    with open_document(f"file://{path}") as document:
        assert document.source == f"file://{path}"


def test_bytes_are_named_in_errors() -> None:
    with pytest.raises(DocumentError, match=r"^<bytes>: unsupported file type"):
        open_document(b"just some words")
    with pytest.raises(DocumentError, match=r"^upload\.bin: unsupported file type"):
        open_document(b"just some words", name="upload.bin")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\r\n\r\n%PDF-1.4 after junk", "pdf"),
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"BM\x00\x00", "bmp"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"GIF89a", "gif"),
        (b"PK\x03\x04", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_sniff_format(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_fit_size_keeps_aspect() -> None:
    assert fit_size((1000, 500), (224, 224)) == (224, 112)
    assert fit_size((10, 20), (224, 224)) == (112, 224)
    assert fit_size((10000, 1), (100, 100)) == (100, 1)


# --- bad inputs: each with the file's name and a reason a user understands ------------------


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo) == f"{path}: empty file (0 bytes)"


def test_truncated_png_fails_at_render_naming_the_page(tmp_path: Path) -> None:
    data = image_bytes(marked_image((400, 400)), "PNG", compress_level=0)
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with open_document(path) as document:
        with pytest.raises(DocumentError) as excinfo:
            document.render(1)
    assert raised(excinfo).startswith(f"{path} (page 1): truncated image file")
    assert excinfo.value.page == 1


def test_png_cut_inside_its_header(tmp_path: Path) -> None:
    path = tmp_path / "stub.png"
    path.write_bytes(image_bytes(marked_image(), "PNG")[:20])
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo).startswith(f"{path}: corrupt or truncated PNG file")


def test_truncated_pdf(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "pdfs/federal-register-2020-17221.pdf").read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo).startswith(f"{path}: truncated or corrupt PDF")
    assert "%%EOF" in raised(excinfo)


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n")
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo).startswith(f"{path}: corrupt PDF")
    assert isinstance(excinfo.value.__cause__, pypdfium2.PdfiumError)


def test_unsupported_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Dear customer,\nplease find attached ...\n")
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo).startswith(f"{path}: unsupported file type (starts with b'Dear cus'")
    assert "a text file?" in raised(excinfo)


def test_unsupported_zip_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "invoice.pdf"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("invoice.txt", "total 10")
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo).startswith(f"{path}: unsupported file type (starts with b'PK\\x03\\x04")
    assert "a ZIP archive?" in raised(excinfo)


def test_encrypted_pdf(shared_data: Path) -> None:
    path = shared_data / "pdfs/libreoffice-writer-password.pdf"
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo) == f"{path}: encrypted PDF: pass a password"
    with pytest.raises(DocumentError) as excinfo:
        open_document(path, password="not-it")
    assert raised(excinfo) == f"{path}: wrong password"
    with open_document(path, password="openpassword") as document:
        assert document.page_count == 1
        assert document.render(1, dpi=50).convert("L").getextrema()[0] < 100


def test_file_too_large(shared_data: Path) -> None:
    path = shared_data / "pdfs/f1040nr.pdf"
    with pytest.raises(DocumentLimitError) as excinfo:
        open_document(path, limits=DocumentLimits(max_bytes=1000))
    assert raised(excinfo).startswith(f"{path}: file too large: {path.stat().st_size:,} bytes")
    assert "limit of 1,000 bytes" in raised(excinfo)
    with pytest.raises(DocumentLimitError, match="file too large"):
        open_document(path.read_bytes(), limits=DocumentLimits(max_bytes=1000))


def test_too_many_pages(shared_data: Path) -> None:
    path = shared_data / "pdfs/f1040nr.pdf"
    with pytest.raises(DocumentLimitError) as excinfo:
        open_document(path, limits=DocumentLimits(max_pages=2))
    assert raised(excinfo) == f"{path}: too many pages: 5, over the limit of 2 (max_pages)"


def test_too_many_pixels_in_an_image() -> None:
    data = image_bytes(marked_image((300, 200)), "PNG")
    with open_document(data, name="big.png", limits=DocumentLimits(max_pixels=10_000)) as doc:
        with pytest.raises(DocumentLimitError) as excinfo:
            doc.render(1, size=(10, 10))
    assert raised(excinfo).startswith("big.png (page 1): too many pixels: 300 x 200 = 60,000")
    assert "limit of 10,000" in raised(excinfo)


def test_pillow_decompression_bomb_guard_is_a_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # Pillow refuses over twice this
    data = image_bytes(marked_image((300, 200)), "PNG")
    with pytest.raises(DocumentLimitError) as excinfo:
        open_document(data, name="bomb.png")
    assert raised(excinfo).startswith("bomb.png: too many pixels for Pillow's decompression-bomb")
    assert isinstance(excinfo.value.__cause__, Image.DecompressionBombError)


def test_too_many_pixels_in_a_pdf_at_high_dpi(shared_data: Path) -> None:
    path = shared_data / "pdfs/nics-background-checks-2015-11.pdf"
    limits = DocumentLimits(max_pixels=20_000_000)
    with open_document(path, limits=limits) as document:
        with pytest.raises(DocumentLimitError) as excinfo:
            document.render(1, dpi=1200)
        assert document.render(1, dpi=72).size == (1008, 612)
    assert raised(excinfo).startswith(f"{path} (page 1): too many pixels: 16800 x 10200")
    assert "at 1200 dpi" in raised(excinfo) and "limit of 20,000,000" in raised(excinfo)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pdf"
    with pytest.raises(DocumentError) as excinfo:
        open_document(path)
    assert raised(excinfo) == f"{path}: file not found"
    with pytest.raises(DocumentError, match="memory://nowhere/x.pdf: file not found"):
        open_document("memory://nowhere/x.pdf")


def test_folder_is_not_a_document(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="is a folder, not a file"):
        open_document(tmp_path)


def test_closed_document_refuses_work(shared_data: Path) -> None:
    document = open_document(shared_data / "pdfs/scotus-transcript-p1.pdf")
    with document:
        pass
    with pytest.raises(ValueError, match="closed"):
        document.render(1)


def test_limits_forbid_unknown_options() -> None:
    with pytest.raises(ValidationError):
        DocumentLimits(max_page=3)
    with pytest.raises(ValidationError):
        DocumentLimits(max_pages=0)
    assert DocumentLimits().max_pixels == 200_000_000
