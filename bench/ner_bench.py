"""NER benchmark: layout-aware tagger against the same model text-only and a non-neural baseline.

For each dataset (held-out synthetic demo documents with unseen values, and CORD val receipts),
in one run:

(a) the layout-aware tagger (``--base``, default the package default) trained from scratch;
(b) the same config, budget and seed with every word box zeroed in training and evaluation;
(c) gradient-boosted trees (sklearn ``HistGradientBoostingClassifier``) over per-word text and
    position features and those of the neighbouring words, trained on the same pages.

Prints entity F1 per field and micro (``docfields.ner.metrics.entity_scores``), the layout minus
text-only difference, training pages/s, the held-out entity F1 at every evaluation with the time
to the best F1, and inference pages/s (``Tagger.predict``, what enrichment runs) in fp32 and bf16.

(a) and (b) train on the training pages less a tenth of their documents, on which they pick their
best epoch (as ``train_ner`` does); the held-out pages only score them.
(a) and (b) get the same steps: ``max_steps`` computed from a measured training speed (a short
probe run per dataset), or ``--steps`` (for comparisons across seeds and settings, independent
of the machine's speed). ``--seeds`` trains (a) and (b) once per seed and reports each seed, the
mean and the paired layout - text-only differences: one run on the demo corpus moves by +-0.05.
Asserts nothing.

    .venv/bin/python bench/ner_bench.py                                  # full run (20 min per model)
    .venv/bin/python bench/ner_bench.py --dataset cord --train-minutes 3  # reduced
    .venv/bin/python bench/ner_bench.py --quick                          # smoke run (~2 min)
    .venv/bin/python bench/ner_bench.py --dataset demo --steps 2200 --seed 2024 --methods layout,text-only
    .venv/bin/python bench/ner_bench.py --dataset demo --steps 8760 --seeds 1337,2024,99 --methods layout,text-only
    .venv/bin/python bench/ner_bench.py --curve --workdir /tmp/curve     # the learning curve (bench/ner_curve.py)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, get_args

import numpy as np

import ner_curve
from docfields.hflogging import quiet_transformers
from docfields.ner import (
    DEFAULT_BASE,
    FieldScore,
    NerTrainOptions,
    PageExample,
    Tagger,
    build_tagger,
    entity_scores,
    field_names,
    load_examples,
    read_fields,
    split_by_document,
)
from docfields.ner.model import BoxLevel
from docfields.ner.train import _trainer, batch_size, freeze_layout_tables  # train_ner's Trainer set-up

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PROBE_STEPS = 40  # the first PROBE_WARMUP steps are slower (allocations, kernel choice): left out
PROBE_WARMUP = 10
SELECTION_SHARE = NerTrainOptions.model_fields["selection_share"].default  # training documents that pick the epoch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("cord", "demo", "both"), default="both")
    parser.add_argument("--train-minutes", type=float, default=20.0, help="Training budget per model (CORD)")
    parser.add_argument("--demo-train-minutes", type=float, default=None, help="Per model on demo (default: same)")
    parser.add_argument("--steps", type=int, default=None,
                        help="Training steps per model instead of a time budget (no speed probe)")
    parser.add_argument("--demo-docs", type=int, default=120,
                        help="Generated demo documents (seed --demo-seed); with 60, the 15 held out left the "
                             "layout - text-only difference to the seed (+-0.04)")  # fmt: skip
    parser.add_argument("--demo-seed", type=int, default=7)
    parser.add_argument("--demo-held-out", type=float, default=0.25, help="Share of demo documents held out")
    parser.add_argument("--base", default=DEFAULT_BASE, help="Named config (or checkpoint) of the tagger")
    parser.add_argument("--box-level", choices=get_args(BoxLevel),
                        default=NerTrainOptions.model_fields["box_level"].default)
    parser.add_argument("--box-dropout", type=float, default=NerTrainOptions.model_fields["box_dropout"].default,
                        help="Share of the layout model's training windows without boxes")
    parser.add_argument("--batch-size", type=int, default=None, help="Windows per step (train_ner's default)")
    parser.add_argument("--learning-rate", type=float, default=None, help="Peak rate (train_ner's default)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--seeds", default=None,
                        help="Comma-separated seeds: (a) and (b) train once per seed and the report averages them "
                             "(one demo run moves by +-0.05); default: --seed alone")  # fmt: skip
    parser.add_argument("--patience", type=int, default=NerTrainOptions.model_fields["patience"].default,
                        help="Evaluations without progress before stopping (train_ner's default)")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads (cores)")
    parser.add_argument("--cord", type=Path, default=DEFAULT_DATA / "cord", help="CORD folder")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep corpora and models here")
    parser.add_argument("--methods", default="layout,text-only,gbt", help="Comma-separated subset to run")
    parser.add_argument("--quick", action="store_true", help="Tiny subsets, 0.3 min per model")
    parser.add_argument("--curve", action="store_true", help="The learning curve instead (bench/ner_curve.py)")
    ner_curve.add_arguments(parser)
    args = parser.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    args.cord_limit = None
    if args.quick:
        args.train_minutes, args.demo_docs, args.cord_limit = 0.3, 8, (80, 25)
    if args.demo_train_minutes is None:
        args.demo_train_minutes = args.train_minutes
    return args


# ---------------------------------------------------------------------------------------- data


def cord_pages(args: argparse.Namespace) -> tuple[str, list[PageExample], list[PageExample]]:
    fields = str(args.cord / "fields.json")
    num = len(field_names(read_fields(fields), fields))
    train = load_examples(str(args.cord / "train.manifest.jsonl"), num)
    val = load_examples(str(args.cord / "val.manifest.jsonl"), num)
    if args.cord_limit:
        train, val = train[: args.cord_limit[0]], val[: args.cord_limit[1]]
    return fields, train, val


def demo_pages(args: argparse.Namespace, workdir: Path) -> tuple[str, list[PageExample], list[PageExample]]:
    """Generate born-digital demo documents, read their text layer, split by document."""
    from docfields.ocr import ocr_document
    from docfields.samples import generate_credit_card_corpus
    from docfields.textract import write_textract

    began = time.perf_counter()
    root = workdir / "demo"
    summary = generate_credit_card_corpus(root, n=args.demo_docs, seed=args.demo_seed, scan_share=0.0)
    (root / "textract").mkdir(exist_ok=True)
    lines, done = [], {}
    for line in Path(summary.manifest).read_text().splitlines():
        record = json.loads(line)
        raw = record["raw-ref"]
        if raw not in done:
            done[raw] = str(root / "textract" / (Path(raw).stem + ".json"))
            write_textract(ocr_document(raw, engine="pdftext"), done[raw])
        record["textract-ref"] = done[raw]
        lines.append(json.dumps(record))
    manifest = root / "ner.manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    num = len(field_names(read_fields(summary.fields), summary.fields))
    examples = load_examples(str(manifest), num)
    train, val = split_by_document(examples, args.demo_held_out, args.demo_seed)
    print(f"  demo corpus: {summary.documents} born-digital documents, {summary.pages} pages, generated and read "
          f"(pdftext) in {time.perf_counter() - began:.1f} s")  # fmt: skip
    return summary.fields, train, val


def zero_boxes(examples: list[PageExample]) -> list[PageExample]:
    return [dataclasses.replace(e, boxes=tuple((0, 0, 0, 0) for _ in e.boxes)) for e in examples]


def describe(name: str, train: list[PageExample], val: list[PageExample]) -> None:
    docs = lambda pages: len({p.document for p in pages})  # noqa: E731
    words = lambda pages: sum(len(p.words) for p in pages)  # noqa: E731
    print(f"  {name}: train {len(train)} pages / {docs(train)} documents / {words(train)} words; "
          f"val {len(val)} pages / {docs(val)} documents / {words(val)} words")  # fmt: skip


# --------------------------------------------------------------------------------- the tagger


def new_tagger(args: argparse.Namespace, fields_path: str, train: list[PageExample]) -> Tagger:
    import torch

    torch.manual_seed(args.seed)
    options = NerTrainOptions(manifest="-", fields=fields_path, output="-", base=args.base)
    texts = (word for example in train for word in example.words)
    tagger = build_tagger(args.base, read_fields(fields_path), texts, args.seed, options.vocab_size, options.overlap,
                          box_level=args.box_level)
    freeze_layout_tables(tagger, options)
    return tagger


def train_options(args: argparse.Namespace, fields_path: str, output: Path, max_steps: int) -> NerTrainOptions:
    return NerTrainOptions(manifest="-", fields=fields_path, output=str(output), base=args.base, max_steps=max_steps,
                           batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
                           patience=args.patience,
                           box_dropout=args.box_dropout)  # fmt: skip


def curve_callback(tagger: Tagger, val: list[PageExample], clock: dict[str, float]) -> Any:
    """Entity micro F1 on the validation pages at every evaluation, against training seconds."""
    from transformers import TrainerCallback

    class Curve(TrainerCallback):
        def __init__(self) -> None:
            self.points: list[dict[str, float]] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock["start"], clock["paused"] = time.perf_counter(), 0.0

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                        **kw: Any) -> None:  # fmt: skip
            began = time.perf_counter()
            f1 = score(tagger, val)[-1].f1
            clock["paused"] += time.perf_counter() - began + float((metrics or {}).get("eval_runtime", 0.0))
            seconds = time.perf_counter() - clock["start"] - clock["paused"]
            target = float((metrics or {}).get("eval_focus_else_acc_minus_one", float("nan")))
            self.points.append(dict(step=state.global_step, epoch=float(state.epoch or 0), seconds=seconds, f1=f1,
                                    target=target))  # fmt: skip
            print(f"    step {state.global_step:5d}  epoch {state.epoch or 0:5.2f}  {seconds / 60:5.2f} min  "
                  f"val entity F1 {f1:.4f}  target {target:+.4f}", flush=True)  # fmt: skip

    return Curve()


def score(tagger: Tagger, pages: list[PageExample], bf16: bool = False) -> list[FieldScore]:
    probabilities = tagger.predict(pages, batch_size=16, bf16=bf16)
    predicted = [rows.argmax(axis=1) for rows in probabilities]
    return entity_scores(predicted, [np.asarray(p.labels) for p in pages], tagger.card.field_names)


def measure_speed(args: argparse.Namespace, fields_path: str, train: list[PageExample], workdir: Path) -> float:
    """Seconds per training step of this config on these pages (a short run, first steps left out)."""
    from transformers import TrainerCallback

    tagger = new_tagger(args, fields_path, train)
    windows = [w for i, e in enumerate(train) for w in tagger.encode(i, e)]
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, *a: Any, **kw: Any) -> None:
            stamps.append(time.perf_counter())

    options = train_options(args, fields_path, workdir / "probe", PROBE_STEPS)
    trainer = _trainer(tagger, options.model_copy(update={"save_total_limit": 1}), windows, [])
    trainer.args.save_strategy = "no"
    trainer.add_callback(Stamp())
    with quiet_transformers():
        trainer.train()
    return (stamps[-1] - stamps[PROBE_WARMUP - 1]) / (len(stamps) - PROBE_WARMUP)


def steps_for_budget(args: argparse.Namespace, fields_path: str, train: list[PageExample], workdir: Path,
                     minutes: float) -> int:  # fmt: skip
    per_step = measure_speed(args, fields_path, train, workdir)
    max_steps = max(1, int(minutes * 60 / per_step))
    batch = args.batch_size or "default"
    print(f"  measured {per_step:.3f} s per step (batch {batch}, {args.base}); budget {minutes:g} min "
          f"-> max_steps {max_steps} for (a) and (b), the same steps for both", flush=True)  # fmt: skip
    return max_steps


def train_tagger(
    args: argparse.Namespace, fields_path: str, train: list[PageExample], select: list[PageExample],
    val: list[PageExample], max_steps: int, output: Path,
) -> dict[str, Any]:  # fmt: skip
    """train_ner's training (same Trainer, options, best-epoch selection on ``select``) on in-memory pages.

    The held-out ``val`` pages are only scored (the curve and the final figures), never used to pick
    the checkpoint: picking on them would report the best of a noisy curve instead of what a user gets.
    """
    tagger = new_tagger(args, fields_path, train)
    train_windows = [w for i, e in enumerate(train) for w in tagger.encode(i, e)]
    valid_windows = [w for i, e in enumerate(select) for w in tagger.encode(i, e)]
    options = train_options(args, fields_path, output, max_steps)
    trainer = _trainer(tagger, options, train_windows, valid_windows)
    clock: dict[str, float] = {}
    curve = curve_callback(tagger, val, clock)
    trainer.add_callback(curve)
    began = time.perf_counter()
    with quiet_transformers():
        out = trainer.train()
    wall = time.perf_counter() - began
    tagger.model = trainer.model
    train_seconds = wall - clock.get("paused", 0.0)
    steps_per_epoch = math.ceil(len(train_windows) / batch_size(options, tagger.card.max_length))
    epochs = out.global_step / steps_per_epoch
    scores = score(tagger, val)
    return dict(tagger=tagger, scores=scores, curve=curve.points, steps=out.global_step, epochs=epochs,
                train_seconds=train_seconds, wall=wall, windows=len(train_windows),
                pages_per_second=len(train) * epochs / max(train_seconds, 1e-9))  # fmt: skip


def inference_speed(tagger: Tagger, val: list[PageExample], bf16: bool) -> float:
    tagger.predict(val[: min(8, len(val))], batch_size=16, bf16=bf16)  # warm-up
    began = time.perf_counter()
    tagger.predict(val, batch_size=16, bf16=bf16)
    return len(val) / (time.perf_counter() - began)


# ---------------------------------------------------------------------------- the baseline

HASH_BUCKETS = 250


def _bucket(text: str, salt: str) -> int:
    return zlib.crc32((salt + text).encode()) % HASH_BUCKETS


def _own_features(word: str, box: tuple[int, int, int, int]) -> list[float]:
    n = max(len(word), 1)
    digits = sum(c.isdigit() for c in word)
    alpha = sum(c.isalpha() for c in word)
    upper = sum(c.isupper() for c in word)
    lower = word.lower()
    shape = "".join("9" if c.isdigit() else "a" if c.islower() else "A" if c.isupper() else c for c in word)[:8]
    x0, y0, x1, y1 = box
    return [
        _bucket(lower, "w"), _bucket(lower[:3], "p"), _bucket(lower[-3:], "s"), _bucket(shape, "h"),
        len(word), digits / n, alpha / n, upper / n, (n - digits - alpha) / n,
        float(word[:1].isupper()), float(any(c in word for c in "$€£")), float("%" in word), float(":" in word),
        float("/" in word), float("," in word), float("." in word), float("-" in word),
        x0, y0, x1, y1, x1 - x0, y1 - y0,
    ]  # fmt: skip


CATEGORICAL_OWN = 4  # the first four own features are hash buckets
OWN_WIDTH = 23


def page_features(page: PageExample) -> np.ndarray:
    own = [_own_features(w, b) for w, b in zip(page.words, page.boxes, strict=True)]
    blank = [-1.0] * OWN_WIDTH
    rows = []
    n = len(own)
    for i in range(n):
        context = []
        for k in (-2, -1, 1, 2):
            j = i + k
            context.extend(own[j] if 0 <= j < n else blank)
        same_line = [float(0 <= i + k < n and abs(page.boxes[i + k][1] - page.boxes[i][1]) < 8) for k in (-1, 1)]
        rows.append(own[i] + context + same_line + [i / max(n, 1), i, n])
    return np.asarray(rows, dtype=np.float64)


def categorical_mask(width: int) -> np.ndarray:
    mask = np.zeros(width, dtype=bool)
    for block in range(5):  # own, then four neighbours
        mask[block * OWN_WIDTH : block * OWN_WIDTH + CATEGORICAL_OWN] = True
    return mask


def train_baseline(train: list[PageExample], val: list[PageExample], names: list[str], seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    began = time.perf_counter()
    x = np.concatenate([page_features(p) for p in train])
    y = np.concatenate([np.asarray(p.labels) for p in train])
    # neighbours' buckets are -1 at page edges: shift all categorical values by one
    mask = categorical_mask(x.shape[1])
    x[:, mask] += 1
    # l2_regularization: without it the multiclass fit diverges on the demo pages (rare classes)
    model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=31, l2_regularization=1.0,
                                           categorical_features=mask, early_stopping=False,
                                           random_state=seed)  # fmt: skip
    model.fit(x, y)
    train_seconds = time.perf_counter() - began
    began = time.perf_counter()
    predicted = []
    for page in val:
        features = page_features(page)
        features[:, mask] += 1
        predicted.append(model.predict(features))
    infer_seconds = time.perf_counter() - began
    scores = entity_scores(predicted, [np.asarray(p.labels) for p in val], names)
    return dict(scores=scores, train_seconds=train_seconds, pages_per_second=len(val) / infer_seconds,
                train_pages_per_second=len(train) / train_seconds, words=len(y))  # fmt: skip


# ------------------------------------------------------------------------------------ report


def mean_scores(runs: list[list[FieldScore]]) -> list[FieldScore]:
    """Per-field scores averaged over runs (seeds) of one method; support is the same in every run."""
    return [first.model_copy(update={key: float(np.mean([getattr(run[i], key) for run in runs]))
                                     for key in ("precision", "recall", "f1")})
            for i, first in enumerate(runs[0])]  # fmt: skip


def field_table(results: dict[str, list[FieldScore]]) -> None:
    methods = list(results)
    first = results[methods[0]]
    print(f"  {'field':<26} {'support':>7} " + " ".join(f"{m + ' F1':>16}" for m in methods))
    for index, row in enumerate(first):
        if row.name == "micro":
            print("  " + "-" * (35 + 17 * len(methods)))
        elif row.support == 0 and all(results[m][index].predicted == 0 for m in methods):
            continue
        cells = " ".join(f"{results[m][index].f1:>16.4f}" for m in methods)
        print(f"  {row.name:<26} {row.support:>7d} {cells}")


def micro_line(method: str, runs: list[list[FieldScore]]) -> str:
    """Micro P/R/F1 of one method: one run as is; several seeds each, then their mean and spread."""
    rows = [scores[-1] for scores in runs]
    if len(rows) == 1:
        row = rows[0]
        return (f"  micro {method:<10} P {row.precision:.4f}  R {row.recall:.4f}  F1 {row.f1:.4f}  "
                f"({row.predicted} predicted / {row.support} true entities)")  # fmt: skip
    f1 = [row.f1 for row in rows]
    return (f"  micro {method:<10} F1 by seed {' '.join(f'{v:.4f}' for v in f1)}  mean {np.mean(f1):.4f}  "
            f"sd {np.std(f1, ddof=1):.4f}")  # fmt: skip


def difference_line(name: str, ours: list[list[FieldScore]], theirs: list[list[FieldScore]]) -> str:
    """Micro F1 of the layout model minus another method's, paired by seed when both ran several."""
    paired = theirs if len(theirs) == len(ours) else theirs[:1] * len(ours)  # trees run once
    diffs = [a[-1].f1 - b[-1].f1 for a, b in zip(ours, paired, strict=True)]
    mean = float(np.mean(diffs))
    verdict = "layout better" if mean > 0 else "layout NOT better"
    if len(diffs) == 1:
        return f"  layout - {name} micro F1: {mean:+.4f} ({verdict})"
    wins = sum(d > 0 for d in diffs)
    return (f"  layout - {name} micro F1 by seed {' '.join(f'{d:+.4f}' for d in diffs)}: mean {mean:+.4f}, "
            f"layout ahead in {wins} of {len(diffs)} ({verdict})")  # fmt: skip


def curve_summary(name: str, run: dict[str, Any]) -> str:
    if not run["curve"]:
        return f"{name}: no evaluation"
    best = max(run["curve"], key=lambda p: p["f1"])
    return (f"{name}: best val entity F1 {best['f1']:.4f} at step {best['step']} (epoch {best['epoch']:.2f}), "
            f"{best['seconds'] / 60:.2f} min of training")  # fmt: skip


def train_taggers(args: argparse.Namespace, name: str, minutes: float, workdir: Path, fields_path: str,
                  train: list[PageExample], val: list[PageExample]) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """(a) and (b) once per seed; a seed sets the weights, the batches and which documents pick the epoch."""
    runs: dict[str, list[dict[str, Any]]] = {}
    taggers = [m for m in ("layout", "text-only") if m in args.methods]
    max_steps = None
    for seed in args.seeds:
        seeded = argparse.Namespace(**{**vars(args), "seed": seed})
        fit, select = split_by_document(train, SELECTION_SHARE, seed)  # as train_ner splits off its validation
        if taggers:
            print(f"  seed {seed}: the taggers train on {len(fit)} of these pages and pick their best epoch on the "
                  f"other {len(select)} ({len({p.document for p in select})} documents)")  # fmt: skip
            max_steps = max_steps or args.steps or steps_for_budget(seeded, fields_path, fit, workdir / name, minutes)
        for method in taggers:
            pages = (fit, select, val) if method == "layout" else tuple(map(zero_boxes, (fit, select, val)))
            print(f"  training ({'a' if method == 'layout' else 'b'}) {method}, seed {seed} ...", flush=True)
            output = workdir / name / f"{method}-{seed}"
            runs.setdefault(method, []).append(train_tagger(seeded, fields_path, *pages, max_steps, output))
    return runs


def run_dataset(args: argparse.Namespace, name: str, minutes: float, workdir: Path) -> None:
    print(f"\n=== {name} ===", flush=True)
    fields_path, train, val = cord_pages(args) if name == "cord" else demo_pages(args, workdir)
    names = field_names(read_fields(fields_path), fields_path)
    describe(name, train, val)

    runs = train_taggers(args, name, minutes, workdir, fields_path, train, val)
    gbt = None
    if "gbt" in args.methods:
        print("  training (c) gradient-boosted trees ...", flush=True)
        gbt = train_baseline(train, val, names, args.seeds[0])

    scores = {m: [r["scores"] for r in rs] for m, rs in runs.items()} | ({"gbt": [gbt["scores"]]} if gbt else {})
    seeds = f", mean of seeds {', '.join(map(str, args.seeds))}" if len(args.seeds) > 1 and runs else ""
    print(f"\n  entity F1 on {name} val ({len(val)} pages{seeds})")
    field_table({m: mean_scores(s) for m, s in scores.items()})
    for method, method_scores in scores.items():
        print(micro_line(method, method_scores))
    for other in ("text-only", "gbt"):
        if "layout" in scores and other in scores:
            print(difference_line(other, scores["layout"], scores[other]))

    print("\n  training")
    for method, method_runs in runs.items():
        for seed, run in zip(args.seeds, method_runs, strict=True):
            evaluation = (run["wall"] - run["train_seconds"]) / 60
            print(f"  {method:<10} seed {seed}: {run['steps']} steps, {run['epochs']:.2f} epochs ({run['windows']} "
                  f"windows), {run['train_seconds'] / 60:.2f} min training (+{evaluation:.2f} min evaluation), "
                  f"{run['pages_per_second']:.1f} pages/s")  # fmt: skip
            print(f"    {curve_summary(method, run)}")
    if gbt:
        print(f"  gbt        {gbt['words']} words, fit in {gbt['train_seconds']:.1f} s "
              f"({gbt['train_pages_per_second']:.1f} pages/s)")  # fmt: skip

    print("\n  inference on val pages (Tagger.predict, batch 16, as enrichment)")
    if "layout" in runs:
        tagger = runs["layout"][0]["tagger"]
        fp32 = inference_speed(tagger, val, bf16=False)
        bf16 = inference_speed(tagger, val, bf16=True)
        bf16_f1 = score(tagger, val, bf16=True)[-1].f1
        print(f"  layout fp32 {fp32:.1f} pages/s; bf16 {bf16:.1f} pages/s (micro F1 bf16 {bf16_f1:.4f} vs fp32 "
              f"{runs['layout'][0]['scores'][-1].f1:.4f}); target >= 20 pages/s")  # fmt: skip
    if gbt:
        print(f"  gbt (features + predict) {gbt['pages_per_second']:.1f} pages/s")


def main() -> None:
    import logging

    import torch

    args = parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    began = time.perf_counter()
    budget = (f"learning curve: fine-tuning {args.finetune_steps or args.finetune_minutes:g} "
              f"{'steps' if args.finetune_steps else 'min'} per run" if args.curve else
              f"budget {args.train_minutes:g} min per model (CORD), {args.demo_train_minutes:g} min (demo)")
    print(f"ner_bench: base {args.base}, {args.threads} threads, torch {torch.__version__}, {budget}"
          + (" [QUICK]" if args.quick else ""))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.curve:
            ner_curve.run_curve(args, workdir)
        elif args.dataset in ("demo", "both"):
            run_dataset(args, "demo", args.demo_train_minutes, workdir)
        if args.dataset in ("cord", "both") and not args.curve:
            run_dataset(args, "cord", args.train_minutes, workdir)
    print(f"\ntotal {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
