"""The review desk under ``/review``: login, the queue, a task page per document, and submission.

Server-rendered Jinja2 pages with a little vanilla JavaScript (``static/review.js``); nothing is
loaded from another origin, and the Content-Security-Policy forbids it. Security, in order of
the attacks it stops:

- every page but the login needs a signed session cookie (``auth``): HttpOnly, SameSite=Strict,
  scoped to ``/review``, whose session is live on the server (logout ends it for good);
- failed sign-ins are throttled per account and client address (``auth.throttle_key``);
- every state change (login, submit, logout) checks a CSRF token from a hidden field;
- document ids must look like ids and must name a task in review that the reviewer may open
  (assignment rules); anything else is a 404, so ids of other reviewers' tasks do not leak;
- page numbers are integers checked against the page count, and no file path is ever built
  from the URL: files are found through the pipeline's store and a hash-keyed cache.

>>> app = FastAPI()  # doctest: +SKIP
>>> mount_review(app, Pipeline(PipelineSettings(home="data")), ReviewSettings(users={...}))  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from docfields import storage
from docfields.errors import DocfieldsError, ResultFormatError, ReviewError
from docfields.pipeline.routing import is_audit
from docfields.review.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginThrottle,
    Session,
    SessionStore,
    authenticate,
    authenticate_token,
    csrf_matches,
    signer_for,
    throttle_key,
)
from docfields.review.flowback import answers_from_form, apply_review
from docfields.review.pages import PageImages
from docfields.review.settings import ReviewSettings
from docfields.review.views import field_views, page_views, queue_row

if TYPE_CHECKING:
    from docfields.pipeline import DocumentStatus, Pipeline

logger = logging.getLogger(__name__)

PREFIX = "/review"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
DOC_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
OPENED_SECONDS = 7 * 86400
SESSIONS_FILE = "review-sessions.db"  # in the pipeline home
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _Reject(Exception):
    """Ends a request with an error page (404, 401, 403 ...) or, for pages, a redirect to the login."""

    def __init__(self, status: int, message: str, login: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.login = status, message, login


class ReviewDesk:
    """The desk's state: pipeline, settings, cookie signer, live sessions, login throttle, page renderer, templates."""

    def __init__(self, pipeline: Pipeline, settings: ReviewSettings) -> None:
        self.pipeline, self.settings = pipeline, settings
        self.signer = signer_for(settings)
        self.sessions = SessionStore(Path(pipeline.settings.home).expanduser() / SESSIONS_FILE)
        self.throttle = LoginThrottle()
        cache = settings.cache_dir or storage.join(pipeline.settings.home, "cache", "review")
        self.images = PageImages(cache, settings.page_width)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(("html",)),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        if not settings.users and not settings.tokens:
            logger.warning("review desk has no users and no tokens: nobody can log in")

    # -- responses ----------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A template as an HTML response; ``base`` (the desk's URL prefix) is always given."""
        html = self.templates.get_template(template).render(base=base_url(request), **context)
        return HTMLResponse(html, status_code=status)

    def set_cookie(self, request: Request, response: Response, name: str, value: str, seconds: int) -> None:
        """A cookie only this desk's pages receive, invisible to scripts, never sent cross-site."""
        response.set_cookie(
            name,
            value,
            max_age=seconds,
            path=base_url(request),
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
        )

    # -- who and what -------------------------------------------------------------------------

    def session(self, request: Request, page: bool) -> Session:
        """The logged-in reviewer; pages redirect to the login, other requests get a 401."""
        session = self.signer.session(request.cookies.get(SESSION_COOKIE))
        if session is None or not self.sessions.active(session):
            raise _Reject(401, "Please sign in.", login=page)
        return session

    def tasks(self, reviewer: str) -> list[DocumentStatus]:
        """The tasks in review this reviewer may open, oldest first."""
        return [s for s in self.pipeline.review_tasks() if self.settings.allowed(reviewer, s.id, s.name)]

    def task(self, doc_id: str, reviewer: str) -> DocumentStatus:
        """The task of ``doc_id`` if it is in review and the reviewer may open it; a 404 otherwise."""
        missing = _Reject(404, "No such task: it may have been completed, or it is not yours to review.")
        if not DOC_ID.fullmatch(doc_id):
            raise missing
        try:
            status = self.pipeline.status(doc_id)
        except DocfieldsError:
            raise missing from None
        if status.status != "in_review" or not self.settings.allowed(reviewer, status.id, status.name):
            raise missing
        return status

    def next_task(self, reviewer: str, after: str | None = None) -> str | None:
        """The task to open after ``after``: the next one in the queue, else the first other one."""
        ids = [s.id for s in self.tasks(reviewer)]
        if after in ids:
            position = ids.index(after)
            ids = ids[position + 1 :] + ids[:position]
        return ids[0] if ids else None

    def result(self, status: DocumentStatus) -> dict[str, Any]:
        """The model's result of a task (a 404 if the pipeline has none)."""
        result = self.pipeline.result(status.id)
        if not result or not isinstance(result.get("Fields"), dict):
            raise _Reject(404, f"Document {status.name} has no result to review.")
        return result

    def opened_token(self, doc_id: str) -> str:
        """A signed stamp of when the task page was served, to time the review."""
        return self.signer.sign("opened", {"d": doc_id, "t": time.time()}, OPENED_SECONDS)

    def seconds_since(self, token: str | None, doc_id: str) -> float:
        """Seconds since the task page was served (0 when the stamp is missing or not for this task)."""
        data = self.signer.unsign("opened", token) or {}
        opened = data.get("t")
        if data.get("d") != doc_id or not isinstance(opened, int | float):
            return 0.0
        return max(0.0, time.time() - float(opened))


def base_url(request: Request) -> str:
    """The desk's URL prefix, behind any root path the app is served under."""
    return str(request.scope.get("root_path", "")).rstrip("/") + PREFIX


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after the login: a path inside the desk, never another site."""
    base = base_url(request)
    if target and target.startswith(base + "/") and "//" not in target and "\\" not in target:
        return target
    return base + "/"


def _secured(desk: ReviewDesk) -> type[APIRoute]:
    """A route class adding security headers, and turning ``_Reject`` into an error page or a redirect."""

    class SecuredRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()

            async def secured(request: Request) -> Response:
                try:
                    response = await handler(request)
                except _Reject as reject:
                    response = _rejection(desk, request, reject)
                for key, value in SECURITY_HEADERS.items():
                    response.headers.setdefault(key, value)
                return response

            return secured

    return SecuredRoute


def _rejection(desk: ReviewDesk, request: Request, reject: _Reject) -> Response:
    if reject.login:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&")
        return RedirectResponse(f"{base_url(request)}/login?next={target}", status_code=303)
    return desk.render(request, "error.html", reject.status, message=reject.message)


def _queue_page(desk: ReviewDesk, request: Request) -> Response:
    session = desk.session(request, page=True)
    now = time.time()
    rows = [queue_row(status, now) for status in desk.tasks(session.reviewer)]
    submitted = request.query_params.get("submitted") == "1"
    return desk.render(request, "queue.html", rows=rows, session=session, submitted=submitted)


def _task_page(
    desk: ReviewDesk, request: Request, session: Session, status: DocumentStatus, error: str | None = None
) -> Response:
    result = desk.result(status)
    layout = desk.images.layout(desk.pipeline.document_path(status.id))
    fields = field_views(result, desk.settings.threshold, audit=is_audit(status.review_reason))
    context = {
        "session": session, "task": status, "fields": fields, "pages": page_views(layout, fields),
        "next_id": desk.next_task(session.reviewer, after=status.id), "opened": desk.opened_token(status.id),
        "error": error, "confidence": round(100 * float(result.get("Confidence", 0.0))),
        "threshold": desk.settings.threshold,
    }  # fmt: skip
    return desk.render(request, "task.html", 422 if error else 200, **context)


def _page_image(desk: ReviewDesk, request: Request, doc_id: str, page: int) -> Response:
    session = desk.session(request, page=False)
    status = desk.task(doc_id, session.reviewer)
    document = desk.pipeline.document_path(status.id)
    if not 1 <= page <= desk.images.layout(document).page_count:
        raise _Reject(404, f"Document {status.name} has no page {page}.")
    png = desk.images.png(document, page)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _submit(desk: ReviewDesk, request: Request, session: Session, doc_id: str, form: Any) -> Response:
    """Apply the answers, hand the reviewed result to the pipeline, go to the next task."""
    status = desk.task(doc_id, session.reviewer)
    result = desk.result(status)
    answers = answers_from_form(lambda key: [str(v) for v in form.getlist(key)], result)
    seconds = desk.seconds_since(form.get("opened"), status.id)
    try:
        reviewed = apply_review(result, answers, session.reviewer, seconds, where=f"document {status.name}")
        desk.pipeline.complete_review(status.id, reviewed)
    except (ReviewError, ResultFormatError) as exc:
        return _task_page(desk, request, session, status, error=str(exc))
    except DocfieldsError as exc:  # completed meanwhile by someone else
        raise _Reject(409, f"This review could not be saved: {exc}") from exc
    logger.info("%s reviewed %s (%s) in %.0f s", session.reviewer, status.id, status.name, seconds)
    following = desk.next_task(session.reviewer, after=status.id)
    target = f"{base_url(request)}/tasks/{following}" if following else f"{base_url(request)}/?submitted=1"
    return RedirectResponse(target, status_code=303)


def _login_page(
    desk: ReviewDesk, request: Request, target: str | None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = desk.render(request, "login.html", status, csrf=nonce, next=safe_next(request, target), error=error)
    desk.set_cookie(request, response, LOGIN_COOKIE, desk.signer.sign("login", {"n": nonce}, 3600), 3600)
    return response


def _login_form_valid(desk: ReviewDesk, request: Request, submitted: str) -> bool:
    data = desk.signer.unsign("login", request.cookies.get(LOGIN_COOKIE))
    nonce = str(data.get("n", "")) if data else ""
    return bool(nonce) and hmac.compare_digest(nonce.encode(), submitted.encode())


async def _login(desk: ReviewDesk, request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    token, target = str(form.get("token", "")).strip(), str(form.get("next", ""))
    if not _login_form_valid(desk, request, str(form.get("csrf", ""))):
        return _login_page(desk, request, target, "The sign-in form expired; please try again.", 400)
    key = throttle_key(username or "<token>", request.client.host if request.client else "-")
    if desk.throttle.blocked(key):
        return _login_page(desk, request, target, "Too many failed sign-ins; wait a few minutes.", 429)
    if token:
        reviewer = await run_in_threadpool(authenticate_token, desk.settings, token)
    else:
        reviewer = await run_in_threadpool(authenticate, desk.settings, username, password)
    if reviewer is None:
        desk.throttle.failed(key)
        return _login_page(desk, request, target, "Wrong name, password or token.", 401)
    cookie, session = desk.signer.new_session(reviewer, desk.settings.session_seconds)
    desk.sessions.add(session)
    response = RedirectResponse(safe_next(request, target), status_code=303)
    desk.set_cookie(request, response, SESSION_COOKIE, cookie, desk.settings.session_seconds)
    response.delete_cookie(LOGIN_COOKIE, path=base_url(request))
    logger.info("reviewer %s signed in", reviewer)
    return response


async def _checked_form(desk: ReviewDesk, request: Request) -> tuple[Session, Any]:
    """The session and form of a state-changing request whose CSRF token is the session's."""
    session = desk.session(request, page=False)
    form = await request.form()
    if not csrf_matches(session, str(form.get("csrf", ""))):
        raise _Reject(403, "This form is not from your session (CSRF check failed); reload the page.")
    return session, form


def build_router(desk: ReviewDesk) -> APIRouter:
    """The desk's routes, relative to ``/review``."""
    router = APIRouter(route_class=_secured(desk), include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def queue(request: Request) -> Response:
        return _queue_page(desk, request)

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str | None = None) -> Response:
        return _login_page(desk, request, next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        return await _login(desk, request)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session, _ = await _checked_form(desk, request)
        desk.sessions.remove(session)
        response = RedirectResponse(f"{base_url(request)}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=base_url(request))
        return response

    @router.get("/tasks/{doc_id}", response_class=HTMLResponse)
    def task(request: Request, doc_id: str) -> Response:
        session = desk.session(request, page=True)
        return _task_page(desk, request, session, desk.task(doc_id, session.reviewer))

    @router.get("/tasks/{doc_id}/pages/{page:int}.png")
    def page_image(request: Request, doc_id: str, page: int) -> Response:
        return _page_image(desk, request, doc_id, page)

    @router.post("/tasks/{doc_id}")
    async def submit(request: Request, doc_id: str) -> Response:
        session, form = await _checked_form(desk, request)
        return await run_in_threadpool(_submit, desk, request, session, doc_id, form)

    return router


def mount_review(app: FastAPI, pipeline: Pipeline, settings: ReviewSettings) -> ReviewDesk:
    """Add the review desk to ``app``: pages under ``/review``, vendored assets under ``/review/static``."""
    desk = ReviewDesk(pipeline, settings)
    app.include_router(build_router(desk), prefix=PREFIX)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="review-static")
    return desk
