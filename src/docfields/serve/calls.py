"""The model calls of the service: what each model kind loads and does, wherever it runs.

Every route that needs a model (thumbnails, an OCR engine, a tagger, a normalizer) names it with a
``ModelSpec`` and hands a plain function to the app's ``ModelBackend``: ``backend.call(spec, work,
*args)`` lends the loaded model to ``work(model, *args)`` and returns its answer. ``LocalModels``
does that in the service's process through the ``ModelCache``; ``docfields serve --ray`` swaps in
one that sends the same call to the model's Ray Serve deployment, whose replica runs the same
``work`` on its own cache. So a route never knows where its model lives, and the work functions
take and return only picklable values (bytes, dicts, lists).

>>> spec = ModelSpec("tagger", "cards", "models/cards")
>>> spec.deployment
'tagger-cards'
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from docfields.documents import DocumentLimits, open_document
from docfields.errors import DocumentError
from docfields.serve.models import ModelCache
from docfields.thumbnails import ThumbnailOptions, image_to_png, make_thumbnail, make_thumbnails, thumbnails_to_npz

if TYPE_CHECKING:
    from docfields.pipeline import PipelineSettings
    from docfields.serve.settings import ServeSettings

T = TypeVar("T")
ModelKind = Literal["thumbnails", "ocr", "tagger", "normalizer"]

NPZ = "application/x-npz"
JPEG_QUALITY = 90


@dataclass(frozen=True)
class ModelSpec:
    """One loadable model: its kind, the name it is cached and deployed under, and how to load it.

    ``source`` is what the loader reads: a tagger's directory, a normalizer spec, nothing for
    thumbnails; ``options`` are an OCR engine's options (languages, DPI) or a normalizer's prompt.
    ``deployment`` is the Ray Serve deployment that serves it (normalizers built on the same model
    share one; rules need none and share ``normalizer``).
    """

    kind: ModelKind
    name: str
    source: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    deployment_name: str | None = None

    @property
    def deployment(self) -> str:
        """The deployment's name: ``thumbnails``, ``ocr-<engine>``, ``tagger-<name>``, ``normalizer[-<model>]``."""
        if self.deployment_name is not None:
            return self.deployment_name
        return "thumbnails" if self.kind == "thumbnails" else f"{self.kind}-{self.name}"

    @property
    def cache_key(self) -> str:
        """What the model cache keys it by: name and options (one engine, two language sets: two models)."""
        return f"{self.name} {sorted(self.options.items())}" if self.options else self.name

    def load(self) -> Any:
        """Load the model (torch, transformers and OCR libraries are imported here, on first use)."""
        if self.kind == "thumbnails":
            return None
        if self.kind == "ocr":
            from docfields.ocr import load_engine

            return load_engine(self.name, **self.options)
        if self.kind == "tagger":
            from docfields.ner.model import Tagger

            return Tagger.load(str(self.source))
        from docfields.normalize import resolve_normalizer

        return resolve_normalizer(str(self.source), str(self.options.get("prompt", "")))

    def release(self, model: Any) -> None:
        """Free what ``load`` took beyond memory (an OCR engine's native handles)."""
        if self.kind == "ocr":
            model.close()


THUMBNAILS = ModelSpec("thumbnails", "thumbnails")


def document_models(settings: ServeSettings) -> dict[str, ModelSpec]:
    """The models that take a document or a Textract JSON, by deployment name: thumbnails, every
    registered OCR engine (with the pipeline's options for its engine), every named tagger."""
    from docfields.ocr.registry import available_engines

    specs = [THUMBNAILS, *(ocr_spec(engine, settings.pipeline) for engine in available_engines())]
    specs += [ModelSpec("tagger", name, directory) for name, directory in sorted(settings.models.items())]
    return {spec.deployment: spec for spec in specs}


def ocr_spec(engine: str, pipeline: PipelineSettings) -> ModelSpec:
    """The OCR model of ``engine``: with the pipeline's options (languages, DPI) when it is the pipeline's engine."""
    return ModelSpec("ocr", engine, options=pipeline.engine_options if engine == pipeline.engine else {})


class ModelBackend(Protocol):
    """Where model calls run: in this process (``LocalModels``) or on Ray Serve deployments."""

    def call(self, spec: ModelSpec, work: Callable[..., T], *args: Any) -> T:
        """``work(model, *args)`` with the model of ``spec`` loaded."""
        ...

    def max_replicas(self, deployment: str) -> int:
        """How many replicas ``deployment`` may have (async invocations run N per replica)."""
        ...


class LocalModels:
    """Model calls in the service's own process, models lent by its ``ModelCache``."""

    def __init__(self, cache: ModelCache) -> None:
        self.cache = cache

    def call(self, spec: ModelSpec, work: Callable[..., T], *args: Any) -> T:
        """Run ``work`` on the cached model (loaded on first use, one caller at a time)."""
        with self.cache.use(spec.kind, spec.cache_key, spec.load, spec.release) as model:
            return work(model, *args)

    def max_replicas(self, deployment: str) -> int:
        """One: this process is the only replica of every deployment."""
        return 1


# -- the work each kind does: picklable arguments in, picklable answers out ---------------------


def render_thumbnails(
    _: None, data: bytes, name: str, limits: DocumentLimits, options: ThumbnailOptions, media_type: str
) -> bytes:
    """Thumbnails of every page as npz, or one page's PNG or JPEG.

    Raises:
        DocumentError: unreadable document, or an image asked for a document of several pages.
    """
    with open_document(data, name=name, limits=limits) as document:
        if media_type == NPZ:
            return thumbnails_to_npz(make_thumbnails(document, options))
        if document.page_count != 1:
            raise DocumentError(
                str(document.source),
                f"{media_type} holds one page and the document has {document.page_count}; ask for {NPZ}",
            )
        image = make_thumbnail(document, 1, options)
    if media_type == "image/png":
        return image_to_png(image)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def run_ocr(engine: Any, data: bytes, name: str, limits: DocumentLimits) -> dict[str, Any]:
    """Textract JSON of every page of the document."""
    from docfields.textract import textract_to_dict

    with open_document(data, name=name, limits=limits) as document:
        return textract_to_dict(engine.process(document))


def run_tagger(tagger: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The enrichment endpoint's answer: the Textract JSON with classified WORD blocks."""
    from docfields.ner.enrich import enrich_request

    return enrich_request(request, tagger)


def run_normalizer(normalizer: Any, texts: list[str], reference_date: date | None = None) -> list[tuple[str, bool]]:
    """Each text normalized and trimmed, with whether it needs review; year-less and relative
    dates read against ``reference_date``."""
    from docfields.normalize.base import NormalizeContext

    contexts = [NormalizeContext(reference_date=reference_date)] * len(texts)
    return [(value.text.strip(), value.needs_review) for value in normalizer.normalize(texts, contexts)]
