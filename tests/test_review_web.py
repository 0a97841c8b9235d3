"""The review desk over HTTP on a real uvicorn server: logins, sessions, CSRF, traversal, other reviewers' tasks.

Documents reach review through the real pipeline (an untrained tagger, threshold 1.0): two
born-digital PDFs, and a page image (PNG) assigned to bob only.
"""

from __future__ import annotations

import html
import io
import json
import time

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from docfields.errors import ReviewError
from docfields.review.auth import LoginThrottle, Signer
from docfields.review.settings import ReviewSettings, hash_password, load_review_settings, verify_password
from docfields.review.web import mount_review
from review_support import PASSWORDS, TOKEN, hidden_value, pipeline_in_review, review_settings_dict, shared_corpus
from serve_server import serve_app

# -- the parts without a server -------------------------------------------------------------------------


def test_password_hashes_verify_and_plain_passwords_are_refused():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse", stored) and not verify_password("correct hors", stored)
    assert hash_password("x", salt=b"s" * 16) != hash_password("y", salt=b"s" * 16)
    with pytest.raises(ValueError, match="alice: not a password hash"):
        ReviewSettings(users={"alice": "correct horse"})


def test_hash_password_command_makes_a_hash_the_settings_accept(tmp_path):
    from typer.testing import CliRunner

    from docfields.cli.main import app

    prompted = CliRunner().invoke(app, ["review", "hash-password"], input="s3cret pass\ns3cret pass\n")
    assert prompted.exit_code == 0, prompted.output
    stored = prompted.output.strip().splitlines()[-1]
    assert verify_password("s3cret pass", stored)
    piped = CliRunner().invoke(app, ["review", "hash-password", "--stdin"], input="other\n")
    assert piped.exit_code == 0 and verify_password("other", piped.output.strip())
    settings_file = tmp_path / "review.json"
    settings_file.write_text(json.dumps({"users": {"ana": stored}}))
    assert load_review_settings(str(settings_file)).users == {"ana": stored}
    settings_file.write_text(json.dumps({"users": {"ana": "s3cret pass"}}))
    with pytest.raises(ReviewError, match=f"{settings_file}: invalid review settings: users: .*ana: not a password"):
        load_review_settings(str(settings_file))


def test_signed_values_resist_tampering_expiry_and_reuse_for_another_purpose():
    signer = Signer(b"k" * 32)
    cookie, session = signer.new_session("ana", 60)
    assert signer.session(cookie) == session
    body, mac = cookie.split(".")
    forged = Signer(b"k" * 32).sign("session", {"u": "root", "csrf": session.csrf}, 60).split(".")[0]
    assert signer.session(f"{forged}.{mac}") is None  # another payload under the old signature
    assert Signer(b"other" * 8).session(cookie) is None
    assert signer.unsign("opened", cookie) is None  # a session cookie is no "opened" stamp
    assert signer.session(signer.sign("session", {"u": "ana", "csrf": "c"}, -1)) is None  # expired
    assert signer.session("garbage") is None and signer.session(None) is None


def test_login_throttle_blocks_after_the_limit_then_forgets():
    throttle = LoginThrottle(limit=2, window=0.2)
    throttle.failed("user:ana")
    assert not throttle.blocked("user:ana")
    throttle.failed("user:ana")
    assert throttle.blocked("user:ana", "client:1") and not throttle.blocked("user:bob")
    time.sleep(0.25)
    assert not throttle.blocked("user:ana")


# -- the desk on a real server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    corpus = shared_corpus(tmp_path_factory)
    files = {"cc-0000.pdf": corpus.doc("cc-0000"), "cc-0001.pdf": corpus.doc("cc-0001"),
             "scan.png": corpus.page_image("cc-0001", 1)}  # fmt: skip
    pipeline, ids = pipeline_in_review(corpus, tmp_path_factory.mktemp("home"), files)
    settings = ReviewSettings.model_validate(
        review_settings_dict() | {"assignments": [{"documents": "scan.png", "reviewers": ["bob"]}]}
    )
    with serve_app(review_app(pipeline, settings)) as url:
        yield url, pipeline, ids, settings


def review_app(pipeline, settings) -> FastAPI:
    app = FastAPI()
    mount_review(app, pipeline, settings)
    app.get("/healthz")(lambda: {"ok": True})
    return app


def login(url: str, name: str | None = None, token: str | None = None, next_url: str = "/review/") -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    csrf = hidden_value(client.get("/review/login").text, "csrf")
    credentials = {"token": token} if token else {"username": name, "password": PASSWORDS[name]}
    response = client.post("/review/login", data={"csrf": csrf, "next": next_url, **credentials})
    assert response.status_code == 303, response.text
    return client


def accept_form(result: dict, page: str) -> dict[str, list[str]]:
    """What the task form sends when the reviewer changes nothing."""
    data = {"csrf": [hidden_value(page, "csrf")], "opened": [hidden_value(page, "opened")]}
    for name, field in result["Fields"].items():
        multi = "Values" in field
        values = [v["Value"] for v in field["Values"]] if multi else [field["Value"]] * bool(field["Value"])
        if values:
            data[f"field-present-{name}"] = ["on"]
        data[f"field-multival-{name}" if multi else f"field-value-{name}"] = values
    return data


@pytest.mark.slow
def test_pages_need_a_login(desk):
    url, pipeline, ids, _ = desk
    anonymous = httpx.Client(base_url=url, follow_redirects=False)
    doc = ids["cc-0000.pdf"]
    queue = anonymous.get("/review/")
    assert queue.status_code == 303 and queue.headers["location"] == "/review/login?next=/review/"
    assert anonymous.get(f"/review/tasks/{doc}").headers["location"] == f"/review/login?next=/review/tasks/{doc}"
    assert anonymous.get(f"/review/tasks/{doc}/pages/1.png").status_code == 401
    assert anonymous.post(f"/review/tasks/{doc}", data={"csrf": "x"}).status_code == 401
    assert pipeline.status(doc).status == "in_review"


@pytest.mark.slow
def test_wrong_credentials_stale_forms_and_foreign_redirects(desk):
    url, *_ = desk
    client = httpx.Client(base_url=url, follow_redirects=False)
    csrf = hidden_value(client.get("/review/login").text, "csrf")
    for name, password in (("alice", "not-her-password"), ("mallory", "anything")):
        refused = client.post("/review/login", data={"csrf": csrf, "username": name, "password": password})
        assert refused.status_code == 401 and "Wrong name, password or token." in refused.text
        assert "docfields_review=" not in refused.headers.get("set-cookie", "")
        csrf = hidden_value(refused.text, "csrf")  # each form carries a new token
    stranger = httpx.Client(base_url=url, follow_redirects=False)  # no login-form cookie: a cross-site post
    stale = stranger.post("/review/login", data={"csrf": csrf, "username": "alice", "password": PASSWORDS["alice"]})
    assert stale.status_code == 400 and "expired" in stale.text
    data = {"csrf": csrf, "username": "alice", "password": PASSWORDS["alice"], "next": "https://evil.example/"}
    signed_in = client.post("/review/login", data=data)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/review/"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/review" in cookie


@pytest.mark.slow
def test_a_tampered_session_cookie_is_no_session(desk):
    url, *_ = desk
    client = login(url, "alice")
    value = client.cookies["docfields_review"]
    forged = ("A" if value[0] != "A" else "B") + value[1:]
    client.cookies.set("docfields_review", forged, domain="127.0.0.1", path="/review")
    assert client.get("/review/").status_code == 303


@pytest.mark.slow
def test_the_queue_shows_only_tasks_the_reviewer_may_open(desk):
    url, _, ids, _ = desk
    alice = login(url, "alice").get("/review/")
    assert alice.status_code == 200
    assert ids["cc-0000.pdf"] in alice.text and ids["cc-0001.pdf"] in alice.text and ids["scan.png"] not in alice.text
    assert "2 documents waiting for review" in alice.text
    bob = login(url, "bob").get("/review/")
    assert all(doc in bob.text for doc in ids.values()) and "3 documents waiting" in bob.text
    csp = alice.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert alice.headers["x-frame-options"] == "DENY" and alice.headers["cache-control"] == "no-store"


@pytest.mark.slow
def test_an_assigned_task_is_a_404_for_other_reviewers_and_an_image_for_its_reviewer(desk):
    url, pipeline, ids, _ = desk
    scan = ids["scan.png"]
    alice = login(url, "alice")
    assert alice.get(f"/review/tasks/{scan}").status_code == 404
    assert alice.get(f"/review/tasks/{scan}/pages/1.png").status_code == 404
    bob = login(url, "bob")
    page = bob.get(f"/review/tasks/{scan}")
    assert page.status_code == 200 and page.text.count("<img ") == 1
    image = bob.get(f"/review/tasks/{scan}/pages/1.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as png:
        assert png.width == 1200 and png.height > 1200  # a portrait page image, rendered like a PDF


@pytest.mark.slow
def test_the_task_page_draws_every_detection_and_names_every_field(desk):
    url, pipeline, ids, _ = desk
    doc = ids["cc-0001.pdf"]
    page = login(url, "alice").get(f"/review/tasks/{doc}")
    assert page.status_code == 200
    result = pipeline.result(doc)
    detections = sum(
        len(field.get("Detections") or []) + sum(len(v["Detections"]) for v in field.get("Values") or [])
        for field in result["Fields"].values()
    )
    assert page.text.count('<rect id="box-') == detections > 0
    assert page.text.count("<img ") == 5
    for name in result["Fields"]:
        assert f'name="field-present-{html.escape(name)}"' in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/review/tasks/..%2F..%2Fetc%2Fpasswd",
        "/review/tasks/%2e%2e%2f%2e%2e%2fdocfields.db",
        "/review/tasks/{doc}/pages/0.png",
        "/review/tasks/{doc}/pages/6.png",
        "/review/tasks/{doc}/pages/-1.png",
        "/review/tasks/{doc}/pages/1.5.png",
        "/review/tasks/{doc}/pages/..%2F..%2F..%2Fdocfields.db",
        "/review/tasks/{doc}%2F..%2F..%2Fdocfields.db/pages/1.png",
        "/review/static/..%2Fweb.py",
        "/review/static/%2e%2e/settings.py",
        "/review/tasks/00000000000000000000000000000000",
        "/review/tasks/" + "a" * 300,
    ],
)
@pytest.mark.slow
def test_traversal_and_unknown_ids_are_404(desk, path):
    url, _, ids, _ = desk
    response = login(url, "alice").get(path.format(doc=ids["cc-0001.pdf"]))
    assert response.status_code == 404
    assert "import " not in response.text and "SQLite" not in response.text


@pytest.mark.slow
def test_submissions_without_the_sessions_csrf_token_are_refused(desk):
    url, pipeline, ids, _ = desk
    doc = ids["cc-0000.pdf"]
    alice, bob = login(url, "alice"), login(url, "bob")
    form = accept_form(pipeline.result(doc), alice.get(f"/review/tasks/{doc}").text)
    bobs_token = hidden_value(bob.get(f"/review/tasks/{doc}").text, "csrf")
    for csrf in ([], ["forged"], [bobs_token]):
        response = alice.post(f"/review/tasks/{doc}", data={**form, "csrf": csrf})
        assert response.status_code == 403 and "CSRF" in response.text
    assert pipeline.status(doc).status == "in_review"


@pytest.mark.slow
def test_a_submission_completes_the_document_and_opens_the_next_task(desk):
    url, pipeline, ids, _ = desk
    doc = ids["cc-0000.pdf"]
    alice = login(url, "alice")
    form = accept_form(pipeline.result(doc), alice.get(f"/review/tasks/{doc}").text)
    response = alice.post(f"/review/tasks/{doc}", data=form)
    assert response.status_code == 303 and response.headers["location"] == f"/review/tasks/{ids['cc-0001.pdf']}"
    assert pipeline.status(doc).status == "done"
    result = pipeline.result(doc)
    assert result["Review"]["Reviewer"] == "alice" and result["Review"]["ChangedFields"] == []
    assert 0.0 < result["Review"]["TimeSpentInSeconds"] < 60 and result["Confidence"] == 1.0
    assert alice.get(f"/review/tasks/{doc}").status_code == 404  # no longer a task
    assert alice.post(f"/review/tasks/{doc}", data=form).status_code == 404
    assert doc not in alice.get("/review/").text


@pytest.mark.slow
def test_an_invalid_submission_names_the_field_and_keeps_the_task(desk):
    url, pipeline, ids, _ = desk
    doc = ids["cc-0001.pdf"]
    alice = login(url, "alice")
    form = accept_form(pipeline.result(doc), alice.get(f"/review/tasks/{doc}").text)
    form |= {"field-present-Provider Name": ["on"], "field-value-Provider Name": ["   "]}
    response = alice.post(f"/review/tasks/{doc}", data=form)
    assert response.status_code == 422
    assert "'Provider Name' is marked present but has no value" in html.unescape(response.text)
    assert pipeline.status(doc).status == "in_review"


@pytest.mark.slow
def test_token_login_and_logout(desk):
    url, *_ = desk
    kiosk = login(url, token=TOKEN, next_url="/review/")
    queue = kiosk.get("/review/")
    assert queue.status_code == 200 and "<strong>kiosk</strong>" in queue.text
    assert kiosk.post("/review/logout", data={"csrf": "wrong"}).status_code == 403
    out = kiosk.post("/review/logout", data={"csrf": hidden_value(queue.text, "csrf")})
    assert out.status_code == 303 and out.headers["location"] == "/review/login"
    assert kiosk.get("/review/").status_code == 303


@pytest.mark.slow
def test_repeated_failed_logins_lock_the_name_out(desk):
    _, pipeline, _, settings = desk
    with serve_app(review_app(pipeline, settings)) as url:  # a fresh desk: its own throttle
        client = httpx.Client(base_url=url, follow_redirects=False)
        csrf = hidden_value(client.get("/review/login").text, "csrf")
        for _ in range(5):
            refused = client.post("/review/login", data={"csrf": csrf, "username": "bob", "password": "guess"})
            assert refused.status_code == 401
            csrf = hidden_value(refused.text, "csrf")
        right = client.post("/review/login", data={"csrf": csrf, "username": "bob", "password": PASSWORDS["bob"]})
        assert right.status_code == 429 and "Too many failed sign-ins" in right.text
