"""What a document is before any OCR: type, pages, sizes, and whether each page has a text layer."""

from __future__ import annotations

from pydantic import BaseModel

from docfields import storage
from docfields.documents import PdfDocument, open_document
from docfields.ocr.pdftext import text_layer_stats


class PageReport(BaseModel):
    """One page: size, and for PDFs the text layer's character count and verdict."""

    page: int
    width: float
    height: float
    unit: str
    text_chars: int | None = None
    text_layer: str


class DocumentReport(BaseModel):
    """A document as ``docfields inspect`` shows it."""

    source: str
    format: str
    mime_type: str
    bytes: int
    pages: int
    page_reports: list[PageReport]


def inspect_document(source: str, password: str | None = None) -> DocumentReport:
    """Describe a document without rendering it (text-layer checks read PDF objects only)."""
    with open_document(source, password=password) as document:
        reports = []
        for number in range(1, document.page_count + 1):
            size = document.page_size(number)
            chars, verdict = None, "none (image)"
            if isinstance(document, PdfDocument):
                stats = text_layer_stats(document, number)
                chars = stats.chars
                verdict = ("usable: " if stats.usable else "not usable: ") + stats.reason
            reports.append(
                PageReport(
                    page=number,
                    width=size.width,
                    height=size.height,
                    unit=size.unit,
                    text_chars=chars,
                    text_layer=verdict,
                )
            )
        return DocumentReport(
            source=source,
            format=document.format,
            mime_type=document.mime_type,
            bytes=storage.size(source),
            pages=document.page_count,
            page_reports=reports,
        )
