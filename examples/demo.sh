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
echo "Textract JSON per document: $out/ocr/<file>/consolidated.json (manifest: $out/ocr/manifest.jsonl)"
echo "Rerun 'make demo': finished documents are skipped; add --force to the ocr command to redo them."
