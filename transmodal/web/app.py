"""The web page and an HTTP API that returns images and audio, in front of a running Flow (over gRPC).

    transmodal serve flow.yml --web-port 8080                # the Flow and this app together
    transmodal web --host grpc://flow:51000 --port 8080      # this app in front of a running Flow
    curl -F image=@sign.jpg 'http://localhost:8080/api/translate-image?target=es' -o out.png

Why an app in front of the Flow rather than a custom Jina gateway: Jina's HTTP gateway builds its request
and response models from the documents' JSON schema, where `ImageBytes`/`AudioBytes` become `str`; a
document carrying an image fails when the response is serialised (the request answers 500), and a client
would have to base64-encode media into JSON in any case: no `curl -F image=@x.jpg`, no PNG or WAV body
back, no multipart, no streaming. A custom gateway would mean re-implementing Jina's HTTP gateway inside
Jina's process model. This app instead speaks to the Flow over gRPC with transmodal's own client, which
carries bytes as they are, validates at the edge and reports every document's fate; it runs as its own
process (its own Deployment on Kubernetes) and can be scaled and restarted without touching the Flow.

Endpoints (all documented in /openapi.json; /docs is a small local page that lists them, since FastAPI's
Swagger UI loads its JavaScript from a CDN and this must work offline):

- POST /api/translate-image: an image (multipart field `image`, or the raw body) -> the translated PNG;
  with `Accept: application/json`, or at /api/translate-image.json, JSON: the image as base64 and the
  regions (text, translation, box, flags). A document that failed -> 422 {"error", "stage", "name"}.
- POST /api/run: any document (image, audio or text) through the Flow -> its result (a WAV for speech
  flows, a PNG for image flows, else text); JSON the same way.
- POST /api/jobs: several images or one CBZ/ZIP/PDF -> a job id; GET /api/jobs/{id}/events streams one
  server-sent event per finished page; pages and the whole book are downloaded from /api/jobs/{id}/...
- GET /healthz (this process answers), GET /ready (the Flow answers: every executor, a dry run).

Request bodies over `max_body_bytes` get 413 before they are read (transmodal.gateway.BodyLimit).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import os
import shutil
import tempfile
import urllib.parse

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.staticfiles import StaticFiles

from transmodal.books import BookError
from transmodal.client import GatewayUnreachableError, Report, TransmodalClient
from transmodal.docs import MediaDoc
from transmodal.files import doc_from_bytes, fingerprint
from transmodal.gateway import BodyLimit
from transmodal.validation import InvalidRequestError, check_parameters
from transmodal.web.jobs import Job, Jobs, TooManyJobsError, document_json, safe_upload_name

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DEFAULT_TIMEOUT = 300.0  # seconds per document, as the command line's
MAX_FILES = 1000  # files in one multipart upload (a job's pages)

_MEDIA_TYPES = [(b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"RIFF", "audio/wav")]


def _form_body(fields: dict, raw_bytes: bool = False) -> dict:
    """The OpenAPI request body of a multipart form with these fields (and, `raw_bytes`, the file as the
    whole body instead)."""
    content: dict = {"multipart/form-data": {"schema": {"type": "object", "properties": fields}}}
    if raw_bytes:
        content["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"content": content}}


_LANGUAGES = {"source": {"type": "string"}, "target": {"type": "string"}}
_UPLOAD_BODY = _form_body(
    {
        "image": {"type": "string", "format": "binary"},
        **_LANGUAGES,
        "glossary": {"type": "string", "description": 'JSON: {"Captain Marvel": null}'},
    },
    raw_bytes=True,
)
_JOB_BODY = _form_body(
    {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        **_LANGUAGES,
        "glossary": {"type": "string"},
    }
)


# A whole comic is uploaded in one request (a 23-page CBZ is about 12 MB, a scanned volume a few hundred): the
# page's limit is higher than the gateway's per-image 20 MB. Uploads are held in memory while a job starts.
DEFAULT_WEB_MAX_BODY_BYTES = int(os.environ.get("TRANSMODAL_WEB_MAX_BODY_BYTES", 200_000_000))


class ApiError(Exception):
    def __init__(self, status: int, error: str, stage: str | None = None, name: str | None = None):
        self.status, self.body = status, {"error": error, "stage": stage, "name": name}


def media_type(data: bytes) -> str:
    return next((kind for signature, kind in _MEDIA_TYPES if data.startswith(signature)), "application/octet-stream")


def describe_flow(path: str | None) -> dict:
    """What the page needs to know of the Flow: its name and what it takes in (image, audio or text)."""
    if not path:
        return {"flow": None, "input": "image"}
    import yaml

    with open(path) as file:
        spec = yaml.safe_load(file) or {}
    names = [executor.get("name", "") for executor in spec.get("executors", [])]
    first = names[0] if names else ""
    kind = "audio" if first.startswith("Speech") else "image" if first.startswith(("Text", "Image")) else "text"
    if first == "ImageGenerator":
        kind = "text"
    return {"flow": os.path.basename(path), "input": kind, "executors": names}


def create_app(
    host: str,
    flow_path: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_body_bytes: int = DEFAULT_WEB_MAX_BODY_BYTES,
    jobs_folder: str | None = None,
) -> FastAPI:
    """The app in front of the Flow whose gRPC gateway is at `host`; `flow_path` only describes it."""
    client = TransmodalClient(host, timeout=timeout or None)
    if jobs_folder is None:
        # Uploaded books and their pages are this process's alone: gone when it exits.
        jobs_folder = tempfile.mkdtemp(prefix="transmodal-web-")
        atexit.register(shutil.rmtree, jobs_folder, True)
    jobs = Jobs(jobs_folder)
    flow = describe_flow(flow_path)
    app = FastAPI(
        title="transmodal",
        summary="Translate the text in images and speech: a web page and an HTTP API in front of a transmodal Flow",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; /docs below is local
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status)

    async def process_one(doc: MediaDoc, parameters: dict) -> MediaDoc:
        """The document back from the Flow, or ApiError: 400 bad parameters, 422 the document failed
        (bad input, or a stage failed on it), 503 no Flow / an executor unreachable, 504 past the deadline."""
        returned: list[MediaDoc] = []
        try:
            # The client runs its own event loop: in a worker thread, not on this one.
            report: Report = await run_in_threadpool(
                client.process, [doc], parameters=parameters, on_result=returned.append
            )
        except InvalidRequestError as error:
            raise ApiError(400, str(error), "client", doc.name) from error
        except GatewayUnreachableError as error:
            raise ApiError(503, str(error), None, doc.name) from error
        if returned:
            result = returned[0]
            if result.failed:
                raise ApiError(422, result.error or "failed", result.error_stage, result.name)
            return result
        failure = report.failures[0] if report.failures else None
        if failure is None:
            raise ApiError(503, "the Flow returned nothing (interrupted)", None, doc.name)
        status = 422 if failure.stage == "client" else 504 if "deadline" in failure.error else 503
        raise ApiError(status, failure.error, failure.stage, failure.name)

    async def read_upload(request: Request) -> tuple[list[tuple[str, bytes]], dict]:
        """(files, fields): multipart files and fields, or the raw body as one file; query parameters
        are fields too (a form field wins)."""
        fields: dict[str, str] = dict(request.query_params)
        files: list[tuple[str, bytes]] = []
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_files=MAX_FILES)
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files.append((safe_upload_name(value.filename or key), await value.read()))
                else:
                    fields[key] = value
        else:
            body = await request.body()
            if body:
                files.append((safe_upload_name(fields.get("name") or "upload"), body))
        return files, fields

    def parameters_of(fields: dict) -> dict:
        parameters: dict = {}
        for field, key in (("source", "source_lang"), ("target", "target_lang")):
            if fields.get(field):
                parameters[key] = fields[field].strip()
        if fields.get("glossary"):
            try:
                parameters["glossary"] = json.loads(fields["glossary"])
            except ValueError as error:
                raise ApiError(400, f'glossary is not JSON ({error}): send {{"term": "translation"}}') from error
        try:
            return check_parameters(parameters)
        except InvalidRequestError as error:
            raise ApiError(400, str(error), "client") from error

    def wants_json(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return request.url.path.endswith(".json") or ("application/json" in accept and "image/" not in accept)

    def json_result(doc: MediaDoc, input_fingerprint: str | None) -> dict:
        body = document_json(doc)
        for field in ("image", "audio"):
            data = getattr(doc, field)
            changed = data is not None and fingerprint(data) != input_fingerprint
            body[field] = base64.b64encode(bytes(data)).decode() if changed else None
            body[f"{field}_type"] = media_type(bytes(data)) if changed else None
        return body

    def attachment(name: str | None, suffix: str) -> dict:
        # Headers are Latin-1: a name in any script travels as RFC 5987 UTF-8 (as Starlette's FileResponse
        # sends it), with an ASCII stand-in for old clients.
        stem = os.path.splitext(name or "result")[0]
        plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in stem)
        return {
            "Content-Disposition": f'inline; filename="{plain}{suffix}"; '
            f"filename*=UTF-8''{urllib.parse.quote(stem + suffix)}"
        }

    # The API --------------------------------------------------------------------------------------------

    @app.post("/api/translate-image", summary="Translate the text in one image: PNG back", openapi_extra=_UPLOAD_BODY)
    @app.post("/api/translate-image.json", summary="The same, JSON back (image as base64, regions)")
    async def translate_image(
        request: Request,
        source: str | None = Query(None, description="source language, ISO 639-1 (default: the Flow's)"),
        target: str | None = Query(None, description="target language, ISO 639-1 (default: the Flow's)"),
        glossary: str | None = Query(None, description='JSON {"term": "translation" or null (keep)}'),
    ) -> Response:
        files, fields = await read_upload(request)
        if not files:
            raise ApiError(400, "no image: send it as multipart field `image` or as the request body")
        name, data = next(((n, d) for n, d in files if n), files[0])
        doc = doc_from_bytes(data, name, kind="image")
        result = await process_one(doc, parameters_of(fields))
        if wants_json(request):
            return JSONResponse(json_result(result, fingerprint(data)))
        if result.image is None:
            raise ApiError(502, "the Flow returned no image: is it an image-translation Flow?", None, name)
        image = bytes(result.image)
        return Response(image, media_type=media_type(image), headers=attachment(name, ".png"))

    @app.post("/api/run", summary="Any document through the Flow: its result back", openapi_extra=_UPLOAD_BODY)
    @app.post("/api/run.json", summary="The same, JSON back")
    async def run(
        request: Request,
        source: str | None = Query(None),
        target: str | None = Query(None),
        glossary: str | None = Query(None),
        text: str | None = Query(None, description="a text document instead of a file"),
    ) -> Response:
        """The result is what the Flow made that the input was not: audio (WAV) for speech flows, an
        image (PNG) for image flows, else the translation or text (text/plain)."""
        files, fields = await read_upload(request)
        if files:
            name, data = files[0]
            doc = doc_from_bytes(data, name)
        elif fields.get("text"):
            data, doc = fields["text"].encode(), MediaDoc(text=fields["text"], name="text.txt")
        else:
            raise ApiError(400, "no input: send a file (multipart or the body) or text=...")
        result = await process_one(doc, parameters_of(fields))
        input_fingerprint = fingerprint(data)
        if wants_json(request):
            return JSONResponse(json_result(result, input_fingerprint))
        for field, suffix in (("audio", ".wav"), ("image", ".png")):
            output = getattr(result, field)
            if output is not None and fingerprint(output) != input_fingerprint:
                return Response(
                    bytes(output), media_type=media_type(bytes(output)), headers=attachment(doc.name, suffix)
                )
        said = result.final_text if result.final_text is not None else result.phones  # phones: no writing
        return Response((said or "").encode(), media_type="text/plain; charset=utf-8")

    @app.post("/api/jobs", status_code=202, summary="Start a multi-page job", openapi_extra=_JOB_BODY)
    async def create_job(request: Request) -> JSONResponse:
        files, fields = await read_upload(request)
        if not files:
            raise ApiError(400, "no files: send images or one .cbz/.zip/.pdf as multipart `files`")
        parameters = parameters_of(fields)
        try:
            job = await run_in_threadpool(jobs.create, files, parameters)
        except BookError as error:
            raise ApiError(422, str(error), "book") from error
        except TooManyJobsError as error:
            raise ApiError(503, str(error)) from error
        jobs.start(job, client)
        return JSONResponse({"id": job.id, "pages": job.pages, "events": f"/api/jobs/{job.id}/events"}, status_code=202)

    def job_of(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r} (finished jobs are kept until newer ones replace them)")
        return job

    @app.get("/api/jobs/{job_id}", summary="A job's pages and the events so far")
    async def job_status(job_id: str) -> dict:
        job = job_of(job_id)
        return {"id": job.id, "pages": job.pages, "finished": job.finished, "events": list(job.events)}

    @app.get("/api/jobs/{job_id}/events", summary="Server-sent events: one per finished page, then done or error")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        job = job_of(job_id)
        # A reconnecting EventSource says where it was; events already seen are not sent again.
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else 0

        async def stream():
            sent = start
            while True:
                for event in job.events[sent:]:
                    payload = json.dumps({k: v for k, v in event.items() if k != "event"}, ensure_ascii=False)
                    yield f"id: {event['id']}\nevent: {event['event']}\ndata: {payload}\n\n"
                    sent += 1
                if job.finished and sent >= len(job.events):
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/jobs/{job_id}/pages/{index}", summary="A translated page (PNG)")
    async def job_page(job_id: str, index: int) -> FileResponse:
        return page_file(job_of(job_id), index, ".png")

    @app.get("/api/jobs/{job_id}/pages/{index}/original", summary="A page as it was sent")
    async def job_page_original(job_id: str, index: int) -> FileResponse:
        return page_file(job_of(job_id), index, ".original")

    @app.get("/api/jobs/{job_id}/pages/{index}/regions", summary="A page's regions, flags, error")
    async def job_page_regions(job_id: str, index: int) -> dict:
        result = job_of(job_id).page_result(index)
        if result is None:
            raise ApiError(404, f"page {index} is not finished")
        return result

    @app.post("/api/jobs/{job_id}/pages/{index}/render", summary="Re-render a page with translations fixed by hand")
    async def job_page_render(job_id: str, index: int, request: Request) -> JSONResponse:
        """Body: {"translations": {"REGION NUMBER": "fixed translation", ...}}; the page and the book are
        updated, and the page's new result is returned."""
        job = job_of(job_id)
        try:
            body = await request.json()
            translations = {int(number): str(text) for number, text in body["translations"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ApiError(400, f'expected {{"translations": {{"0": "text"}}}} ({error})') from error
        try:
            result = await run_in_threadpool(job.render_page, client, index, translations)
        except KeyError as error:
            raise ApiError(404, str(error.args[0])) from error
        except InvalidRequestError as error:  # a fixed translation that cannot travel (a lone surrogate, ...)
            raise ApiError(400, str(error)) from error
        except GatewayUnreachableError as error:
            raise ApiError(503, str(error)) from error
        return JSONResponse(result, status_code=422 if result.get("error") else 200)

    @app.get("/api/jobs/{job_id}/book", summary="The translated book (CBZ, or PDF for a PDF)")
    async def job_book(job_id: str) -> FileResponse:
        job = job_of(job_id)
        if not os.path.isfile(job.out_path):
            raise ApiError(404, "the book is not written yet" if not job.finished else "no book: see the job's error")
        kind = "application/pdf" if job.out_name.endswith(".pdf") else "application/vnd.comicbook+zip"
        return FileResponse(job.out_path, media_type=kind, filename=job.out_name)

    def page_file(job: Job, index: int, suffix: str) -> FileResponse:
        if not 0 <= index < len(job.pages):
            raise ApiError(404, f"no page {index}: the job has {len(job.pages)}")
        path = job.page_path(index, suffix)
        if not os.path.isfile(path):
            result = job.page_result(index)
            raise ApiError(404, result["error"] if result and result.get("error") else f"page {index} is not ready")
        with open(path, "rb") as file:
            head = file.read(16)
        stem = os.path.splitext(os.path.basename(job.pages[index]))[0]
        return FileResponse(path, media_type=media_type(head), filename=f"{stem}{'.png' if suffix == '.png' else ''}")

    # Health, the page, the docs -------------------------------------------------------------------------

    @app.get("/healthz", summary="This process answers")
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/ready", summary="The Flow answers: every executor (503 naming the one that does not)")
    async def ready() -> JSONResponse:
        answers, why = await run_in_threadpool(client.health, 5.0)
        return JSONResponse({"ready": answers, "detail": why, "flow": host}, status_code=200 if answers else 503)

    @app.get("/api/info", summary="The Flow behind this app: name, input kind, limits")
    async def info() -> dict:
        return {**flow, "max_body_bytes": max_body_bytes, "timeout": timeout}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(os.path.join(STATIC, "index.html"))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(os.path.join(STATIC, "docs.html"))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve_in_thread(app: FastAPI, host: str, port: int):
    """Start uvicorn on a thread (no signal handlers: the caller owns the signals); returns
    (server, thread): set `server.should_exit = True` and join the thread to stop it."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="transmodal-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError(f"the web app did not start on {host}:{port}")
    return server, thread
