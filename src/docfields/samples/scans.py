"""Born-digital pages turned into scans, and field boxes mapped into the pixels of any page image.

A scan is the PDF page rendered at 150-200 dpi, turned by up to 1.5 degrees, blurred, given sensor
noise and saved through JPEG, so OCR engines meet the defects of a flatbed scan while every value
stays legible. The boxes follow the page: a point is scaled from PDF points to pixels and then
turned with the page (``PageGeometry``).

A turned line of text no longer fits an upright box: the upright box around a long turned line
grows taller than the line spacing and would cover half of the words above or below it. On a
turned page, a line's words are therefore boxed in runs short enough that the box grows by at
most a quarter of the text height; upright pages get one box per line, as a human annotator draws.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from docfields.samples.flow import Mention, WordBox

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

SCAN_DPIS = (150, 175, 200)
MAX_ANGLE = 1.5
BOX_PADDING = 1


@dataclass(frozen=True)
class PixelBox:
    """A box in the pixels of a page image, as SageMaker Ground Truth stores it."""

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class PageGeometry:
    """Maps PDF points of a page (origin bottom left) to pixels of its page image (origin top left).

    Args:
        height_pt: Page height in points.
        dpi: Resolution of the page image.
        image_size: (width, height) of the page image in pixels.
        angle: Degrees the page was turned counter-clockwise about the image centre (PIL's ``rotate``).
    """

    height_pt: float
    dpi: float
    image_size: tuple[int, int]
    angle: float = 0.0

    def point_to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """A point in PDF points to (x, y) in image pixels."""
        scale = self.dpi / 72
        px, py = x * scale, (self.height_pt - y) * scale
        if not self.angle:
            return px, py
        cx, cy = self.image_size[0] / 2, self.image_size[1] / 2
        cos, sin = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        dx, dy = px - cx, py - cy
        return cx + dx * cos + dy * sin, cy - dx * sin + dy * cos

    def words_to_pixels(self, words: Sequence[WordBox]) -> PixelBox:
        """The upright box around the given words, padded by a pixel, rounded outwards and clipped."""
        left, bottom = min(w.left for w in words), min(w.bottom for w in words)
        right, top = max(w.right for w in words), max(w.top for w in words)
        corners = [self.point_to_pixel(x, y) for x in (left, right) for y in (bottom, top)]
        width, height = self.image_size
        x0 = max(0, math.floor(min(c[0] for c in corners)) - BOX_PADDING)
        y0 = max(0, math.floor(min(c[1] for c in corners)) - BOX_PADDING)
        x1 = min(width, math.ceil(max(c[0] for c in corners)) + BOX_PADDING)
        y1 = min(height, math.ceil(max(c[1] for c in corners)) + BOX_PADDING)
        return PixelBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _runs(line: Sequence[WordBox], angle: float) -> list[list[WordBox]]:
    """Split a line into runs whose upright box grows by at most a quarter of the text height when turned."""
    if not angle:
        return [list(line)]
    height = max(w.top - w.bottom for w in line)
    longest = 0.25 * height / abs(math.sin(math.radians(angle)))
    runs: list[list[WordBox]] = [[]]
    for word in line:
        if runs[-1] and word.right - runs[-1][0].left > longest:
            runs.append([])
        runs[-1].append(word)
    return runs


def mention_boxes(mention: Mention, geometry: PageGeometry) -> list[PixelBox]:
    """The annotation boxes of one mention: one per printed line, or per short run on a turned page."""
    return [geometry.words_to_pixels(run) for line in mention.lines for run in _runs(line, geometry.angle)]


@dataclass(frozen=True)
class ScanDefects:
    """What the scanner did to one page."""

    angle: float
    blur: float
    noise: float


def draw_defects(rng: random.Random) -> ScanDefects:
    """Random but legible scan defects (OCR must still read every value)."""
    return ScanDefects(
        angle=round(rng.uniform(-MAX_ANGLE, MAX_ANGLE), 2),
        blur=round(rng.uniform(0.0, 0.8), 2),
        noise=round(rng.uniform(2.0, 7.0), 1),
    )


def degrade_page(
    image: Image.Image, defects: ScanDefects, grayscale: bool, noise_rng: np.random.Generator
) -> Image.Image:
    """Turn, blur and add sensor noise to a rendered page (JPEG compression comes with the file).

    The noise is a 512-pixel tile of Gaussian noise repeated from a random offset: drawing a
    fresh sample for every pixel of a 200 dpi page costs more than the rest of the scan.
    """
    import numpy as np
    from PIL import Image, ImageFilter

    mode = "L" if grayscale else "RGB"
    white = 255 if grayscale else (255, 255, 255)
    page = image.convert(mode).rotate(defects.angle, resample=Image.Resampling.BILINEAR, fillcolor=white)
    if defects.blur:
        page = page.filter(ImageFilter.GaussianBlur(defects.blur))
    width, height = page.size
    tile = (noise_rng.standard_normal((_NOISE_TILE, _NOISE_TILE), dtype=np.float32) * defects.noise).astype(np.int16)
    dy, dx = noise_rng.integers(0, _NOISE_TILE, size=2)
    noise = np.tile(tile, (height // _NOISE_TILE + 2, width // _NOISE_TILE + 2))[dy : dy + height, dx : dx + width]
    pixels = np.asarray(page, dtype=np.int16)
    pixels = pixels + (noise[..., None] if pixels.ndim == 3 else noise)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode)


_NOISE_TILE = 512


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of a page, as a scanner saves it."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def jpegs_to_pdf(jpegs: Sequence[bytes], dpi: float) -> bytes:
    """An image-only PDF (no text layer): one JPEG per page, embedded byte for byte, at ``dpi``.

    Written by hand because both reportlab (ASCII85 in pure Python) and Pillow (re-encodes the
    JPEG) would be slower or change the pixels that the page images must match.
    """
    from PIL import Image

    objects: list[bytes] = []
    kids = []
    for data in jpegs:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        colors = "/DeviceGray" if image.mode == "L" else "/DeviceRGB"
        size = f"{width * 72 / dpi:.4f} {height * 72 / dpi:.4f}"
        first = len(objects) + 3  # objects 1 and 2 are the catalog and the page tree
        content = f"q {size.split()[0]} 0 0 {size.split()[1]} 0 0 cm /Im0 Do Q".encode()
        kids.append(f"{first} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size}] /Resources << /XObject << /Im0 {first + 2} 0 R >> >> "
            f"/Contents {first + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        image_dict = (
            f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace {colors} "
            f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(data)} >>\nstream\n"
        )
        objects.append(image_dict.encode() + data + b"\nendstream")
    tree = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    return _pdf_file([b"<< /Type /Catalog /Pages 2 0 R >>", tree, *objects])


def _pdf_file(objects: Sequence[bytes]) -> bytes:
    """Number the objects from 1, and add the cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def images_to_tiff(images: Sequence[Image.Image], dpi: float, quality: int) -> bytes:
    """A multi-page TIFF with JPEG-compressed frames, the usual output of a document scanner."""
    buffer = io.BytesIO()
    images[0].save(
        buffer, "TIFF", save_all=True, append_images=images[1:], compression="jpeg", quality=quality, dpi=(dpi, dpi)
    )
    return buffer.getvalue()


def tiff_frames(data: bytes) -> list[Image.Image]:
    """The decoded frames of a TIFF: the page images its boxes refer to."""
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as tiff:
        return [frame.copy() for frame in ImageSequence.Iterator(tiff)]
