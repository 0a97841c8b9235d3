"""Learning curve of the field tagger: how many labels it needs, from scratch and from a pre-trained base.

Run through ``bench/ner_bench.py --curve`` (or directly). For each dataset, side by side in one run:

- micro entity F1 on held-out pages (CORD val; held-out generated demo documents) after fine-tuning on
  5, 10, 25, 50 and 100% of the labelled training documents (nested subsets, drawn per seed), (a) from
  scratch and (b) from a base pre-trained by ``train_mlm`` on every training page without its labels
  (the demo corpus adds ``--demo-unlabelled`` generated documents, 2,000 by default). Every run is
  ``train_ner`` with the CLI's defaults and the same budget: ``--finetune-minutes`` (what a user gets
  on an idle machine) or ``--finetune-steps`` (independent of the machine's load);
- one round of active learning: from the pre-trained model fine-tuned on 5%, the next 5% of the
  documents chosen by ``annotations.tasks.page_uncertainty`` (the pages the model is least sure of)
  against 5% chosen at random, each fine-tuned on the resulting 10%;
- the target run: full-label CORD, pre-training plus fine-tuning within ``--target-minutes`` (20).

Prints the pre-training time and what it reached, the budget split, the curve with each seed and the
mean, and the targets. Every finished run is kept in WORKDIR/runs/*.json: an interrupted run resumes
where it stopped (``--workdir`` to keep it). Asserts nothing.

    .venv/bin/python bench/ner_bench.py --curve --workdir /tmp/curve                  # full run
    .venv/bin/python bench/ner_bench.py --curve --dataset cord --fractions 10,100 --seeds 1337
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FRACTIONS = "5,10,25,50,100"
SEEDS = "1337,2024"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The curve's options, on ``ner_bench.py``'s parser (``--dataset``, ``--workdir``, ``--cord`` are shared)."""
    group = parser.add_argument_group("learning curve (--curve)")
    group.add_argument("--fractions", default=FRACTIONS, help="Percent of the labelled training documents")
    group.add_argument("--curve-seeds", default=SEEDS, help="Seeds: subsets, initialization and data order")
    group.add_argument("--finetune-minutes", type=float, default=3.0, help="Fine-tuning budget per run")
    group.add_argument("--finetune-steps", type=int, default=None, help="Fine-tuning steps per run instead")
    group.add_argument("--pretrain-minutes", type=float, default=8.0, help="Pre-training budget per dataset")
    group.add_argument("--pretrain-steps", type=int, default=None, help="Pre-training steps instead")
    group.add_argument("--target-minutes", type=float, default=20.0, help="Full-label CORD: pre-training + tuning")
    group.add_argument("--no-target", action="store_true", help="Skip the full-label CORD target run")
    group.add_argument("--target-only", action="store_true", help="Only the full-label CORD target run")
    group.add_argument("--no-active", action="store_true", help="Skip the uncertain-vs-random labelling round")
    group.add_argument("--demo-labelled", type=int, default=120, help="Labelled demo documents (a quarter held out)")
    group.add_argument("--demo-unlabelled", type=int, default=2000, help="Extra unlabelled demo documents")


# ------------------------------------------------------------------------------------------ corpora


def absolute_lines(manifest: Path) -> list[dict[str, Any]]:
    """Manifest records with their ``textract-ref`` made absolute (CORD's are relative to the manifest)."""
    records = []
    for line in manifest.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            ref = Path(record["textract-ref"])
            record["textract-ref"] = str(ref if ref.is_absolute() else manifest.parent / ref)
            records.append(record)
    return records


def write_lines(path: Path, records: Sequence[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


def document_of(record: dict[str, Any]) -> str:
    """The document a manifest line belongs to, as ``train_ner`` groups pages."""
    return str(record.get("raw-ref") or record["textract-ref"])


def cord_corpus(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    train = absolute_lines(args.cord / "train.manifest.jsonl")
    val = write_lines(workdir / "cord" / "val.jsonl", absolute_lines(args.cord / "val.manifest.jsonl"))
    unlabelled = write_lines(workdir / "cord" / "pretrain.jsonl", [{"textract-ref": r["textract-ref"]} for r in train])
    return {"name": "cord", "fields": str(args.cord / "fields.json"), "train": train, "val": val,
            "unlabelled": unlabelled}  # fmt: skip


def read_text_layers(raw_refs: Sequence[str], folder: Path) -> dict[str, str]:
    """Textract JSON of born-digital documents from their text layer (``pdftext``), cached in ``folder``."""
    from rich.progress import track

    from docfields.ocr import ocr_document
    from docfields.textract import write_textract

    folder.mkdir(parents=True, exist_ok=True)
    done = {}
    for raw in track(sorted(set(raw_refs)), description=f"  reading text layers into {folder.name}"):
        target = folder / (Path(raw).stem + ".json")
        if not target.is_file():
            write_textract(ocr_document(raw, engine="pdftext"), str(target))
        done[raw] = str(target)
    return done


def generated(root: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """A generated born-digital demo corpus (kept: generating 2,000 documents takes minutes) with Textract refs."""
    from docfields.samples import generate_credit_card_corpus

    manifest = root / "annotations.manifest.jsonl"
    if not manifest.is_file():
        generate_credit_card_corpus(root, n=n, seed=seed, scan_share=0.0)
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    refs = read_text_layers([r["raw-ref"] for r in records], root / "textract")
    return [{**record, "textract-ref": refs[record["raw-ref"]]} for record in records]


def demo_corpus(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    began = time.perf_counter()
    labelled = generated(workdir / "demo" / "labelled", args.demo_labelled, seed=7)
    documents = sorted({document_of(r) for r in labelled})
    random.Random(7).shuffle(documents)
    held_out = set(documents[: len(documents) // 4])
    train = [r for r in labelled if document_of(r) not in held_out]
    val = write_lines(workdir / "demo" / "val.jsonl", [r for r in labelled if document_of(r) in held_out])
    extra = generated(workdir / "demo" / "unlabelled", args.demo_unlabelled, seed=2026) if args.demo_unlabelled else []
    pages = {(r["textract-ref"], r.get("page-num")) for r in [*train, *extra]}
    unlabelled = write_lines(workdir / "demo" / "pretrain.jsonl",
                             [{"textract-ref": ref, "page-num": page} for ref, page in sorted(pages)])  # fmt: skip
    print(f"  demo corpus: {len(documents) - len(held_out)} labelled training and {len(held_out)} held-out documents, "
          f"{args.demo_unlabelled} unlabelled; ready in {time.perf_counter() - began:.0f} s")  # fmt: skip
    return {"name": "demo", "fields": str(workdir / "demo" / "labelled" / "fields.json"), "train": train, "val": val,
            "unlabelled": unlabelled}  # fmt: skip


def subset(train: Sequence[dict[str, Any]], percent: float, seed: int) -> list[str]:
    """The first ``percent`` of the training documents in a seeded order: subsets of one seed are nested."""
    documents = sorted({document_of(r) for r in train})
    random.Random(seed).shuffle(documents)
    return documents[: max(2, math.ceil(len(documents) * percent / 100))]


def subset_manifest(corpus: dict[str, Any], documents: Sequence[str], path: Path) -> str:
    keep = set(documents)
    return write_lines(path, [r for r in corpus["train"] if document_of(r) in keep])


# ------------------------------------------------------------------------------------------ runs


def cached(path: Path, run: Any, *arguments: Any, **options: Any) -> dict[str, Any]:
    """A finished run's figures from ``path``, or ``run(...)``'s, written there (resume after an interruption)."""
    if path.is_file():
        return json.loads(path.read_text())
    figures = run(*arguments, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=1))
    return figures


def pretrain(args: argparse.Namespace, corpus: dict[str, Any], workdir: Path, minutes: float | None) -> dict[str, Any]:
    from docfields.ner.pretrain import MlmTrainOptions, train_mlm

    output = workdir / "bases" / f"{corpus['name']}-{minutes or args.pretrain_steps}"

    def run() -> dict[str, Any]:
        options = MlmTrainOptions(corpus=corpus["unlabelled"], output=str(output), max_minutes=minutes,
                                  max_steps=None if minutes else args.pretrain_steps, device="cpu")  # fmt: skip
        result = train_mlm(options)
        print(f"  pre-trained {corpus['name']}: {result.pages} pages, {result.steps} steps in "
              f"{result.seconds / 60:.1f} min ({result.stopped}); masked-word accuracy {result.masked_accuracy:.3f} "
              f"(chance {result.chance_accuracy:.3f})", flush=True)  # fmt: skip
        return {"base": str(output), "pages": result.pages, "steps": result.steps, "seconds": result.seconds,
                "masked_accuracy": result.masked_accuracy, "chance_accuracy": result.chance_accuracy}  # fmt: skip

    return cached(workdir / "runs" / f"pretrain-{output.name}.json", run)


def finetune(
    args: argparse.Namespace, corpus: dict[str, Any], manifest: str, output: Path, seed: int, base: str | None,
    minutes: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``train_ner`` with the CLI's defaults on ``manifest``, scored on the held-out pages."""
    from docfields.ner import NerTrainOptions, train_ner

    minutes = minutes if minutes is not None else (None if args.finetune_steps else args.finetune_minutes)
    options = NerTrainOptions(manifest=manifest, validation_manifest=corpus["val"], fields=corpus["fields"],
                              output=str(output), seed=seed, max_minutes=minutes,
                              max_steps=None if minutes else args.finetune_steps, calibrate=False,
                              device="cpu", **({"base": base} if base else {}))  # fmt: skip
    result = train_ner(options)
    return {"f1": result.evaluation.micro.f1, "steps": result.steps, "seconds": result.seconds,
            "train_pages": result.train_pages, "stopped": result.stopped, "model": str(output)}  # fmt: skip


def curve(args: argparse.Namespace, corpus: dict[str, Any], base: str, workdir: Path) -> dict[tuple, dict[str, Any]]:
    runs = {}
    name = corpus["name"]
    for seed in args.curve_seeds:
        for percent in args.fractions:
            documents = subset(corpus["train"], percent, seed)
            manifest = subset_manifest(corpus, documents, workdir / "subsets" / f"{name}-{percent:g}-{seed}.jsonl")
            for mode in ("scratch", "pretrained"):
                key = f"{name}-{mode}-{percent:g}-{seed}"
                runs[mode, percent, seed] = cached(workdir / "runs" / f"{key}.json", finetune, args, corpus, manifest,
                                                   workdir / "models" / key, seed,
                                                   base if mode == "pretrained" else None)  # fmt: skip
                print(f"  {name} {mode:<10} {percent:>5g}% ({len(documents)} documents) seed {seed}: "
                      f"F1 {runs[mode, percent, seed]['f1']:.4f}", flush=True)  # fmt: skip
    return runs


def active_round(args: argparse.Namespace, corpus: dict[str, Any], base: str, runs: dict, workdir: Path) -> dict:
    """From the pre-trained 5% model: the next 5% of documents by uncertainty, or at random, then 10% fine-tuned."""
    from docfields.annotations.tasks import page_uncertainty
    from docfields.ner import Tagger, load_examples

    name, results = corpus["name"], {}
    for seed in args.curve_seeds:
        start = subset(corpus["train"], 5, seed)
        tagger = Tagger.load(runs["pretrained", 5.0, seed]["model"])
        rest = subset_manifest(corpus, sorted(set(document_of(r) for r in corpus["train"]) - set(start)),
                               workdir / "subsets" / f"{name}-rest-{seed}.jsonl")  # fmt: skip
        pages = load_examples(rest, len(tagger.card.field_names))
        wanted = len(subset(corpus["train"], 10, seed)) - len(start)
        by_document: dict[str, list[float]] = {}
        for page, score in zip(pages, page_uncertainty(tagger, pages), strict=True):
            by_document.setdefault(page.document, []).append(score)
        ranked = sorted(by_document, key=lambda d: -max(by_document[d]))
        drawn = sorted(by_document)
        random.Random(seed).shuffle(drawn)
        for strategy, chosen in (("uncertain", ranked[:wanted]), ("random", drawn[:wanted])):
            key = f"{name}-active-{strategy}-{seed}"
            manifest = subset_manifest(corpus, [*start, *chosen], workdir / "subsets" / f"{key}.jsonl")
            results[strategy, seed] = cached(workdir / "runs" / f"{key}.json", finetune, args, corpus, manifest,
                                             workdir / "models" / key, seed, base)  # fmt: skip
            print(f"  {name} 5% + 5% {strategy:<9} seed {seed}: F1 {results[strategy, seed]['f1']:.4f}", flush=True)
    return results


# ------------------------------------------------------------------------------------------ report


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def report_curve(args: argparse.Namespace, corpus: dict[str, Any], runs: dict, base: dict[str, Any]) -> None:
    name = corpus["name"]
    budget = f"{args.finetune_steps} steps" if args.finetune_steps else f"{args.finetune_minutes:g} min"
    print(f"\n  {name}: micro entity F1 on held-out pages; fine-tuning budget {budget} per run; pre-training "
          f"{base['seconds'] / 60:.1f} min, {base['steps']} steps on {base['pages']} unlabelled pages")  # fmt: skip
    seeds = args.curve_seeds
    print(f"  {'labels':>7} | {'scratch':>8} | {'pretrained':>10} | {'lift':>7} | per seed (scratch / pretrained)")
    for percent in args.fractions:
        scratch = [runs["scratch", percent, s]["f1"] for s in seeds]
        pretrained = [runs["pretrained", percent, s]["f1"] for s in seeds]
        each = ", ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(scratch, pretrained, strict=True))
        print(f"  {percent:>6g}% | {mean(scratch):8.4f} | {mean(pretrained):10.4f} | "
              f"{mean(pretrained) - mean(scratch):+7.4f} | {each}")  # fmt: skip
    if 10.0 in args.fractions:
        lift = mean([runs["pretrained", 10.0, s]["f1"] - runs["scratch", 10.0, s]["f1"] for s in seeds])
        print(f"  target: pre-training lifts F1 at 10% of the labels by >= +0.08: {lift:+.4f} "
              f"{'met' if lift >= 0.08 else 'NOT met'}")  # fmt: skip
    if 25.0 in args.fractions and 100.0 in args.fractions:
        few = mean([runs["pretrained", 25.0, s]["f1"] for s in seeds])
        full = mean([runs["scratch", 100.0, s]["f1"] for s in seeds])
        print(f"  target: pre-trained 25% >= scratch 100%: {few:.4f} vs {full:.4f} "
              f"{'met' if few >= full else 'NOT met'}")  # fmt: skip


def report_active(name: str, results: dict, seeds: Sequence[int]) -> None:
    uncertain = mean([results["uncertain", s]["f1"] for s in seeds])
    drawn = mean([results["random", s]["f1"] for s in seeds])
    print(f"  {name}: 10% of the labels after one round from 5% (pre-trained): uncertain pages {uncertain:.4f}, "
          f"random pages {drawn:.4f} ({uncertain - drawn:+.4f})")  # fmt: skip


def target_run(args: argparse.Namespace, corpus: dict[str, Any], workdir: Path) -> None:
    """Full-label CORD within ``--target-minutes``: pre-training for 40% of it, fine-tuning for the rest."""
    pre_minutes = round(args.target_minutes * 0.4, 2)
    base = pretrain(args, corpus, workdir, pre_minutes)
    minutes = args.target_minutes - base["seconds"] / 60
    manifest = write_lines(workdir / "subsets" / "cord-all.jsonl", corpus["train"])
    seed = args.curve_seeds[0]
    key = f"cord-target-{args.target_minutes:g}-{seed}"
    run = cached(workdir / "runs" / f"{key}.json", finetune, args, corpus, manifest, workdir / "models" / key, seed,
                 base["base"], minutes=minutes)
    total = (base["seconds"] + run["seconds"]) / 60
    print(f"\n  target: full-label CORD val micro F1 >= 0.88 within {args.target_minutes:g} min on 2 cores: "
          f"{run['f1']:.4f} in {total:.1f} min ({base['seconds'] / 60:.1f} pre-training + {run['seconds'] / 60:.1f} "
          f"fine-tuning, {run['steps']} steps) {'met' if run['f1'] >= 0.88 else 'NOT met'}")  # fmt: skip


def run_curve(args: argparse.Namespace, workdir: Path) -> None:
    """The whole learning-curve benchmark (called by ``ner_bench.py --curve``)."""
    args.fractions = [float(f) for f in args.fractions.split(",")]
    args.curve_seeds = [int(s) for s in args.curve_seeds.split(",")]
    names = ["cord", "demo"] if args.dataset == "both" else [args.dataset]
    if args.target_only:
        target_run(args, cord_corpus(args, workdir), workdir)
        return
    for name in names:
        print(f"\n=== {name}: learning curve ===", flush=True)
        corpus = cord_corpus(args, workdir) if name == "cord" else demo_corpus(args, workdir)
        base = pretrain(args, corpus, workdir, None if args.pretrain_steps else args.pretrain_minutes)
        runs = curve(args, corpus, base["base"], workdir)
        active = None
        if not args.no_active and 5.0 in args.fractions:
            active = active_round(args, corpus, base["base"], runs, workdir)
        report_curve(args, corpus, runs, base)
        if active:
            report_active(name, active, args.curve_seeds)
        if name == "cord" and not args.no_target:
            target_run(args, corpus, workdir)
