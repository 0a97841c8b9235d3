"""Page images for reviewers and for exported annotations: rendered on the server, cached on disk.

PDFs and images go through the same ``open_document`` / ``render`` path, so a scanned PNG is
reviewed like a PDF (upstream's review page showed PDFs only). Pages are rendered at one width;
the cache key is a hash of the document's location, size and modification time, the page and
the width, so no file name is ever built from what a browser sent.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
from dataclasses import dataclass

from docfields import storage
from docfields.documents import open_document
from docfields.thumbnails import image_to_png

logger = logging.getLogger(__name__)

_TALL = 20  # pages up to 20 times taller than wide are fitted to the width
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LAYOUTS_KEPT = 1024  # page layouts remembered (documents), a few hundred bytes each


@dataclass(frozen=True)
class PageLayout:
    """Page count and displayed size of every page (pixels at the renderer's width)."""

    sizes: tuple[tuple[int, int], ...]

    @property
    def page_count(self) -> int:
        """Number of pages."""
        return len(self.sizes)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its header, without decoding it."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


class PageImages:
    """Renders document pages to PNG at a fixed width, caching them under ``cache_dir``.

    Safe to share between the threads of a web server: rendering is serialised by the document
    layer's PDFium lock and cache files are written atomically.
    """

    def __init__(self, cache_dir: str, width: int = 1200) -> None:
        self.cache_dir = cache_dir
        self.width = width
        self._layouts: dict[str, PageLayout] = {}
        self._lock = threading.Lock()

    def _fingerprint(self, document_url: str) -> str:
        stamp = storage.local_path(document_url).stat().st_mtime_ns if storage.is_local(document_url) else 0
        return f"{document_url}\x00{storage.size(document_url)}\x00{stamp}"

    def layout(self, document_url: str) -> PageLayout:
        """Page count and the pixel size of each page once rendered (from the page sizes, no rendering)."""
        key = self._fingerprint(document_url)
        with self._lock:
            cached = self._layouts.get(key)
        if cached is not None:
            return cached
        with open_document(document_url) as document:
            sizes = []
            for number in range(1, document.page_count + 1):
                page = document.page_size(number)
                height = max(1, round(self.width * page.height / page.width))
                sizes.append((self.width, min(height, self.width * _TALL)))
        layout = PageLayout(tuple(sizes))
        with self._lock:
            if len(self._layouts) >= _LAYOUTS_KEPT:
                self._layouts.pop(next(iter(self._layouts)))  # the oldest
            self._layouts[key] = layout
        return layout

    def _cache_url(self, document_url: str, page: int) -> str:
        digest = hashlib.sha256(f"{self._fingerprint(document_url)}\x00{page}\x00{self.width}".encode()).hexdigest()
        return storage.join(self.cache_dir, digest[:2], f"{digest}.png")

    def png(self, document_url: str, page: int) -> bytes:
        """PNG bytes of page ``page`` (1-based), rendered once and then read from the cache.

        Raises:
            DocumentError: when the document cannot be opened or has no such page.
        """
        cached = self._cache_url(document_url, page)
        if storage.exists(cached):
            return storage.read_bytes(cached)
        with open_document(document_url) as document:
            image = document.render(page, size=(self.width, self.width * _TALL))
        data = image_to_png(image)
        storage.write_bytes_atomic(cached, data)
        logger.debug("rendered %s page %d (%d x %d)", document_url, page, *image.size)
        return data
