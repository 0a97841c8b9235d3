#!/usr/bin/env bash
# The demo `make demo` runs: inspect, OCR and thumbnails on the bundled samples.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-output}
docfields=.venv/bin/docfields

echo "== What the samples are (no rendering, no OCR) =="
for f in examples/samples/*.pdf examples/samples/*.tif; do
    $docfields inspect "$f"
done

echo
echo "== OCR: text layers where PDFs have them, Tesseract elsewhere =="
$docfields ocr examples/samples -o "$out/ocr"

echo
echo "== Thumbnails (224 x 224, the original's .npz format) =="
$docfields thumbnails examples/samples/sample-invoice.pdf -o "$out/thumbnails/sample-invoice.npz"
$docfields thumbnails examples/samples/phototest.tif -o "$out/thumbnails/phototest.png" --fit letterbox

echo
echo "== A synthetic credit-card corpus with ground truth, then OCR of its page manifest =="
$docfields samples credit-cards -n 4 -o "$out/corpus" --seed 7
$docfields ocr "$out/corpus/annotations.manifest.jsonl" -o "$out/corpus-ocr"

echo
echo "== Dates to one format, by rules (the last one is flagged for review, exit code 2) =="
$docfields normalize --normalizer 'date:YYYY-MM-DD;order=MDY' "Sunday Dec 31st 2000" 03/04/21 31.12.1999 "next tuesday" \
    || [ $? -eq 2 ]

echo
echo "Textract JSON per document: $out/ocr/<file>/consolidated.json (manifest: $out/ocr/manifest.jsonl)"
echo "Rerun 'make demo': finished documents are skipped; add --force to the ocr command to redo them."
