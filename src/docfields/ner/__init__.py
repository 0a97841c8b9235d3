"""Layout-aware word tagging: page windows, the tagger model, training, metrics and enrichment.

Torch and transformers are imported only inside the functions that run models, so importing
this package (and the windowing and metrics code) stays light.

>>> from docfields.ner import Tagger, enrich_file
>>> enrich_file("receipt.json", "receipt.enriched.json", Tagger.load("models/cord"))  # doctest: +SKIP
"""

from docfields.errors import ModelError
from docfields.ner.data import (
    IGNORE_INDEX,
    EncodedWindow,
    PageExample,
    SpecialTokens,
    Window,
    WordProbabilities,
    encode_page,
    encode_window,
    merge_window_probabilities,
    pad_windows,
    page_example,
    plan_windows,
    split_by_document,
    word_box,
)
from docfields.ner.enrich import ENRICH_KEYS, EnrichOptions, enrich, enrich_file, enrich_request
from docfields.ner.evaluate import NerEvaluation, evaluate_ner, evaluate_predictions, evaluate_tagger
from docfields.ner.metrics import FieldScore, TokenMetrics, chance_entity_f1, entity_scores, entity_spans, token_metrics
from docfields.ner.model import (
    DEFAULT_BASE,
    NAMED_CONFIGS,
    OTHER_LABEL,
    Tagger,
    TaggerCard,
    build_tagger,
    field_names,
    label_maps,
    load_checkpoint,
    read_fields,
    train_wordpiece,
    window_length,
)
from docfields.ner.pretrain import (
    BaseCard,
    MlmTrainOptions,
    MlmTrainResult,
    read_base_card,
    read_unlabelled_pages,
    train_mlm,
)
from docfields.ner.train import NerTrainOptions, NerTrainResult, WindowCollator, load_examples, train_ner

__all__ = [
    "DEFAULT_BASE",
    "ENRICH_KEYS",
    "IGNORE_INDEX",
    "NAMED_CONFIGS",
    "OTHER_LABEL",
    "BaseCard",
    "EncodedWindow",
    "EnrichOptions",
    "FieldScore",
    "MlmTrainOptions",
    "MlmTrainResult",
    "ModelError",
    "NerEvaluation",
    "NerTrainOptions",
    "NerTrainResult",
    "PageExample",
    "SpecialTokens",
    "Tagger",
    "TaggerCard",
    "TokenMetrics",
    "Window",
    "WindowCollator",
    "WordProbabilities",
    "build_tagger",
    "chance_entity_f1",
    "encode_page",
    "encode_window",
    "enrich",
    "enrich_file",
    "enrich_request",
    "entity_scores",
    "evaluate_ner",
    "evaluate_predictions",
    "evaluate_tagger",
    "entity_spans",
    "field_names",
    "label_maps",
    "load_checkpoint",
    "load_examples",
    "merge_window_probabilities",
    "pad_windows",
    "page_example",
    "plan_windows",
    "read_base_card",
    "read_fields",
    "read_unlabelled_pages",
    "split_by_document",
    "token_metrics",
    "train_mlm",
    "train_ner",
    "train_wordpiece",
    "window_length",
    "word_box",
]
