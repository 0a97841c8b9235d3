"""Date normalization benchmark: trained model, rules, hybrid and dateparser, on one held-out set.

Everything is measured in one run: data generation, the best achievable accuracy (from the
generator's own probabilities: some inputs are ambiguous), a time-boxed training of the default
model, exact-match accuracy and throughput of each method, and the decoding-speed comparison.
Prints tables; asserts nothing.

    .venv/bin/python bench/normalize_bench.py                  # the full run (15 min training)
    .venv/bin/python bench/normalize_bench.py --quick          # a smoke run (~2 min)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from docfields.normalize import (
    DateDataOptions,
    DateRuleNormalizer,
    HybridDateNormalizer,
    Seq2SeqModel,
    TrainOptions,
    best_achievable_accuracy,
    generate_date_examples,
    pattern_from_name,
    render_date,
    train_seq2seq,
    write_pairs,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-minutes", type=float, default=15.0, help="Training budget")
    parser.add_argument("--quick", action="store_true", help="Small sets, 0.5 min of training")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads (cores)")
    parser.add_argument("--test-n", type=int, default=5000, help="Held-out examples")
    parser.add_argument("--train-n", type=int, default=300000, help="Training examples")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep data and model here")
    parser.add_argument("--answers", choices=("most-likely", "drawn"), default="most-likely",
                        help="Training answers of ambiguous inputs (datagen --answers); held-out sets stay drawn")
    args = parser.parse_args()
    if args.quick:
        args.train_minutes, args.test_n, args.train_n = 0.5, 500, 20000
    return args


def write_split(workdir: Path, name: str, n: int, seed: int, answers: str = "drawn") -> Path:
    examples = generate_date_examples(DateDataOptions(n=n, seed=seed, answers=answers))
    return write_pairs([e.src for e in examples], [e.tgt for e in examples], workdir / name)


def train_default(args: argparse.Namespace, workdir: Path) -> tuple[Seq2SeqModel, float, int]:
    """The recipe the README gives: most likely answers to learn from, drawn ones to select on."""
    train = write_split(workdir, "train", args.train_n, seed=1, answers=args.answers)
    held = write_split(workdir, "eval.jsonl", 2000, seed=2)
    options = TrainOptions(
        train=str(train), eval=str(held), output=str(workdir / "model"), max_steps=None,
        max_minutes=args.train_minutes, eval_every=500, eval_samples=500, patience=100,
        prompt_template="Convert dates to {target}: {text}",
    )  # fmt: skip

    def show(event) -> None:  # noqa: ANN001
        if event.kind == "eval":
            print(f"  step {event.step:5d}  {event.elapsed / 60:5.1f} min  exact match {event.accuracy:.4f}",
                  flush=True)  # fmt: skip

    began = time.perf_counter()
    result = train_seq2seq(options, show)
    print(f"  trained {result.steps} steps in {result.seconds / 60:.1f} min "
          f"(wall {(time.perf_counter() - began) / 60:.1f} min incl. final eval)")  # fmt: skip
    return Seq2SeqModel.load(result.output), result.seconds, result.steps


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN201
    began = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - began


def by_target(examples, make):  # noqa: ANN001, ANN201
    """Run a per-target normalizer over the examples; (predictions or None, seconds)."""
    groups = defaultdict(list)
    for i, e in enumerate(examples):
        groups[e.target].append(i)
    preds: list[str | None] = [None] * len(examples)
    seconds = 0.0
    for target, rows in groups.items():
        normalizer = make(target)
        results, dt = timed(normalizer.normalize, [examples[i].text for i in rows])
        seconds += dt
        for i, r in zip(rows, results, strict=True):
            preds[i] = r.value
    return preds, seconds


def run_dateparser(examples):  # noqa: ANN001, ANN201
    """dateparser set up for this data: English, month-first (the frequent reading), strict."""
    from dateparser.date import DateDataParser

    parser = DateDataParser(languages=["en"], settings={
        "DATE_ORDER": "MDY", "PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False,
        "REQUIRE_PARTS": ["day", "month", "year"],
    })  # fmt: skip
    patterns = {e.target: pattern_from_name(e.target) for e in examples}

    def parse_all() -> list[str | None]:
        out = []
        for e in examples:
            try:
                value = parser.get_date_data(e.text).date_obj
            except Exception:  # noqa: BLE001 - a failure to parse is a miss, whatever it is
                value = None
            out.append(None if value is None else render_date(value, patterns[e.target]))
        return out

    return timed(parse_all)


def report(name: str, preds, examples, seconds: float, ceiling: float, rows: list) -> None:  # noqa: ANN001
    correct = sum(p == e.tgt for p, e in zip(preds, examples, strict=True))
    answered = sum(p is not None for p in preds)
    acc = correct / len(examples)
    precision = correct / answered if answered else 0.0
    rows.append((name, acc, acc / ceiling, 1 - answered / len(examples), precision, len(examples) / seconds))


def decoding_speeds(model: Seq2SeqModel, texts: list[str]) -> list[tuple[str, float]]:
    out = []
    for label, kwargs in [
        ("HF generate, fp32, batch 32", dict(decoding="hf", bf16=False, batch_size=32)),
        ("HF generate, bf16 weights, batch 256", dict(decoding="hf", bf16=True, batch_size=256)),
        ("own cached loop, fp32, batch 256", dict(decoding="loop", bf16=False, batch_size=256)),
        ("own cached loop, bf16 weights, batch 64", dict(decoding="loop", bf16=True, batch_size=64)),
        ("own cached loop, bf16 weights, batch 256 (default)", dict(decoding="loop", bf16=True, batch_size=256)),
    ]:
        model.generate(texts[:64], **kwargs)
        runs = [timed(lambda kw=kwargs: model.generate(texts, **kw))[1] for _ in range(3)]
        out.append((label, len(texts) / statistics.median(runs)))
    return out


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="normalize-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"threads {args.threads}, workdir {workdir}, train {args.train_n} pairs ({args.answers} answers), "
          f"test {args.test_n}")  # fmt: skip
    options = DateDataOptions(n=args.test_n, seed=3)
    test = generate_date_examples(options)
    ceiling = best_achievable_accuracy(test, options)
    print(f"best achievable exact match on the held-out set: {ceiling:.4f}")
    print(f"training the default model ({args.train_minutes:g} min budget):")
    model, train_seconds, steps = train_default(args, workdir)

    rows: list = []
    preds, dt = timed(model.generate, [e.src for e in test])
    report("seq2seq model (cpu-small)", preds, test, dt, ceiling, rows)
    preds, dt = by_target(test, lambda t: DateRuleNormalizer(t, order="MDY"))
    report("rules date:<T>;order=MDY", preds, test, dt, ceiling, rows)
    preds, dt = by_target(test, lambda t: HybridDateNormalizer(t, model))
    report("hybrid (rules + validated model)", preds, test, dt, ceiling, rows)
    preds, dt = run_dateparser(test)
    report("dateparser (en, MDY)", preds, test, dt, ceiling, rows)

    print(f"\nHeld-out set: {len(test)} examples from the original's distribution (seed 3); "
          f"ceiling {ceiling:.4f}\n")  # fmt: skip
    print(f"| {'method':34s} | exact match | % of ceiling | flagged / no answer | precision | strings/s |")
    print(f"|{'-' * 36}|-------------|--------------|---------------------|-----------|-----------|")
    for name, acc, ratio, flagged, precision, speed in rows:
        print(f"| {name:34s} | {acc:11.4f} | {100 * ratio:11.2f}% | {100 * flagged:18.2f}% | "
              f"{precision:9.4f} | {speed:9.0f} |")  # fmt: skip
    print(f"\ntraining: {steps} steps in {train_seconds / 60:.1f} min on {args.threads} threads")
    print("\ndecoding speed of the trained model (strings/s, median of 3, 1024 prompts):")
    for label, speed in decoding_speeds(model, [e.src for e in test[:1024]]):
        print(f"  {label:52s} {speed:8.0f}")


if __name__ == "__main__":
    main()
