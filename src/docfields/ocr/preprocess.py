"""A page image prepared for an OCR engine, and the way back from its boxes to the original page.

Engines read best at their own resolution (Tesseract is tuned for ~300 DPI text) and on straight,
clean pages, but users give fax-era 90-DPI scans, 600-DPI photos and skewed receipts. Each page is
rendered (a PDF scan at its native resolution), optionally cropped to its content and deskewed,
resampled to the engine's resolution and cleaned; the engine's boxes then come back through the
inverse of each step, so OCR output always describes the page as the user's file shows it.
``details`` records what ran and why; it becomes the PAGE block's ``OcrDetails``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from docfields.documents import Document
from docfields.ocr.base import ImageOcrOptions
from docfields.textract import NormBox, OcrLine


@dataclass(frozen=True)
class PreparedPage:
    """The image an engine reads, and where it sits in the original page image.

    ``crop`` is the region (left, top, right, bottom, in pixels of the original page image) the
    engine's image shows; ``angle`` the deskew rotation applied to that region (PIL's convention).
    Resampling scales the whole image, so 0..1 boxes need no mapping for it.
    """

    image: Image.Image
    page_size: tuple[int, int]
    crop: tuple[int, int, int, int]
    angle: float
    details: dict[str, Any]

    def to_page(self, box: NormBox) -> NormBox:
        """A 0..1 box of the prepared image as a 0..1 box of the original page image."""
        from docfields.ocr.cleanup import rotate_box_back

        left, top, right, bottom = self.crop
        if self.angle:
            box = rotate_box_back(box, self.angle, (right - left, bottom - top))
        width, height = self.page_size
        scale_x, scale_y = (right - left) / width, (bottom - top) / height
        return NormBox(
            left / width + box.left * scale_x,
            top / height + box.top * scale_y,
            box.width * scale_x,
            box.height * scale_y,
        )

    def lines_on_page(self, lines: list[OcrLine]) -> list[OcrLine]:
        """The engine's lines with every word box mapped to the original page."""
        if self.crop == (0, 0, *self.page_size) and not self.angle:
            return lines
        return [
            replace(line, words=tuple(replace(word, box=self.to_page(word.box)) for word in line.words))
            for line in lines
        ]


def prepare_page(document: Document, page_number: int, options: ImageOcrOptions, engine_dpi: int) -> PreparedPage:
    """Render one page and prepare it for an engine that reads best at ``engine_dpi``."""
    from docfields.ocr import cleanup, resolution

    image, estimate = resolution.render_for_ocr(document, page_number, options.dpi, options.max_pixels)
    page_size = image.size
    crop = (0, 0, *page_size)
    details: dict[str, Any] = {"Resolution": estimate.as_details()}
    steps: list[str] = []
    if options.remove_borders:
        crop = cleanup.content_box(image)
        if crop != (0, 0, *page_size):
            image = image.crop(crop)
            steps.append("remove-borders")
            details["Crop"] = list(crop)
    angle = cleanup.estimate_skew(image) if options.deskew else 0.0  # 0.0: straight enough as it is
    if angle:
        image = cleanup.rotate(image, angle)
        steps.append("deskew")
        details["DeskewAngle"] = angle
    if options.normalize_resolution:
        target = options.target_dpi or engine_dpi
        resampled, dpi = resolution.resample(image, estimate, target, options.max_pixels)
        if resampled.size != image.size:
            image = resampled
            steps.append("resample")
            details["ResampledDpi"] = round(dpi)
    if options.binarize != "none":
        image = cleanup.binarize(image) if options.binarize == "sauvola" else cleanup.normalize_contrast(image)
        steps.append(options.binarize)
    if steps:
        details["Steps"] = steps
    return PreparedPage(image=image, page_size=page_size, crop=crop, angle=angle, details=details)
