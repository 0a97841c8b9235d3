"""Train a field tagger on annotated pages with the Hugging Face Trainer.

Pages come from a SageMaker Ground Truth manifest and the field configuration (word labels by
the box rule of ``docfields.annotations``). Long pages become several overlapping windows, never
truncated. The Trainer evaluates and checkpoints every few epochs (at least ``EVALUATE_EVERY``
steps apart, and at the last step) and keeps the best model by entity F1 on the validation
windows (the score users read; before any entity is right, by the original's target
``focus_else_acc_minus_one``, so early evaluations still rank). It stops early after ``patience``
evaluations without progress, or when a time budget runs out (the learning rate then decays
over the steps that fit the budget, not over steps that will never run), and resumes from the
last checkpoint on request.

From a named config the recipe fights memorization, the failure of a model from scratch on a few
hundred pages (training loss near zero within a minute, fields of unseen documents missed):
token dropout, boxes moved at random per window (a field keeps its neighbours, not its place),
and position and box embeddings kept fixed at their smooth, coarse initialization.

At the end the best model is scored word by word on the validation pages, through the same
prediction code enrichment uses, with entity precision, recall and F1 per field, and saved with its scores in its card.
Its calibration (word temperature and field curve, ``fields.heldout``) is fitted on the validation
documents and saved beside it as ``calibration.json``.

>>> result = train_ner(NerTrainOptions(manifest="cord/train.manifest.jsonl",
...                                    fields="cord/fields.json", output="models/cord"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from docfields.device import DeviceChoice, resolve_device, trainer_device_arguments
from docfields.errors import AnnotationError, ModelError
from docfields.fields.heldout import CalibrationReport
from docfields.hflogging import quiet_transformers
from docfields.ner.callbacks import last_step_callback, log_callback, time_budget_callback
from docfields.ner.data import (
    IGNORE_INDEX,
    EncodedWindow,
    PageExample,
    drop_tokens,
    hide_boxes,
    pad_windows,
    page_example,
    shift_boxes,
    split_by_document,
)
from docfields.ner.evaluate import NerEvaluation, evaluate_tagger
from docfields.ner.metrics import chance_entity_f1, entity_scores, token_metrics
from docfields.ner.model import (
    DEFAULT_BASE,
    DEFAULT_BOX_LEVEL,
    NAMED_CONFIGS,
    BoxLevel,
    Tagger,
    build_tagger,
    field_names,
    load_checkpoint,
    position_tables,
    read_fields,
)
from docfields.textract import LAYOUTLM_SCALE

if TYPE_CHECKING:
    import torch

    from docfields.fields.calibration import FieldCalibration

logger = logging.getLogger(__name__)

SELECTION_METRIC = "selection"
TOKENS_PER_BATCH = 2048  # default batch: 16 windows of 128 tokens, 4 of 512
DEFAULT_EPOCHS = 80.0  # without a time budget
SCRATCH_LEARNING_RATE = 4e-3  # measured on the demo corpus and CORD (README, "Training recipe")
CHECKPOINT_LEARNING_RATE = 5e-5  # pretrained hub checkpoints: fine-tuning, not learning
BUDGET_EPOCHS = 1e6  # with a time budget and no epochs: the budget ends training
EVALUATE_EVERY = 100  # steps at least between evaluations (and checkpoints): small epochs are many


class NerTrainOptions(BaseModel):
    """Everything a training run needs; the CLI builds one from its flags."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    manifest: str = Field(description="Ground Truth manifest of the training pages")
    fields: str = Field(description="Field configuration (JSON list, ClassId 0..n-1)")
    output: str = Field(description="Model directory to write (local)")
    validation_manifest: str | None = Field(
        default=None, description="Held-out pages, only scored: the best checkpoint is picked on the selection slice"
    )
    selection_share: float = Field(
        default=0.1, ge=0.0, lt=1.0, validation_alias=AliasChoices("selection_share", "validation_share"),
        description="Training documents held out to pick the best checkpoint (the selection slice)",
    )
    base: str = Field(default=DEFAULT_BASE, description="Named config, checkpoint directory or hub name")
    label_attribute: str | None = Field(default=None, description="Manifest key of the boxes (None: detect)")
    vocab_size: int = Field(default=8000, ge=100, description="WordPiece vocabulary for a named config")
    overlap: int | None = Field(default=None, ge=0, description="Sub-tokens shared by windows (None: a quarter)")
    max_length: int | None = Field(default=None, ge=8, description="Tokens per window (None: what the model takes)")
    epochs: float | None = Field(
        default=None, gt=0, description=f"None: until the time budget runs out, or {DEFAULT_EPOCHS:g} without a budget"
    )
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps")
    batch_size: int | None = Field(default=None, ge=1, description="Windows per step (None: 2048 tokens' worth)")
    eval_batch_size: int = Field(default=16, ge=1)
    learning_rate: float | None = Field(
        default=None, gt=0, description="None: 4e-3 from scratch or a docfields base (train mlm), 5e-5 from others"
    )
    warmup_share: float = Field(default=0.05, ge=0.0, lt=1.0, description="Share of steps warming up")
    weight_decay: float = Field(default=0.01, ge=0.0)
    patience: int = Field(default=20, ge=1, description="Evaluations without progress before stopping")
    max_minutes: float | None = Field(default=None, gt=0, description="Time budget for the training steps")
    other_weight: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Loss weight of the 'other' class: below 1, fields learn sooner"
    )
    token_dropout: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="Share of training sub-tokens hidden as [UNK]: less memorizing"
    )
    box_shift: float = Field(
        default=0.1, ge=0.0, lt=1.0,
        description="Training boxes move by up to this share of the page, at random per window: less memorizing",
    )
    box_dropout: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Share of training windows served without boxes (ner.data.hide_boxes); off: see there",
    )
    box_level: BoxLevel = Field(
        default=DEFAULT_BOX_LEVEL,
        description="Boxes the model sees: its line segment's (ner.data.segment_boxes) or each word's own",
    )
    freeze_layout: bool = Field(
        default=True, description="Named configs: keep the smooth position and box embeddings fixed as initialized"
    )
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept (the best one always)")
    seed: int = 1337
    resume: bool = Field(default=False, description="Continue from the last checkpoint in OUTPUT/checkpoints")
    bf16: bool = Field(default=False, description="bfloat16 autocast on the CPU (a GPU uses it where supported)")
    device: DeviceChoice = Field(default="auto", description="auto (a GPU when torch sees one), cpu or cuda")
    calibrate: bool = Field(
        default=True, description="Fit calibration.json (word temperature, field curve) on the validation documents"
    )
    review_target: float = Field(
        default=0.99, gt=0.0, le=1.0, description="The target accuracy whose review load the calibration report shows"
    )


class NerTrainResult(BaseModel):
    """What a training run did and how well the saved model tags the validation pages."""

    output: str
    train_pages: int
    selection_pages: int = Field(default=0, description="Training documents' pages that picked the best checkpoint")
    validation_pages: int = Field(description="Pages scored below: --validation's, else the selection slice's")
    scored_on: str = Field(
        default="validation", description="'validation' (held out) or 'selection' (the slice that picked the model)"
    )
    stopped: str = Field(default="", description="Why training ended: time budget, epochs, max steps, no progress")
    train_windows: int
    steps: int
    epochs: float
    seconds: float
    train_pages_per_second: float
    evaluation: NerEvaluation | None = Field(
        default=None, description="The saved model on the scored pages, as `docfields evaluate ner` reports it"
    )
    chance_f1: float | None = Field(default=None, description="Micro entity F1 of frequency guessing")
    calibration: CalibrationReport | None = Field(
        default=None, description="calibration.json fitted on the validation documents: how honest, what review costs"
    )


def load_examples(manifest: str, num_classes: int, label_attribute: str | None = None) -> list[PageExample]:
    """Labelled pages of a manifest as examples; pages without words are dropped.

    Raises:
        ModelError: naming the manifest line when a page cannot be read or labelled.
    """
    from docfields.annotations import label_pages, read_groundtruth
    from docfields.fields.heldout import document_name

    try:
        pages = read_groundtruth(manifest, label_attribute, num_classes)
        labelled = list(label_pages(pages, num_classes))
    except AnnotationError as exc:
        raise ModelError(f"cannot use {manifest} for training: {exc}") from exc
    examples = []
    for page in labelled:
        if not page.words:
            continue
        annotation = page.annotation
        examples.append(page_example(page.words, document_name(annotation), annotation.page_num or 1,
                                     page.labels.tolist()))  # fmt: skip
    return examples


class WindowCollator:
    """Pads a list of ``EncodedWindow`` into the tensors the model takes (labels included)."""

    def __init__(self, pad_id: int, multiple: int | None = 8) -> None:
        self.pad_id, self.multiple = pad_id, multiple

    def __call__(self, windows: Sequence[EncodedWindow]) -> dict[str, torch.Tensor]:
        """One batch; ``word_ids`` stay out, the model does not take them."""
        import torch

        batch = pad_windows(windows, self.pad_id, self.multiple)
        return {key: torch.from_numpy(batch[key]) for key in ("input_ids", "bbox", "attention_mask", "labels")}


class PageSplit(BaseModel):
    """Training pages, the selection slice that picks the best checkpoint, and the held-out validation pages."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    train: list[PageExample]
    selection: list[PageExample]
    validation: list[PageExample]

    @property
    def scored(self) -> list[PageExample]:
        """The pages the result reports on: held out when there are any, else the selection slice."""
        return self.validation or self.selection


def _split(options: NerTrainOptions, num_classes: int) -> PageSplit:
    """The selection slice always comes from the training documents, so ``--validation`` stays a held-out score."""
    examples = load_examples(options.manifest, num_classes, options.label_attribute)
    train, selection = split_by_document(examples, options.selection_share, options.seed)
    validation = []
    if options.validation_manifest:
        validation = load_examples(options.validation_manifest, num_classes, options.label_attribute)
    return PageSplit(train=train, selection=selection, validation=validation)


def _initial_tagger(options: NerTrainOptions, fields: list[dict[str, Any]], train: list[PageExample]) -> Tagger:
    """A fresh tagger, or on resume the last checkpoint's weights and tokenizer."""
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = Path(options.output) / "checkpoints"
    last = get_last_checkpoint(str(checkpoints)) if options.resume and checkpoints.is_dir() else None
    texts = (word for example in train for word in example.words)
    overlap, max_length, box_level = _windowing(options)
    tagger = build_tagger(options.base, fields, texts, options.seed, options.vocab_size, overlap, max_length,
                          box_level)  # fmt: skip
    if last:
        logger.info("resuming from %s", last)
        tagger = Tagger(load_checkpoint(last), _checkpoint_tokenizer(last), tagger.card, fields)
    freeze_layout_tables(tagger, options)
    return tagger


def _windowing(options: NerTrainOptions) -> tuple[int | None, int | None, BoxLevel]:
    """Overlap, window length and box level: a pre-trained base's own (what it learned on), else the options'."""
    from docfields.ner.pretrain import read_base_card

    card = read_base_card(options.base) if options.base not in NAMED_CONFIGS else None
    if card is None:
        return options.overlap, options.max_length, options.box_level
    if card.box_level != options.box_level:
        logger.info("%s was pre-trained on %s boxes: fine-tuning with them", options.base, card.box_level)
    return options.overlap or card.overlap, options.max_length or card.max_length, card.box_level


def freeze_layout_tables(tagger: Tagger, options: NerTrainOptions) -> None:
    """Keep a from-scratch model's (or its pre-trained base's) smooth position and box tables fixed: learned ones
    memorize pages."""
    if _trains_like_scratch(options.base) and options.freeze_layout:
        for _, table in position_tables(tagger.model):
            table.weight.requires_grad_(False)


class AugmentedWindows:
    """Training windows with fresh token dropout, box shift and box dropout at every read (a new draw each epoch)."""

    def __init__(
        self, windows: Sequence[EncodedWindow], token_dropout: float, box_shift: float, box_dropout: float,
        unk_id: int, seed: int,
    ) -> None:  # fmt: skip
        self.windows, self.token_dropout, self.box_dropout, self.unk_id = windows, token_dropout, box_dropout, unk_id
        self.shift = round(box_shift * LAYOUTLM_SCALE)
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> EncodedWindow:
        window = drop_tokens(self.windows[index], self.token_dropout, self.unk_id, self.rng)
        if self.shift:
            dx, dy = (self.rng.randint(-self.shift, self.shift) for _ in range(2))
            window = shift_boxes(window, dx, dy)
        if self.box_dropout and self.rng.random() < self.box_dropout:
            window = hide_boxes(window)
        return window


def _checkpoint_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def batch_size(options: NerTrainOptions, max_length: int) -> int:
    """Windows per step: the option, else ``TOKENS_PER_BATCH`` worth of windows."""
    return options.batch_size or max(1, TOKENS_PER_BATCH // max_length)


def _arguments(options: NerTrainOptions, windows: int, has_validation: bool, batch: int) -> Any:
    from transformers import TrainingArguments

    steps = _total_steps(options, windows, batch)
    per_epoch = math.ceil(windows / batch)
    every = per_epoch * math.ceil(EVALUATE_EVERY / per_epoch)  # whole epochs, at least EVALUATE_EVERY steps
    return TrainingArguments(
        output_dir=str(Path(options.output) / "checkpoints"), num_train_epochs=_epochs(options),
        max_steps=options.max_steps or -1, per_device_train_batch_size=batch,
        per_device_eval_batch_size=options.eval_batch_size,
        learning_rate=learning_rate(options),
        warmup_steps=int(steps * options.warmup_share), weight_decay=options.weight_decay,
        eval_strategy="steps" if has_validation else "no", eval_steps=every, save_strategy="steps",
        save_steps=every, logging_strategy="steps", logging_steps=every,
        load_best_model_at_end=has_validation, metric_for_best_model=SELECTION_METRIC if has_validation else None,
        greater_is_better=True, save_total_limit=options.save_total_limit, seed=options.seed,
        data_seed=options.seed, report_to="none", disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, **trainer_device_arguments(resolve_device(options.device), options.bf16),
    )  # fmt: skip


def _total_steps(options: NerTrainOptions, windows: int, batch: int) -> int:
    return options.max_steps or math.ceil(math.ceil(windows / batch) * _epochs(options))


def _epochs(options: NerTrainOptions) -> float:
    """The epochs asked for; without, a time budget ends training (epochs must not end it first)."""
    return options.epochs or (BUDGET_EPOCHS if options.max_minutes else DEFAULT_EPOCHS)


def learning_rate(options: NerTrainOptions) -> float:
    """The option, else the from-scratch rate for named configs and docfields bases, fine-tuning's for others."""
    if options.learning_rate:
        return options.learning_rate
    return SCRATCH_LEARNING_RATE if _trains_like_scratch(options.base) else CHECKPOINT_LEARNING_RATE


def _trains_like_scratch(base: str) -> bool:
    """Named configs and bases pre-trained by ``train mlm`` (small, smooth frozen layout tables), not hub models."""
    from docfields.ner.pretrain import read_base_card

    return base in NAMED_CONFIGS or read_base_card(base) is not None


def _argmax_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=-1)


def _window_metrics(predictions: Any, labels: Any, names: Sequence[str]) -> dict[str, float]:
    """Token metrics and micro entity F1 over the labelled (first) sub-tokens of each window."""
    metrics = token_metrics(predictions, labels, len(names)).model_dump()
    keep = [np.asarray(row) != IGNORE_INDEX for row in labels]
    predicted = [np.asarray(row)[: len(mask)][mask] for row, mask in zip(predictions, keep, strict=True)]
    truth = [np.asarray(row)[mask] for row, mask in zip(labels, keep, strict=True)]
    entity_f1 = entity_scores(predicted, truth, names)[-1].f1
    selection = entity_f1 if entity_f1 > 0 else metrics["focus_else_acc_minus_one"] - 2.0
    return {**metrics, "entity_f1": entity_f1, SELECTION_METRIC: selection}


def _weighted_loss(num_labels: int, other_weight: float) -> Any:
    """Cross-entropy with the "other" class down-weighted, as a Trainer ``compute_loss_func``.

    Nine words in ten are "other": with equal weights a model from scratch first learns to say
    "other" everywhere and spends epochs climbing out of it.
    """
    import torch

    weights = torch.ones(num_labels)
    weights[-1] = other_weight

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs.logits.float()
        return torch.nn.functional.cross_entropy(
            logits.view(-1, num_labels), labels.view(-1), weight=weights.to(logits.device), ignore_index=IGNORE_INDEX
        )

    return loss


def _trainer(
    tagger: Tagger, options: NerTrainOptions, train: list[EncodedWindow], valid: list[EncodedWindow],
    extra: Sequence[Any] = (),
) -> Any:  # fmt: skip
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    def compute_metrics(prediction: Any) -> dict[str, float]:
        return _window_metrics(prediction.predictions, prediction.label_ids, tagger.card.field_names)

    batch = batch_size(options, tagger.card.max_length)
    callbacks = [log_callback(logger), last_step_callback(), *extra]
    if valid:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=options.patience))
    if options.max_minutes is not None:
        steps = _total_steps(options, len(train), batch)
        callbacks.append(time_budget_callback(options.max_minutes, options.warmup_share, steps))
    augmented = AugmentedWindows(train, options.token_dropout, options.box_shift, options.box_dropout,
                                 tagger.specials.unk_id, options.seed)  # fmt: skip
    trainer = Trainer(
        model=tagger.model, args=_arguments(options, len(train), bool(valid), batch),
        data_collator=WindowCollator(tagger.specials.pad_id), train_dataset=augmented, eval_dataset=valid or None,
        processing_class=tagger.tokenizer, compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=_argmax_logits, callbacks=callbacks,
        compute_loss_func=_weighted_loss(tagger.num_labels, options.other_weight),
    )  # fmt: skip
    trainer.remove_callback(PrinterCallback)
    return trainer


def train_ner(options: NerTrainOptions, callbacks: Sequence[Any] = ()) -> NerTrainResult:
    """Train, keep the best epoch, score it per field and save it to ``options.output``.

    ``callbacks`` are more Hugging Face ``TrainerCallback`` s (the command line's progress bar).

    Raises:
        ModelError: unusable manifest, field configuration, base model, or no training page.
    """
    import torch

    fields = read_fields(options.fields)
    names = field_names(fields, options.fields)
    pages = _split(options, len(names))
    train = pages.train
    if not train:
        raise ModelError(f"{options.manifest}: no annotated page with words to train on")
    torch.manual_seed(options.seed)
    tagger = _initial_tagger(options, fields, train)
    train_windows = [w for i, e in enumerate(train) for w in tagger.encode(i, e)]
    selection_windows = [w for i, e in enumerate(pages.selection) for w in tagger.encode(i, e)]
    logger.info("%d training pages (%d windows), %d selection pages, %d validation pages", len(train),
                len(train_windows), len(pages.selection), len(pages.validation))  # fmt: skip
    trainer = _trainer(tagger, options, train_windows, selection_windows, callbacks)
    started = time.perf_counter()
    with quiet_transformers():
        output = trainer.train(resume_from_checkpoint=True if _has_checkpoint(options) else None)
    seconds = time.perf_counter() - started
    tagger.model = trainer.model
    scored = pages.scored
    result = NerTrainResult(
        output=options.output, train_pages=len(train), selection_pages=len(pages.selection),
        validation_pages=len(scored), scored_on="validation" if pages.validation else "selection",
        stopped=_stop_reason(trainer, options), train_windows=len(train_windows), steps=output.global_step,
        epochs=float(trainer.state.epoch or 0.0), seconds=seconds,
        train_pages_per_second=len(train) * float(trainer.state.epoch or 0.0) / max(seconds, 1e-9),
    )  # fmt: skip
    if scored:
        result.evaluation = evaluate_tagger(tagger, scored, options.eval_batch_size)
        result.chance_f1 = chance_entity_f1([e.labels or () for e in scored], tagger.num_labels, options.seed)
    from docfields.fields.calibration import CALIBRATION_FILE
    from docfields.fields.heldout import calibration_report

    calibration = _calibration(tagger, options, scored) if scored and options.calibrate else None
    tagger.card.metrics = result.model_dump(exclude={"output"})
    tagger.save(options.output)
    if calibration is not None:
        calibration.save(options.output)
        result.calibration = calibration_report(options.output, calibration, target=options.review_target)
    else:
        (Path(options.output) / CALIBRATION_FILE).unlink(missing_ok=True)  # an earlier run's would not fit this model
    return result


def _stop_reason(trainer: Any, options: NerTrainOptions) -> str:
    """Why the run ended, for the summary: a budget or patience that ended it early must be said."""
    from transformers import EarlyStoppingCallback

    for callback in trainer.callback_handler.callbacks:
        if getattr(callback, "ended_training", False):
            return f"time budget ({options.max_minutes:g} min)"
        if isinstance(callback, EarlyStoppingCallback) and callback.early_stopping_patience_counter >= options.patience:
            return f"no progress on the selection slice in {options.patience} evaluations"
    if options.max_steps and trainer.state.global_step >= options.max_steps:
        return f"max steps ({options.max_steps})"
    return f"epochs ({_epochs(options):g})"


def _calibration(
    tagger: Tagger, options: NerTrainOptions, validation: Sequence[PageExample]
) -> FieldCalibration | None:
    """The calibration fitted on held-out documents (``fields.heldout``): ``--validation``'s, else the selection
    slice's; None, warned, when it cannot be.

    Validation pages that are all right, or all wrong, give nothing to fit: the model is saved
    without a calibration and keeps the raw review rule.
    """
    from docfields.fields.heldout import calibrate_tagger, labelled_documents

    manifest = options.validation_manifest or options.manifest
    names = {example.document for example in validation}
    documents = labelled_documents(manifest, len(tagger.card.field_names), options.label_attribute, names)
    try:
        return calibrate_tagger(tagger, documents)
    except ModelError as exc:
        logger.warning("%s: saved without a calibration: %s", options.output, exc)
        return None


def _has_checkpoint(options: NerTrainOptions) -> bool:
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = Path(options.output) / "checkpoints"
    return options.resume and checkpoints.is_dir() and get_last_checkpoint(str(checkpoints)) is not None
