"""``docfields label export``: page choice, the labelling configuration, and the Label Studio round trip.

The round trip is the contract: tasks exported with a tagger's pre-annotations, accepted as they
are (Label Studio copies a prediction's ``result`` into the annotation), read back with
``read_labelstudio`` and labelled by the box rule give every word the class the tagger predicted.
The pages are two generated born-digital agreements OCRed with ``pdftext``; the tagger is an
untrained ``layoutlm-tiny`` (its argmax is whatever it is, which is all the round trip needs).
``label import`` closes the loop: the labelled export becomes the manifest ``train ner`` reads.
"""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from typer.testing import CliRunner

from docfields.annotations import label_pages, read_labelstudio
from docfields.annotations.tasks import (
    LabelExportOptions,
    PageRef,
    PageWords,
    export_labelstudio_tasks,
    labelled_pages,
    labelling_config,
    page_uncertainty,
    prediction_results,
    read_pages,
    select_pages,
)
from docfields.errors import AnnotationError, ModelError
from docfields.ner import Tagger
from docfields.textract import (
    NormBox,
    OcrLine,
    OcrPage,
    OcrWord,
    TextractDocument,
    build_document,
    iter_pages,
    iter_words,
    page_words,
    read_textract,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# -- page choice, on pages that need no files -----------------------------------------------------------------


def _pages(documents: int, per_document: int) -> list[PageRef]:
    return [PageRef(textract_ref=f"/ocr/d{d}.json", page_num=p, raw_ref=f"/docs/d{d}.pdf", document=f"d{d}.pdf")
            for d in range(documents) for p in range(1, per_document + 1)]  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_gives_the_first_page_share_and_never_an_excluded_page(seed: int) -> None:
    pages = _pages(documents=20, per_document=5)
    excluded = {pages[0].key, pages[5].key, pages[7].key, pages[13].key}
    picked = select_pages(pages, 20, "stratified", exclude=excluded, seed=seed)
    assert len(picked) == 20 and len(set(picked)) == 20
    assert sum(page.page_num == 1 for page in picked) == 8  # 40 % of 20
    assert not {page.key for page in picked} & excluded
    assert picked == sorted(picked, key=pages.index)  # manifest order


def test_stratified_tops_up_when_one_side_runs_short() -> None:
    pages = _pages(documents=2, per_document=10)  # two first pages only
    picked = select_pages(pages, 10, "stratified", first_page_share=0.5)
    assert len(picked) == 10 and sum(page.page_num == 1 for page in picked) == 2
    firsts_only = select_pages(_pages(documents=6, per_document=1) + _pages(1, 2)[1:], 5, "stratified")
    assert len(firsts_only) == 5  # one later page: the first pages fill the rest


def test_uncertain_picks_the_highest_scores_not_excluded() -> None:
    pages = _pages(documents=4, per_document=3)
    scores = [0.1, 0.9, 0.3, 0.8, 0.05, 0.7, 0.2, 0.95, 0.4, 0.6, 0.0, 0.5]
    picked = select_pages(pages, 3, "uncertain", uncertainty=scores, exclude={pages[7].key})
    assert picked == [pages[1], pages[3], pages[5]]  # 0.9, 0.8, 0.7; 0.95 is labelled already
    with pytest.raises(ValueError, match="needs the pages' uncertainty"):
        select_pages(pages, 3, "uncertain")
    with pytest.raises(ValueError, match="11 uncertainty scores for 12 pages"):
        select_pages(pages, 3, "uncertain", uncertainty=scores[:-1])


def test_random_is_seeded_and_respects_exclusion() -> None:
    pages = _pages(documents=10, per_document=4)
    excluded = {page.key for page in pages[:20]}
    first = select_pages(pages, 8, "random", exclude=excluded, seed=3)
    assert first == select_pages(pages, 8, "random", exclude=excluded, seed=3)
    assert first != select_pages(pages, 8, "random", exclude=excluded, seed=4)
    assert all(page.key not in excluded for page in first)
    assert len(select_pages(pages, 100, "random", exclude=excluded)) == 20  # all there are


def test_uncertain_without_a_model_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs a model"):
        LabelExportOptions(manifest="m.jsonl", fields="f.json", output="t.json", strategy="uncertain")


# -- the labelling configuration ------------------------------------------------------------------------------


def test_labelling_config_holds_every_field_and_its_hint() -> None:
    from docfields.samples import credit_card_fields

    fields = credit_card_fields()
    fields[1] = {**fields[1], "Name": 'Fees & "Charges" <APR>'}
    root = ET.fromstring(labelling_config(fields))
    labels = root.find("RectangleLabels")
    assert root.find("Image").get("value") == "$image" and labels.get("toName") == "image"
    assert [(label.get("value"), label.get("hint")) for label in labels.iter("Label")] == [
        (field["Name"], field["AnnotationGuidance"]) for field in fields
    ]


def test_labelling_config_names_a_bad_field() -> None:
    from docfields.errors import FieldConfigError

    with pytest.raises(FieldConfigError, match="AnnotationGuidanse"):
        labelling_config([{"ClassId": 0, "Name": "Total", "AnnotationGuidanse": "typo"}])


# -- pre-annotation rectangles, on a hand-built page ---------------------------------------------------------


def _box_page() -> PageWords:
    """Line 1: A B (field 0), C (other), D (field 1). Line 2: E, F (field 2) far apart. Line 3: H, which sticks
    up into line 2 between E and F."""

    def line(*words: tuple[str, float, float, float]) -> OcrLine:
        return OcrLine(words=tuple(OcrWord(text, 99.0, NormBox(x, y, 0.1, h)) for text, x, y, h in words))

    lines = (line(("A", 0.1, 0.1, 0.04), ("B", 0.25, 0.1, 0.04), ("C", 0.4, 0.1, 0.04), ("D", 0.55, 0.1, 0.04)),
             line(("E", 0.1, 0.2, 0.04), ("F", 0.5, 0.2, 0.04)), line(("H", 0.3, 0.19, 0.06)))  # fmt: skip
    document = build_document([OcrPage(lines=lines, engine="test")], "docfields-test-1")
    return PageWords(document, PageRef(textract_ref="/t.json", page_num=1, document="t.pdf"))


def test_one_rectangle_per_field_run_unless_it_would_label_other_words() -> None:
    page = _box_page()
    classes = [0, 0, 3, 1, 2, 2, 3]  # A B C D E F H; 3 is "other"
    rows = np.full((7, 4), 0.1)
    rows[np.arange(7), classes] = 0.7
    results = prediction_results(page, rows, ["F0", "F1", "F2"], (1000, 2000))
    boxes = [(r["value"]["rectanglelabels"][0], *(round(r["value"][k], 6) for k in ("x", "y", "width", "height")))
             for r in results]  # fmt: skip
    assert boxes == [("F0", 10, 10, 25, 4), ("F1", 55, 10, 10, 4), ("F2", 10, 20, 10, 4), ("F2", 50, 20, 10, 4)]
    assert {(r["original_width"], r["original_height"], r["from_name"], r["to_name"]) for r in results} == {
        (1000, 2000, "label", "image")
    }
    assert results[0]["score"] == pytest.approx(0.7)


# -- on real pages: two generated agreements, OCRed -----------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two born-digital agreements: the folder and the pages manifest `docfields ocr` wrote for them."""
    from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr
    from docfields.samples.corpus import CorpusOptions, write_corpus

    root = tmp_path_factory.mktemp("label-corpus")
    write_corpus(root, CorpusOptions(n=2, seed=5, scan_share=0.0))
    options = BatchOcrOptions(engine="pdftext", workers=1)
    plan = plan_batch_ocr(str(root / "annotations.manifest.jsonl"), str(root / "ocr"), options)
    return root, run_batch_ocr(plan, options).manifest


@pytest.fixture(scope="module")
def tagger_dir(corpus: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    from docfields.ner import build_tagger
    from docfields.samples import credit_card_fields

    documents = {page.textract_ref for page in read_pages(corpus[1])}
    texts = [word.text for ref in sorted(documents) for word in iter_words(read_textract(ref))]
    tagger = build_tagger("layoutlm-tiny", credit_card_fields(), texts, seed=0, vocab_size=500, max_length=128)
    return str(tagger.save(tmp_path_factory.mktemp("label-tagger") / "tagger"))


def _predicted_classes(tagger: Tagger, document: TextractDocument, page_num: int) -> dict[str, int]:
    """Block id -> the tagger's class, computed here independently of the export."""
    from docfields.ner.data import page_example, word_box

    words = [w for w in page_words(document, page_num) if word_box(w) is not None]
    rows = tagger.predict([page_example(words, "doc", page_num)])[0]
    return {word.id: int(row.argmax()) for word, row in zip(words, rows, strict=True)}


def _accepted_export(corpus: tuple[Path, str], tagger_dir: str, folder: Path, accepted: int, width: int) -> list:
    """Three pre-annotated tasks, the first ``accepted`` of them accepted as Label Studio does it (the
    prediction's result copied into the annotation), the others cancelled; written to ``folder``/export.json."""
    root, manifest = corpus
    options = LabelExportOptions(manifest=manifest, fields=str(root / "fields.json"), output=str(folder / "tasks.json"),
                                 model=tagger_dir, pages=3, device="cpu", image_width=width)  # fmt: skip
    result = export_labelstudio_tasks(options)
    tasks = json.loads((folder / "tasks.json").read_text())
    assert result.picked == len(tasks) == 3 and result.strategy == "uncertain"
    for number, task in enumerate(tasks):
        boxes = task["predictions"][0]["result"]
        task["annotations"] = [{"id": 1, "result": boxes} if number < accepted else
                               {"id": 1, "result": [], "was_cancelled": True}]  # fmt: skip
    (folder / "export.json").write_text(json.dumps(tasks))
    return tasks


def _check_predicted(tagger: Tagger, pages: list[tuple[str, int, dict[str, int]]]) -> None:
    """Each (textract-ref, page-num, word id -> label) gives every word the tagger's class, and some word a field."""
    field_words, documents = 0, {}
    for ref, page_num, got in pages:
        documents[ref] = documents.get(ref) or read_textract(ref)
        expected = _predicted_classes(tagger, documents[ref], page_num)
        assert {i: got[i] for i in expected} == expected
        field_words += sum(label != 19 for label in expected.values())
    assert field_words > 0  # the untrained tagger does predict fields: the round trip carried boxes


def test_accepted_pre_annotations_read_back_as_the_predicted_classes(
    corpus: tuple[Path, str], tagger_dir: str, tmp_path: Path
) -> None:
    tasks = _accepted_export(corpus, tagger_dir, tmp_path, accepted=3, width=200)
    labelled = list(label_pages(read_labelstudio(str(tmp_path / "export.json"), str(corpus[0] / "fields.json")), 19))
    assert len(labelled) == len(tasks)
    _check_predicted(Tagger.load(tagger_dir), [
        (page.annotation.textract_ref, page.annotation.page_num,
         {word.id: int(label) for word, label in zip(page.words, page.labels, strict=True)}) for page in labelled
    ])  # fmt: skip


def test_task_images_and_data(corpus: tuple[Path, str], tmp_path: Path) -> None:
    root, manifest = corpus
    options = LabelExportOptions(manifest=manifest, fields=str(root / "fields.json"), output=str(tmp_path / "t.json"),
                                 pages=2, image_width=300)  # fmt: skip
    result = export_labelstudio_tasks(options)
    tasks = json.loads((tmp_path / "t.json").read_text())
    assert result.strategy == "stratified" and result.picked == 2 and "predictions" not in tasks[0]
    data = tasks[0]["data"]
    png = base64.b64decode(data["image"].removeprefix("data:image/png;base64,"))
    assert Image.open(io.BytesIO(png)).size == (data["image-width"], data["image-height"])
    assert data["image-width"] == 300 and data["image-height"] > 300
    assert Path(data["textract-ref"]).is_file() and Path(data["raw-ref"]).is_file() and data["page-num"] >= 1
    assert ET.fromstring((tmp_path / "t.xml").read_text()).tag == "View"
    assert read_labelstudio(str(tmp_path / "t.json"), str(root / "fields.json")) == []  # nothing annotated yet


def test_labelled_pages_are_excluded_and_images_go_to_a_folder(corpus: tuple[Path, str], tmp_path: Path) -> None:
    root, manifest = corpus
    pages = read_pages(manifest)
    labelled = tmp_path / "labelled.manifest.jsonl"
    first = json.loads(Path(manifest).read_text().splitlines()[0])
    labelled.write_text(json.dumps(first) + "\n")  # a Ground Truth line: its label attribute is not read
    assert labelled_pages(str(labelled)) == {pages[0].key}
    options = LabelExportOptions(manifest=manifest, fields=str(root / "fields.json"), output=str(tmp_path / "t.json"),
                                 exclude=[str(labelled)], images=str(tmp_path / "img"), image_width=200,
                                 image_url_prefix="http://files.local/pages", strategy="random")  # fmt: skip
    result = export_labelstudio_tasks(options)
    tasks = json.loads((tmp_path / "t.json").read_text())
    assert result.excluded == 1 and result.picked == len(pages) - 1 == len(tasks)
    assert pages[0].key not in {(t["data"]["textract-ref"], t["data"]["page-num"]) for t in tasks}
    written = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert sorted(t["data"]["image"].removeprefix("http://files.local/pages/") for t in tasks) == written
    again = labelled_pages(str(tmp_path / "t.json"))  # an import of the last round excludes its pages too
    assert again == {page.key for page in pages[1:]}


def test_document_lines_stand_for_all_their_pages(corpus: tuple[Path, str], tmp_path: Path) -> None:
    _, manifest = corpus
    pages = read_pages(manifest)
    textract = pages[0].textract_ref
    count = sum(1 for _ in iter_pages(read_textract(textract)))
    (tmp_path / "docs.jsonl").write_text(json.dumps({"raw-ref": pages[0].raw_ref, "textract-ref": textract}) + "\n")
    assert [page.page_num for page in read_pages(str(tmp_path / "docs.jsonl"))] == list(range(1, count + 1))


def test_bad_inputs_name_the_file_and_key(corpus: tuple[Path, str], tagger_dir: str, tmp_path: Path) -> None:
    root, manifest = corpus
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"raw-ref": "a.pdf", "textract-ref": "missing/consolidated.json", "page-num": 1}) + "\n")
    with pytest.raises(AnnotationError, match=r"bad\.jsonl line 1: Textract file .*missing/consolidated\.json"):
        read_pages(str(bad))
    bad.write_text("\n" + json.dumps({"raw-ref": "a.pdf", "page-num": 1}) + "\n")
    with pytest.raises(AnnotationError, match=r"bad\.jsonl line 2: no textract-ref"):
        read_pages(str(bad))
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps([{"ClassId": 0, "Name": "Total"}]))
    options = LabelExportOptions(manifest=manifest, fields=str(fields), output=str(tmp_path / "t.json"),
                                 model=tagger_dir, device="cpu")  # fmt: skip
    with pytest.raises(ModelError, match=r"'Agreement Effective Date'.* are not in .*fields\.json"):
        export_labelstudio_tasks(options)
    assert not (tmp_path / "t.json").exists()


def test_page_uncertainty_scores(tagger_dir: str) -> None:
    from docfields.ner.data import PageExample

    tagger = Tagger.load(tagger_dir)
    words = PageExample(document="d", page=1, words=("Annual", "Fee", "$95"), boxes=((10, 10, 60, 20),) * 3)
    empty = PageExample(document="d", page=2, words=(), boxes=())
    scores = page_uncertainty(tagger, [words, empty])
    top = tagger.predict([words])[0].max(axis=1)
    assert scores[1] == 0.0 and scores[0] == pytest.approx(float(np.mean(1.0 - top)))
    assert 0.0 < scores[0] < 1.0 - 1.0 / tagger.num_labels + 1e-9


def test_cli_export(corpus: tuple[Path, str], tagger_dir: str, tmp_path: Path) -> None:
    from docfields.cli.main import app

    root, manifest = corpus
    args = ["label", "export", manifest, "-o", str(tmp_path / "t.json"), "--fields", str(root / "fields.json")]
    done = CliRunner().invoke(app, [*args, "--model", tagger_dir, "--pages", "1", "--device", "cpu"])
    assert done.exit_code == 0, done.output
    assert "picked 1 by uncertain" in done.output and "t.xml" in done.output
    refused = CliRunner().invoke(app, [*args, "--strategy", "uncertain"])
    assert refused.exit_code == 2 and "needs a model" in refused.output


def test_label_import_gives_train_ner_the_accepted_labels(
    corpus: tuple[Path, str], tagger_dir: str, tmp_path: Path
) -> None:
    from docfields.cli.main import app
    from docfields.ner.train import load_examples

    tasks = _accepted_export(corpus, tagger_dir, tmp_path, accepted=2, width=400)
    assert all(task["data"]["image"].startswith("data:image/png") for task in tasks)
    fields, out = str(corpus[0] / "fields.json"), tmp_path / "train" / "labelled.manifest.jsonl"
    args = ["label", "import", str(tmp_path / "export.json"), "--fields", fields, "-o", str(out)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "2 pages" in said and "1 tasks without an annotation skipped" in said
    assert f"docfields train ner --manifest {out} --fields {fields}" in said
    text = out.read_text()
    assert len(text.splitlines()) == 2 and "data:" not in text and "base64" not in text

    examples = load_examples(str(out), num_classes=19)  # what train ner reads
    pages = [(t["data"]["raw-ref"], t["data"]["page-num"]) for t in tasks[:2]]
    assert [(example.document, example.page) for example in examples] == pages
    _check_predicted(Tagger.load(tagger_dir), [
        (task["data"]["textract-ref"], example.page, dict(zip(example.block_ids, example.labels or (), strict=True)))
        for example, task in zip(examples, tasks, strict=False)
    ])  # fmt: skip


def test_label_import_refuses_an_export_nobody_labelled(corpus: tuple[Path, str], tmp_path: Path) -> None:
    from docfields.annotations import import_labelstudio

    root, manifest = corpus
    fields = str(root / "fields.json")
    tasks = [{"data": {"textract-ref": page.textract_ref, "page-num": page.page_num, "image": "data:image/png;base64,",
                       "image-width": 100, "image-height": 140}} for page in read_pages(manifest)[:2]]  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    with pytest.raises(AnnotationError, match=r"export\.json: none of its 2 task\(s\) is annotated"):
        import_labelstudio(str(tmp_path / "export.json"), fields, str(tmp_path / "m.jsonl"))
    assert not (tmp_path / "m.jsonl").exists()
