"""docfields: business documents to validated fields, with open OCR and layout-aware models.

Importing the package is cheap: heavy libraries load inside the functions that use them.
"""

from docfields.errors import (
    DocfieldsError,
    DocumentError,
    DocumentLimitError,
    EngineUnavailableError,
    OcrError,
    TextractFormatError,
    UnknownEngineError,
)

__version__ = "0.1.0"

__all__ = [
    "DocfieldsError",
    "DocumentError",
    "DocumentLimitError",
    "EngineUnavailableError",
    "OcrError",
    "TextractFormatError",
    "UnknownEngineError",
    "__version__",
]
