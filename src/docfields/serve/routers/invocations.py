"""``/async``: invocations answered at once and run in the background (the original's async endpoint).

``POST /async/{deployment}`` takes the input as the request body (a document for ``thumbnails``
and ``ocr-<engine>``, a Textract JSON for ``tagger-<name>``) or as a location (``input``: a local
path inside an allowed root, or an fsspec URL), and the ``output`` location (same rules; default
``<home>/async/<id>/output.npz|json``). Options come as query parameters, or for the document
deployments as a JSON body holding them. The answer is 202 with the invocation's id and output
location; ``GET /async/{id}`` tells its state. Uploads stream to disk (up to the request limit),
so a 100 MiB document is never held in memory by the route.

Webhooks (``success_url``, ``error_url``) are checked here against the operator's allow-list, so a
refused one is a 422 now rather than a silent skip later; ``serve.webhooks`` says how calls are signed.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from docfields import storage
from docfields.documents import SNIFF_BYTES
from docfields.serve.calls import ModelSpec
from docfields.serve.dependencies import (
    DOCUMENT_REQUEST_BODY,
    DOCUMENT_TYPES,
    MULTIPART,
    form_upload,
    get_settings,
    media_type,
    not_a_document_type,
    require_json,
    safe_name,
)
from docfields.serve.invocations import (
    INPUT_FILE,
    Invocation,
    InvocationRequest,
    InvocationRunner,
    known_deployments,
    output_suffix,
    resolve_deployment,
)
from docfields.serve.routers.thumbnails import check_thumbnail_size
from docfields.serve.settings import ServeSettings
from docfields.serve.webhooks import webhook_refusal

router = APIRouter(prefix="/async", tags=["async"])

_REMOTE_ONLY = ("http", "https")  # the service does not fetch arbitrary web addresses on a client's behalf


class AsyncOptions(BaseModel):
    """Where an invocation reads and writes, whom it notifies, and the thumbnails' size."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="The upload's file name, used in errors (default: the form's).")
    input: str | None = Field(None, description="Input location: a local path inside an allowed root, or an "
                              "fsspec URL (s3://...). None: the request body is the input.")  # fmt: skip
    output: str | None = Field(None, description="Output location (same rules); default <home>/async/<id>/output.*")
    success_url: str | None = Field(None, description="Webhook POSTed the invocation's state when it succeeds.")
    error_url: str | None = Field(None, description="Webhook POSTed the invocation's state when it fails.")
    width: int | None = Field(None, gt=0, description="Thumbnail width in pixels (thumbnails; default 224).")
    height: int | None = Field(None, gt=0, description="Thumbnail height in pixels (thumbnails; default 224).")
    fit: Literal["stretch", "letterbox"] | None = Field(None, description="stretch (default) or letterbox.")


_BODY = DOCUMENT_REQUEST_BODY["requestBody"]
_REQUEST = {
    "requestBody": {
        "required": False,
        "description": "The input: a document (thumbnails, ocr-*) or a Textract JSON (tagger-*). Without a body, "
        "name the input with `input`; document deployments also take the options as a JSON object.",
        "content": {**_BODY["content"], "application/json": {"schema": {"type": "object"}}},
    }
}


def get_runner(request: Request) -> InvocationRunner:
    """The app's invocation runner (its store, its folder under the home)."""
    return request.app.state.invocations


@router.post(
    "/{deployment}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an async invocation of a deployment",
    openapi_extra=_REQUEST,
    response_model=Invocation,
    responses={
        202: {"description": "Queued: InvocationId, OutputLocation; Location: /async/{id}"},
        404: {"description": "No deployment of that name (the known ones are listed)"},
        413: {"description": "The upload is over the request limit"},
        415: {"description": "A body of a media type the deployment does not take"},
        422: {"description": "A location outside the allowed roots, a refused webhook, bad options (each named)"},
    },
)
async def start_invocation(
    deployment: str,
    request: Request,
    response: Response,
    query: Annotated[AsyncOptions, Query()],
    settings: Annotated[ServeSettings, Depends(get_settings)],
    runner: Annotated[InvocationRunner, Depends(get_runner)],
) -> Invocation:
    """Queue ``deployment`` on the posted input (or the named one); the answer comes before the work.

    Poll ``GET /async/{id}``, or name webhooks: the service POSTs the final state to ``success_url``
    or ``error_url`` (signed: see the ``X-Docfields-Signature`` header in the service's docs).
    """
    spec = resolve_deployment(deployment, settings)
    if spec is None:
        known = ", ".join(known_deployments(settings))
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no deployment named {deployment!r}; known: {known}")
    options = await _options(request, spec, query)
    _check_options(options, spec, settings)
    invocation_id = uuid.uuid4().hex
    folder = runner.folder / invocation_id
    # Inputs may be any invocation's output under <home>/async (OCR, then a tagger); outputs go only to its own folder.
    output = _check_output(options.output or str(folder / f"output{output_suffix(spec)}"),
                           [str(folder), *settings.allowed_roots])  # fmt: skip
    if options.input is not None:
        _refuse_body(request, spec)
        source, name = _check_input(options.input, [str(runner.folder), *settings.allowed_roots]), options.input
        uploaded = False
    else:
        source, uploaded = str(folder / INPUT_FILE), True
        name = await _save_upload(request, spec, folder / INPUT_FILE, options.name)
    run = InvocationRequest(invocation_id, deployment, source, name, uploaded, output, _model_options(options),
                            options.success_url, options.error_url)  # fmt: skip
    try:
        invocation = await run_in_threadpool(runner.submit, run)
    except BaseException:  # not stored: its upload would never be run nor removed
        shutil.rmtree(folder, ignore_errors=True)
        raise
    response.headers["Location"] = f"/async/{invocation_id}"
    return invocation


@router.get(
    "/{invocation_id}",
    summary="State of an async invocation",
    response_model=Invocation,
    responses={404: {"description": "No invocation with that id"}},
)
def get_invocation(invocation_id: str, runner: Annotated[InvocationRunner, Depends(get_runner)]) -> Invocation:
    """queued, running, succeeded or failed (with the error, naming the file), its times and output location."""
    invocation = runner.store.invocation(invocation_id)
    if invocation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no invocation with id {invocation_id!r}")
    return invocation


async def _options(request: Request, spec: ModelSpec, query: AsyncOptions) -> AsyncOptions:
    """The query's options, merged with a JSON body of options (document deployments); a key given twice is a 422."""
    kind = media_type(request)
    if spec.kind == "tagger" or not (kind == "application/json" or kind.endswith("+json")):
        return query
    try:
        body = AsyncOptions.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"JSON options: {problems}") from exc
    twice = sorted(query.model_fields_set & body.model_fields_set)
    if twice:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=f"{', '.join(twice)}: given both in the query and in the JSON body")  # fmt: skip
    return query.model_copy(update=body.model_dump(exclude_unset=True))


def _check_options(options: AsyncOptions, spec: ModelSpec, settings: ServeSettings) -> None:
    """422 for thumbnail options given to another deployment, a thumbnail too large, or a refused webhook."""
    sizes = {key: getattr(options, key) for key in ("width", "height", "fit") if getattr(options, key) is not None}
    if sizes and spec.kind != "thumbnails":
        problem = f"{', '.join(sizes)}: thumbnail options, and {spec.deployment} makes no thumbnails"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem)
    check_thumbnail_size(options.width, options.height, settings)
    for url in (options.success_url, options.error_url):
        refusal = None if url is None else webhook_refusal(url, settings.webhook_urls, settings.webhook_secret)
        if refusal is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=refusal)


def _refuse_body(request: Request, spec: ModelSpec) -> None:
    """422 for an input given twice: named with ``input`` and sent as the body."""
    options_body = spec.kind != "tagger" and media_type(request).endswith("json")
    if request.headers.get("content-length", "0") != "0" and not options_body:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail="the input is named (input=) and sent as the body: give one of the two")  # fmt: skip


def _model_options(options: AsyncOptions) -> dict[str, Any]:
    """What the work function takes besides the input: the thumbnails' size and fit, when given."""
    return options.model_dump(include={"width", "height", "fit"}, exclude_none=True)


def _check_location(location: str, roots: list[str], what: str) -> str:
    """A local path resolved (symlinks, ``..``) and inside an allowed root, or a usable fsspec URL; else 422."""
    if storage.is_local(location):
        if not any(storage.relative_inside(root, location) is not None for root in roots):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"{what} {location}: outside the allowed roots ({', '.join(roots)}); the operator allows "
                "a folder with --allowed-root FOLDER",
            )
        return storage.absolute(location)
    protocol = location.split("://", 1)[0].lower()
    problem = f"{protocol} URLs are not fetched on a client's behalf" if protocol in _REMOTE_ONLY else None
    if problem is None:
        import fsspec

        try:
            fsspec.get_filesystem_class(protocol)
        except (ValueError, ImportError) as exc:
            problem = str(exc)
    if problem is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{what} {location}: {problem}")
    return location


def _check_input(location: str, roots: list[str]) -> str:
    """The input location, checked: inside the roots, and (when local) a readable regular file."""
    source = _check_location(location, roots, "input")
    problem = storage.file_problem(Path(source)) if storage.is_local(source) else None
    if problem is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"input {location}: {problem}")
    return source


def _check_output(location: str, roots: list[str]) -> str:
    """The output location, checked: inside the roots, not a folder, its folder not a file."""
    output = _check_location(location, roots, "output")
    if storage.is_local(output):
        if Path(output).is_dir():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                detail=f"output {location}: is a folder; name the file to write")  # fmt: skip
        storage.check_output_folder(str(Path(output).parent))
    return output


async def _save_upload(request: Request, spec: ModelSpec, path: Path, name: str | None) -> str:
    """Stream the body to ``path`` (a form's file part is copied from its spool file); returns its name.

    Raises:
        HTTPException: 415 for a media type the deployment does not take, 422 for an empty body.
    """
    kind = media_type(request)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if spec.kind == "tagger":
            require_json(request)
            await _stream_body(request, path)
        elif kind == MULTIPART:
            name = name or await _copy_form_file(request, path)
        elif kind in DOCUMENT_TYPES:
            await _stream_body(request, path)
        else:
            raise not_a_document_type(kind)
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
        if not head:
            problem = "empty request body: send the input, or name it with input=LOCATION"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return safe_name(name, head)


async def _stream_body(request: Request, path: Path) -> None:
    """Write the body to ``path`` as it arrives (the body limit cuts it off with 413)."""
    with path.open("wb") as handle:
        async for chunk in request.stream():
            handle.write(chunk)


async def _copy_form_file(request: Request, path: Path) -> str | None:
    """Copy the form's file part to ``path``; returns its file name."""
    async with form_upload(request) as upload:
        with path.open("wb") as handle:
            await run_in_threadpool(shutil.copyfileobj, upload.file, handle, 2**20)
        return upload.filename
