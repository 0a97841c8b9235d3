"""RapidOCR (PP-OCR models on ONNX Runtime) with the models its wheel ships, offline.

The direction classifier stays off: measured here, it flipped whole English lines. Asking
RapidOCR for other model files would try a download, so this engine exposes no model choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from PIL import Image
from pydantic import Field

from docfields.errors import EngineUnavailableError
from docfields.ocr.base import ImageOcrEngine, ImageOcrOptions, OcrOptions
from docfields.textract import NormBox, OcrLine, OcrWord


class RapidOcrOptions(ImageOcrOptions):
    """Options of the ``rapidocr`` engine."""

    dpi: int = Field(200, ge=50, le=1200, description="Resolution PDF pages are rendered at.")
    threads: int = Field(2, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    det_max_side: int | None = Field(
        None,
        ge=320,
        le=4000,
        description="Longest side the text detector sees (larger images are shrunk for detection only): "
        "faster, a little less recall; default: RapidOCR's own (shortest side at least 736).",
    )


def polygon_to_normbox(points: list[list[float]], width: int, height: int) -> NormBox:
    """Axis-aligned box around a pixel polygon, in 0..1 of the image."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, top = max(0.0, min(xs)), max(0.0, min(ys))
    right, bottom = min(float(width), max(xs)), min(float(height), max(ys))
    return NormBox(left / width, top / height, (right - left) / width, (bottom - top) / height)


def lines_from_word_results(
    word_results: Sequence[Sequence[tuple[str, float, list[list[float]]]]], width: int, height: int
) -> list[OcrLine]:
    """Turn RapidOCR's per-line ``(text, score, polygon)`` word tuples into OcrLines."""
    lines = []
    for line in word_results:
        words = tuple(
            OcrWord(text=text.strip(), confidence=100.0 * float(score), box=polygon_to_normbox(poly, width, height))
            for text, score, poly in line
            if text.strip()
        )
        if words:
            lines.append(OcrLine(words=words))
    return lines


def rapidocr_params(options: RapidOcrOptions) -> dict[str, object]:
    """RapidOCR's settings for these options (its own defaults for whatever is not set here)."""
    params: dict[str, object] = {
        "Global.use_cls": False,
        "Global.log_level": "error",
        "EngineConfig.onnxruntime.intra_op_num_threads": options.threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    if options.det_max_side is not None:
        params |= {"Det.limit_type": "max", "Det.limit_side_len": options.det_max_side}
    return params


class RapidOcrEngine(ImageOcrEngine):
    """RapidOCR with word boxes; one ONNX session set per engine instance."""

    name: ClassVar[str] = "rapidocr"
    options_class: ClassVar[type[OcrOptions]] = RapidOcrOptions
    # SROIE receipts (~200 DPI) resampled to 150 / 200 / 300 DPI: word recall 0.756 / 0.770 / 0.755, CPU +25% at 300
    # (RapidOCR shrinks any image over 2,000 px to that, so more pixels rarely reach its models).
    target_dpi: ClassVar[int] = 200
    languages_read: ClassVar[frozenset[str]] = frozenset({"eng"})
    """Tesseract codes of what its shipped models read (Latin and Chinese): ``auto`` keeps Thai pages off it."""

    def __init__(self, options: RapidOcrOptions | None = None) -> None:
        self.options: RapidOcrOptions = options or RapidOcrOptions()
        try:
            from rapidocr import RapidOCR
            from rapidocr._version import __version__
        except ImportError as exc:
            raise EngineUnavailableError(
                "rapidocr: the rapidocr package is not installed (pip install 'docfields[rapidocr]')"
            ) from exc
        self._version = __version__
        self._engine = RapidOCR(params=rapidocr_params(self.options))

    @property
    def version(self) -> str:
        """The rapidocr package version."""
        return self._version

    def read_image(self, image: Image.Image) -> list[OcrLine]:
        """Detect text lines, recognise them, and keep RapidOCR's word boxes."""
        result = self._engine(np.asarray(image.convert("RGB")), return_word_box=True)
        if not result.word_results:
            return []
        return lines_from_word_results(result.word_results, image.width, image.height)
