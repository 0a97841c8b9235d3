"""OCR engines that all write Amazon-Textract-compatible JSON, and the batch runner.

>>> from docfields.ocr import available_engines
>>> "tesseract" in available_engines()
True
"""

from docfields.ocr.registry import available_engines, engine_class, engine_options, load_engine
from docfields.ocr.runner import (
    BatchOcrOptions,
    BatchPlan,
    BatchSummary,
    OcrOutcome,
    OcrTask,
    ocr_document,
    ocr_file,
    plan_batch_ocr,
    run_batch_ocr,
)

__all__ = [
    "BatchOcrOptions",
    "BatchPlan",
    "BatchSummary",
    "OcrOutcome",
    "OcrTask",
    "available_engines",
    "engine_class",
    "engine_options",
    "load_engine",
    "ocr_document",
    "ocr_file",
    "plan_batch_ocr",
    "run_batch_ocr",
]
