"""Normalizer benchmark: rules, trained model, hybrid and dateparser side by side, on four sets, in one run.

(a) Held-out prompts of the date generator (the original's distribution), with the best achievable
    accuracy (from the generator's own probabilities: some inputs are ambiguous).
(b) The same prompts with OCR noise (``DateDataOptions(noise=...)``, by default at the rate measured on
    real scans): noisy minus clean, per method.
(c) Real date expressions with reference times (tests/data/date_expressions.jsonl, from ctparse's
    corpus; bench/make_real_dates.py), per category, each method with and without the reference;
    docfields against dateparser given the same reference.
(d) The demo corpus's date, money and rate fields (the agreements examples/demo.sh generates),
    normalized as the shipped credit-card configuration says, against the generator's truth.

The model is trained in the run (time-boxed) unless ``--skip-training --model DIR`` reuses one.
Prints markdown tables; asserts nothing.

    .venv/bin/python bench/normalize_bench.py                  # the full run (15 min training)
    .venv/bin/python bench/normalize_bench.py --quick          # a smoke run (~2 min)
    .venv/bin/python bench/normalize_bench.py --skip-training --model /tmp/normalize-bench-x/model
    .venv/bin/python bench/normalize_bench.py --train-noise 0.03   # the model trained on noisy prompts
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docfields.fields.config import credit_card_configuration
from docfields.normalize import (
    DEFAULT_PROMPT_TEMPLATE,
    DateDataOptions,
    DateRuleNormalizer,
    HybridDateNormalizer,
    Seq2SeqModel,
    TrainOptions,
    best_achievable_accuracy,
    generate_date_examples,
    pattern_from_name,
    render_date,
    resolve_normalizer,
    train_seq2seq,
    write_pairs,
)
from docfields.normalize.base import NormalizeContext
from docfields.normalize.noise import load_ocr_noise
from docfields.samples.values import AGREEMENT_DATE, AgreementValues, draw_agreement_values, truth_text

REAL_TEXT = Path(__file__).parents[1] / "tests/data/date_expressions.jsonl"
CATEGORIES = ("absolute", "year-less", "relative", "with time")
DATE_TARGET, DATE_TIME_TARGET = "YYYY-MM-DD", "YYYY-MM-DD HH:mm"
# examples/demo.sh: `samples credit-cards --seed 7 -n 80` (training) and `--seed 1007 -n 10` (held out).
DEMO_CORPORA = ((7, 80), (1007, 10))
MONEY_AND_RATE_PREFIXES = ("APR - ", "Fee - ")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-minutes", type=float, default=15.0, help="Training budget")
    parser.add_argument("--quick", action="store_true", help="Small sets, 0.5 min of training")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads (cores)")
    parser.add_argument("--test-n", type=int, default=5000, help="Held-out examples")
    parser.add_argument("--train-n", type=int, default=300000, help="Training examples")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep training data and model here")
    parser.add_argument(
        "--answers",
        choices=("most-likely", "drawn"),
        default="most-likely",
        help="Training answers of ambiguous inputs (datagen --answers); held-out sets stay drawn",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=None,
        help="OCR noise of set (b): share of characters misread (DateDataOptions.noise); "
        "default: the rate measured on real scans (noise.load_ocr_noise().measured_rate)",
    )
    parser.add_argument("--train-noise", type=float, default=0.0, help="OCR noise of the training pairs")
    parser.add_argument("--real", type=Path, default=REAL_TEXT, help="Real-text set (bench/make_real_dates.py)")
    parser.add_argument("--skip-training", action="store_true", help="Reuse the model given by --model")
    parser.add_argument("--model", type=Path, default=None, help="A trained model directory (with --skip-training)")
    args = parser.parse_args()
    if args.skip_training != (args.model is not None):
        parser.error("--skip-training and --model go together")
    if args.quick:
        args.train_minutes, args.test_n, args.train_n = 0.5, 500, 20000
    if args.noise is None:
        args.noise = load_ocr_noise().measured_rate
    return args


def write_split(workdir: Path, name: str, n: int, seed: int, answers: str = "drawn", noise: float = 0.0) -> Path:
    examples = generate_date_examples(DateDataOptions(n=n, seed=seed, answers=answers, noise=noise))
    return write_pairs([e.src for e in examples], [e.tgt for e in examples], workdir / name)


def train_default(args: argparse.Namespace, workdir: Path) -> tuple[Seq2SeqModel, float, int]:
    """The recipe the README gives: most likely answers to learn from, drawn ones to select on."""
    train = write_split(workdir, "train", args.train_n, seed=1, answers=args.answers, noise=args.train_noise)
    held = write_split(workdir, "eval.jsonl", 2000, seed=2)
    options = TrainOptions(
        train=str(train), eval=str(held), output=str(workdir / "model"), max_steps=None,
        max_minutes=args.train_minutes, eval_every=500, eval_samples=500, patience=100,
        prompt_template=DEFAULT_PROMPT_TEMPLATE,
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


# (a) and (b): the generator's held-out prompts, clean and noisy


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


def dateparser_parser(reference: datetime | None = None, **settings):  # noqa: ANN003, ANN201
    """dateparser in English; with a reference, relative and year-less dates resolve after it."""
    from dateparser.date import DateDataParser

    settings = {"RETURN_AS_TIMEZONE_AWARE": False, **settings}
    if reference is not None:
        settings |= {"RELATIVE_BASE": reference, "PREFER_DATES_FROM": "future"}
    return DateDataParser(languages=["en"], settings=settings)


def dateparse(parser, text: str) -> datetime | None:  # noqa: ANN001
    try:
        return parser.get_date_data(text).date_obj
    except Exception:  # noqa: BLE001 - a failure to parse is a miss, whatever it is
        return None


def run_dateparser(examples):  # noqa: ANN001, ANN201
    """dateparser set up for this data: English, month-first (the frequent reading), strict."""
    parser = dateparser_parser(DATE_ORDER="MDY", PREFER_DAY_OF_MONTH="first", REQUIRE_PARTS=["day", "month", "year"])
    patterns = {e.target: pattern_from_name(e.target) for e in examples}

    def parse_all() -> list[str | None]:
        values = [dateparse(parser, e.text) for e in examples]
        return [
            None if v is None else render_date(v, patterns[e.target]) for v, e in zip(values, examples, strict=True)
        ]

    return timed(parse_all)


@dataclass(frozen=True)
class GeneratorScore:
    """One method's row of a generated-set table, and which examples it got right."""

    method: str
    accuracy: float
    of_ceiling: float
    no_answer: float
    precision: float
    per_second: float
    right: tuple[bool, ...]


def score(name: str, preds, examples, seconds: float, ceiling: float) -> GeneratorScore:  # noqa: ANN001
    right = tuple(p == e.tgt for p, e in zip(preds, examples, strict=True))
    answered = sum(p is not None for p in preds)
    acc = sum(right) / len(examples)
    precision = sum(right) / answered if answered else 0.0
    return GeneratorScore(name, acc, acc / ceiling, 1 - answered / len(examples), precision,
                          len(examples) / seconds, right)  # fmt: skip


def digits_readable(clean: str, noisy: str) -> bool:
    """Whether OCR noise left every digit of ``clean`` readable: kept, or read as a non-digit
    (``O`` for ``0``), never read as another digit, dropped or added. Nothing can read a date whose
    digits changed (``2021`` read ``2027``): the noise target is measured on the readable ones."""
    from rapidfuzz.distance import Levenshtein

    for op in Levenshtein.opcodes(clean, noisy):
        if op.tag == "equal":
            continue
        before, after = clean[op.src_start : op.src_end], noisy[op.dest_start : op.dest_end]
        paired = zip(before, after, strict=False)  # a replace pairs characters; the rest is dropped or added
        if any(a.isdigit() and b.isdigit() for a, b in paired) or any(
            c.isdigit() for c in before[len(after) :] + after[len(before) :]
        ):
            return False
    return True


def score_generator_set(model: Seq2SeqModel, test, ceiling: float) -> list[GeneratorScore]:  # noqa: ANN001
    """Model, rules, hybrid and dateparser on one set of generated prompts."""
    rows = []
    preds, dt = timed(model.generate, [e.src for e in test])
    rows.append(score("seq2seq model (cpu-small)", preds, test, dt, ceiling))
    preds, dt = by_target(test, lambda t: DateRuleNormalizer(t, order="MDY"))
    rows.append(score("rules date:<T>;order=MDY", preds, test, dt, ceiling))
    preds, dt = by_target(test, lambda t: HybridDateNormalizer(t, model))
    rows.append(score("hybrid (rules + validated model)", preds, test, dt, ceiling))
    preds, dt = run_dateparser(test)
    rows.append(score("dateparser (en, MDY)", preds, test, dt, ceiling))
    return rows


def print_generator_table(title: str, rows: list[GeneratorScore]) -> None:
    print(f"\n{title}\n")
    print(f"| {'method':34s} | exact match | % of ceiling | flagged / no answer | precision | strings/s |")
    print(f"|{'-' * 36}|-------------|--------------|---------------------|-----------|-----------|")
    for r in rows:
        print(f"| {r.method:34s} | {r.accuracy:11.4f} | {100 * r.of_ceiling:11.2f}% | {100 * r.no_answer:18.2f}% | "
              f"{r.precision:9.4f} | {r.per_second:9.0f} |")  # fmt: skip


def print_noise_table(
    clean: list[GeneratorScore], noisy: list[GeneratorScore], noise: float, readable: list[bool]
) -> None:
    """Noisy minus clean on every example, and on those whose digits the noise left readable."""
    kept = [i for i, ok in enumerate(readable) if ok]
    print(
        f"\n(b) - (a): OCR noise {noise:.4f} against clean, exact match (target: at most 2 points below clean); "
        f"digits readable in {len(kept)} of {len(readable)} noisy prompts ({100 * len(kept) / len(readable):.1f}%)\n"
    )
    print(f"| {'method':34s} | clean  | noisy  | noisy - clean | readable: clean | noisy  | noisy - clean | within 2 |")
    print(f"|{'-' * 36}|--------|--------|---------------|-----------------|--------|---------------|----------|")
    for c, n in zip(clean, noisy, strict=True):
        points = 100 * (n.accuracy - c.accuracy)
        kept_clean = sum(c.right[i] for i in kept) / len(kept)
        kept_noisy = sum(n.right[i] for i in kept) / len(kept)
        kept_points = 100 * (kept_noisy - kept_clean)
        print(f"| {c.method:34s} | {c.accuracy:.4f} | {n.accuracy:.4f} | {points:+13.2f} | {kept_clean:15.4f} | "
              f"{kept_noisy:.4f} | {kept_points:+13.2f} | {'yes' if kept_points >= -2 else 'no':8s} |")  # fmt: skip


# (c) the real-text set


@dataclass(frozen=True)
class RealText:
    """One expression of the real-text set (see bench/make_real_dates.py)."""

    text: str
    reference: datetime
    date: str
    time: str | None
    category: str

    def expected(self, target: str) -> str:
        return self.date if target == DATE_TARGET else f"{self.date} {self.time}"


def load_real(path: Path) -> list[RealText]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [RealText(r["text"], datetime.strptime(r["reference"], "%Y-%m-%dT%H:%M"), r["date"], r["time"],
                     r["category"]) for r in rows]  # fmt: skip


# A method reads texts for one target and gives one value or None (flagged, no answer) per text.
RealMethod = Callable[[Sequence[RealText], str], list[str | None]]


def docfields_method(make: Callable[[str], object], with_reference: bool) -> RealMethod:
    """A docfields normalizer, with each text's reference date as its context or without."""

    def predict(rows: Sequence[RealText], target: str) -> list[str | None]:
        contexts = [NormalizeContext(reference_date=r.reference.date()) for r in rows] if with_reference else None
        return [v.value for v in make(target).normalize([r.text for r in rows], contexts)]  # type: ignore[attr-defined]

    return predict


def model_method(model: Seq2SeqModel) -> RealMethod:
    """The bare model, asked as it was trained; it always answers and never sees a reference."""
    template = model.card.prompt_template or DEFAULT_PROMPT_TEMPLATE

    def predict(rows: Sequence[RealText], target: str) -> list[str | None]:
        return list(model.generate([template.format(target=target, text=r.text) for r in rows]))

    return predict


def dateparser_method(with_reference: bool) -> RealMethod:
    """dateparser, English; with the reference: RELATIVE_BASE=reference, PREFER_DATES_FROM=future."""
    parsers: dict[datetime | None, object] = {}

    def predict(rows: Sequence[RealText], target: str) -> list[str | None]:
        pattern = pattern_from_name(target)
        out = []
        for r in rows:
            reference = r.reference if with_reference else None
            if reference not in parsers:
                parsers[reference] = dateparser_parser(reference)
            value = dateparse(parsers[reference], r.text)
            out.append(None if value is None else render_date(value, pattern))
        return out

    return predict


def real_methods(model: Seq2SeqModel) -> list[tuple[str, bool, RealMethod]]:
    """(name, uses the reference, method) for every method of the real-text table."""

    def rules(yearless: str) -> Callable[[str], object]:
        return lambda target: DateRuleNormalizer(target, yearless=yearless)  # type: ignore[arg-type]

    def hybrid(yearless: str) -> Callable[[str], object]:
        return lambda target: HybridDateNormalizer(target, model, yearless=yearless)  # type: ignore[arg-type]

    methods: list[tuple[str, bool, RealMethod]] = [("seq2seq model", False, model_method(model))]
    for ref in (False, True):
        for yearless in ("after", "nearest"):
            methods.append((f"rules yearless={yearless}", ref, docfields_method(rules(yearless), ref)))
            methods.append((f"hybrid yearless={yearless}", ref, docfields_method(hybrid(yearless), ref)))
        methods.append(("dateparser (en)", ref, dateparser_method(ref)))
    return methods


@dataclass(frozen=True)
class RealScore:
    """One method's row of the real-text table."""

    method: str
    with_reference: bool
    per_category: dict[str, float]  # date correct, per category
    date_time: float  # "with time" rows, date and time correct
    overall: float
    no_answer: float
    wrong: float  # answered, and wrong (the date target)


def score_real(name: str, with_reference: bool, method: RealMethod, rows: list[RealText]) -> RealScore:
    dates = method(rows, DATE_TARGET)
    timed_rows = [r for r in rows if r.time is not None]
    date_times = method(timed_rows, DATE_TIME_TARGET)
    right = [p == r.expected(DATE_TARGET) for p, r in zip(dates, rows, strict=True)]
    per_category = {}
    for category in CATEGORIES:
        marks = [ok for ok, r in zip(right, rows, strict=True) if r.category == category]
        per_category[category] = sum(marks) / len(marks) if marks else 0.0
    date_time = sum(p == r.expected(DATE_TIME_TARGET) for p, r in zip(date_times, timed_rows, strict=True))
    answered = sum(p is not None for p in dates)
    return RealScore(name, with_reference, per_category, date_time / max(len(timed_rows), 1), sum(right) / len(rows),
                     1 - answered / len(rows), (answered - sum(right)) / len(rows))  # fmt: skip


def print_real_tables(scores: list[RealScore], rows: list[RealText]) -> None:
    counts = {c: sum(r.category == c for r in rows) for c in CATEGORIES}
    print(f"\n(c) Real text: {len(rows)} expressions with reference times (ctparse 0.3.6 corpus), date correct "
          f"({DATE_TARGET}); 'with time' rows also scored as {DATE_TIME_TARGET}\n")  # fmt: skip
    heads = [f"{c} ({counts[c]})" for c in CATEGORIES]
    print(f"| {'method':26s} | ref | " + " | ".join(heads) + " | with time: date+time | overall | no answer | wrong |")
    print(f"|{'-' * 28}|-----|" + "|".join("-" * (len(h) + 2) for h in heads) + "|----------------------|---------|"
          "-----------|-------|")  # fmt: skip
    for s in scores:
        cells = " | ".join(f"{s.per_category[c]:{len(h)}.3f}" for c, h in zip(CATEGORIES, heads, strict=True))
        print(f"| {s.method:26s} | {'yes' if s.with_reference else 'no ':3s} | {cells} | {s.date_time:20.3f} | "
              f"{s.overall:7.3f} | {s.no_answer:9.3f} | {s.wrong:5.3f} |")  # fmt: skip
    baseline = next(s for s in scores if s.method.startswith("dateparser") and s.with_reference)
    print(f"\nReal text, docfields against dateparser given the same reference (dateparser: overall "
          f"{baseline.overall:.3f}, date+time {baseline.date_time:.3f}; target: above it)\n")  # fmt: skip
    print(f"| {'method (with reference)':26s} | overall | - dateparser (points) | ratio | date+time: - dateparser |")
    print(f"|{'-' * 28}|---------|-----------------------|-------|-------------------------|")
    for s in scores:
        if s.with_reference and not s.method.startswith("dateparser"):
            ratio = s.overall / baseline.overall if baseline.overall else float("inf")
            print(f"| {s.method:26s} | {s.overall:7.3f} | {100 * (s.overall - baseline.overall):+21.1f} | "
                  f"{ratio:5.2f} | {100 * (s.date_time - baseline.date_time):+23.1f} |")  # fmt: skip


# (d) the demo corpus's fields


def demo_agreements() -> list[AgreementValues]:
    """The agreements of the demo's two corpora, drawn as ``samples.corpus.generate_document`` draws them."""
    return [draw_agreement_values(random.Random(f"docfields-samples:{seed}:{index}"))
            for seed, n in DEMO_CORPORA for index in range(n)]  # fmt: skip


@dataclass
class FieldScore:
    """One field's row of the demo table."""

    field: str
    normalizer: str
    values: int = 0
    equal: int = 0
    flagged: int = 0
    wrong: int = 0
    skipped: str = ""  # why the field is not scored


def score_demo(agreements: list[AgreementValues]) -> list[FieldScore]:
    """Each printed date, money and rate value normalized by its field's configured normalizer, against the
    agreement's truth."""
    scores = []
    for spec in credit_card_configuration().fields:
        if not (spec.name == AGREEMENT_DATE or spec.name.startswith(MONEY_AND_RATE_PREFIXES)):
            continue
        present = [a for a in agreements if a.has(spec.name)]
        s = FieldScore(spec.name, spec.normalizer_spec or "", values=len(present))
        scores.append(s)
        if spec.ignore:
            s.skipped = "ignored field"
        elif not spec.normalizer_spec:
            s.skipped = "no normalizer"
        elif not any(spec.name in a.normalized for a in present):
            s.skipped = "no truth"
        if s.skipped or not present:
            continue
        normalizer = resolve_normalizer(spec.normalizer_spec)
        results = normalizer.normalize([truth_text(a.values[spec.name]) for a in present])
        for a, r in zip(present, results, strict=True):
            truth = a.normalized.get(spec.name)
            if r.value is None:
                s.flagged += 1
            elif r.value == truth:
                s.equal += 1
            else:
                s.wrong += 1
    return scores


def print_demo_table(scores: list[FieldScore], n: int) -> None:
    print(f"\n(d) Demo corpus: {n} agreements (seeds {', '.join(str(s) for s, _ in DEMO_CORPORA)}), each printed value "
          f"normalized by the shipped credit-card configuration's normalizer, against the truth\n")  # fmt: skip
    print(f"| {'field':26s} | {'normalizer':30s} | values | equal | flagged | wrong | {'not scored':13s} |")
    print(f"|{'-' * 28}|{'-' * 32}|--------|-------|---------|-------|{'-' * 15}|")
    for s in scores:
        print(f"| {s.field:26s} | {s.normalizer:30s} | {s.values:6d} | {s.equal:5d} | {s.flagged:7d} | "
              f"{s.wrong:5d} | {s.skipped:13s} |")  # fmt: skip
    money = [s for s in scores if s.field.startswith(MONEY_AND_RATE_PREFIXES) and s.skipped != "ignored field"]
    values = sum(s.values for s in money)
    equal = sum(s.equal for s in money)
    unscored = [s.field for s in money if s.skipped and s.values]
    print(f"\nmoney and rate values equal to the truth: {equal} of {values} "
          f"({'yes, all' if equal == values else 'no'}; target: all)"
          + (f"; not scored (no normalizer or truth): {', '.join(unscored)}" if unscored else ""))  # fmt: skip


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
    print(f"threads {args.threads}, test {args.test_n}, test noise {args.noise:.4f}")
    options = DateDataOptions(n=args.test_n, seed=3)
    test = generate_date_examples(options)
    ceiling = best_achievable_accuracy(test, options)
    noisy_options = DateDataOptions(n=args.test_n, seed=3, noise=args.noise)
    noisy = generate_date_examples(noisy_options)
    noisy_ceiling = best_achievable_accuracy(noisy, noisy_options)
    print(f"best achievable exact match on the held-out set: {ceiling:.4f} (clean), {noisy_ceiling:.4f} (noisy)")
    if args.skip_training:
        model, train_seconds, steps = Seq2SeqModel.load(args.model), None, None
        print(f"model: {args.model} (not trained in this run)")
    else:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="normalize-bench-"))
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"training the default model ({args.train_minutes:g} min budget) in {workdir} on {args.train_n} pairs "
              f"({args.answers} answers, noise {args.train_noise:g}):")  # fmt: skip
        model, train_seconds, steps = train_default(args, workdir)

    clean_rows = score_generator_set(model, test, ceiling)
    noisy_rows = score_generator_set(model, noisy, noisy_ceiling)
    real = load_real(args.real)
    real_scores = [score_real(name, ref, method, real) for name, ref, method in real_methods(model)]
    agreements = demo_agreements()
    demo_scores = score_demo(agreements)

    print_generator_table(f"(a) Held-out set: {len(test)} examples from the original's distribution (seed 3); "
                          f"ceiling {ceiling:.4f}", clean_rows)  # fmt: skip
    print_generator_table(
        f"(b) The same prompts with OCR noise {args.noise:.4f} (characters misread); ceiling of the clean "
        f"texts {noisy_ceiling:.4f}",
        noisy_rows,
    )
    readable = [digits_readable(c.text, n.text) for c, n in zip(test, noisy, strict=True)]
    print_noise_table(clean_rows, noisy_rows, args.noise, readable)
    print_real_tables(real_scores, real)
    print_demo_table(demo_scores, len(agreements))
    if steps is not None:
        print(f"\ntraining: {steps} steps in {train_seconds / 60:.1f} min on {args.threads} threads")
    print("\ndecoding speed of the trained model (strings/s, median of 3, 1024 prompts):")
    for label, speed in decoding_speeds(model, [e.src for e in test[:1024]]):
        print(f"  {label:52s} {speed:8.0f}")


if __name__ == "__main__":
    main()
