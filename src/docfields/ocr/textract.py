"""Amazon Textract as an engine, for users who have it (boto3 is the optional ``aws`` extra).

Pages are sent one at a time to the synchronous API (DetectDocumentText, or AnalyzeDocument when
features are asked for): a one-page PDF cut from the document with PDFium, or the page image as
PNG. The answers are joined into one document with pages renumbered; blocks stay as Amazon wrote
them, FORMS and TABLES included.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from docfields.documents import Document, PdfDocument
from docfields.errors import EngineUnavailableError, OcrError
from docfields.ocr.base import OcrEngine, OcrOptions
from docfields.textract import TextractDocument, concat_documents, parse_textract

SYNC_MAX_BYTES = 10 * 2**20  # Textract's limit for a synchronous request


class TextractOptions(OcrOptions):
    """Options of the ``textract`` engine."""

    region: str | None = Field(None, description="AWS region; default: the AWS configuration's.")
    features: tuple[str, ...] = Field((), description="AnalyzeDocument features (FORMS, TABLES, ...); none: text only.")
    max_attempts: int = Field(10, ge=1, description="botocore retry attempts (the original used 10).")
    dpi: int = Field(200, ge=50, le=600, description="Resolution for image pages re-encoded as PNG.")


class TextractEngine(OcrEngine):
    """Calls Amazon Textract per page; ``client`` may be given (tests pass a stubbed one)."""

    name: ClassVar[str] = "textract"
    options_class: ClassVar[type[OcrOptions]] = TextractOptions

    def __init__(self, options: TextractOptions | None = None, client: Any = None) -> None:
        self.options: TextractOptions = options or TextractOptions()
        self._client = client if client is not None else self._make_client()
        self._service_version = "unknown"

    @property
    def version(self) -> str:
        """The Textract model version named by the last answer."""
        return self._service_version

    def process(self, document: Document, pages: Sequence[int] | None = None) -> TextractDocument:
        """Send each page, keep Amazon's blocks, renumber pages."""
        numbers = list(pages) if pages is not None else list(range(1, document.page_count + 1))
        answers = [self._call(document, n) for n in numbers]
        return concat_documents(answers, model_version=self.model_version)

    def _call(self, document: Document, page_number: int) -> TextractDocument:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {"Document": {"Bytes": page_bytes(document, page_number, self.options.dpi)}}
        try:
            if self.options.features:
                response = self._client.analyze_document(FeatureTypes=list(self.options.features), **request)
            else:
                response = self._client.detect_document_text(**request)
        except (ClientError, BotoCoreError) as exc:
            raise OcrError(f"{document.source} (page {page_number}): Amazon Textract failed: {exc}") from exc
        self._service_version = str(
            response.get("DetectDocumentTextModelVersion") or response.get("AnalyzeDocumentModelVersion") or "unknown"
        )
        response.pop("ResponseMetadata", None)
        return parse_textract(response, source=f"Textract answer for {document.source} page {page_number}")

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise EngineUnavailableError("textract: boto3 is not installed (pip install 'docfields[aws]')") from exc
        session = boto3.Session(region_name=self.options.region)
        if session.get_credentials() is None:
            raise EngineUnavailableError("textract: no AWS credentials found (aws configure, or AWS_* variables)")
        config = Config(retries={"max_attempts": self.options.max_attempts, "mode": "standard"})
        try:
            return session.client("textract", config=config)
        except BotoCoreError as exc:  # e.g. no region configured
            raise EngineUnavailableError(f"textract: {exc} (set AWS_DEFAULT_REGION or the region option)") from exc


def page_bytes(document: Document, page_number: int, dpi: int) -> bytes:
    """One page as a request body: a one-page PDF cut from a PDF, else a PNG of the image page."""
    if isinstance(document, PdfDocument):
        import pypdfium2

        single = pypdfium2.PdfDocument.new()
        try:
            single.import_pages(document.pdfium, [page_number - 1])
            buffer = io.BytesIO()
            single.save(buffer)
        finally:
            single.close()
        data = buffer.getvalue()
    else:
        buffer = io.BytesIO()
        document.render(page_number, dpi=dpi).save(buffer, format="PNG")
        data = buffer.getvalue()
    if len(data) > SYNC_MAX_BYTES:
        raise OcrError(
            f"{document.source} (page {page_number}): {len(data)} bytes exceed Textract's "
            f"synchronous limit of {SYNC_MAX_BYTES}"
        )
    return data
