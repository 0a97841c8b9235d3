"""docfields: business documents to validated fields, with open OCR and layout-aware models.

Importing the package is cheap: heavy libraries load inside the functions that use them.
"""

from docfields.errors import (
    AnnotationError,
    DocfieldsError,
    DocumentError,
    DocumentLimitError,
    EngineUnavailableError,
    FieldConfigError,
    ModelError,
    NormalizerError,
    OcrError,
    PipelineError,
    ResultFormatError,
    ReviewError,
    TextractFormatError,
    UnknownDocumentError,
    UnknownEngineError,
    UnknownNormalizerError,
)

__version__ = "0.1.0"

__all__ = [
    "AnnotationError",
    "DocfieldsError",
    "DocumentError",
    "DocumentLimitError",
    "EngineUnavailableError",
    "FieldConfigError",
    "ModelError",
    "NormalizerError",
    "OcrError",
    "PipelineError",
    "ResultFormatError",
    "ReviewError",
    "TextractFormatError",
    "UnknownDocumentError",
    "UnknownEngineError",
    "UnknownNormalizerError",
    "__version__",
]
