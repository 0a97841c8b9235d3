"""The field tagger: a layout-aware token classifier, its tokenizer, label map and field configuration.

LayoutLM (v1) is the default: its pretrained weights allow commercial use. LayoutLMv3 and LiLT
load through the same code for users who bring checkpoints. A model comes from one of:

- a named config (``layoutlm-small`` ...): random weights and a WordPiece tokenizer trained on
  the corpus text with ``tokenizers``. The offline path, used by tests and the demo. The LayoutLM
  ones see boxes through a relative 2-D attention bias (``docfields.ner.box_attention``) instead
  of absolute box embeddings: from scratch, absolute places were memorized and the tagger did no
  better than without boxes on unseen documents; with the bias it does (``bench/ner_bench.py``).
- a local directory or a hub name (``microsoft/layoutlm-base-uncased``): only a hub name
  downloads, and only because the user asked for it by name.

A saved tagger is a Hugging Face ``save_pretrained`` directory (its ``id2label`` holds the field
names, the last class is ``other``) plus ``fields.json`` (the field configuration it was trained
for) and ``docfields_ner.json`` (the ``TaggerCard``).

>>> tagger = Tagger.load("models/cord")  # doctest: +SKIP
>>> [p.argmax(axis=1) for p in tagger.predict([example])]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from docfields.errors import AnnotationError, ModelError
from docfields.hflogging import quiet_transformers, transformers_errors_only
from docfields.ner.data import (
    EncodedWindow,
    PageExample,
    SpecialTokens,
    WordProbabilities,
    encode_page,
    pad_windows,
    segment_boxes,
)

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

CARD_FILE = "docfields_ner.json"
FIELDS_FILE = "fields.json"
OTHER_LABEL = "other"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_LENGTH = 512  # tokens per window, CLS and SEP included
DEFAULT_OVERLAP = 128  # sub-tokens shared by neighbouring windows (a card's default)
SUPPORTED_TYPES = ("layoutlm", "layoutlmv3", "lilt")

# Named configs: (model_type, config keys). Sizes for CPUs; "-tiny" ones are for tests. "layoutlm-mini"
# (windows of 128 tokens) is the one that learns fields from scratch in minutes on a 2-core CPU. The
# LayoutLM ones see boxes through a relative attention bias (``box_attention``: BoxAttention settings,
# {} for the defaults; see docfields.ner.box_attention). v3 needs
# 4 * coordinate_size + 2 * shape_size == hidden_size; LiLT needs hidden_size divisible by 6; v3 and
# LiLT count positions from pad + 1.
NAMED_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "layoutlm-small": ("layoutlm", dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                        intermediate_size=1024, max_position_embeddings=MAX_LENGTH,
                                        box_attention={})),
    "layoutlm-mini": ("layoutlm", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=128, max_position_embeddings=128, box_attention={})),
    "layoutlm-tiny": ("layoutlm", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=128, max_position_embeddings=MAX_LENGTH, box_attention={})),
    "layoutlmv3-tiny": ("layoutlmv3", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                           intermediate_size=128, max_position_embeddings=MAX_LENGTH + 2,
                                           coordinate_size=12, shape_size=8, visual_embed=False)),
    "lilt-tiny": ("lilt", dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                               max_position_embeddings=MAX_LENGTH + 2, channel_shrink_ratio=4)),
}  # fmt: skip
DEFAULT_BASE = "layoutlm-mini"
# From scratch, box tables are smooth and coarse: no wavelength under 5% of the page, and each at 0.3 of
# a word vector's size, so that the six of them (left, top, right, bottom, height, width) add up to
# about one word vector instead of six (see smooth_position_embeddings).
BOX_SHORTEST_WAVELENGTH = 50.0
BOX_TABLE_SCALE = 0.3
BoxLevel = Literal["word", "segment"]
# New taggers see segment boxes (see segment_boxes); cards written before box_level existed are word-level.
DEFAULT_BOX_LEVEL: BoxLevel = "segment"


class TaggerCard(BaseModel):
    """What docfields needs to know about a saved tagger, stored as ``docfields_ner.json``."""

    model_config = ConfigDict(extra="allow")

    base: str = Field(description="Named config, directory or hub name it started from")
    model_type: str = Field(description="layoutlm | layoutlmv3 | lilt")
    field_names: list[str] = Field(description="Field name by class id; class len(field_names) is 'other'")
    max_length: int = Field(default=MAX_LENGTH, ge=8, description="Tokens per window, CLS and SEP included")
    overlap: int = Field(default=DEFAULT_OVERLAP, ge=0, description="Sub-tokens shared by neighbouring windows")
    tokenizer: str = Field(default="pretrained", description="'wordpiece' when trained on the corpus")
    box_level: BoxLevel = Field(
        default="word", description="Boxes the model sees: each word's own, or its segment's (see segment_boxes)"
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Validation scores of the last training")

    @property
    def num_labels(self) -> int:
        """Fields plus 'other'."""
        return len(self.field_names) + 1


def field_names(fields: Sequence[Any], source: str = "<fields>") -> list[str]:
    """Field names by class id from field configuration entries; ids must be exactly 0..n-1.

    Raises:
        ModelError: naming ``source`` when the configuration is malformed or has gaps in its ids.
    """
    from docfields.annotations.classes import class_ids_from_fields, tagger_classes_problem

    try:
        ids = class_ids_from_fields(fields, source)
    except AnnotationError as exc:
        raise ModelError(str(exc)) from exc
    problem = tagger_classes_problem(list(ids.values()))
    if problem:
        index, reason = problem
        raise ModelError(f"{source}{'' if index is None else f' field {index}'}: {reason}")
    return sorted(ids, key=ids.__getitem__)


def read_fields(url: str) -> list[dict[str, Any]]:
    """A field configuration file's entries (either shape, by the one reader), checked by ``field_names``."""
    from docfields.errors import FieldConfigError
    from docfields.fields.config import read_field_entries

    try:
        fields = read_field_entries(url)
    except FieldConfigError as exc:
        raise ModelError(str(exc)) from exc
    field_names(fields, url)
    return fields


def label_maps(names: Sequence[str]) -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` and ``label2id`` with the field names and ``other`` last."""
    id2label = {i: name for i, name in enumerate([*names, OTHER_LABEL])}
    return id2label, {name: i for i, name in id2label.items()}


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000, lowercase: bool = True) -> PreTrainedTokenizerBase:
    """A WordPiece tokenizer trained on ``texts`` (the corpus words), as a LayoutLM fast tokenizer.

    Ids are assigned in sorted token order after training (the trainer's own ids change from run
    to run, and with them a seeded model). The learned tokens themselves can still differ between
    calls where merges tie in count (``tokenizers`` breaks ties in hash order): on a small corpus,
    5 vocabularies in 8 calls. A resumed or fine-tuned run reloads its tokenizer, so it is unaffected.

    Built with ``vocab=`` (transformers 5 ignores ``vocab_file=`` on fast tokenizers and every
    word would become ``[UNK]``).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import LayoutLMTokenizerFast

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    backend.train_from_iterator(texts, trainer=trainer)
    learned = sorted(token for token in backend.get_vocab() if token not in SPECIAL_TOKENS)
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *learned])}  # the trainer's ids vary run to run
    return LayoutLMTokenizerFast(vocab=vocab, do_lower_case=lowercase)


def named_config(base: str, tokenizer: PreTrainedTokenizerBase, **extra: Any) -> Any:
    """The transformers config of a named config for ``tokenizer``'s vocabulary (its box attention saved in full)."""
    from transformers import AutoConfig

    model_type, keys = NAMED_CONFIGS[base]
    if "box_attention" in keys:
        from docfields.ner.box_attention import BoxAttention

        keys = {**keys, "box_attention": BoxAttention(**keys["box_attention"]).model_dump()}
    return AutoConfig.for_model(model_type, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                **keys, **extra)  # fmt: skip


def _named_model(base: str, tokenizer: PreTrainedTokenizerBase, names: Sequence[str], seed: int) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForTokenClassification

    id2label, label2id = label_maps(names)
    config = named_config(base, tokenizer, id2label=id2label, label2id=label2id)
    torch.manual_seed(seed)
    model_class = _model_class(config)
    model = model_class.from_config(config) if model_class is AutoModelForTokenClassification else model_class(config)
    smooth_position_embeddings(model, config.initializer_range)
    return model


def position_tables(model: PreTrainedModel) -> list[tuple[str, Any]]:
    """The embedding tables of token positions and box coordinates (``*position_embeddings``), by name."""
    import torch

    return [(name, module) for name, module in model.named_modules()
            if name.endswith("position_embeddings") and isinstance(module, torch.nn.Embedding)]  # fmt: skip


def is_box_table(name: str) -> bool:
    """Box-coordinate tables (``x_position_embeddings``, ...) as opposed to the 1-D token positions."""
    return name.rsplit(".", 1)[-1] != "position_embeddings"


def smooth_position_embeddings(
    model: PreTrainedModel, scale: float, shortest: float = 4.0, box_shortest: float = BOX_SHORTEST_WAVELENGTH
) -> int:
    """Re-initialize every position and box-coordinate embedding table as random Fourier features.

    A table drawn at random gives coordinate 500 and 501 unrelated vectors: from scratch, six such
    tables (left, top, right, bottom, height, width) add per-word noise that drowns the word's own
    embedding, and the model needs many epochs to learn that nearby values mean nearby places
    (on CORD it did worse than with the boxes zeroed). Row ``p`` becomes ``cos(w_j p + phi_j)``
    with frequencies spread log-uniformly from a wavelength of ``shortest`` (``box_shortest`` for
    box coordinates) to twice the table size, drawn independently per table so the tables do not
    interfere; padding rows stay zero.

    Box tables get no short wavelengths and a smaller size. A wavelength of a few units (of
    1000) makes a word's exact coordinates a hash that tells one training page from another, and
    a model from scratch uses it to memorize where each field sat on the training pages instead
    of learning what surrounds it; six full-size box vectors added to one word vector drown the
    word. On held-out demo documents (``bench/ner_bench.py``, 4 minutes) the tagger with boxes
    went from 0.04 F1 below the same model without boxes to level with it.

    Returns:
        The number of tables re-initialized.
    """
    import torch

    tables = position_tables(model)
    for name, table in tables:
        rows, dim = table.weight.shape
        low = box_shortest if is_box_table(name) else shortest
        wavelengths = torch.exp(torch.empty(dim).uniform_(math.log(low), math.log(2.0 * rows)))
        phases = torch.empty(dim).uniform_(0.0, 2 * math.pi)
        positions = torch.arange(rows, dtype=torch.float32)[:, None]
        size = scale * (BOX_TABLE_SCALE if is_box_table(name) else 1.0)
        values = size * math.sqrt(2.0) * torch.cos(positions * (2 * math.pi / wavelengths) + phases)
        if table.padding_idx is not None:
            values[table.padding_idx] = 0.0
        with torch.no_grad():
            table.weight.copy_(values)
    return len(tables)


def _listed(keys: Iterable[str], limit: int = 8) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_loading(source: str, info: dict[str, Any], head_is_new: bool) -> None:
    """Fail on weights that do not fit, listing them; a new head's weights may be missing."""
    missing = set(info.get("missing_keys") or ())
    unexpected = set(info.get("unexpected_keys") or ())
    mismatched = {str(item[0] if isinstance(item, tuple) else item) for item in info.get("mismatched_keys") or ()}
    if head_is_new:
        missing = {key for key in missing if not key.startswith("classifier.")}
        mismatched = {key for key in mismatched if not key.startswith("classifier.")}
        if unexpected:
            logger.info("%s: weights not used by token classification: %s", source, _listed(unexpected))
            unexpected = set()
    problems = [(name, keys) for name, keys in (("missing", missing), ("unexpected", unexpected),
                                                ("mismatched", mismatched)) if keys]  # fmt: skip
    if problems:
        detail = "; ".join(f"{name} keys: {_listed(keys)}" for name, keys in problems)
        raise ModelError(f"{source}: checkpoint does not fit its architecture: {detail}")


def load_checkpoint(source: str, names: Sequence[str] | None = None) -> PreTrainedModel:
    """A token-classification model from a local directory or hub name, checked key by key.

    With ``names`` the classification head is new (fine-tuning a base model for these fields);
    without, the checkpoint must be a complete tagger. Either way a mismatch raises a
    ModelError listing the missing and unexpected weight names.
    """
    from transformers import AutoConfig

    head = {}
    if names is not None:
        id2label, label2id = label_maps(names)
        head = dict(num_labels=len(id2label), id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True)
    try:
        with quiet_transformers(), transformers_errors_only():
            model_class = _model_class(AutoConfig.from_pretrained(source))
            model, info = model_class.from_pretrained(source, output_loading_info=True, **head)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        known = ", ".join(NAMED_CONFIGS)
        raise ModelError(f"{source}: not a named config ({known}) nor a loadable token classifier: {exc}") from exc
    if model.config.model_type not in SUPPORTED_TYPES:
        logger.warning("%s: model type %r is not one docfields tests", source, model.config.model_type)
    _check_loading(source, info, head_is_new=names is not None)
    return model


def _model_class(config: Any) -> Any:
    """LayoutLMWithBoxBias for configs that ask for it (``box_attention``), else the Auto class."""
    from transformers import AutoModelForTokenClassification

    from docfields.ner.box_attention import LayoutLMWithBoxBias, has_box_bias

    return LayoutLMWithBoxBias if has_box_bias(config) else AutoModelForTokenClassification


def _load_tokenizer(source: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{source}: cannot load its tokenizer: {exc}") from exc
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ModelError(f"{source}: a fast tokenizer (tokenizer.json) is required")
    return tokenizer


def window_length(max_position_embeddings: int) -> int:
    """Tokens per window a checkpoint takes: ``8 * floor(positions / 8)``, at most 512."""
    return min(MAX_LENGTH, 8 * (max_position_embeddings // 8))


class Tagger:
    """A token classifier with its tokenizer and card: turns pages of words into class probabilities.

    Args:
        model: a Hugging Face token-classification model taking ``input_ids``, ``bbox`` and
            ``attention_mask``.
        tokenizer: its fast tokenizer (only the ``tokenizers`` backend is used: words are
            encoded pre-split, whatever the tokenizer class).
        card: label names, window length and overlap.
        fields: the field configuration entries, saved beside the model.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        card: TaggerCard,
        fields: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        if model.config.num_labels != card.num_labels:
            raise ModelError(f"{card.base}: model has {model.config.num_labels} labels, card {card.num_labels}")
        self.model = model
        self.tokenizer = tokenizer
        self.card = card
        self.temperature = 1.0  # divides the log of word probabilities; Tagger.load reads it from calibration.json
        self.fields = list(fields) if fields is not None else [{"ClassId": i, "Name": n}
                                                                 for i, n in enumerate(card.field_names)]  # fmt: skip
        self.backend = tokenizer.backend_tokenizer
        self.backend.no_truncation()
        self.backend.no_padding()
        self.specials = SpecialTokens(
            cls_id=_token_id(tokenizer, "cls_token_id", "bos_token_id"),
            sep_id=_token_id(tokenizer, "sep_token_id", "eos_token_id"),
            pad_id=_token_id(tokenizer, "pad_token_id"),
            unk_id=_token_id(tokenizer, "unk_token_id"),
        )

    @property
    def num_labels(self) -> int:
        """Fields plus 'other'."""
        return self.card.num_labels

    @property
    def other_class(self) -> int:
        """The class of words that belong to no field (the last one)."""
        return self.card.num_labels - 1

    def tokenize_words(self, words: Sequence[str]) -> list[list[int]]:
        """Sub-token ids of each word, the words encoded pre-split in one call."""
        tokens: list[list[int]] = [[] for _ in words]
        if not words:
            return tokens
        encoding = self.backend.encode(list(words), is_pretokenized=True, add_special_tokens=False)
        for token_id, word in zip(encoding.ids, encoding.word_ids, strict=True):
            if word is not None:
                tokens[word].append(token_id)
        return tokens

    def encode(self, page_index: int, example: PageExample) -> list[EncodedWindow]:
        """The windows of one page, labels included when the example has them."""
        tokens = self.tokenize_words(example.words)
        if self.card.box_level == "segment":
            example = dataclasses.replace(example, boxes=segment_boxes(example.boxes))
        return encode_page(page_index, tokens, example, self.specials, self.card.max_length, self.card.overlap)

    def predict(
        self, examples: Sequence[PageExample], batch_size: int = 8, bf16: bool = False, pad_to_multiple_of: int = 8
    ) -> list[np.ndarray]:
        """Per-word class probabilities ``(words, num_labels)`` for each page.

        Windows of all pages are sorted by length and run in batches (little padding, full
        batches across small pages); a word's probabilities are the mean over its sub-tokens,
        averaged over the windows holding it, then softened (or sharpened) by ``temperature``.
        Batches run where the model's weights are (a GPU after ``load(device=...)`` or training
        there); ``bf16`` is the CPU's choice, a GPU with native bfloat16 always uses it.
        """
        import numpy as np

        from docfields.fields.calibration import apply_temperature

        windows = [window for i, example in enumerate(examples) for window in self.encode(i, example)]
        merged = [WordProbabilities(len(example.words), self.num_labels) for example in examples]
        order = sorted(range(len(windows)), key=lambda k: len(windows[k].input_ids))
        for chunk in _chunks(order, batch_size):
            batch = pad_windows([windows[k] for k in chunk], self.specials.pad_id, pad_to_multiple_of)
            probabilities = self._probabilities(batch, bf16)
            for row, k in enumerate(chunk):
                merged[windows[k].page].add(probabilities[row], batch["word_ids"][row])
        return [apply_temperature(np.asarray(m.result(), dtype=np.float64), self.temperature) for m in merged]

    def _probabilities(self, batch: dict[str, np.ndarray], bf16: bool) -> np.ndarray:
        import torch

        from docfields.device import autocast, model_device, to_device, use_bf16

        device = model_device(self.model)
        inputs = to_device({key: torch.from_numpy(batch[key]) for key in ("input_ids", "bbox", "attention_mask")},
                           device)  # fmt: skip
        self.model.eval()
        with torch.inference_mode(), autocast(device, use_bf16(device, cpu_default=bf16)):
            logits = self.model(**inputs).logits
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def save(self, path: str | Path) -> Path:
        """Write the model, tokenizer, field configuration and card into a local directory."""
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            with quiet_transformers():
                self.model.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
            (path / FIELDS_FILE).write_text(json.dumps(self.fields, indent=2, ensure_ascii=False) + "\n")
            (path / CARD_FILE).write_text(self.card.model_dump_json(indent=2) + "\n")
        except OSError as exc:
            raise ModelError(f"{path}: cannot save the tagger: {exc}") from exc
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Tagger:
        """Load a directory written by ``save`` onto ``device`` (``docfields.device``); errors name the directory.

        The word temperature comes from the directory's ``calibration.json`` when it has one (1.0 else).

        >>> tagger = Tagger.load("models/cord", device="cpu")  # doctest: +SKIP
        """
        from docfields.device import resolve_device
        from docfields.fields.calibration import FieldCalibration

        target = resolve_device(device)  # a bad choice fails before the weights are read

        path = Path(path)
        for name in ("config.json", CARD_FILE, FIELDS_FILE):
            if not (path / name).is_file():
                raise ModelError(f"{path}: not a docfields tagger directory (no {name})")
        try:
            card = TaggerCard.model_validate_json((path / CARD_FILE).read_text())
        except ValueError as exc:
            raise ModelError(f"{path / CARD_FILE}: {exc}") from exc
        fields = read_fields(str(path / FIELDS_FILE))
        if field_names(fields, str(path / FIELDS_FILE)) != card.field_names:
            raise ModelError(f"{path}: {FIELDS_FILE} and {CARD_FILE} name different fields")
        tagger = cls(load_checkpoint(str(path)).to(target), _load_tokenizer(str(path)), card, fields)
        calibration = FieldCalibration.load(path)  # models calibrated by `docfields calibrate` or their training
        if calibration is not None:
            tagger.temperature = calibration.temperature
        return tagger


def _token_id(tokenizer: PreTrainedTokenizerBase, *names: str) -> int:
    for name in names:
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise ModelError(f"tokenizer {type(tokenizer).__name__} has no {' or '.join(names)}")


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]


def build_tagger(
    base: str,
    fields: Sequence[dict[str, Any]],
    texts: Iterable[str] | None = None,
    seed: int = 0,
    vocab_size: int = 8000,
    overlap: int | None = None,
    max_length: int | None = None,
    box_level: BoxLevel = DEFAULT_BOX_LEVEL,
) -> Tagger:
    """A tagger for ``fields`` from a named config, a local directory or a hub name.

    Args:
        base: a key of ``NAMED_CONFIGS`` (random weights, seeded), a checkpoint directory or a
            hub name (its head is replaced by one for these fields).
        fields: field configuration entries (``ClassId`` 0..n-1, ``Name``).
        texts: corpus words to train the WordPiece tokenizer on; required for a named config.
        seed: seeds the random weights of a named config.
        vocab_size: WordPiece vocabulary size for a named config.
        overlap: sub-tokens shared by neighbouring windows of long pages; None: a quarter window.
        max_length: tokens per window (CLS and SEP included); None: as many as the model takes.
            Shorter windows are cheaper per token (attention is quadratic) and give more, smaller
            training sequences.
        box_level: ``segment`` gives every word the box of its line segment (``segment_boxes``),
            in training and at inference alike; ``word`` its own box.

    >>> tagger = build_tagger("layoutlm-tiny", fields, texts=["Total", "Due"])  # doctest: +SKIP
    """
    names = field_names(fields)
    if base in NAMED_CONFIGS:
        if texts is None:
            raise ModelError(f"{base}: a named config needs corpus texts to train its tokenizer")
        tokenizer = train_wordpiece(texts, vocab_size)
        model, kind = _named_model(base, tokenizer, names, seed), "wordpiece"
    else:
        model, tokenizer, kind = load_checkpoint(base, names), _load_tokenizer(base), "pretrained"
    max_length = min(window_length(model.config.max_position_embeddings), max_length or MAX_LENGTH)
    card = TaggerCard(base=base, model_type=model.config.model_type, field_names=names, max_length=max_length,
                      overlap=min(max_length // 4 if overlap is None else overlap, (max_length - 2) // 2),
                      tokenizer=kind, box_level=box_level)  # fmt: skip
    logger.info("built a %s tagger from %s: %d labels, windows of %d tokens", card.model_type, base,
                card.num_labels, max_length)  # fmt: skip
    return Tagger(model, tokenizer, card, fields)
