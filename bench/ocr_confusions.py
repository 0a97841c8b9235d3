"""Tesseract's character confusions on dates and amounts, measured on real scans: the table behind OCR noise.

Three sources of (truth, OCR) text pairs, read by the default ``tesseract`` engine:

- ``ocr``: Tesseract's own test pages (``shared/data/ocr``: phototest, eurotext), whole page against
  its ``.txt`` truth;
- ``sroie``: real receipt scans (``shared/data/sroie``), OCR lines paired with truth lines by box overlap
  (``pair_boxes``, IoU >= 0.5), compared case-folded since the truth is all capitals;
- ``demo``: scanned demo agreements (``docfields.samples.corpus``), the OCR words inside each field
  mention's boxes against the mention's text (dates, APRs, fees: the values the table is for).

Each pair is aligned character by character (Levenshtein edit operations, rapidfuzz); pairs that are
more than a third wrong, or whose lengths differ by more than a tenth, are dropped as mis-paired, and
dropped or inserted characters at either end of a pair are not counted (line boxes cut differently).
Counted, for every truth character that occurs in dates and amounts (``DATE_AMOUNT_CHARS``): how often
it was seen, read as another character, dropped, or followed by an inserted character (its own copy: a
doubled separator; a space: a split token). The table is written as
``src/docfields/normalize/ocr_confusions.json`` (package data, read by
``docfields.normalize.noise``) and printed.

Run: ``.venv/bin/python bench/ocr_confusions.py [--sroie 60] [--demo 12] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from docfields.documents import open_document  # noqa: E402
from docfields.normalize.noise import DATE_AMOUNT_CHARS  # noqa: E402
from docfields.ocr import load_engine  # noqa: E402
from docfields.ocr.accuracy import pair_boxes  # noqa: E402
from docfields.ocr.base import OcrEngine  # noqa: E402
from docfields.textract import Block, NormBox, page_words  # noqa: E402
from ocr_pages import SHARED_DATA, read, reading, sroie_pages  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "docfields" / "normalize" / "ocr_confusions.json"
# A pair more wrong than this, or whose lengths differ more (OCR's line ran on into the next field), is taken
# as mis-paired, not misread: the edits of such a pair say more about line boxes than about characters.
MAX_PAIR_ERROR = 0.34  # normalized edit distance
MAX_LENGTH_GAP = 0.1  # share of the truth's length (plus one character)


@dataclass(frozen=True)
class TextPair:
    """One truth text and what OCR read at its place."""

    source: str
    truth: str
    ocr: str
    casefold: bool


@dataclass
class Tally:
    """Per truth character: times seen, and what OCR made of it."""

    seen: Counter[str]
    sub: defaultdict[str, Counter[str]]
    dropped: Counter[str]
    inserted: defaultdict[str, Counter[str]]

    @classmethod
    def empty(cls) -> Tally:
        return cls(Counter(), defaultdict(Counter), Counter(), defaultdict(Counter))


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _folded(text: str) -> str:
    """Lower case where that keeps the length (so positions still match the original text)."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _at_edge(position: int, deleted: set[int], truth: str) -> bool:
    """A dropped character in a run reaching either end: the boxes cut the line differently, OCR did not drop it."""
    return all(i in deleted for i in range(position)) or all(i in deleted for i in range(position, len(truth)))


def tally_pair(pair: TextPair, tally: Tally) -> bool:
    """Add one pair's character edits to ``tally``; False (nothing added) for a mis-paired one."""
    from rapidfuzz.distance import Levenshtein

    truth, ocr = _spaced(pair.truth), _spaced(pair.ocr)
    a, b = (_folded(truth), _folded(ocr)) if pair.casefold else (truth, ocr)
    if (
        not a
        or abs(len(a) - len(b)) > MAX_LENGTH_GAP * len(a) + 1
        or Levenshtein.normalized_distance(a, b) > MAX_PAIR_ERROR
    ):
        return False
    tally.seen.update(c for c in truth if c in DATE_AMOUNT_CHARS)
    ops = Levenshtein.editops(a, b)
    deleted = {op.src_pos for op in ops if op.tag == "delete"}
    for op in ops:
        if op.tag == "replace" and truth[op.src_pos] in DATE_AMOUNT_CHARS:
            tally.sub[truth[op.src_pos]][ocr[op.dest_pos]] += 1
        elif op.tag == "delete" and truth[op.src_pos] in DATE_AMOUNT_CHARS and not _at_edge(op.src_pos, deleted, truth):
            tally.dropped[truth[op.src_pos]] += 1
        elif op.tag == "insert" and 0 < op.src_pos < len(truth):
            added = ocr[op.dest_pos]
            # An inserted copy of the next character doubles it; anything else follows the character before.
            after = op.src_pos if op.src_pos < len(truth) and a[op.src_pos] == b[op.dest_pos] else op.src_pos - 1
            if after >= 0 and truth[after] in DATE_AMOUNT_CHARS:
                tally.inserted[truth[after]][added] += 1
    return True


def ocr_test_pages(engine: OcrEngine, data: Path) -> Iterator[TextPair]:
    """Tesseract's test pages, whole page against the truth file (both in reading order)."""
    for name in ("phototest", "eurotext"):
        with open_document(str(data / "ocr" / f"{name}.tif")) as document:
            found = reading(engine.process(document))
        yield TextPair("ocr", (data / "ocr" / f"{name}.txt").read_text(encoding="utf-8"),
                       " ".join(text for _, text in found.lines), casefold=False)  # fmt: skip


def sroie_pairs(engine: OcrEngine, data: Path, limit: int) -> Iterator[TextPair]:
    """Receipt lines paired with their truth lines by box overlap."""
    for page in sroie_pages(limit, data / "sroie"):
        found = read(engine, page)
        for p, t in pair_boxes(found.lines, page.lines):
            yield TextPair("sroie", page.lines[t][1], found.lines[p][1], casefold=True)


def _box(block: Block) -> NormBox:
    box = block.geometry.bounding_box if block.geometry else None
    return NormBox(box.left, box.top, box.width, box.height) if box else NormBox(0, 0, 0, 0)


def _centre_inside(box: NormBox, boxes: list[NormBox]) -> bool:
    x, y = box.left + box.width / 2, box.top + box.height / 2
    return any(b.left <= x <= b.left + b.width and b.top <= y <= b.top + b.height for b in boxes)


def demo_pairs(engine: OcrEngine, documents: int) -> Iterator[TextPair]:
    """Field values of scanned demo agreements: the OCR words centred in a mention's boxes, in reading order."""
    from docfields.samples.corpus import CorpusOptions, generate_document

    for index in range(documents):
        document = generate_document(index, CorpusOptions(seed=0), scan=True)
        with open_document(document.data, name=document.filename) as opened:
            result = engine.process(opened)
        for number, page in enumerate(document.pages, start=1):
            words = [(_box(word), word.text or "") for word in page_words(result, number)]
            width, height = page.size
            for mention in (m for m in document.truth["mentions"] if m["page"] == number):
                boxes = [NormBox(x / width, y / height, w / width, h / height) for x, y, w, h in mention["boxes"]]
                inside = [text for box, text in words if _centre_inside(box, boxes)]
                yield TextPair("demo", mention["text"], " ".join(inside), casefold=False)


def table_json(tally: Tally, sources: dict[str, dict[str, int]], engine: OcrEngine, seconds: float) -> dict:
    """The shipped table: counts only (``noise.OcrNoise`` turns them into probabilities)."""
    chars = {}
    for char in sorted(tally.seen):
        chars[char] = {
            "seen": tally.seen[char],
            "sub": dict(tally.sub[char].most_common()),
            "dropped": tally.dropped[char],
            "inserted": dict(tally.inserted[char].most_common()),
        }
    return {
        "description": "Tesseract's misreadings of characters that occur in dates and amounts, counted on real "
        "scans: per truth character, times seen, read as another character (sub), dropped, and followed by an "
        "inserted character (inserted; its own copy doubles it, a space splits the token). Written by "
        "bench/ocr_confusions.py; read by docfields.normalize.noise.",
        "engine": f"tesseract {engine.version} (default docfields options)",
        "max_pair_error": MAX_PAIR_ERROR,
        "max_length_gap": MAX_LENGTH_GAP,
        "sources": sources,
        "seconds": round(seconds, 1),
        "chars": chars,
    }


def events(tally: Tally) -> Counter[tuple[str, str]]:
    """Every kind of misreading with its count: (truth char, 'read as X' / 'dropped' / 'then X inserted')."""
    out: Counter[tuple[str, str]] = Counter()
    for char, subs in tally.sub.items():
        out.update({(char, f"read as {new!r}"): n for new, n in subs.items()})
    out.update({(char, "dropped"): n for char, n in tally.dropped.items()})
    for char, added in tally.inserted.items():
        out.update({(char, "doubled" if new == char else f"then {new!r} inserted"): n for new, n in added.items()})
    return out


def print_table(total: Tally, per_source: dict[str, Tally], top: int) -> None:
    names = list(per_source)
    print(f"\n== Top {top} misreadings of date/amount characters (count; rate = count / times the char was seen) ==")
    print("| truth char | misreading | count | rate | " + " | ".join(names) + " |")
    print("|---|---|---|---|" + "---|" * len(names))
    for (char, what), n in events(total).most_common(top):
        by_source = [str(events(per_source[s])[(char, what)]) for s in names]
        print(f"| {char!r} | {what} | {n} | {n / total.seen[char]:.4f} | " + " | ".join(by_source) + " |")
    print("\n== Error rate per class of truth character (all sources) ==")
    classes = {"digits": "0123456789", "separators": "/-.,:$%", "space": " "}
    classes["letters"] = "".join(c for c in DATE_AMOUNT_CHARS if c.isalpha())
    for name, members in classes.items():
        seen = sum(total.seen[c] for c in members)
        errors = sum(n for (c, _), n in events(total).items() if c in members)
        print(f"{name:11s} seen {seen:6d}  misread {errors:5d}  rate {errors / seen if seen else 0:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sroie", type=int, default=60, help="SROIE receipts to read (the first N by name)")
    parser.add_argument("--demo", type=int, default=12, help="scanned demo agreements to read")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the table (JSON)")
    args = parser.parse_args()

    start = time.perf_counter()
    engine = load_engine("tesseract")
    readers = {
        "ocr": ocr_test_pages(engine, args.data),
        "sroie": sroie_pairs(engine, args.data, args.sroie),
        "demo": demo_pairs(engine, args.demo),
    }
    total, per_source, sources = Tally.empty(), {}, {}
    for name, pairs in readers.items():
        per_source[name] = Tally.empty()
        kept = dropped = 0
        for pair in pairs:
            if tally_pair(pair, per_source[name]):
                tally_pair(pair, total)
                kept += 1
            else:
                dropped += 1
        sources[name] = {"pairs": kept, "mispaired": dropped, "chars": sum(per_source[name].seen.values())}
        print(f"{name}: {kept} pairs kept, {dropped} mis-paired dropped, {sources[name]['chars']} date/amount chars "
              f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    seconds = time.perf_counter() - start
    print_table(total, per_source, args.top)
    args.out.write_text(json.dumps(table_json(total, sources, engine, seconds), indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.out} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
