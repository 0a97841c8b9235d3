"""Image clean-up before OCR: dark scanner borders, skew, uneven light and faint print (numpy + Pillow only).

Every function takes a Pillow image (RGB is converted to grayscale "L") and those that return an
image return "L": both Tesseract and RapidOCR read grey. Each step measures on the pixels it must
and estimates on a thinned copy where that is enough, so a receipt costs tens of milliseconds.
``preprocess.prepare_page`` decides which steps run; this module only knows pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageOps

from docfields.ocr.resolution import otsu_threshold, paper_level
from docfields.textract import NormBox

BORDER_DARK_SHARE = 0.6  # a row or column this dark is scanner border, not print (text lines stay far below)
SKEW_MAX_SIDE = 1200  # longest side of the copy skew is measured on: 0.1 deg moves a line end by ~1 px
SKEW_MAX_POINTS = 60_000  # dark pixels kept for the projection search
SKEW_MIN_POINTS = 500  # fewer dark pixels than this: no measurable text
SKEW_NEGLIGIBLE = 0.1  # degrees: below this a page counts as straight
# percent of the darkest and lightest pixels clipped when grey levels are stretched: at 1% Tesseract's word
# recall on the 60 SROIE receipts fell from 0.613 to 0.584 (clipping the ink side did it); at 0.2% it held
STRETCH_CUTOFF = 0.2
SAUVOLA_RANGE = 128.0  # Sauvola's R: the dynamic range of the standard deviation on 8-bit grey


def grey(image: Image.Image) -> Image.Image:
    """The image as 8-bit grayscale, the only mode the steps work in."""
    return image if image.mode == "L" else image.convert("L")


def dark_threshold(pixels: np.ndarray) -> float:
    """Half the paper's grey level (its 90th percentile): borders and ink are below it, paper above."""
    return float(np.percentile(pixels[::4, ::4], 90)) / 2


def border_run(dark_share: np.ndarray) -> int:
    """How many leading entries (rows or columns from one edge) are border: the run above BORDER_DARK_SHARE."""
    light = np.flatnonzero(dark_share <= BORDER_DARK_SHARE)
    return int(light[0]) if light.size else len(dark_share)


def content_box(image: Image.Image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in pixels of the page's content once dark scanner borders / black margins along
    the edges are removed (the whole image when there are none). Never crops into text.

    Only whole rows and columns that are mostly dark, in a run starting at an edge, are dropped, so a
    text line (far less than half ink) stops the run. Two passes: a left frame darkens the top rows
    only partly until the top frame is gone, and the other way round.
    """
    pixels = np.asarray(grey(image))
    dark = pixels < dark_threshold(pixels)
    top, left, bottom, right = 0, 0, dark.shape[0], dark.shape[1]
    for _ in range(2):
        inner = dark[top:bottom, left:right]
        if inner.size == 0:
            return 0, 0, pixels.shape[1], pixels.shape[0]
        rows, columns = inner[:, ::2].mean(axis=1), inner[::2, :].mean(axis=0)
        top, bottom = top + border_run(rows), bottom - border_run(rows[::-1])
        left, right = left + border_run(columns), right - border_run(columns[::-1])
        if top >= bottom or left >= right:  # all dark: nothing to keep, so keep everything
            return 0, 0, pixels.shape[1], pixels.shape[0]
    return left, top, right, bottom


def ink_points(image: Image.Image) -> np.ndarray:
    """(x, y) of the dark pixels of a copy at most SKEW_MAX_SIDE long, thinned to SKEW_MAX_POINTS: what skew is
    measured on. Empty when the page is blank (one grey level) or nearly so."""
    small = grey(image)
    scale = SKEW_MAX_SIDE / max(small.size)
    if scale < 1:
        small = small.resize((round(small.width * scale), round(small.height * scale)), Image.Resampling.BILINEAR)
    pixels = np.asarray(small)
    left, top, right, bottom = content_box(small)
    pixels = pixels[top:bottom, left:right]
    if pixels.size == 0 or int(pixels.max()) - int(pixels.min()) < 32:
        return np.empty((0, 2))
    ys, xs = np.nonzero(pixels <= otsu_threshold(pixels))
    if len(xs) > pixels.size / 2:  # more ink than paper: not a page of text
        return np.empty((0, 2))
    step = max(1, len(xs) // SKEW_MAX_POINTS)
    return np.column_stack((xs[::step], ys[::step])).astype(np.float64)


def line_sharpness(points: np.ndarray, angle: float) -> float:
    """How crisply the ink falls into rows when sheared by ``angle`` degrees (image y down): the energy of the
    row profile's steps, highest when the text lines lie along the rows (Postl's criterion)."""
    rows = points[:, 1] - points[:, 0] * math.tan(math.radians(angle))
    profile = np.bincount((rows - rows.min()).astype(np.int64)).astype(np.float64)
    return float(np.sum(np.diff(profile) ** 2))


def best_angle(points: np.ndarray, angles: np.ndarray) -> float:
    """The candidate angle whose row profile is sharpest."""
    return float(angles[int(np.argmax([line_sharpness(points, a) for a in angles]))])


def estimate_skew(image: Image.Image, max_angle: float = 5.0) -> float:
    """Degrees to pass to `rotate` to straighten the text lines (PIL convention: positive = counter-clockwise),
    0.0 when the page has no measurable text or is already straight (within ~0.1 deg).

    A projection-profile search over the dark pixels of a downscaled, Otsu-binarised copy: every
    0.5 deg within ``max_angle``, then every 0.05 deg around the best. A line that falls to the right
    (image y grows with x) needs a counter-clockwise turn, so the slope's angle is the answer as is.
    """
    points = ink_points(image)
    if len(points) < SKEW_MIN_POINTS:
        return 0.0
    coarse = best_angle(points, np.arange(-max_angle, max_angle + 1e-9, 0.5))
    fine = best_angle(points, np.clip(coarse + np.arange(-0.5, 0.5 + 1e-9, 0.05), -max_angle, max_angle))
    return 0.0 if abs(fine) < SKEW_NEGLIGIBLE else round(fine, 2)


def rotate(image: Image.Image, angle: float) -> Image.Image:
    """Rotate about the centre by `angle` degrees keeping the size (expand=False), filling with white, bicubic.

    Keeping the size keeps the page's frame, so boxes map back with `rotate_box_back` alone; the
    corners cut off at a few degrees are margin.
    """
    image = grey(image)
    if angle == 0:
        return image.copy()
    return image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)


def rotate_box_back(box: NormBox, angle: float, size: tuple[int, int]) -> NormBox:
    """Inverse of `rotate` for a box: a 0..1 box found on the rotated image (of pixel size `size`) -> the
    axis-aligned 0..1 box around the same region of the unrotated image (rotate the four corners back about the
    centre), clipped to 0..1.
    """
    width, height = size
    cx, cy = width / 2, height / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xs, ys = [], []
    for fx, fy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        dx = (box.left + fx * box.width) * width - cx
        dy = (box.top + fy * box.height) * height - cy
        # PIL turned the page counter-clockwise on screen (y down); turning back is the clockwise turn
        xs.append((cx + dx * cos - dy * sin) / width)
        ys.append((cy + dx * sin + dy * cos) / height)
    left, top = min(max(min(xs), 0.0), 1.0), min(max(min(ys), 0.0), 1.0)
    right, bottom = min(max(max(xs), 0.0), 1.0), min(max(max(ys), 0.0), 1.0)
    return NormBox(left, top, right - left, bottom - top)


def window_means(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``values`` over the window x window square around each cell (edges repeated), from one integral
    image: constant time per cell whatever the window."""
    radius = window // 2
    padded = np.pad(values, ((radius + 1, radius), (radius + 1, radius)), mode="edge")
    padded[0, :] = 0
    padded[:, 0] = 0
    integral = padded.cumsum(axis=0).cumsum(axis=1)
    size = 2 * radius + 1
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    return sums / (size * size)


def sauvola_threshold(pixels: Image.Image, window: int, k: float) -> Image.Image:
    """Sauvola's threshold map m * (1 + k * (s / R - 1)) as a grey image of the same size.

    The local mean m and deviation s change slowly, so they are computed on blocks of a few pixels
    (exact block means of the grey levels and of their squares) and the map is scaled back: the
    integral images then cost a tenth of full resolution.
    """
    block = max(1, window // 10)
    cells = (max(1, pixels.width // block), max(1, pixels.height // block))
    values = pixels.convert("F")
    level = np.asarray(values.resize(cells, Image.Resampling.BOX), dtype=np.float64)
    square = np.asarray(Image.fromarray(np.asarray(values) ** 2).resize(cells, Image.Resampling.BOX), dtype=np.float64)
    cell_window = max(3, round(window / block) | 1)
    mean = window_means(level, cell_window)
    deviation = np.sqrt(np.maximum(window_means(square, cell_window) - mean * mean, 0.0))
    threshold = np.clip(mean * (1 + k * (deviation / SAUVOLA_RANGE - 1)), 0, 255).round().astype(np.uint8)
    return Image.fromarray(threshold).resize(pixels.size, Image.Resampling.BILINEAR)


def binarize(image: Image.Image, window: int = 31, k: float = 0.2) -> Image.Image:
    """Sauvola adaptive threshold (integral images in numpy): black text on white, for faint thermal print and
    uneven light.

    The grey levels are stretched first: Sauvola's threshold assumes ink and paper span the full
    8-bit range, and faint print that does not would fall on the paper side.
    """
    pixels = ImageOps.autocontrast(grey(image), cutoff=STRETCH_CUTOFF)
    threshold = np.asarray(sauvola_threshold(pixels, window, k))
    return Image.fromarray((np.asarray(pixels) > threshold) * np.uint8(255))


def flatten_background(image: Image.Image) -> Image.Image:
    """Divide out the paper's shading (a shadow, a fold, a light gradient) so the paper is white everywhere: the
    paper's local brightness is resolution's estimate (the brightest 8 x 8 block nearby), in which thin ink does
    not count."""
    paper = np.asarray(paper_level(image), dtype=np.float32)
    flat = np.asarray(image, dtype=np.float32) * 255 / np.maximum(paper, 1)
    return Image.fromarray(np.clip(flat, 0, 255).astype(np.uint8))


def normalize_contrast(image: Image.Image) -> Image.Image:
    """Flatten the paper's shading, then stretch the grey levels over the full range (ImageOps.autocontrast with a
    small cutoff); keeps grey levels (Tesseract and RapidOCR both read grey)."""
    return ImageOps.autocontrast(flatten_background(grey(image)), cutoff=STRETCH_CUTOFF)
