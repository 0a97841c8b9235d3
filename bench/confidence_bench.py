"""Confidence benchmark: is a field's calibrated confidence the chance its value is right, and what does review cost?

On two corpora, side by side in one run:

- demo: the synthetic credit-card agreements `make demo` uses (a quarter scanned, OCR by ``auto``), a
  tagger trained from scratch as the demo trains it, and held-out documents of another seed;
- CORD val: a tagger trained on CORD train (text and boxes as labelled), the 100 val receipts held out.

On the held-out documents, two-fold cross-fitting: the calibration (word temperature and field
curve, ``fields.heldout.calibrate_tagger``) is fitted on one half and scored on the other, then
the halves swap, so no figure is measured on the data it was fitted on. Also scored: the
calibration ``train ner`` fitted on its own validation slice (what the demo ships with). Reported:

- ECE of field confidence before (the raw consolidation confidence, temperature 1) and after;
- at a target accuracy (0.99), thresholds chosen on the fitting half: the share of fields and of
  documents that need no review on the other half, and how often the accepted fields are right;
- the review-load curve (share of fields accepted vs their accuracy) and the reliability diagram
  as PNGs in the work folder.

Targets (issue 18): ECE <= 0.05; at 0.99, accepted fields right >= 99% of the time and >= 60% of
fields accepted on the demo corpus. Asserts nothing.

    .venv/bin/python bench/confidence_bench.py                       # both corpora, about 25 min
    .venv/bin/python bench/confidence_bench.py --datasets demo --demo-train-minutes 3 --eval-docs 30
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from docfields.fields.calibration import (
    FieldCalibration,
    Outcome,
    expected_calibration_error,
    review_load_curve,
)
from docfields.fields.heldout import LabelledDocument, calibrate_tagger, heldout_outcomes, labelled_documents
from docfields.ner import NerTrainOptions, Tagger, train_ner

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIELDS = Path(__file__).resolve().parents[1] / "examples" / "fields" / "credit-card.json"
DEMO_BATCH, DEMO_RATE, DEMO_VALIDATION_SHARE = 16, 4e-3, 0.2  # examples/demo.sh's train ner flags


# ---------------------------------------------------------------------------------------- data


def demo_manifests(args: argparse.Namespace, workdir: Path) -> tuple[str, str, str]:
    """Generate and OCR the demo corpus (train: the demo's seed; held out: another), resumable."""
    from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr
    from docfields.samples import generate_credit_card_corpus

    manifests = []
    for name, docs, seed in (("train", args.demo_train_docs, 7), ("heldout", args.eval_docs, 1007)):
        corpus, ocr = workdir / f"demo-{name}", workdir / f"demo-{name}-ocr"
        if not (corpus / "truth.jsonl").is_file():
            generate_credit_card_corpus(corpus, n=docs, seed=seed)
        began = time.perf_counter()
        options = BatchOcrOptions(workers=args.threads)
        summary = run_batch_ocr(plan_batch_ocr(str(corpus / "annotations.manifest.jsonl"), str(ocr), options), options)
        print(f"  demo {name}: {docs} documents, {summary.processed} OCRed now ({summary.pages} pages) "
              f"in {time.perf_counter() - began:.0f} s")  # fmt: skip
        manifests.append(str(ocr / "manifest.jsonl"))
    return str(FIELDS), manifests[0], manifests[1]


def cord_manifests(args: argparse.Namespace) -> tuple[str, str, str]:
    return (str(args.cord / "fields.json"), str(args.cord / "train.manifest.jsonl"),
            str(args.cord / "val.manifest.jsonl"))  # fmt: skip


def trained_model(name: str, fields: str, manifest: str, workdir: Path, **recipe: float | int | None) -> Path:
    """The tagger as `train ner` makes it (with its own validation slice and calibration), reused when present."""
    output = workdir / f"{name}-model"
    if not (output / "config.json").is_file():
        began = time.perf_counter()
        result = train_ner(NerTrainOptions(manifest=manifest, fields=fields, output=str(output), **recipe))
        print(f"  {name}: trained {result.steps} steps on {result.train_pages} pages in "
              f"{time.perf_counter() - began:.0f} s; calibration on {result.validation_pages} validation pages")
    return output


# --------------------------------------------------------------------------------- measures


def halves(documents: Sequence[LabelledDocument]) -> tuple[list[LabelledDocument], list[LabelledDocument]]:
    return list(documents[0::2]), list(documents[1::2])


def scored(tagger: Tagger, calibration: FieldCalibration, documents: Sequence[LabelledDocument],
           target: float) -> list[tuple[Outcome, float, float]]:  # fmt: skip
    """(outcome, calibrated confidence, threshold at ``target``) per field of ``documents``."""
    tagger.temperature = calibration.temperature
    outcomes = heldout_outcomes(tagger, documents)
    thresholds = calibration.thresholds(target, sorted({o.field for o in outcomes}))
    return [(o, calibration.confidence(o.field, o.evidence), thresholds[o.field]) for o in outcomes]


def measures(raw: Sequence[Outcome], rows: Sequence[tuple[Outcome, float, float]]) -> dict[str, float]:
    """ECE before and after, and what the target's thresholds accept."""
    correct = np.array([o.correct for o, _, _ in rows])
    confidence = np.array([c for _, c, _ in rows])
    accepted = np.array([c >= t for _, c, t in rows])
    documents: dict[str, bool] = {}
    for (outcome, _, _), passed in zip(rows, accepted, strict=True):
        documents[outcome.document] = documents.get(outcome.document, True) and bool(passed)
    return {
        "fields": len(rows), "documents": len(documents), "accuracy": float(correct.mean()),
        "ece_raw": expected_calibration_error(np.array([o.evidence.confidence for o in raw]),
                                              np.array([o.correct for o in raw])),
        "ece_calibrated": expected_calibration_error(confidence, correct),
        "fields_accepted": float(accepted.mean()),
        "accepted_accuracy": float(correct[accepted].mean()) if accepted.any() else float("nan"),
        "documents_accepted": float(np.mean(list(documents.values()))),
    }  # fmt: skip


def evaluate(name: str, model: Path, heldout: str, target: float, workdir: Path) -> dict[str, dict[str, float]]:
    """Cross-fitted calibration and the train-slice calibration, both scored on documents they did not see."""
    from docfields.fields.plots import reliability_diagram, review_load_plot

    tagger = Tagger.load(model)
    shipped = FieldCalibration.load(model)
    documents = labelled_documents(heldout, len(tagger.card.field_names))
    tagger.temperature = 1.0
    raw = heldout_outcomes(tagger, documents)
    crossed: list[tuple[Outcome, float, float]] = []
    for fit, test in (halves(documents), halves(documents)[::-1]):
        crossed += scored(tagger, calibrate_tagger(tagger, fit), test, target)
    figures = {"cross-fitted": measures(raw, crossed)}
    if shipped is not None:
        figures["train slice"] = measures(raw, scored(tagger, shipped, documents, target))
    correct = np.array([o.correct for o, _, _ in crossed])
    calibrated = np.array([c for _, c, _ in crossed])
    reliability_diagram(str(workdir / f"{name}-reliability.png"), np.array([o.evidence.confidence for o in raw]),
                        calibrated, correct)  # fmt: skip
    review_load_plot(str(workdir / f"{name}-review-load.png"), review_load_curve(calibrated, correct), target)
    figures["curve"] = {f"{p.accepted:.2f}": p.accuracy for p in _curve_points(calibrated, correct)}
    return figures


def _curve_points(confidence: np.ndarray, correct: np.ndarray) -> list:
    """A few points of the review-load curve: where 40, 60, 80 and 100% of the fields are accepted."""
    curve = review_load_curve(confidence, correct)
    return [min(curve, key=lambda p, share=share: abs(p.accepted - share)) for share in (0.4, 0.6, 0.8, 1.0)]


# ------------------------------------------------------------------------------------ report


ROWS = (("documents", "held-out documents", "{:.0f}"), ("fields", "fields", "{:.0f}"),
        ("accuracy", "field accuracy", "{:.1%}"), ("ece_raw", "ECE before calibration", "{:.3f}"),
        ("ece_calibrated", "ECE after", "{:.3f}"), ("fields_accepted", "fields needing no review", "{:.1%}"),
        ("documents_accepted", "documents needing no review", "{:.1%}"),
        ("accepted_accuracy", "accepted fields right", "{:.2%}"))  # fmt: skip


def report(results: dict[str, dict[str, dict[str, float]]], target: float) -> None:
    columns = [(dataset, kind) for dataset, figures in results.items() for kind in figures if kind != "curve"]
    print(f"\n| at target {target} | " + " | ".join(f"{d} ({k})" for d, k in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for key, label, form in ROWS:
        print(f"| {label} | " + " | ".join(form.format(results[d][k][key]) for d, k in columns) + " |")
    for dataset, figures in results.items():
        points = ", ".join(f"{float(share):.0%} accepted -> {acc:.1%} right" for share, acc in figures["curve"].items())
        print(f"review-load curve, {dataset} (cross-fitted): {points}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="demo,cord", help="Comma-separated: demo, cord")
    parser.add_argument("--demo-train-docs", type=int, default=80, help="Generated training documents (demo's seed)")
    parser.add_argument("--eval-docs", type=int, default=60, help="Held-out demo documents (another seed)")
    parser.add_argument("--demo-train-minutes", type=float, default=6.0)
    parser.add_argument("--cord-train-minutes", type=float, default=6.0)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--threads", type=int, default=2, help="OCR workers and torch threads")
    parser.add_argument("--cord", type=Path, default=DEFAULT_DATA / "cord")
    parser.add_argument("--workdir", type=Path, default=Path("bench-output/confidence"),
                        help="Corpora, models and plots; reused by a rerun")  # fmt: skip
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for dataset in args.datasets.split(","):
        print(f"== {dataset}")
        if dataset == "demo":  # the recipe of examples/demo.sh
            fields, train, heldout = demo_manifests(args, args.workdir)
            recipe = {"max_minutes": args.demo_train_minutes, "batch_size": DEMO_BATCH, "learning_rate": DEMO_RATE,
                      "validation_share": DEMO_VALIDATION_SHARE}  # fmt: skip
        else:
            fields, train, heldout = cord_manifests(args)
            recipe = {"max_minutes": args.cord_train_minutes}
        model = trained_model(dataset, fields, train, args.workdir, **recipe)
        results[dataset] = evaluate(dataset, model, heldout, args.target, args.workdir)
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, args.target)
    print(f"\nplots: {args.workdir}/<dataset>-reliability.png, <dataset>-review-load.png")


if __name__ == "__main__":
    main()
