"""The models a stage runner keeps loaded: OCR engines, taggers, calibrations, normalizer models, field configurations.

Whoever runs stages owns one ``Resources`` (a local worker process, a Ray actor) and hands it
to every stage it runs, so a worker loads an engine or a tagger once for many documents and
nothing lives in a module global: two pipelines in one process, or a test, never see each
other's models, and ``clear()`` frees them.

The service's ``ModelCache`` (``docfields.serve.models``) stays for the service's own endpoints
(``/ocr``, ``/normalize``, ``/models``): it unloads models idle for a while, which a pipeline
worker, busy by design, does not need.

A Tesseract handle and a tagger's forward pass serve one thread at a time: each kind has its
lock, held by the stage while it uses the object.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docfields.fields import FieldConfiguration
    from docfields.fields.calibration import FieldCalibration
    from docfields.ner import Tagger
    from docfields.normalize.base import TextGenerator
    from docfields.ocr.base import OcrEngine
    from docfields.ocr.registry import EngineCache

logger = logging.getLogger(__name__)


class Resources:
    """Loaded-once engines (by name and options), the current tagger and its calibration, normalizer models,
    parsed configurations."""

    def __init__(self, torch_threads: int | None = None) -> None:
        from docfields.ocr.registry import EngineCache  # the pipeline's import stays light (no PDFium)

        self.torch_threads = torch_threads  # worker processes: they, not torch's threads, use the cores
        self.ocr_lock = threading.Lock()
        self.tagger_lock = threading.Lock()
        self._engines: EngineCache = EngineCache()
        self._tagger: tuple[str, str, Tagger] | None = None
        self._configs: dict[str, FieldConfiguration] = {}
        self._calibration: tuple[str, str, FieldCalibration | None] | None = None
        self.generators: dict[str, TextGenerator] = {}  # normalizer models and service clients by location

    def engine(self, name: str, options: dict[str, Any]) -> OcrEngine:
        """The engine of that name and options, built once."""
        return self._engines.get(name, options)

    def tagger(self, directory: str, fingerprint: str) -> Tagger:
        """The tagger of ``directory``, reloaded when its files change; one model in memory at a time."""
        with self.tagger_lock:
            if self._tagger is None or self._tagger[:2] != (directory, fingerprint):
                from docfields.ner import Tagger

                self._tagger = None  # the old model is freed before the new one loads
                logger.info("loading tagger %s", directory)
                self._tagger = (directory, fingerprint, Tagger.load(directory))
                if self.torch_threads is not None:
                    import torch

                    torch.set_num_threads(self.torch_threads)
            return self._tagger[2]

    def calibration(self, directory: str, fingerprint: str) -> FieldCalibration | None:
        """The calibration of the tagger in ``directory`` (None: it has none), read again when its files change."""
        if self._calibration is None or self._calibration[:2] != (directory, fingerprint):
            from docfields.fields.calibration import FieldCalibration

            self._calibration = (directory, fingerprint, FieldCalibration.load(directory))
        return self._calibration[2]

    def configuration(self, raw: bytes, source: str, endpoints: Mapping[str, str] | None = None) -> FieldConfiguration:
        """A field configuration parsed once per content and endpoints (``source`` names it in errors),
        each ``NormalizerEndpoint`` holding a name of ``endpoints`` replaced by what it names."""
        from docfields.fields.config import parse_field_configuration_bytes, resolve_endpoint_names
        from docfields.pipeline.artifacts import bytes_sha256

        endpoints = dict(endpoints or {})
        key = bytes_sha256(raw) + json.dumps(endpoints, sort_keys=True)
        if key not in self._configs:
            config = parse_field_configuration_bytes(raw, source, endpoints)
            self._configs[key] = resolve_endpoint_names(config, endpoints)
        return self._configs[key]

    def clear(self) -> None:
        """Close the engines and drop every model."""
        self._engines.clear()
        self._tagger = None
        self._calibration = None
        self._configs.clear()
        self.generators.clear()
