"""Property tests for the OCR manifest reader and batch planner (issue 14).

Any manifest a user feeds (JSON lines with random keys, in any encoding or none, with
references that climb, are absolute, are URLs, unicode or empty) gives either a plan whose
every output lies inside the output folder, or a ``DocfieldsError``; never another exception,
and a run writes nothing outside the output folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from docfields.errors import DocfieldsError
from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr

PROPERTY = settings(max_examples=120)
END_TO_END = settings(max_examples=4)
OPTIONS = BatchOcrOptions(workers=1, engine="pdftext")

segments = st.sampled_from(["..", ".", "", "a", "sub", "b.pdf", "ü", "x y", "manifest.jsonl", "_outside"]) | st.text(
    max_size=6
)
relative_paths = st.lists(segments, max_size=6).map("/".join)
paths = st.one_of(
    relative_paths,
    relative_paths.map(lambda p: "/" + p),
    st.tuples(st.sampled_from(["s3", "memory", "file", "..", "a/b", "ftp"]), relative_paths).map("://".join),
    st.text(max_size=12),
    st.just(""),
)
values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), paths)
records = st.dictionaries(
    st.one_of(st.sampled_from(["raw-ref", "textract-ref", "page-num", "source-ref"]), st.text(max_size=8)),
    values,
    max_size=5,
)
lines = st.one_of(
    st.tuples(records, st.booleans()).map(lambda r: json.dumps(r[0], ensure_ascii=r[1])),
    st.text(max_size=20),  # not JSON, or JSON that is not an object
    st.just(""),
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"])
manifests = st.one_of(
    st.tuples(st.lists(lines, max_size=8), encodings).map(lambda m: "\n".join(m[0]).encode(m[1], "replace")),
    st.binary(max_size=200),
)


def inside(folder: Path, url: str) -> bool:
    """Checked apart from the code under test: real paths, and a folder prefix."""
    if "://" in url and not url.startswith("file://"):
        return False
    target = os.path.realpath(url.removeprefix("file://"))
    return os.path.commonpath([target, os.path.realpath(folder)]) == os.path.realpath(folder) and target != str(folder)


def plan_or_error(manifest: Path, out: Path):
    try:
        return plan_batch_ocr(str(manifest), str(out), OPTIONS)
    except DocfieldsError:
        return None


@PROPERTY
@given(data=manifests)
def test_any_manifest_gives_a_plan_inside_out_or_a_docfields_error(data, tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "manifest-properties"
    root.mkdir(exist_ok=True)
    manifest, out = root / "m.jsonl", root / "out"
    manifest.write_bytes(data)

    plan = plan_or_error(manifest, out)

    if plan is not None:
        outputs = [task.output for task in plan.tasks] + [outcome.output for outcome in plan.done]
        assert all(inside(out, output) for output in outputs), outputs
        assert all(os.path.basename(output) not in ("manifest.jsonl", "failures.jsonl") for output in outputs)
        assert all(inside(out, record["textract-ref"]) for record in plan.records)
        assert all(problem.where.startswith(f"{manifest} line ") for problem in plan.problems)
    assert not out.exists()  # planning writes nothing


def listing(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@END_TO_END
@given(
    refs=st.lists(
        st.tuples(
            st.sampled_from(
                ["docs/a.pdf", "../side/b.pdf", "docs/../docs/a.pdf", "ABS/side/b.pdf", "file://ABS/c.pdf"]
            ),
            st.one_of(st.none(), paths, st.sampled_from(["ABS/victim.json", "../victim.json", "ok/x.json"])),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_generated_manifest_run_writes_nothing_outside_out(refs, tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("manifest-run")
    work = root / "work"
    pdf = (shared_data / "pdfs" / "scotus-transcript-p1.pdf").read_bytes()
    for path in (work / "docs" / "a.pdf", root / "side" / "b.pdf", work / "c.pdf"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)
    records = [
        {"raw-ref": raw.replace("ABS", str(work)), **({"textract-ref": ref.replace("ABS", str(work))} if ref else {})}
        for raw, ref in refs
    ]
    (work / "m.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    before = listing(root)

    previous = os.getcwd()
    os.chdir(work)  # relative references are read against the current folder
    try:
        plan = plan_batch_ocr("m.jsonl", "out", OPTIONS)
        summary = run_batch_ocr(plan, OPTIONS)
    finally:
        os.chdir(previous)

    failures = (work / "out" / "failures.jsonl").read_text().splitlines() if summary.failures else []
    assert not [line for line in failures if "internal error" in line]  # refused as DocfieldsErrors, not crashes
    added = listing(root) - before
    assert all(name.startswith("work/out") for name in added), sorted(added)
