"""Every registered engine on real pages: invariants, accuracy, and the Textract clients."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

from docfields.documents import open_document
from docfields.errors import EngineUnavailableError, OcrError, UnknownEngineError
from docfields.ocr import available_engines, engine_options, load_engine, ocr_document
from docfields.ocr.accuracy import character_error_rate, word_accuracy
from docfields.ocr.pdftext import text_layer_stats
from docfields.textract import iter_pages, iter_words, textract_to_dict, validate_textract

LOCAL_ENGINES = [name for name in available_engines() if name != "textract"]


def words_of(document) -> list[str]:
    return [w.text for w in iter_words(document)]


def mixed_pdf(shared_data: Path, tmp_path: Path) -> Path:
    """Page 1 born-digital (scotus transcript), page 2 an image-only scan (phototest)."""
    merged = pypdfium2.PdfDocument.new()
    for source in (shared_data / "pdfs" / "scotus-transcript-p1.pdf", Path("examples/samples/phototest-scan.pdf")):
        merged.import_pages(pypdfium2.PdfDocument(source))
    path = tmp_path / "mixed.pdf"
    merged.save(path)
    return path


def test_registry_lists_every_engine_without_importing_them():
    assert {"auto", "pdftext", "rapidocr", "tesseract", "textract"} <= set(available_engines())


def test_unknown_engine_names_the_known_ones():
    with pytest.raises(UnknownEngineError, match="known engines: .*tesseract"):
        load_engine("nonesuch")


def test_engine_options_are_checked_and_routed():
    with pytest.raises(OcrError, match="invalid options for OCR engine 'pdftext': dpi"):
        load_engine("pdftext", dpi=300)
    assert engine_options("auto", ["eng", "tha"], 200) == {
        "fallback_options": {"languages": ["eng", "tha"], "dpi": 200}
    }
    assert engine_options("tesseract", None, 150) == {"dpi": 150}


def test_missing_tesseract_language_names_the_package():
    with pytest.raises(EngineUnavailableError, match="tesseract-ocr-xyz"):
        load_engine("tesseract", languages=["eng", "xyz"])


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_engine_output_is_valid_textract_everywhere(engine, shared_data, tmp_path):
    """Invariants for every local engine on a two-page PDF (text page + scanned page)."""
    import trp
    from textractor.entities.document import Document as TextractorDocument

    result = ocr_document(str(mixed_pdf(shared_data, tmp_path)), engine=engine)
    validate_textract(result)
    data = textract_to_dict(result)
    assert data["DocumentMetadata"]["Pages"] == 2
    assert data["DetectDocumentTextModelVersion"].startswith(f"docfields-{engine}-")
    for word in iter_words(result):
        box = word.geometry.bounding_box
        assert 0 <= box.left <= box.left + box.width <= 1 + 1e-6
        assert 0 <= box.top <= box.top + box.height <= 1 + 1e-6
        assert word.text.strip() == word.text and word.text
        assert 0 <= word.confidence <= 100
    ours = words_of(result)
    trp_words = [w.text for page in trp.Document(data).pages for line in page.lines for w in line.words]
    assert trp_words == ours
    textractor_doc = TextractorDocument.open(json.loads(json.dumps(data)))
    assert sorted(w.text for w in textractor_doc.words) == sorted(ours)
    if engine != "pdftext":
        assert len(ours) > 100  # both pages read


def test_tesseract_reads_phototest(shared_data):
    result = ocr_document(str(shared_data / "ocr" / "phototest.tif"), engine="tesseract")
    reference = (shared_data / "ocr" / "phototest.txt").read_text()
    assert word_accuracy(words_of(result), reference.split()) >= 0.95
    lines = [line for line in result.blocks if line.block_type == "LINE"]
    assert len(lines) == 8  # the reference's 8 text lines, grouped by (block, paragraph, line)
    assert lines[0].text.startswith("This is a lot of 12 point text")


def test_tesseract_two_languages_load(shared_data):
    engine = load_engine("tesseract", languages=["eng", "tha"])
    with open_document(str(shared_data / "ocr" / "phototest.tif")) as document:
        result = engine.process(document)
    assert word_accuracy(words_of(result), (shared_data / "ocr" / "phototest.txt").read_text().split()) >= 0.9


def test_rapidocr_reads_phototest_offline(shared_data):
    result = ocr_document(str(shared_data / "ocr" / "phototest.tif"), engine="rapidocr")
    reference = (shared_data / "ocr" / "phototest.txt").read_text()
    assert word_accuracy(words_of(result), reference.split()) >= 0.9
    assert character_error_rate(" ".join(words_of(result)), reference) < 0.05


def test_pdftext_matches_poppler_words(shared_data):
    """Our text-layer words against an independent extractor (poppler's pdftotext)."""
    import subprocess

    pdf = shared_data / "pdfs" / "scotus-transcript-p1.pdf"
    reference = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    result = ocr_document(str(pdf), engine="pdftext")
    assert sorted(words_of(result)) == sorted(reference.split())
    assert all(w.confidence == 100 for w in iter_words(result))


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_pdftext_boxes_land_on_ink(shared_data, tmp_path, rotation):
    """Word boxes line up with the rendered page, whatever the page's /Rotate."""
    pdf = pypdfium2.PdfDocument(shared_data / "textract" / "sample-invoice.pdf")
    pdf[0].set_rotation(rotation)
    path = tmp_path / f"rotated-{rotation}.pdf"
    pdf.save(path)
    result = ocr_document(str(path), engine="pdftext")
    with open_document(str(path)) as document:
        image = document.render(1, dpi=100).convert("L")
    words = [w for w in iter_words(result) if len(w.text) >= 4][:20]
    assert len(words) == 20
    for word in words:
        box = word.geometry.bounding_box
        crop = image.crop(
            (
                int(box.left * image.width),
                int(box.top * image.height),
                int((box.left + box.width) * image.width) + 1,
                int((box.top + box.height) * image.height) + 1,
            )
        )
        assert crop.getextrema()[0] < 128, f"no ink under {word.text!r} at rotation {rotation}"


def test_auto_uses_text_layer_then_ocr_and_records_engine(shared_data, tmp_path):
    result = ocr_document(str(mixed_pdf(shared_data, tmp_path)), engine="auto")
    engines = [page.Engine for page in iter_pages(result)]
    assert engines == ["pdftext", "tesseract"]
    with open_document(str(mixed_pdf(shared_data, tmp_path))) as document:
        assert text_layer_stats(document, 1).usable
        stats = text_layer_stats(document, 2)
        assert not stats.usable and stats.chars == 0


def test_auto_on_image_uses_fallback_with_its_options(shared_data):
    result = ocr_document(
        str(shared_data / "ocr" / "phototest.tif"), engine="auto", fallback="rapidocr", fallback_options={"dpi": 150}
    )
    assert [page.Engine for page in iter_pages(result)] == ["rapidocr"]


def test_pdftext_refuses_images_with_a_clear_error(shared_data):
    with pytest.raises(OcrError, match="phototest.tif: pdftext reads a PDF's text layer"):
        ocr_document(str(shared_data / "ocr" / "phototest.tif"), engine="pdftext")


def _stubbed_textract(responses):
    import boto3
    from botocore.stub import ANY, Stubber

    client = boto3.client("textract", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    stubber = Stubber(client)
    for response in responses:
        if isinstance(response, str):
            stubber.add_client_error("detect_document_text", service_error_code=response, http_status_code=400)
        else:
            stubber.add_response("detect_document_text", response, {"Document": {"Bytes": ANY}})
    stubber.activate()
    return client, stubber


def test_textract_engine_joins_pages_with_botocore_stubber(shared_data):
    from docfields.ocr.textract import TextractEngine

    response = json.loads((shared_data / "textract" / "detect_document_text.single-page-1.json").read_text())
    response.pop("ResponseMetadata")
    text = json.dumps(response)
    for block in response["Blocks"]:  # the same page again, with its own block ids
        text = text.replace(block["Id"], block["Id"][::-1])
    second = json.loads(text)
    client, stubber = _stubbed_textract([response, second])
    engine = TextractEngine(client=client)
    with open_document(str(shared_data / "textract" / "textractor-multipage-doc.pdf")) as document:
        result = engine.process(document)
    stubber.assert_no_pending_responses()
    validate_textract(result)
    assert result.document_metadata.pages == 2
    assert [p.page for p in iter_pages(result)] == [1, 2]
    assert result.detect_document_text_model_version == "docfields-textract-1.0"
    assert len(words_of(result)) == 2 * 51


def test_textract_engine_errors_name_file_and_page(shared_data):
    from docfields.ocr.textract import TextractEngine

    client, _ = _stubbed_textract(["ThrottlingException"])
    engine = TextractEngine(client=client)
    with open_document(str(shared_data / "ocr" / "phototest.tif")) as document:
        with pytest.raises(OcrError, match=r"phototest.tif \(page 1\): Amazon Textract failed.*ThrottlingException"):
            engine.process(document)


def test_textract_page_bytes_are_one_page_pdfs(shared_data):
    from docfields.ocr.textract import page_bytes

    with open_document(str(shared_data / "pdfs" / "f1040nr.pdf")) as document:
        data = page_bytes(document, 3, dpi=150)
    assert len(pypdfium2.PdfDocument(data)) == 1
    with open_document(str(shared_data / "ocr" / "phototest.tif")) as document:
        png = page_bytes(document, 1, dpi=150)
    assert Image.open(io.BytesIO(png)).format == "PNG"


def _run_isolated(code: str) -> str:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_tesseract_falls_back_to_pytesseract_without_tesserocr(shared_data):
    """With tesserocr unimportable, the same engine runs Debian's tesseract binary instead."""
    code = f"""
import sys
sys.modules["tesserocr"] = None  # make the import fail, as on a machine without the wheel
from docfields.ocr import ocr_document
from docfields.textract import iter_words
result = ocr_document({str(shared_data / "ocr" / "phototest.tif")!r}, engine="tesseract")
print(result.detect_document_text_model_version, " ".join(w.text for w in iter_words(result)))
"""
    version, *words = _run_isolated(code).split()
    assert version.startswith("docfields-tesseract-5.")
    reference = (shared_data / "ocr" / "phototest.txt").read_text().split()
    assert word_accuracy(words, reference) >= 0.95


def test_rapidocr_needs_no_network(shared_data):
    """Every socket connection fails in this process: the engine must still load and read."""
    code = f"""
import socket
def refuse(*args, **kwargs):
    raise OSError("network use is forbidden in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from docfields.ocr import ocr_document
from docfields.textract import iter_words
result = ocr_document({str(shared_data / "ocr" / "phototest.tif")!r}, engine="rapidocr")
print(" ".join(w.text for w in iter_words(result)))
"""
    words = _run_isolated(code).split()
    reference = (shared_data / "ocr" / "phototest.txt").read_text().split()
    assert word_accuracy(words, reference) >= 0.9
