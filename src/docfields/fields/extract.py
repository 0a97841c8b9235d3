"""Fields from an enriched Textract JSON: mentions, normalization, consolidation.

Normalization (spec section 5.3, 6.4): fields with a ``Normalizer`` (or ``NormalizerEndpoint`` +
``NormalizerPrompt``) have their detection texts normalized before consolidation, in one batched
call per normalizer with each distinct text sent once. A normalized detection's ``Text`` is the
normalized value and ``RawText`` the text read. When a normalizer fails (it cannot be resolved,
it raises, or a value comes back uncertain: ``NormalizedValue.needs_review``), the raw text is
kept, the value's confidence is lowered (``consolidate.NORMALIZER_FAILURE_FACTOR``) and the
result's ``Warnings`` say which field and text, so that a person reviews it rather than a
confident wrong value going through.

The result's ``Warnings`` start with the enriched document's own (words the tagger could not
classify), so that a reviewer sees everything that degraded the result in one place.

>>> result = extract_file("doc.enriched.json", load_field_configuration("fields.json"),
...                       "doc.result.json")  # doctest: +SKIP
>>> result.confidence  # doctest: +SKIP
0.93
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from docfields.errors import DocfieldsError, NormalizerUnavailableError
from docfields.fields.config import FieldConfiguration, FieldSpec
from docfields.fields.consolidate import FieldDetection, consolidate_field, overall_confidence
from docfields.fields.mentions import Mention, find_mentions
from docfields.fields.result import Detection, ExtractionResult, FieldResult, write_result
from docfields.normalize.base import EMPTY_CONTEXT, NormalizeContext, NormalizedValue, Normalizer, TextGenerator
from docfields.normalize.context import document_lines, texts_context
from docfields.textract import Block, TextractDocument, iter_words, read_textract, validate_enrichment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Outcome:
    """What a normalizer made of one text: the value, or why there is none."""

    value: str | None
    reason: str = ""


def _configured_normalizers(
    active: Sequence[FieldSpec],
    warnings: list[str],
    allowed_urls: Sequence[str] | None,
    generators: MutableMapping[str, TextGenerator] | None,
) -> dict[int, Normalizer | None]:
    """ClassId -> normalizer for fields that name one; None where it cannot be resolved (warned).

    Their models come from ``generators`` (the caller's cache of loaded models), loaded once there.
    """
    from docfields.normalize.registry import resolve_normalizer

    normalizers: dict[int, Normalizer | None] = {}
    resolved: dict[tuple[str, str | None], Normalizer] = {}  # fields naming the same one share its batch
    for spec in active:
        name = spec.normalizer_spec
        if name is None:
            continue
        try:
            key = (name, spec.normalizer_prompt)
            if key not in resolved:
                resolved[key] = resolve_normalizer(name, spec.normalizer_prompt, allowed_urls, generators)
            normalizers[spec.class_id] = resolved[key]
        except DocfieldsError as exc:
            warnings.append(f"field {spec.name!r}: normalizer {name!r} unusable, raw texts kept: {exc}")
            logger.warning("field %r: normalizer %r unusable: %s", spec.name, name, exc)
            normalizers[spec.class_id] = None
    return normalizers


def _outcomes(
    normalizer: Normalizer, items: list[tuple[str, NormalizeContext]], retry_unavailable: bool
) -> dict[tuple[str, NormalizeContext], _Outcome]:
    """One batched call for the distinct (text, context) ``items``; a raising normalizer fails every text.

    A service that did not answer raises ``NormalizerUnavailableError`` out when ``retry_unavailable``
    (the caller retries the document later) instead of failing the texts.
    """
    texts = [text for text, _ in items]
    try:
        values: list[NormalizedValue] = normalizer.normalize(texts, [context for _, context in items])
        if len(values) != len(texts):
            raise ValueError(f"returned {len(values)} values for {len(texts)} texts")
    except Exception as exc:  # any failure of a plug-in degrades the field, never the batch
        if retry_unavailable and isinstance(exc, NormalizerUnavailableError):
            raise
        logger.warning("normalizer %s failed on %d texts: %s", getattr(normalizer, "name", "?"), len(texts), exc)
        return {item: _Outcome(None, f"normalizer failed: {exc}") for item in items}
    return {
        item: _Outcome(None, value.reason or value.status) if value.needs_review else _Outcome(value.text)
        for item, value in zip(items, values, strict=True)
    }


def _normalize(
    detections: list[Detection],
    contexts: list[NormalizeContext],
    normalizers: Mapping[int, Normalizer | None],
    retry_unavailable: bool,
) -> list[_Outcome | None]:
    """Each detection's outcome (None: its field has no normalizer), with one call per distinct normalizer."""
    batches: dict[int, dict[tuple[str, NormalizeContext], None]] = {}
    owners: dict[int, Normalizer] = {}
    for detection, context in zip(detections, contexts, strict=True):
        normalizer = normalizers.get(detection.class_id)
        if normalizer is not None:
            owners[id(normalizer)] = normalizer
            batches.setdefault(id(normalizer), {})[(detection.text, context)] = None
    results = {key: _outcomes(owners[key], list(batch), retry_unavailable) for key, batch in batches.items()}
    outcomes: list[_Outcome | None] = []
    for detection, context in zip(detections, contexts, strict=True):
        if detection.class_id not in normalizers:
            outcomes.append(None)
            continue
        normalizer = normalizers[detection.class_id]
        found = results[id(normalizer)][(detection.text, context)] if normalizer else None
        outcomes.append(found or _Outcome(None, "normalizer unusable"))
    return outcomes


def _mention_contexts(
    document: TextractDocument, mentions: list[Mention], reference_date: date | None
) -> list[NormalizeContext]:
    """The document's context (``normalize.context``) with each mention's line(s) as ``around``."""
    lines = document_lines(document)
    context = texts_context([text for text, _ in lines], reference_date)
    line_of = {word_id: text for text, word_ids in lines for word_id in word_ids}
    return [
        context.model_copy(update={"around": "\n".join(dict.fromkeys(line_of.get(w, "") for w in m.block_ids))})
        for m in mentions
    ]


def _apply(
    detections: list[Detection],
    mentions: list[Mention],
    outcomes: list[_Outcome | None],
    warnings: list[str],
) -> list[FieldDetection]:
    """Detections with normalized texts (raw text kept in RawText), flagged where normalization failed."""
    items: list[FieldDetection] = []
    warned: set[tuple[int, str]] = set()
    for detection, mention, outcome in zip(detections, mentions, outcomes, strict=True):
        key = (detection.class_id, detection.text)
        ocr = mention.ocr_confidence
        if outcome is None:
            items.append(FieldDetection(detection, mention.index, ocr_confidence=ocr))
        elif outcome.value is not None:
            normalized = detection.model_copy(update={"text": outcome.value, "raw_text": detection.text})
            items.append(FieldDetection(normalized, mention.index, ocr_confidence=ocr))
        else:
            items.append(FieldDetection(detection, mention.index, normalization_failed=True, ocr_confidence=ocr))
            if key not in warned:
                warned.add(key)
                warnings.append(f"field {detection.class_name!r}: raw text {detection.text!r} kept: {outcome.reason}")
    return items


def _detection(mention: Mention, spec: FieldSpec) -> Detection:
    return Detection(
        class_id=mention.class_id,
        class_name=spec.name,
        confidence=mention.confidence,
        blocks=mention.block_ids,
        bounding_box=mention.bounding_box(),
        page_num=mention.page_num,
        text=mention.text,
    )


def _class_probabilities(words: Sequence[Block]) -> np.ndarray | None:
    """(words, classes) ``ClassificationProbabilities`` in reading order; None when a word lacks them."""
    rows = [(word.model_extra or {}).get("ClassificationProbabilities") for word in words]
    if not rows or any(not isinstance(row, list) for row in rows) or len({len(row) for row in rows}) != 1:
        return None
    return np.asarray(rows, dtype=float)


def _chosen_detections(field: FieldResult) -> list[Detection]:
    if field.values is not None:
        return [detection for value in field.values for detection in value.detections]
    return list(field.detections or ())


def _with_word_evidence(fields: dict[str, FieldResult], document: TextractDocument) -> dict[str, FieldResult]:
    """Fields whose evidence also says how close the tagger came to another value or a longer one."""
    words = list(iter_words(document))
    probabilities = _class_probabilities(words)
    if probabilities is None:
        return fields
    position = {word.id: index for index, word in enumerate(words)}
    updated = {}
    for name, field in fields.items():
        if field.evidence is None or field.class_id >= probabilities.shape[1]:
            updated[name] = field
            continue
        chosen = {position[b] for d in _chosen_detections(field) for b in d.blocks if b in position}
        column = probabilities[:, field.class_id]
        outside = np.ones(len(words), dtype=bool)
        outside[list(chosen)] = False
        edges = [i for c in chosen for i in (c - 1, c + 1) if 0 <= i < len(words) and outside[i]]
        evidence = field.evidence.model_copy(update={
            "missed_probability": float(column[outside].max(initial=0.0)),
            "edge_probability": float(column[edges].max(initial=0.0)),
        })  # fmt: skip
        updated[name] = field.model_copy(update={"evidence": evidence})
    return updated


def _document_warnings(document: TextractDocument) -> list[str]:
    """The enrichment's own warnings, and a hint when no word carries a prediction at all."""
    warnings = list(document.warnings or ())
    words = list(iter_words(document))
    if words and not any("PredictedClass" in (word.model_extra or {}) for word in words):
        warnings.append("no WORD carries a PredictedClass: was the document enriched (docfields enrich)?")
    return warnings


def extract_fields(
    document: TextractDocument,
    config: FieldConfiguration,
    normalizers: Mapping[int, Normalizer] | None = None,
    source: str = "<json>",
    allowed_urls: Sequence[str] | None = None,
    generators: MutableMapping[str, TextGenerator] | None = None,
    retry_unavailable: bool = False,
    reference_date: date | None = None,
) -> ExtractionResult:
    """The Result of one enriched document under ``config``.

    Args:
        document: Textract JSON whose WORDs carry ``PredictedClass`` and ``PredictedClassConfidence``.
        config: Which classes are fields and how each is consolidated.
        normalizers: ClassId -> normalizer, replacing the configuration's ones; None resolves
            the configuration's (once per name and process).
        source: The document's name in errors.
        allowed_urls: URL prefixes the configuration's normalizer services may be called at
            (a service's operator sets them); a field naming another URL keeps its raw texts,
            with a warning, and nothing is requested. None: any URL (a user's own configuration).
        generators: Loaded normalizer models by location, reused and filled (the caller keeps
            them across documents); None loads them for this document.
        retry_unavailable: Raise ``NormalizerUnavailableError`` when a normalizer service does
            not answer, for a caller that retries later (the pipeline), instead of keeping the
            raw texts as a degraded result.
        reference_date: The date year-less and relative dates are read against; None: the
            document's own (its first complete date). The document's numeric dates also settle
            whether its ambiguous ones are day or month first (``normalize.context``).

    Raises:
        TextractFormatError: when an enrichment value is out of range (a ``PredictedClass`` beyond
            the classes, a confidence or probability outside 0..1), naming the block and the key:
            such values would silently change the confidences.
        NormalizerUnavailableError: with ``retry_unavailable``, when a normalizer service did not
            answer (refused, timed out, HTTP 5xx), naming its URL.
    """
    validate_enrichment(document, source)
    active = config.active()
    specs = {spec.class_id: spec for spec in active}
    warnings = _document_warnings(document)
    mentions = find_mentions(document, frozenset(specs))
    detections = [_detection(mention, specs[mention.class_id]) for mention in mentions]
    if normalizers is None:  # resolve (maybe load a model) only for fields found in this document
        found = {mention.class_id for mention in mentions}
        wanted = [spec for spec in active if spec.class_id in found]
        chosen = _configured_normalizers(wanted, warnings, allowed_urls, generators)
    else:
        chosen = dict(normalizers)
    contexts = (
        _mention_contexts(document, mentions, reference_date)
        if any(chosen.values())
        else [EMPTY_CONTEXT] * len(mentions)
    )
    items = _apply(detections, mentions, _normalize(detections, contexts, chosen, retry_unavailable), warnings)
    by_class: dict[int, list[FieldDetection]] = {}
    for item in items:
        by_class.setdefault(item.detection.class_id, []).append(item)
    fields = {
        spec.name: consolidate_field(spec, order, by_class.get(spec.class_id, [])) for order, spec in enumerate(active)
    }
    fields = _with_word_evidence(fields, document)
    confidence = overall_confidence(list(fields.values()))
    logger.debug("%d mentions, %d fields, confidence %.3f", len(mentions), len(fields), confidence)
    return ExtractionResult(confidence=confidence, fields=fields, warnings=warnings or None)


def extract_file(
    enriched_url: str,
    config: FieldConfiguration,
    output_url: str,
    generators: MutableMapping[str, TextGenerator] | None = None,
    reference_date: date | None = None,
) -> ExtractionResult:
    """Read an enriched Textract JSON, extract its fields, write the Result JSON atomically.

    A batch passes one ``generators`` dict for all its files, so normalizer models load once.
    """
    document = read_textract(enriched_url)
    result = extract_fields(document, config, source=enriched_url, generators=generators, reference_date=reference_date)
    write_result(result, output_url)
    return result
