"""``auto`` by quality: what it chooses per page, why it says it chose it, and the second opinion."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docfields.cli import app
from docfields.documents import open_document
from docfields.errors import OcrError
from docfields.ocr import engine_options, load_engine
from docfields.ocr.confidence import fit_calibration
from docfields.textract import iter_pages

SCAN_PDF = Path("examples/samples/phototest-scan.pdf")


def page_records(result) -> list[tuple[str, dict]]:
    return [(page.model_extra["Engine"], page.model_extra.get("OcrDetails", {})) for page in iter_pages(result)]


@pytest.fixture(scope="module")
def phototest(shared_data: Path) -> str:
    return str(shared_data / "ocr" / "phototest.tif")


def read(path: str, **options) -> list[tuple[str, dict]]:
    engine = load_engine("auto", **options)
    try:
        with open_document(path) as document:
            return page_records(engine.process(document))
    finally:
        engine.close()


def test_text_layer_pages_say_so_and_scans_say_why_they_were_ocred(shared_data: Path):
    (engine, details), = read(str(shared_data / "pdfs" / "scotus-transcript-p1.pdf"))
    assert engine == "pdftext" and details["Reason"].startswith("text layer: ")
    (engine, details), = read(str(SCAN_PDF))
    assert engine == "tesseract"
    assert "no usable text layer" in details["Reason"] and details["Reason"].endswith("quality fast")
    assert details["Resolution"]["Source"] in {"page-size", "declared", "text-height", "rendered", "unknown"}


@pytest.mark.slow
def test_balanced_keeps_a_confident_page_and_rereads_a_doubtful_one(phototest: str):
    (engine, details), = read(phototest, quality="balanced", rerun_below=0.0)
    assert engine == "tesseract" and "expects" in details["Reason"] and "ExpectedCorrectWords" not in details
    # Every page is doubtful below a bar of 1.0: it is read again and the better reading kept.
    (engine, details), = read(phototest, quality="balanced", rerun_below=1.0)
    tried = details["ExpectedCorrectWords"]
    assert set(tried) == {"tesseract", "rapidocr"}
    assert engine == max(tried, key=tried.get)
    assert f"read again with rapidocr, kept {engine}" in details["Reason"]


@pytest.mark.slow
def test_best_reads_with_the_strong_engine(phototest: str):
    (engine, details), = read(phototest, quality="best")
    assert engine == "rapidocr" and details["Reason"].endswith("quality best")


def test_thai_pages_stay_with_the_engine_that_reads_thai(phototest: str):
    (engine, details), = read(phototest, quality="best", fallback_options={"languages": ["eng", "tha"]})
    assert engine == "tesseract"
    assert "rapidocr does not read eng+tha" in details["Reason"]


def test_quality_is_for_auto_only(phototest: str, tmp_path: Path):
    assert engine_options("auto", ["eng"], None, "balanced") == {
        "fallback_options": {"languages": ["eng"]}, "quality": "balanced"
    }
    with pytest.raises(OcrError, match="--quality chooses engines for the auto engine"):
        engine_options("tesseract", None, None, "best")
    args = ["ocr", phototest, "-o", str(tmp_path), "--engine", "tesseract", "--quality", "best"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "--quality chooses engines for the auto engine" in result.output


def test_calibration_fit_recovers_a_known_reliability():
    rng = random.Random(7)
    slope, intercept = 6.0, -3.0  # a word scored 50 is right half the time, one scored 90 about 92%
    raw = [rng.uniform(0, 100) for _ in range(4000)]
    truth = [rng.random() < 1 / (1 + 2.718281828 ** -(slope * r / 100 + intercept)) for r in raw]
    fitted = fit_calibration(raw, truth, "synthetic")
    assert fitted.slope == pytest.approx(slope, abs=0.8)
    assert fitted.intercept == pytest.approx(intercept, abs=0.5)
    assert fitted.probability(50) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="as many outcomes as scores"):
        fit_calibration([50.0], [], "broken")
