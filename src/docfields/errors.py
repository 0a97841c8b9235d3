"""Errors raised by docfields.

Every error a user can cause derives from one base, so a caller (the CLI, a batch runner, a
service) can catch ``DocfieldsError`` and report it, while programming errors still surface::

    DocfieldsError
     ├── DocumentError          a file cannot be opened, counted or rendered (names file, page)
     │    └── DocumentLimitError    the file breaks a configured limit (bytes, pages, pixels)
     ├── TextractFormatError    Textract JSON does not match the contract (names block and key)
     ├── OcrError               an OCR engine failed on a page
     │    ├── EngineUnavailableError  the engine's library or data is not installed
     │    └── UnknownEngineError      no engine is registered under that name
     ├── NormalizerError        normalizer data, model or service unusable (names file or URL)
     │    ├── UnknownNormalizerError  a normalizer name is neither a rule, a model nor a URL
     │    └── NormalizerUnavailableError  a normalizer service did not answer (retry later)
     ├── AnnotationError        a manifest or export line is unusable (names file and line or task)
     ├── ModelError             a tagger model cannot be built, loaded, saved or trained (names it)
     ├── FieldConfigError       a field configuration is invalid (names file, field and key)
     ├── ResultFormatError      a result JSON breaks the Result contract (names file and key)
     ├── ReviewError            a review answer, task or review setting is unusable (names it)
     ├── PipelineError          the pipeline store refuses an operation (names the document)
     │    └── UnknownDocumentError    no document with that id in the store
     ├── PipelineConfigError    a pipeline reconfiguration is refused, or a service cannot be asked
     │                          for one (names the key, or the service's URL)
     ├── OutputError            an output path is unusable: a file where a folder must go, or a
     │                          path that would land outside the output folder (names the path)
     ├── MissingExtraError      an optional part (pip extra) is not installed (names the pip command)
     ├── ClusterError           a Ray cluster cannot be reached or used (names the address)
     ├── CapacityError          a model deployment's queue is full: retry after the seconds it names
     │                          (HTTP 429 with Retry-After; names the deployment)
     └── AutoscaleError         an autoscaling file, request trace or scaling policy is unusable
                                (names the file, and the deployment and key or the line)
"""

from __future__ import annotations

from typing import Any


class DocfieldsError(Exception):
    """Base of every error docfields raises on bad input or missing parts."""

    exit_code = 1

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by class, ``args`` and attributes, so an error raised in another process (a Ray
        Serve replica) comes back as its own class: the default replays ``cls(*args)``, which fails
        for the subclasses whose ``__init__`` takes other arguments than their message."""
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(cls: type[DocfieldsError], args: tuple[Any, ...], state: dict[str, Any]) -> DocfieldsError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class DocumentError(DocfieldsError):
    """A document cannot be opened, counted or rendered.

    The message always names the file (and the page when one is involved), because in a batch
    of thousands of files the file name is the only useful part of the report.
    """

    exit_code = 3

    def __init__(self, source: str, reason: str, page: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.page = page
        where = f"{source} (page {page})" if page is not None else source
        super().__init__(f"{where}: {reason}")


class DocumentLimitError(DocumentError):
    """A document breaks a configured limit: size in bytes, page count or pixels per page."""

    exit_code = 4


class TextractFormatError(DocfieldsError):
    """Textract JSON that breaks the contract in DESIGN.md; names the block and the key."""

    exit_code = 5


class OcrError(DocfieldsError):
    """An OCR engine failed."""

    exit_code = 6


class EngineUnavailableError(OcrError):
    """The engine's library or language data is missing; the message says how to install it."""


class UnknownEngineError(OcrError):
    """No OCR engine is registered under the requested name; the message lists the known ones."""


class NormalizerError(DocfieldsError):
    """Normalizer data, a model directory or a normalizer service cannot be used.

    The message names the file, directory or URL, and the key or line where one is involved.
    """

    exit_code = 7


class UnknownNormalizerError(NormalizerError):
    """A normalizer name is neither a built-in rule, a model directory nor an http(s) URL."""


class NormalizerUnavailableError(NormalizerError):
    """A normalizer service did not answer (refused, timed out, HTTP 5xx): the service failed, not the text.

    Normalizers let it through instead of marking values failed, so a caller can retry later
    (the pipeline's fields stage: a transient error) or keep the raw texts (``docfields extract``).
    """


class AnnotationError(DocfieldsError):
    """An annotation (manifest line, Label Studio task) cannot be used for training.

    ``where`` is ``"<manifest> line N"`` or ``"<export> task T"``: an annotator fixes one line
    among thousands, so the message must point at it. ``kind`` names the problem class
    (``json``, ``schema``, ``box-outside-image``, ``unknown-class``, ``textract-missing`` ...)
    so that a batch can count problems by class.
    """

    exit_code = 8

    def __init__(self, where: str, reason: str, kind: str = "invalid") -> None:
        self.where = where
        self.reason = reason
        self.kind = kind
        super().__init__(f"{where}: {reason}")


class ModelError(DocfieldsError):
    """A field-tagger model (``docfields.ner``) cannot be built, loaded, saved or trained.

    The message names the model directory or hub name, and for a checkpoint that does not fit
    the architecture it lists the missing and unexpected weight names: the only clue to a wrong
    checkpoint.
    """

    exit_code = 9


class FieldConfigError(DocfieldsError):
    """A field configuration is invalid: unknown key, bad ``Select``, duplicate id, bad normalizer.

    The message names the file, the field (its ``Name``, or its index when it has none) and the
    key, because a typo in one of nineteen fields must be found without reading them all.
    """

    exit_code = 10

    def __init__(self, source: str, reason: str, field: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.field = field
        self.key = key
        where = source + (f": field {field}" if field else "") + (f": {key}" if key else "")
        super().__init__(f"{where}: {reason}")


class ResultFormatError(DocfieldsError):
    """A result JSON (``{"Confidence", "Fields"}``) does not match the Result contract; names the key."""

    exit_code = 11


class ReviewError(DocfieldsError):
    """A review answer, task or review setting cannot be used.

    ``where`` names the document (or settings file) and the message the field or key, so that a
    rejected submission tells the reviewer what to fix.
    """

    exit_code = 13

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class PipelineError(DocfieldsError):
    """The pipeline's store refuses an operation, e.g. completing a review of a document not in review.

    Failures of a document's stages are not raised: they are stored with the document (its
    ``error`` names the stage and the file), and the batch goes on.
    """

    exit_code = 14


class UnknownDocumentError(PipelineError):
    """No document with that id in the pipeline's store (the KeyError of the pipeline)."""


class PipelineConfigError(DocfieldsError):
    """A change of the pipeline's configuration (tagger, OCR engine, threshold) is refused.

    ``key`` names the setting at fault (``tagger``, ``engine_options``, ...), so a ``PUT
    /config/pipeline`` answer or a ``docfields config set`` error says what to fix; None when the
    service itself cannot be reached (the message then names its URL).
    """

    exit_code = 18

    def __init__(self, source: str, reason: str, key: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.key = key
        super().__init__(f"{source}: " + (f"{key}: " if key else "") + reason)


class OutputError(DocfieldsError):
    """An output path cannot be used: a file stands where a folder must go, or a path would land
    outside the output folder the user named. The message names the path."""

    exit_code = 12


class MissingExtraError(DocfieldsError):
    """An optional part of docfields (a pip extra: ray, serve, ml, ...) is not installed.

    The message names the command that needs it and the pip command that installs it, so the fix is
    one copy-paste away instead of an ImportError traceback.
    """

    exit_code = 15

    def __init__(self, extra: str, message: str) -> None:
        self.extra = extra
        super().__init__(message)


class ClusterError(DocfieldsError):
    """A Ray cluster cannot be reached or used: a bad ``--ray`` address, a refused connection."""

    exit_code = 16


class CapacityError(DocfieldsError):
    """A Ray Serve model deployment holds ``max_queued_requests`` waiting requests: this one is refused.

    Nothing was done, so the caller may simply send it again after ``retry_after`` seconds (the
    service answers 429 with that ``Retry-After``), by when a replica has started or freed a slot.
    """

    exit_code = 19

    def __init__(self, deployment: str, reason: str, retry_after: int) -> None:
        self.deployment = deployment
        self.retry_after = retry_after
        super().__init__(f"deployment {deployment}: {reason}; retry after {retry_after} s")


class AutoscaleError(DocfieldsError):
    """An autoscaling file, a request trace or a scaling policy cannot be used.

    The message names the file, then the deployment and key (autoscaling file) or the line (trace):
    a wrong ``max_replicas`` in one of a dozen deployments must be found without reading them all.
    """

    exit_code = 17

    def __init__(
        self, source: str, reason: str, deployment: str | None = None, key: str | None = None, line: int | None = None
    ) -> None:
        self.source = source
        self.reason = reason
        self.deployment = deployment
        self.key = key
        self.line = line
        where = (
            source
            + (f" line {line}" if line is not None else "")
            + (f": deployment {deployment}" if deployment else "")
            + (f": {key}" if key else "")
        )
        super().__init__(f"{where}: {reason}")
