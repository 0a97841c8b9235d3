#!/usr/bin/env bash
# What `make demo` runs: the whole system on a fresh machine, in about ten minutes on 2 cores.
#   1. the bundled samples: what they are, OCR, thumbnails, dates normalized by rule;
#   2. the main job: a synthetic credit-card corpus, OCR, a tagger trained from scratch and calibrated
#      on the documents it held out, held-out documents processed end to end with a review target
#      (only the fields likely wrong go to review), and their fields scored against the ground truth.
# Rerunning is fast: finished OCR, the trained model and processed documents are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-output}
train_docs=${DEMO_TRAIN_DOCS:-80}
heldout_docs=${DEMO_HELDOUT_DOCS:-10}
train_minutes=${DEMO_TRAIN_MINUTES:-6}
review_target=${DEMO_REVIEW_TARGET:-0.95}
fields=examples/fields/credit-card.json
docfields=.venv/bin/docfields

echo "== 1. The bundled samples: type and pages without rendering, OCR, thumbnails =="
for f in examples/samples/*.pdf examples/samples/*.tif; do
    $docfields inspect "$f"
done
$docfields ocr examples/samples -o "$out/samples-ocr"
$docfields thumbnails examples/samples/sample-invoice.pdf -o "$out/thumbnails/sample-invoice.npz"
echo "Dates to one format by rule (the last one is flagged for review, exit code 2):"
$docfields normalize --normalizer 'date:YYYY-MM-DD;order=MDY' "Sunday Dec 31st 2000" 03/04/21 "next tuesday" \
    || [ $? -eq 2 ]

echo
echo "== 2. A synthetic credit-card corpus: $train_docs documents to train on, $heldout_docs held out =="
[ -f "$out/train/truth.jsonl" ] || $docfields samples credit-cards -n "$train_docs" -o "$out/train" --seed 7
[ -f "$out/heldout/truth.jsonl" ] || $docfields samples credit-cards -n "$heldout_docs" -o "$out/heldout" --seed 1007

echo
echo "== 3. OCR of the training pages (auto: the text layer where there is one, Tesseract on scans) =="
$docfields ocr "$out/train/annotations.manifest.jsonl" -o "$out/train-ocr" --workers 2

echo
echo "== 4. A small layout-aware tagger trained from scratch ($train_minutes minutes), calibrated on the fifth it holds out =="
# Batches of 16 windows: on 2 cores they buy the most accuracy per minute (measured: issue 18's closing note).
if [ -f "$out/model/config.json" ]; then
    echo "reusing $out/model (delete it to train again)"
else
    $docfields train ner --manifest "$out/train-ocr/manifest.jsonl" --fields "$fields" -o "$out/model" \
        --max-minutes "$train_minutes" --selection-share 0.2 \
        --review-target "$review_target"
fi

echo
echo "== 5. The held-out documents end to end: OCR + thumbnails -> tagger -> fields, review target $review_target =="
$docfields process "$out"/heldout/docs/* --model "$out/model" --fields "$fields" -o "$out/results" \
    --home "$out/home" --workers 2 --review-target "$review_target"

echo
echo "== 6. Fields against the ground truth of the held-out documents =="
$docfields samples score "$out/results" --truth "$out/heldout/truth.jsonl"

echo
echo "Results: $out/results/<document>.result.json; review queue and history: $out/home (docfields serve --home $out/home)"
echo "Plots: $out/model/reliability.png (confidence vs accuracy), $out/model/review-load.png (fields accepted vs their accuracy)"
