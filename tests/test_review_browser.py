"""A reviewer's whole session in a real browser (headless Chromium through Playwright), then the stored result.

Sign in, open the queue and the task, see the page with its boxes, edit a single value and a
multi-value field (add one value, remove one), untick a field, use the shortcuts, submit; then
read the result back from the pipeline and check that the exported manifest teaches the
corrected values. Screenshots of the task page go to ``$DOCFIELDS_SCREENSHOTS`` (a folder,
default ``build/screenshots``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi import FastAPI

from docfields.ner.train import load_examples
from docfields.review.export import export_corrections
from docfields.review.settings import ReviewSettings
from docfields.review.web import mount_review
from review_support import PASSWORDS, pipeline_in_review, review_settings_dict, shared_corpus
from serve_server import serve_app

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("DOCFIELDS_SCREENSHOTS", REPO / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    corpus = shared_corpus(tmp_path_factory)
    pipeline, ids = pipeline_in_review(corpus, tmp_path_factory.mktemp("home"), {"cc-0000.pdf": corpus.doc("cc-0000")})
    app = FastAPI()
    mount_review(app, pipeline, ReviewSettings.model_validate(review_settings_dict()))
    app.get("/healthz")(lambda: {"ok": True})
    with serve_app(app) as url:
        yield url, pipeline, ids["cc-0000.pdf"]


@pytest.fixture()
def page(desk):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.errors = []  # script errors and CSP violations: none expected
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
        page.on("response", lambda response: response.status >= 400 and page.errors.append(response.url))
        yield page
        browser.close()


def model_values(field: dict) -> list[str]:
    return [v["Value"] for v in field["Values"]] if "Values" in field else [field["Value"]] * bool(field["Value"])


def sign_in_and_open_the_task(page, url: str, doc: str) -> None:
    page.goto(f"{url}/review/")
    assert page.url.endswith("/review/login?next=/review/")
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill(PASSWORDS["alice"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="cc-0000.pdf").click()
    page.wait_for_url(f"**/review/tasks/{doc}")
    page.wait_for_function("[...document.querySelectorAll('.sheet img')].slice(0, 1).every(i => i.naturalWidth > 0)")


def check_boxes_on_the_page(page) -> None:
    image = page.locator(".sheet img").first.bounding_box()
    rects = page.locator("#page-1 rect.box")
    assert rects.count() > 0
    for i in range(min(rects.count(), 10)):
        box = rects.nth(i).bounding_box()
        assert box["width"] > 0 and box["height"] > 0
        assert image["x"] - 1 <= box["x"] and box["x"] + box["width"] <= image["x"] + image["width"] + 1
        assert image["y"] - 1 <= box["y"] and box["y"] + box["height"] <= image["y"] + image["height"] + 1


def test_a_reviewer_corrects_a_document_and_the_correction_becomes_training_data(desk, page, screenshots, tmp_path):
    url, pipeline, doc = desk
    proposed = pipeline.result(doc)
    sign_in_and_open_the_task(page, url, doc)
    check_boxes_on_the_page(page)
    page.screenshot(path=str(screenshots / "review-task.png"))

    # a detection highlights its box while hovered
    detection = page.locator("button.detection").first
    box_id = detection.get_attribute("data-box")
    detection.hover()
    assert page.locator(f"#{box_id}").evaluate("rect => rect.classList.contains('active')")

    # single value: the provider's name
    provider = page.locator('fieldset[data-name="Provider Name"]')
    provider.get_by_label("Present in the document").check()
    provider.get_by_label("Value", exact=True).fill("Tri-County Credit Union")

    # shortcuts: next field, accept and go on
    page.locator("#f0-present").focus()
    page.keyboard.press("Alt+ArrowDown")
    assert page.evaluate("document.activeElement.closest('fieldset').dataset.field") == "1"
    page.keyboard.press("Alt+a")
    assert page.evaluate("document.activeElement.closest('fieldset').dataset.field") == "2"
    assert "accepted" in page.locator("#field-1").get_attribute("class")

    # multi value: add one, remove the first
    cards = page.locator('fieldset[data-name="Card Name"]')
    before = model_values(proposed["Fields"]["Card Name"]) or [""]
    cards.get_by_role("button", name="Add a value").click()
    assert cards.locator(".value-row").count() == len(before) + 1
    page.keyboard.type("Student Visa Platinum")  # the new row has the focus
    cards.locator(".value-row").first.get_by_role("button", name="Remove").click()
    assert cards.locator(".value-row").count() == len(before)

    # untick an optional field the model filled in
    optional = next(n for n, f in proposed["Fields"].items() if f.get("Optional") and "Value" in f and f["Value"])
    fieldset = page.locator(f'fieldset[data-name="{optional}"]')
    fieldset.get_by_label("Present in the document").uncheck()
    assert fieldset.get_by_label("Value", exact=True).is_disabled()

    page.get_by_role("button", name="Zoom in").click()
    assert page.locator("#zoom-level").inner_text() == "125%"
    page.screenshot(path=str(screenshots / "review-task-edited.png"), full_page=True)

    page.get_by_role("button", name="Submit review").focus()
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/review/?submitted=1")
    assert "Review saved" in page.locator("main").inner_text()
    assert page.errors == []

    check_stored_result(pipeline.result(doc), proposed, optional, before[1:] + ["Student Visa Platinum"])
    check_training_data(pipeline, tmp_path)


def check_stored_result(result: dict, proposed: dict, optional: str, cards: list[str]) -> None:
    review = result["Review"]
    assert review["Reviewer"] == "alice" and review["TimeSpentInSeconds"] > 0
    assert {"Provider Name", "Card Name", optional} <= set(review["ChangedFields"])
    provider, card, absent = (result["Fields"][n] for n in ("Provider Name", "Card Name", optional))
    assert (provider["Value"], provider["Confidence"]) == ("Tri-County Credit Union", 1.0)
    assert [v["Value"] for v in card["Values"]] == [c for c in cards if c.strip()]
    assert (absent["Value"], absent["Detections"], absent["Confidence"]) == ("", [], 1.0)
    assert result["Confidence"] == 1.0 and set(result["Fields"]) == set(proposed["Fields"])


def check_training_data(pipeline, tmp_path: Path) -> None:
    manifest = tmp_path / "annotations.manifest.jsonl"
    summary = export_corrections(pipeline, str(manifest))
    assert summary.documents == 1 and summary.pages == 5
    first = {example.page: example for example in load_examples(str(manifest), 19)}[1]
    for words, class_id in ((["Tri-County", "Credit", "Union"], 16), (["Student", "Visa", "Platinum"], 14)):
        starts = [i for i in range(len(first.words)) if list(first.words[i : i + len(words)]) == words]
        assert starts, f"{words} not on page 1"
        assert {label for i in starts for label in first.labels[i : i + len(words)]} == {class_id}
