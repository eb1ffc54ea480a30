"""The JSON REST API served beside the demo: one article, a streamed batch, health and Prometheus metrics.

Routes (OpenAPI at ``/docs`` and ``/openapi.json``):

- ``POST /v1/articles``: ``{"text" | "html" | "record", "tasks"?, "max_chars"?, "glossary"?}`` -> the record
  ``ArticleResult.to_dict()`` gives, the same the CLI writes; bad input 422 ``{"error"}``, too large 413, queue
  full 503 with ``Retry-After``.
- ``POST /v1/articles:batch``: ``{"articles": [...]}`` (at most ``limits.max_files``) -> NDJSON, one record per
  finished article, error records inline.
- ``GET /health``, ``GET /metrics``.

Auth: with ``SUMMARIZER_API_KEYS`` (comma-separated keys, or the path of a file with one key per line) every
``/v1`` route needs ``Authorization: Bearer KEY``; each key (or, without keys, each client address) gets
``limits.api_requests_per_minute`` requests a minute, then 429. The demo keeps ``SUMMARIZER_AUTH``; when that is
set and no API keys are, the API refuses everyone rather than be the open door beside a locked demo.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .batch import Admission
from .batch import process as batch_process
from .checks import Glossary
from .bodies import MAX_VALUES, UPLOAD_PATH, article_in, body_limits, demo_body_limit, parse_batch, parse_json
from .guard import RequestGuard, api_keys
from .metrics import Metrics, route_label
from .ndjson import NdjsonStream
from .models import Cancelled
from .runtime import ModelCrashed, is_alive, loading
from .schemas import ArticleIn, BatchIn, ErrorOut, Health, ResultOut
from .workqueue import QueueFull, ShuttingDown, WorkQueue
from .pipeline import Pipeline
from .records import ArticleResult, ErrorRecord, error_message, error_record, input_id
from .serving import SHUTTING_DOWN, Refused, check_glossary, check_record, check_text, refusal, shutting_down

logger = logging.getLogger("summarizer")

__all__ = ["create_api", "router", "Service"]

# ---------------------------------------------------------------- the app

# Most pipeline variants (task sets and glossaries) kept: a client sending a new glossary each time must not grow the
# server.
MAX_VARIANTS = 8


class _Work:
    """The model work of the API: one pipeline variant per task set and glossary (bounded), cancellable."""

    def __init__(self, pipe: Pipeline, metrics: Metrics, queue: WorkQueue):
        self.pipe, self.metrics, self.limits, self.queue = pipe, metrics, pipe.config.limits, queue
        self.variants: OrderedDict[tuple, Pipeline] = OrderedDict()
        self.lock = threading.Lock()

    def pipeline_for(self, item: ArticleIn) -> Pipeline:
        config = self.pipe.config
        tasks = tuple(t for t in ("summary", "translation") if t in (item.tasks or config.tasks))
        # A glossary only shapes a translation: without one it must not make a variant of its own.
        glossary = item.glossary if "translation" in tasks else None
        key = (tasks, json.dumps(glossary, sort_keys=True, ensure_ascii=False) if glossary else None)
        if key == (config.tasks, None):
            return self.pipe
        with self.lock:
            if key not in self.variants:
                while len(self.variants) >= MAX_VARIANTS:
                    self.variants.popitem(last=False)
                self.variants[key] = self.pipe.variant(tasks=tasks, glossary=Glossary(dict(glossary)) if glossary else None)
            self.variants.move_to_end(key)
            return self.variants[key]

    def input_of(self, item: ArticleIn) -> Any:
        check_glossary(item.glossary, self.limits)
        if item.record is not None:
            check_record(item.record, self.limits)
            return item.record
        text = item.text if item.text is not None else item.html
        check_text(text, self.limits)
        return {"html": text} if item.html is not None else text

    def run(self, item: ArticleIn, cancel: threading.Event) -> ArticleResult:
        target, source = self.pipeline_for(item), self.input_of(item)
        try:
            result = target.process(source, max_chars=item.max_chars, cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a plain refusal, never a stack trace
            self.metrics.observe(ErrorRecord(id="", source=None, error=error_message(exc)), exc)
            if isinstance(exc, Cancelled) and self.queue.draining.is_set():
                raise shutting_down() from None
            if isinstance(exc, Cancelled):
                raise
            raise refusal(exc, "API article") from None
        self.metrics.observe(result)
        return result


    def run_batch(self, items: list[Any], cancel: threading.Event,
                  emit: Callable[[ArticleResult | ErrorRecord], None]) -> None:
        """The batch route's work, through the batch core: consecutive articles that share a pipeline variant and
        summary length are translated together; an item that is not a valid article is an error record in its
        place (the core's id scheme), and one id given twice gets the core's duplicate record."""
        admission = Admission({})
        groups: list[tuple[Any, list[Any]]] = []  # ((variant, max_chars), inputs), in input order
        for n, raw in enumerate(items):
            try:
                item = article_in(raw, f"articles[{n}].")
                source: Any = self.input_of(item)
                key: Any = (self.pipeline_for(item), item.max_chars)
            except Refused as exc:
                inner = raw.get("record") if isinstance(raw, dict) and isinstance(raw.get("record"), dict) else raw
                key, source = None, ErrorRecord(id=input_id(inner), source=None, error=exc.message,
                                                kind=exc.kind)
            if groups and (key is None or groups[-1][0] == key):
                groups[-1][1].append(source)
            else:
                groups.append((key or (self.pipe, None), [source]))
        for g, ((target, max_chars), sources) in enumerate(groups):
            sent = 0
            try:
                for rec in batch_process(target, sources, admission=admission,
                                         max_chars=max_chars, cancel=cancel):
                    self.metrics.observe(rec)
                    emit(rec)
                    sent += 1
            except Cancelled:
                self.queue.count_cancel()
                if not self.queue.draining.is_set():
                    return  # the client left: nobody reads the rest
                # The server is stopping: each article left gets that as its record, so the client knows to retry.
                stop = ShuttingDown(SHUTTING_DOWN)
                rest = sources[sent:] + [src for _, later in groups[g + 1:] for src in later]
                for source in rest:
                    rec = source if isinstance(source, ErrorRecord) else error_record(source, stop)
                    self.metrics.observe(rec, stop)
                    emit(rec)
                return
            except ModelCrashed as exc:
                # The worker died on the articles in a row: each one left gets the crash as its record.
                for source in sources[sent:]:
                    rec = error_record(source, exc)
                    self.metrics.observe(rec, exc)
                    emit(rec)


# ---------------------------------------------------------------- the routes

def _body_schema(name: str) -> dict[str, Any]:
    # The handlers read and parse the body themselves (off the event loop, after the guard): the schema is stated.
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}



RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 408: {"model": ErrorOut}, 413: {"model": ErrorOut},
    422: {"model": ErrorOut}, 429: {"model": ErrorOut}, 503: {"model": ErrorOut}, 504: {"model": ErrorOut}}

router = APIRouter()


@dataclass(frozen=True)
class Service:
    """What the routes share, kept on ``app.state.service`` by `create_api`."""

    # The one pipeline (and model) of the process.
    pipe: Pipeline
    # The queue in front of the model, shared with the demo.
    queue: WorkQueue
    # Prometheus counters of this app.
    metrics: Metrics
    # The model work: pipeline variants, size checks, cancellable runs.
    work: _Work


def service(request: Request) -> Service:
    """The routes' dependency: this app's `Service`."""
    return request.app.state.service


def take_slot(svc: Service, cancel: threading.Event | None = None, wait: bool = True):
    """A slot of the queue, or the 503 a client gets when the line is full."""
    try:
        return svc.queue.slot(wait=wait, cancel=cancel)
    except QueueFull:
        raise Refused(503, "the server is busy (queue full); retry later", {"Retry-After": "30"}) from None
    except ShuttingDown:
        raise shutting_down() from None


def process_one(svc: Service, raw: bytes, cancel: threading.Event) -> ArticleResult:
    """The single route's work, off the event loop: parse, check sizes, wait for a slot, process."""
    item = article_in(parse_json(raw, max_values=MAX_VALUES))
    svc.work.input_of(item)  # a too-large input is refused before it waits for the model
    try:
        with take_slot(svc, cancel, wait=False):
            return svc.work.run(item, cancel)
    except Cancelled:
        svc.queue.count_cancel()
        if svc.queue.draining.is_set():
            raise shutting_down() from None
        raise Refused(499, "the client left") from None


async def _off_loop(request: Request, cancel: threading.Event, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, never on the event loop (a wait for the model there would freeze every
    route); a client that leaves meanwhile sets `cancel`, which `fn` watches. When the server stops, the client
    gets its 503 at once, within the shutdown grace, while the thread winds down."""
    queue: WorkQueue = request.app.state.service.queue
    queue.watch(cancel)
    task = asyncio.ensure_future(run_in_threadpool(fn, *args))
    try:
        while not task.done():
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                break
            if queue.draining.is_set():
                raise shutting_down()
            if await request.is_disconnected():
                cancel.set()
        return task.result()
    except BaseException:
        cancel.set()
        # Nobody will use what the thread still returns (a slot taken as the request was cut short): free it.
        task.add_done_callback(_release_orphan)
        raise
    finally:
        queue.forget(cancel)


def _release_orphan(task: asyncio.Future) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    for value in task.result() if isinstance(task.result(), tuple) else (task.result(),):
        if hasattr(value, "release"):
            value.release()


@router.post("/v1/articles", response_model=ResultOut, response_model_exclude_unset=True, responses=RESPONSES,
             tags=["articles"],
             summary="Summarize and translate one article", openapi_extra=_body_schema("ArticleIn"))
async def post_article(request: Request, svc: Service = Depends(service), sentences: bool = True) -> Any:
    """One article in, its record out (the record `summarizer run` writes); ``?sentences=false`` leaves out the
    sentence pairs."""
    cancel = threading.Event()
    try:
        # A client that leaves (a timeout on its side) cancels the work before its next model request.
        result = await _off_loop(request, cancel, process_one, svc, await request.body(), cancel)
    finally:
        cancel.set()
    svc.metrics.requests.labels("/v1/articles", "200").inc()
    record = result.to_dict()
    if not sentences:
        del record["sentences"]
    return record


def _batch_slot(svc: Service, raw: bytes, cancel: threading.Event) -> tuple[list[Any], Any]:
    """The batch route's work before its stream opens, off the event loop: parse the body, then wait for a slot."""
    items = parse_batch(raw, svc.pipe.config.limits)
    try:
        return items, take_slot(svc, cancel, wait=False)
    except Cancelled:
        svc.queue.count_cancel()
        raise Refused(499, "the client left") from None


@router.post("/v1/articles:batch", responses={200: {"content": {"application/x-ndjson": {}},
                                                    "description": "One JSON record per line, in input order"},
                                               **RESPONSES},
             tags=["articles"], summary="Process several articles, streamed as NDJSON",
             openapi_extra=_body_schema("BatchIn"))
async def post_batch(request: Request, svc: Service = Depends(service), sentences: bool = True) -> Response:
    """Several articles in, NDJSON out as each finishes (through the batch core); ``?sentences=false`` leaves out
    the sentence pairs."""
    cancel = threading.Event()
    items, slot = await _off_loop(request, cancel, _batch_slot, svc, await request.body(), cancel)

    def produce(emit: Callable[[bytes], None], cancel: threading.Event) -> None:
        def line(rec: ArticleResult | ErrorRecord) -> bytes:
            d = rec.to_dict()
            if not sentences:
                d.pop("sentences", None)
            return (json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8")

        svc.queue.watch(cancel)
        try:
            svc.work.run_batch(items, cancel, lambda rec: emit(line(rec)))
        finally:
            svc.queue.forget(cancel)

    svc.metrics.requests.labels("/v1/articles:batch", "200").inc()
    return NdjsonStream(produce, slot, svc.pipe.config.limits.write_seconds)


@router.get("/health", response_model=Health, tags=["service"], summary="Config, model state and queue")
def health(svc: Service = Depends(service)) -> Any:
    """Answers at once, also while a model loads."""
    config = svc.pipe.config
    model = config.models.get(config.translate.model) or config.models.get(config.summarize.model)
    # A worker that died (killed, crashed) since its last request is not loaded: the next request starts one.
    loaded = model is None or model.backend == "extractive" or is_alive(model)
    state = "loaded" if loaded else "loading" if loading(model) else "not loaded"
    return {"status": "ok", "config": config.name, "tasks": list(config.tasks), "model_loaded": loaded,
            "model": state, "queue": svc.queue.state()}


@router.get("/metrics", tags=["service"], summary="Prometheus metrics", responses={200: {"content": {"text/plain": {}}}})
def get_metrics(svc: Service = Depends(service)) -> Response:
    """Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _refused(request: Request, exc: Refused) -> JSONResponse:
    request.app.state.service.metrics.requests.labels(route_label(request.url.path), str(exc.status)).inc()
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own validation errors (a query parameter such as ``?sentences=maybe``) in the documented shape."""
    errors = getattr(exc, "errors", lambda: [])()
    parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5]]
    return await _refused(request, Refused(422, "; ".join(parts) or "invalid request"))


def create_api(pipe: Pipeline, queue: WorkQueue, *, environ: dict[str, str] | None = None,
               allowed_hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The FastAPI app with the REST routes (`router`); `server.create_server_app` mounts the demo on it.

    Args:
        pipe: The one pipeline (and model) of the process.
        queue: The queue shared with the demo.
        environ: Where ``SUMMARIZER_API_KEYS``, ``SUMMARIZER_AUTH`` and ``SUMMARIZER_CORS_ORIGINS`` (comma-separated
            origins allowed to call from a browser; none by default) are read (default ``os.environ``).
        allowed_hosts: Host names the server answers to (None: any); with API keys set, the ``/v1`` routes answer
            any name (they need a key), the demo and ``/health`` still only these.

    Raises:
        ConfigError: ``SUMMARIZER_API_KEYS`` is set but names no key.
    """
    env = dict(os.environ if environ is None else environ)
    keys = api_keys(env)
    locked = bool(env.get("SUMMARIZER_AUTH")) and not keys
    limits = pipe.config.limits
    metrics = Metrics(pipe, queue)
    app = FastAPI(title="summarizer", version="1", description=__doc__.split("\n\n")[0],
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.service = Service(pipe, queue, metrics, _Work(pipe, metrics, queue))
    app.state.metrics = metrics
    _serve_docs(app)
    app.include_router(router)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _invalid)
    origins = tuple(o.strip() for o in env.get("SUMMARIZER_CORS_ORIGINS", "").split(",") if o.strip())
    app.add_middleware(RequestGuard, keys=keys, locked=locked, per_minute=limits.api_requests_per_minute,
                       body_limits=body_limits(limits), default_body=demo_body_limit(limits),
                       streamed=(UPLOAD_PATH,), body_seconds=limits.body_seconds,
                       allowed_hosts=allowed_hosts, api_any_host=bool(keys), origins=origins,
                       methods={"/v1/articles": ("POST",), "/v1/articles:batch": ("POST",),
                                "/health": ("GET", "HEAD"), "/metrics": ("GET", "HEAD")},
                       on_refusal=lambda path, status: metrics.requests.labels(route_label(path), str(status)).inc())
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        # Outside the guard, so it answers the preflight itself. Opt-in only: the sites named may call the API from
        # a browser (with their key); no one else may.
        app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """Put the request body models into the OpenAPI components the routes refer to."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ArticleIn, BatchIn):
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
        return app.openapi_schema

    app.openapi = openapi


def _serve_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from files shipped in a PyPI package (swagger-ui-py; Swagger UI 5, which reads
    OpenAPI 3.1): FastAPI's default loads it from a CDN, which a server without internet access cannot use."""
    import swagger_ui
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = Path(swagger_ui.__file__).resolve().parent / "static"
    app.mount("/docs-static", StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="summarizer API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon-32x32.png")


