"""Pre-training the tagger's encoder on unlabelled pages: masked words, and the layout around them.

Users have thousands of OCRed pages and a few dozen annotated ones. A base pre-trained here on
all their pages (``docfields ocr`` output, no labels) is what ``train ner --base`` fine-tunes: the
same architecture as the tagger (LayoutLM with the relative box bias, ``LayoutLMMaskedLMWithBoxBias``),
the same tokenizer kind (WordPiece trained on the corpus words) and the same windows and boxes
(``Tagger.encode``), so pre-training sees what fine-tuning sees. From a named config only.

- Whole-word masking: ``mask_probability`` of the words of a window have all their sub-tokens
  masked (80% ``[MASK]``, 10% a random token, 10% unchanged). Masks are a pure function of
  (seed, epoch, window), so a resumed run continues exactly where it stopped.
- Layout objective ``line``: each masked word's box is hidden too, and a small head predicts how
  the word sits after the previous one (same segment, same line further right, or a new line).
  ``none`` (the default) is masked words alone: on CORD (mini, 250 pre-training steps each, then
  120 fine-tuning steps on 10% of the training documents) ``line`` gave validation micro F1 0.386
  against 0.379, within one seed's noise, and neither base had left the unigram phase (whole-word
  masked accuracy 0.0): not shown to help, so it is off until a longer run says otherwise.
- Evaluation on held-out documents at each checkpoint: whole-word masked accuracy (a word is right
  when all its masked sub-tokens are), beside always guessing the corpus's most frequent token.

A base is a ``save_pretrained`` directory (model and tokenizer) plus ``docfields_base.json``
(``BaseCard``).

>>> options = MlmTrainOptions(corpus="ocr/manifest.jsonl", output="bases/mine", max_minutes=30)
>>> result = train_mlm(options)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docfields import storage
from docfields.device import DeviceChoice, resolve_device, to_device, trainer_device_arguments
from docfields.errors import AnnotationError, DocfieldsError, ModelError
from docfields.hflogging import quiet_transformers
from docfields.ner.callbacks import last_step_callback, log_callback, time_budget_callback
from docfields.ner.data import (
    IGNORE_INDEX,
    PAD_BOX,
    EncodedWindow,
    PageExample,
    pad_windows,
    page_example,
    segment_boxes,
    split_by_document,
)
from docfields.ner.model import (
    DEFAULT_BASE,
    DEFAULT_BOX_LEVEL,
    MAX_LENGTH,
    NAMED_CONFIGS,
    SPECIAL_TOKENS,
    BoxLevel,
    Tagger,
    TaggerCard,
    named_config,
    position_tables,
    smooth_position_embeddings,
    train_wordpiece,
    window_length,
)
from docfields.textract import TextractDocument, iter_pages, page_words, read_textract

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

BASE_CARD_FILE = "docfields_base.json"
EVALUATE_EVERY = 200  # steps between evaluations and checkpoints
LayoutObjective = Literal["none", "line"]
DEFAULT_LAYOUT_OBJECTIVE: LayoutObjective = "none"
SAME_SEGMENT, SAME_LINE, NEW_LINE = 0, 1, 2  # the ``line`` objective's classes: where a word sits after the last one
LAYOUT_CLASSES = {"none": 0, "line": 3}
BUDGET_EPOCHS = 100_000.0  # with a time budget and no step limit: the budget, not the epochs, ends the run


class BaseCard(BaseModel):
    """What ``train ner --base`` needs to know about a pre-trained base, stored as ``docfields_base.json``."""

    model_config = ConfigDict(extra="allow")

    named_config: str = Field(description="The NAMED_CONFIGS key the base was built from")
    box_level: BoxLevel = Field(description="Boxes it was pre-trained with; fine-tune with the same")
    max_length: int = Field(ge=8, description="Tokens per window, CLS and SEP included")
    overlap: int = Field(ge=0, description="Sub-tokens shared by neighbouring windows")
    tokenizer: str = Field(default="wordpiece", description="Trained on the pre-training corpus")
    steps: int = Field(ge=0)
    masked_accuracy: float | None = Field(default=None, description="Whole-word masked accuracy, held-out pages")
    layout_objective: LayoutObjective = "none"
    pages: int = Field(ge=0, description="Pre-training pages")


class MlmTrainOptions(BaseModel):
    """Everything a pre-training run needs; the CLI builds one from its flags."""

    model_config = ConfigDict(extra="forbid")

    corpus: str = Field(description="Manifest with textract-ref lines, or a folder of Textract JSON")
    output: str = Field(description="Base directory to write (local)")
    base: str = Field(default=DEFAULT_BASE, description="Named config to start from (from scratch only)")
    vocab_size: int = Field(default=8000, ge=100, description="WordPiece vocabulary trained on the corpus")
    max_length: int | None = Field(default=None, ge=8, description="Tokens per window (None: what the model takes)")
    overlap: int | None = Field(default=None, ge=0, description="Sub-tokens shared by windows (None: a quarter)")
    box_level: BoxLevel = Field(default=DEFAULT_BOX_LEVEL, description="Boxes the model sees, as the tagger's")
    epochs: float = Field(default=1000.0, gt=0, description="Passes over the corpus (a time budget usually ends first)")
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps")
    max_minutes: float | None = Field(default=None, gt=0, description="Time budget; the learning rate decays to fit")
    batch_size: int = Field(default=16, ge=1, description="Windows per step")
    learning_rate: float = Field(default=2e-3, gt=0, description="Peak rate (from scratch)")
    warmup_share: float = Field(default=0.05, ge=0.0, lt=1.0, description="Share of steps warming up")
    weight_decay: float = Field(default=0.01, ge=0.0)
    mask_probability: float = Field(default=0.15, gt=0.0, lt=1.0, description="Share of words masked per window")
    layout_objective: LayoutObjective = Field(
        default=DEFAULT_LAYOUT_OBJECTIVE, description="'line': also predict how each masked word sits after the last"
    )
    validation_share: float = Field(default=0.05, ge=0.0, lt=1.0, description="Documents held out for evaluation")
    seed: int = 1337
    resume: bool = Field(default=False, description="Continue from the last checkpoint in OUTPUT/checkpoints")
    device: DeviceChoice = Field(default="auto", description="auto (a GPU when torch sees one), cpu or cuda")
    bf16: bool = Field(default=False, description="bfloat16 autocast on the CPU (a GPU uses it where supported)")
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept")


class CurvePoint(BaseModel):
    """One evaluation: held-out masked-word loss and accuracies at a step."""

    step: int
    loss: float
    masked_accuracy: float
    layout_accuracy: float | None = None


class MlmTrainResult(BaseModel):
    """What a pre-training run did, and how well the base guesses masked words of held-out pages."""

    output: str
    pages: int
    documents: int
    skipped: list[str] = Field(default_factory=list, description="Files or manifest lines skipped, with reasons")
    windows: int
    validation_pages: int
    steps: int
    epochs: float
    seconds: float
    masked_accuracy: float | None = None
    chance_accuracy: float | None = Field(default=None, description="Always guessing the most frequent token")
    layout_accuracy: float | None = None
    stopped: Literal["time budget", "max steps", "epochs"]
    curve: list[CurvePoint] = Field(default_factory=list)


# ---------------------------------------------------------------- reading the corpus


def read_unlabelled_pages(source: str, skipped: list[str] | None = None) -> list[PageExample]:
    """Pages with words, without labels, from a manifest (``textract-ref`` lines) or a folder of Textract JSON.

    A manifest line with ``page-num`` gives that page, one without it every page of its document
    (labels of Ground Truth manifests are ignored). A folder is searched recursively for
    ``*.json``. A Textract file that cannot be read is skipped and named (in ``skipped`` when
    given, and in a warning): one broken file must not sink thousands. A manifest line that is
    not a JSON object with a ``textract-ref`` is an error naming the line.

    Raises:
        ModelError: the source does not exist, a manifest line is unusable, or no page has words.
    """
    skipped = [] if skipped is None else skipped
    path = Path(source)
    if storage.is_local(source) and path.is_dir():
        pages = _folder_pages(path, skipped)
    else:
        pages = _manifest_pages(source, skipped)
    for reason in skipped:
        logger.warning("skipped %s", reason)
    if not pages:
        raise ModelError(f"{source}: no page with words to pre-train on")
    return pages


def _folder_pages(folder: Path, skipped: list[str]) -> list[PageExample]:
    files, problems = storage.list_files(folder)
    skipped.extend(f"{problem.path}: {problem.reason}" for problem in problems)
    pages: list[PageExample] = []
    for file in (f for f in files if f.suffix.lower() == ".json"):
        document = _read_document(str(file), str(file), skipped)
        if document is not None:
            pages += _document_pages(document, str(file), None)
    return pages


def _manifest_pages(manifest: str, skipped: list[str]) -> list[PageExample]:
    from docfields.annotations.base import parent_url, parse_json, read_text
    from docfields.annotations.groundtruth import ManifestRefs
    from docfields.annotations.validate import resolve_ref

    try:
        lines = read_text(manifest).splitlines()
    except AnnotationError as exc:
        raise ModelError(str(exc)) from exc
    pages: list[PageExample] = []
    last: tuple[str, TextractDocument | None] = ("", None)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{manifest} line {number}"
        try:
            refs = ManifestRefs.model_validate(parse_json(line, where))
        except AnnotationError as exc:
            raise ModelError(str(exc)) from exc
        except ValidationError as exc:
            raise ModelError(f"{where}: not a manifest line with a textract-ref (run docfields ocr first?): "
                             f"{exc.errors()[0]['msg']}") from exc  # fmt: skip
        url = resolve_ref(refs.textract_ref, parent_url(manifest))
        if last[0] != url:  # pages of one document follow each other: read it once
            last = (url, _read_document(url, where, skipped))
        if last[1] is not None:
            pages += _document_pages(last[1], refs.raw_ref or url, refs.page_num, where, skipped)
    return pages


def _read_document(url: str, where: str, skipped: list[str]) -> TextractDocument | None:
    try:
        return read_textract(url)
    except DocfieldsError as exc:
        skipped.append(f"{where}: {exc}" if where != url else str(exc))
        return None


def _document_pages(
    document: TextractDocument, name: str, page: int | None, where: str = "", skipped: list[str] | None = None
) -> list[PageExample]:
    """The pages of a document with words (one page when ``page`` is given) as unlabelled examples."""
    count = sum(1 for _ in iter_pages(document))
    if page is not None and not 1 <= page <= count:
        if skipped is not None:
            skipped.append(f"{where}: page-num {page} is beyond {name}, which has {count} page(s)")
        return []
    numbers = [page] if page is not None else range(1, count + 1)
    examples = [page_example(page_words(document, number), document=name, page=number) for number in numbers]
    return [example for example in examples if example.words]


# ---------------------------------------------------------------- masking


@dataclasses.dataclass(frozen=True)
class MaskTokens:
    """What masking needs to know about the vocabulary."""

    mask_id: int
    first_word_id: int  # random replacements are drawn from ids first_word_id .. vocab_size - 1
    vocab_size: int


@dataclasses.dataclass(frozen=True)
class MaskedWindow:
    """A window with its words masked: ``window.labels`` holds the original ids of masked sub-tokens."""

    window: EncodedWindow
    layout_labels: tuple[int, ...]


def line_relations(boxes: Sequence[tuple[int, int, int, int]]) -> tuple[int, ...]:
    """How each word sits after the previous one in reading order: same segment, same line, or a new line.

    >>> line_relations([(10, 10, 50, 30), (55, 10, 90, 30), (600, 12, 650, 30), (10, 40, 60, 60)])
    (2, 0, 1, 2)
    """
    segments = segment_boxes(boxes)
    relations = []
    for index, box in enumerate(boxes):
        previous = boxes[index - 1] if index else PAD_BOX
        if index and segments[index] == segments[index - 1] and box != PAD_BOX:
            relations.append(SAME_SEGMENT)
        else:
            height = min(previous[3] - previous[1], box[3] - box[1])
            overlap = min(previous[3], box[3]) - max(previous[1], box[1])
            relations.append(SAME_LINE if height > 0 and overlap >= 0.5 * height else NEW_LINE)
    return tuple(relations)


def mask_window(
    window: EncodedWindow, relations: Sequence[int] | None, tokens: MaskTokens, share: float, rng: random.Random
) -> MaskedWindow:
    """Whole-word masking of one window; with ``relations`` (the layout objective) masked words' boxes are hidden.

    Labels are the original ids on the masked sub-tokens, ``IGNORE_INDEX`` elsewhere; layout labels
    sit on the first sub-token of each masked word.
    """
    words = sorted({word for word in window.word_ids if word >= 0})
    chosen = set(rng.sample(words, max(1, round(share * len(words))))) if words else set()
    fate = {word: rng.random() for word in sorted(chosen)}  # < 0.8 [MASK], < 0.9 random, else unchanged
    ids, boxes, labels = list(window.input_ids), list(window.bbox), [IGNORE_INDEX] * len(window.input_ids)
    layout = [IGNORE_INDEX] * len(ids)
    for position, word in enumerate(window.word_ids):
        if word not in chosen:
            continue
        labels[position] = ids[position]
        if fate[word] < 0.8:
            ids[position] = tokens.mask_id
        elif fate[word] < 0.9:
            ids[position] = rng.randrange(tokens.first_word_id, tokens.vocab_size)
        if relations is not None:
            boxes[position] = PAD_BOX
            if window.word_ids[position - 1] != word:
                layout[position] = relations[word]
    masked = EncodedWindow(window.page, tuple(ids), tuple(boxes), tuple(labels), window.word_ids)
    return MaskedWindow(masked, tuple(layout))


class MaskedWindows:
    """Training windows masked afresh each epoch, each mask a pure function of (seed, epoch, window).

    The Trainer's dataloader calls ``set_epoch`` before every epoch (also on resume), so a resumed
    run draws the masks the uninterrupted one would have.
    """

    def __init__(
        self, windows: Sequence[EncodedWindow], relations: Sequence[Sequence[int]] | None, tokens: MaskTokens,
        share: float, seed: int,
    ) -> None:  # fmt: skip
        self.windows, self.relations, self.tokens, self.share, self.seed = windows, relations, tokens, share, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the dataloader before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> MaskedWindow:
        window = self.windows[index]
        relations = None if self.relations is None else self.relations[window.page]
        rng = random.Random(f"{self.seed}:{self.epoch}:{index}")
        return mask_window(window, relations, self.tokens, self.share, rng)


class MaskedCollator:
    """Pads masked windows into the model's tensors (``layout_labels`` when the objective is on)."""

    def __init__(self, pad_id: int, with_layout: bool) -> None:
        self.pad_id, self.with_layout = pad_id, with_layout

    def __call__(self, items: Sequence[MaskedWindow]) -> dict[str, torch.Tensor]:
        """One batch."""
        import numpy as np
        import torch

        batch = pad_windows([item.window for item in items], self.pad_id)
        tensors = {key: torch.from_numpy(batch[key]) for key in ("input_ids", "bbox", "attention_mask", "labels")}
        if self.with_layout:
            layout = np.full(batch["labels"].shape, IGNORE_INDEX, dtype=np.int64)
            for row, item in enumerate(items):
                layout[row, : len(item.layout_labels)] = item.layout_labels
            tensors["layout_labels"] = torch.from_numpy(layout)
        return tensors


# ---------------------------------------------------------------- model and evaluation


def build_mlm_model(base: str, tokenizer: PreTrainedTokenizerBase, objective: LayoutObjective, seed: int) -> Any:
    """A ``LayoutLMMaskedLMWithBoxBias`` from a named LayoutLM config, as ``ner.model`` builds taggers.

    Position and box tables get the smooth initialization of a tagger from scratch and stay frozen
    (as ``train ner`` keeps them for named configs): learned ones memorize pages.
    """
    import torch

    from docfields.ner.box_attention import LayoutLMMaskedLMWithBoxBias

    model_type, keys = NAMED_CONFIGS.get(base, ("", {}))
    if model_type != "layoutlm" or "box_attention" not in keys:
        named = ", ".join(name for name, (kind, k) in NAMED_CONFIGS.items() if "box_attention" in k)
        raise ModelError(f"{base}: pre-training starts from a named LayoutLM config with the box bias ({named})")
    config = named_config(base, tokenizer, layout_classes=LAYOUT_CLASSES[objective])
    torch.manual_seed(seed)
    model = LayoutLMMaskedLMWithBoxBias(config)
    smooth_position_embeddings(model, config.initializer_range)
    for _, table in position_tables(model):
        table.weight.requires_grad_(False)
    return model


@dataclasses.dataclass
class Evaluation:
    """Held-out masked windows and the score of always guessing the most frequent token."""

    windows: list[MaskedWindow]
    chance: float
    pad_id: int
    batch_size: int


def masked_word_counts(items: Sequence[MaskedWindow], predicted: Sequence[Any]) -> tuple[int, int]:
    """Right and total masked words: a word is right when every one of its masked sub-tokens is."""
    right = total = 0
    for item, guess in zip(items, predicted, strict=True):
        verdicts: dict[int, bool] = {}
        for position, (label, word) in enumerate(zip(item.window.labels, item.window.word_ids, strict=True)):
            if label != IGNORE_INDEX:
                verdicts[word] = verdicts.get(word, True) and int(guess[position]) == label
        right += sum(verdicts.values())
        total += len(verdicts)
    return right, total


def evaluate(model: PreTrainedModel, evaluation: Evaluation) -> tuple[float, float, float | None]:
    """Held-out masked-word loss, whole-word masked accuracy and layout accuracy (None without the objective)."""
    import torch

    collate = MaskedCollator(evaluation.pad_id, getattr(model, "layout_head", None) is not None)
    device = next(model.parameters()).device
    losses, right, total, layout_right, layout_total = [], 0, 0, 0, 0
    was_training = model.training
    model.eval()
    for start in range(0, len(evaluation.windows), evaluation.batch_size):
        items = evaluation.windows[start : start + evaluation.batch_size]
        batch = to_device(collate(items), device)
        with torch.inference_mode():
            output = model(**batch)
        losses.append(float(output.loss) * len(items))
        masked = batch["labels"] != IGNORE_INDEX  # the model scores these positions only
        guesses = torch.full_like(batch["labels"], IGNORE_INDEX)
        guesses[masked] = output.logits.argmax(-1)
        counts = masked_word_counts(items, guesses.cpu().numpy())
        right, total = right + counts[0], total + counts[1]
        if "layout_labels" in batch:
            truth = batch["layout_labels"][masked]
            kept = truth != IGNORE_INDEX
            layout_right += int((output["layout_logits"].argmax(-1)[kept] == truth[kept]).sum())
            layout_total += int(kept.sum())
    model.train(was_training)
    layout = layout_right / layout_total if layout_total else None
    return sum(losses) / max(len(evaluation.windows), 1), right / max(total, 1), layout


def chance_accuracy(train: Sequence[EncodedWindow], held_out: Sequence[MaskedWindow]) -> float:
    """Whole-word masked accuracy of always guessing the most frequent sub-token of the training windows."""
    counts = Counter(t for w in train for t, word in zip(w.input_ids, w.word_ids, strict=True) if word >= 0)
    frequent = counts.most_common(1)[0][0] if counts else -1
    guesses = [[frequent] * len(item.window.labels) for item in held_out]
    right, total = masked_word_counts(held_out, guesses)
    return right / max(total, 1)


def evaluation_callback(evaluation: Evaluation) -> Any:
    """Scores the held-out windows whenever a checkpoint is about to be saved; the points join the log history.

    Entries of ``state.log_history`` are saved in every checkpoint's ``trainer_state.json``, so a
    resumed run keeps the curve of the steps before it.
    """
    from transformers import TrainerCallback

    class Evaluate(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if control.should_save and evaluation.windows:
                loss, accuracy, layout = evaluate(model, evaluation)
                point = CurvePoint(step=state.global_step, loss=loss, masked_accuracy=accuracy, layout_accuracy=layout)
                state.log_history.append({"mlm_eval": point.model_dump()})
                logger.info("step %d: held-out masked accuracy %.4f (loss %.4f)", state.global_step, accuracy, loss)

    return Evaluate()


# ---------------------------------------------------------------- training


def _encoder(options: MlmTrainOptions, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> Tagger:
    """A ``Tagger`` around the model, used only for its encoding: the tagger's own windows and boxes."""
    max_length = min(window_length(model.config.max_position_embeddings), options.max_length or MAX_LENGTH)
    overlap = min(max_length // 4 if options.overlap is None else options.overlap, (max_length - 2) // 2)
    card = TaggerCard(base=options.base, model_type="layoutlm", field_names=["masked"], max_length=max_length,
                      overlap=overlap, tokenizer="wordpiece", box_level=options.box_level)  # fmt: skip
    return Tagger(model, tokenizer, card)


def _last_checkpoint(options: MlmTrainOptions) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = Path(options.output) / "checkpoints"
    return get_last_checkpoint(str(checkpoints)) if options.resume and checkpoints.is_dir() else None


def _tokenizer(options: MlmTrainOptions, pages: Sequence[PageExample], checkpoint: str | None) -> Any:
    if checkpoint:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(checkpoint)
    return train_wordpiece((word for page in pages for word in page.words), options.vocab_size)


def _arguments(options: MlmTrainOptions, steps_per_epoch: int) -> Any:
    from transformers import TrainingArguments

    epochs = BUDGET_EPOCHS if options.max_minutes and not options.max_steps else options.epochs
    total = options.max_steps or math.ceil(steps_per_epoch * epochs)
    return TrainingArguments(
        output_dir=str(Path(options.output) / "checkpoints"), num_train_epochs=epochs,
        max_steps=options.max_steps or -1, per_device_train_batch_size=options.batch_size,
        learning_rate=options.learning_rate, warmup_steps=int(total * options.warmup_share),
        weight_decay=options.weight_decay, eval_strategy="no", save_strategy="steps", save_steps=EVALUATE_EVERY,
        logging_strategy="steps", logging_steps=EVALUATE_EVERY, save_total_limit=options.save_total_limit,
        seed=options.seed, data_seed=options.seed, report_to="none", disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, **trainer_device_arguments(resolve_device(options.device), options.bf16),
    )  # fmt: skip


def _trainer(
    options: MlmTrainOptions, encoder: Tagger, dataset: MaskedWindows, evaluation: Evaluation, extra: Sequence[Any]
) -> Any:
    from transformers import PrinterCallback, Trainer

    arguments = _arguments(options, math.ceil(len(dataset) / options.batch_size))
    callbacks = [log_callback(logger), last_step_callback(), *extra]
    if options.max_minutes:
        total = options.max_steps or math.ceil(len(dataset) / options.batch_size * arguments.num_train_epochs)
        callbacks.append(time_budget_callback(options.max_minutes, options.warmup_share, total))
    callbacks.append(evaluation_callback(evaluation))  # last: it sees whether this step is saved
    trainer = Trainer(model=encoder.model, args=arguments, train_dataset=dataset, processing_class=encoder.tokenizer,
                      data_collator=MaskedCollator(encoder.specials.pad_id, dataset.relations is not None),
                      callbacks=callbacks)  # fmt: skip
    trainer.remove_callback(PrinterCallback)
    return trainer


def _windows(encoder: Tagger, pages: Sequence[PageExample]) -> list[EncodedWindow]:
    return [window for index, page in enumerate(pages) for window in encoder.encode(index, page)]


def _relations(options: MlmTrainOptions, pages: Sequence[PageExample]) -> list[tuple[int, ...]] | None:
    return [line_relations(page.boxes) for page in pages] if options.layout_objective != "none" else None


def train_mlm(options: MlmTrainOptions, callbacks: Sequence[Any] = ()) -> MlmTrainResult:
    """Pre-train a base on unlabelled pages, evaluate it on held-out documents and save it to ``options.output``.

    Args:
        options: the run.
        callbacks: more Hugging Face ``TrainerCallback`` s (a progress display, a stopping rule).

    Raises:
        ModelError: unusable corpus or base, or ``cuda`` asked for where there is none.
    """
    resolve_device(options.device)  # fail before reading thousands of pages
    skipped: list[str] = []
    pages = read_unlabelled_pages(options.corpus, skipped)
    train, held_out = split_by_document(pages, options.validation_share, options.seed)
    checkpoint = _last_checkpoint(options)
    tokenizer = _tokenizer(options, pages, checkpoint)
    encoder = _encoder(options, tokenizer, build_mlm_model(options.base, tokenizer, options.layout_objective,
                                                           options.seed))  # fmt: skip
    tokens = MaskTokens(tokenizer.mask_token_id, len(SPECIAL_TOKENS), len(tokenizer))
    train_windows = _windows(encoder, train)
    dataset = MaskedWindows(train_windows, _relations(options, train), tokens, options.mask_probability, options.seed)
    held = MaskedWindows(_windows(encoder, held_out), _relations(options, held_out), tokens, options.mask_probability,
                         options.seed + 1)  # fmt: skip
    held_windows = [held[i] for i in range(len(held))]
    evaluation = Evaluation(held_windows, chance_accuracy(train_windows, held_windows), encoder.specials.pad_id,
                            options.batch_size)  # fmt: skip
    logger.info("pre-training on %d pages (%d windows), %d held-out pages", len(train), len(dataset), len(held_out))
    trainer = _trainer(options, encoder, dataset, evaluation, callbacks)
    started = time.perf_counter()
    with quiet_transformers():
        output = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    curve = [CurvePoint(**entry["mlm_eval"]) for entry in trainer.state.log_history if "mlm_eval" in entry]
    result = MlmTrainResult(
        output=options.output, pages=len(pages), documents=len({page.document for page in pages}), skipped=skipped,
        windows=len(dataset), validation_pages=len(held_out), steps=output.global_step,
        epochs=float(trainer.state.epoch or 0.0), seconds=seconds,
        masked_accuracy=curve[-1].masked_accuracy if curve else None,
        chance_accuracy=evaluation.chance if held_windows else None,
        layout_accuracy=curve[-1].layout_accuracy if curve else None,
        stopped=_stopped(options, output.global_step, trainer.state.max_steps), curve=curve,
    )  # fmt: skip
    save_base(trainer.model, tokenizer, options.output, _card(options, encoder, result))
    return result


def _stopped(options: MlmTrainOptions, steps: int, planned: int) -> Literal["time budget", "max steps", "epochs"]:
    if options.max_steps and steps >= options.max_steps:
        return "max steps"
    return "time budget" if options.max_minutes and steps < planned else "epochs"


def _card(options: MlmTrainOptions, encoder: Tagger, result: MlmTrainResult) -> BaseCard:
    return BaseCard(named_config=options.base, box_level=options.box_level, max_length=encoder.card.max_length,
                    overlap=encoder.card.overlap, steps=result.steps, masked_accuracy=result.masked_accuracy,
                    layout_objective=options.layout_objective, pages=result.pages)  # fmt: skip


def save_base(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, output: str, card: BaseCard) -> Path:
    """Write the model and tokenizer (``save_pretrained``), then the card: a directory with a card is complete."""
    path = Path(output)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        storage.write_text_atomic(str(path / BASE_CARD_FILE), card.model_dump_json(indent=2) + "\n")
    except OSError as exc:
        raise ModelError(f"{path}: cannot save the base: {exc}") from exc
    return path


def read_base_card(path: str | Path) -> BaseCard | None:
    """The card of a pre-trained base directory; None when it has none (a hub model, a tagger).

    Raises:
        ModelError: the card exists but cannot be read.
    """
    file = Path(path) / BASE_CARD_FILE
    if not file.is_file():
        return None
    try:
        return BaseCard.model_validate_json(file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{file}: {exc}") from exc
