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
import re
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
from .clean import ArticleError, InputTooLarge
from .guard import RequestGuard, api_keys, bad_string
from .models import Cancelled, TimeBudgetExceeded
from .runtime import ModelCrashed, is_loaded, loading
from .schemas import ArticleIn, BatchIn, ErrorOut, Health, ResultOut
from .workqueue import QueueFull, WorkQueue
from .pipeline import ArticleResult, ErrorRecord, Pipeline, error_message, error_record, input_id
from .translate import TaskError

logger = logging.getLogger("summarizer")

__all__ = ["create_api", "router", "Metrics"]

# ---------------------------------------------------------------- metrics

# The routes counted under their own name; any other path is "other", so a client sending random paths cannot
# grow the metrics (31,586 random 8 KB paths once made /metrics 510 MB).
ROUTES = ("/v1/articles", "/v1/articles:batch", "/health", "/metrics")


def route_label(path: str) -> str:
    """The metrics label of a request path: one of `ROUTES`, or ``other``."""
    return path if path in ROUTES else "other"


class Metrics:
    """Prometheus metrics in a registry of their own (nothing global is touched at import)."""

    def __init__(self, pipe: Pipeline, queue: WorkQueue):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("summarizer_http_requests", "API requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.articles = Counter("summarizer_articles", "Articles processed, by outcome", ["outcome"],
                                registry=self.registry)
        self.errors = Counter("summarizer_errors", "Articles that failed, by kind", ["kind"], registry=self.registry)
        self.retries = Counter("summarizer_retried_segments", "Translation segments re-translated by repair",
                               registry=self.registry)
        self.stage = Histogram("summarizer_stage_seconds", "Seconds per stage of an article", ["stage"],
                               buckets=(0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800), registry=self.registry)
        Gauge("summarizer_model_calls", "Model requests made by this process", registry=self.registry) \
            .set_function(lambda: pipe.model_calls)
        Gauge("summarizer_queue_running", "Jobs running", registry=self.registry) \
            .set_function(lambda: queue.state()["running"])
        Gauge("summarizer_queue_waiting", "Jobs waiting for the model", registry=self.registry) \
            .set_function(lambda: queue.state()["waiting"])

    def observe(self, rec: ArticleResult | ErrorRecord, exc: BaseException | None = None) -> None:
        """Count one finished article."""
        if isinstance(rec, ErrorRecord):
            self.articles.labels("error").inc()
            self.errors.labels(type(exc).__name__ if exc is not None else rec.kind).inc()
            return
        self.articles.labels("ok").inc()
        for stage, seconds in rec.timings.items():
            self.stage.labels(stage).observe(seconds)
        self.retries.inc(rec.retried_segments)


# ---------------------------------------------------------------- the app

class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _status_for(exc: BaseException) -> int:
    if isinstance(exc, InputTooLarge):
        return 413
    if isinstance(exc, (ArticleError, TaskError, ValueError)):
        return 422
    if isinstance(exc, TimeBudgetExceeded):
        return 504
    if isinstance(exc, Cancelled):
        # Nginx's "client closed request": nobody reads it, the metrics tell it apart.
        return 499
    if isinstance(exc, ModelCrashed):
        # The worker restarts on the next request: the service is up, this request could not be served.
        return 503
    return 500


# Most characters of a request's glossary (terms and English together), and most pipeline variants (task sets and
# glossaries) kept: a client sending a new 7 MB glossary each time must not grow the server.
MAX_GLOSSARY_CHARS = 20_000
# Most JSON values (arrays, objects, list and object items) in one article object: a glossary of short terms at its
# character limit, and room for the rest.
MAX_VALUES = MAX_GLOSSARY_CHARS // 2 + 256
MAX_VARIANTS = 8
# Seconds a streamed batch may wait for the client to take the next record before the stream is dropped.
WRITE_SECONDS = 30.0


# JSON strings, whose brackets and commas are not the body's skeleton. A quote with no closing quote runs to the end, so every
# match succeeds where it starts and the pass is linear (an unclosed ``"\\"\\"…`` cannot make it rescan).
_JSON_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)', re.DOTALL)
# Bodies parsed at once: parsing makes ~10 bytes of objects a byte of JSON, so 16 bodies at the limit at once would
# otherwise cost gigabytes.
_PARSING = threading.BoundedSemaphore(2)


def _skeleton_values(body: bytes) -> int:
    """How many arrays, objects and list items the JSON body makes (its commas and brackets outside strings): a
    bound on the objects a parse would allocate, known before the parse. Counted without copying the body."""
    def marks(b: bytes) -> int:
        return b.count(b"[") + b.count(b"{") + b.count(b",")

    return marks(body) - sum(marks(m.group()) for m in _JSON_STRING.finditer(body))


def _parse_json(body: bytes, max_values: int | None = None) -> Any:
    """The request's JSON, or a plain 400 for bytes that are no JSON (invalid UTF-8, nesting too deep), and 422 for
    a body whose shape makes more than `max_values` values (``[],[],…``) before it is parsed."""
    if max_values is not None and _skeleton_values(body) > max_values:
        raise _Refused(422, f"the body holds more than {max_values:,} JSON values; an article request holds a few")
    try:
        with _PARSING:
            return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Refused(400, f"the body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise _Refused(400, "the JSON is nested too deeply") from None
    except ValueError as exc:
        raise _Refused(400, f"the body is not JSON: {exc}") from None


def _article_in(value: Any, where: str = "") -> ArticleIn:
    """Validate one article object: the schema, then every string it carries (no lone surrogate, no NUL)."""
    from pydantic import ValidationError

    try:
        item = ArticleIn.model_validate(value)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            loc = where + ".".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{loc.rstrip('.')}: {err.get('msg')}" if loc else str(err.get("msg")))
        raise _Refused(422, "; ".join(parts) or "invalid article") from None
    bad = bad_string(value, where.rstrip("."))
    if bad:
        raise _Refused(422, bad)
    if item.glossary and sum(len(k) + len(v) for k, v in item.glossary.items()) > MAX_GLOSSARY_CHARS:
        raise _Refused(413, f"the glossary is over {MAX_GLOSSARY_CHARS:,} characters")
    return item


def _string_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_string_chars(k) + _string_chars(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_string_chars(v) for v in value)
    return 0


class _Work:
    """The model work of the API: one pipeline variant per task set and glossary (bounded), cancellable."""

    def __init__(self, pipe: Pipeline, metrics: Metrics):
        self.pipe, self.metrics, self.limits = pipe, metrics, pipe.config.limits
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
        limit = self.limits.max_request_chars
        if item.record is not None:
            # A record is held to the text's limit, counted over every string it carries (a 30 MB title too).
            size = _string_chars(item.record)
            if size > limit:
                raise _Refused(413, f"the record carries {size:,} characters; the limit is {limit:,}")
            return item.record
        text = item.text if item.text is not None else item.html
        if len(text) > limit:
            raise _Refused(413, f"the text is {len(text):,} characters; the limit is {limit:,}")
        return {"html": text} if item.html is not None else text

    def run(self, item: ArticleIn, cancel: threading.Event) -> ArticleResult:
        target, source = self.pipeline_for(item), self.input_of(item)
        try:
            result = target.process(source, max_chars=item.max_chars, cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a plain refusal, never a stack trace
            self.metrics.observe(ErrorRecord(id="", source=None, error=error_message(exc)), exc)
            if _status_for(exc) == 500:
                logger.exception("API article failed")
            if isinstance(exc, Cancelled):
                raise
            raise _Refused(_status_for(exc), error_message(exc)) from None
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
                item = _article_in(raw, f"articles[{n}].")
                key: Any = (self.pipeline_for(item), item.max_chars)
                source: Any = self.input_of(item)
            except _Refused as exc:
                inner = raw.get("record") if isinstance(raw, dict) and isinstance(raw.get("record"), dict) else raw
                key, source = None, ErrorRecord(id=input_id(inner), source=None, error=exc.message,
                                                kind="InputTooLarge" if exc.status == 413 else "ArticleError")
            if groups and (key is None or groups[-1][0] == key):
                groups[-1][1].append(source)
            else:
                groups.append((key or (self.pipe, None), [source]))
        for (target, max_chars), sources in groups:
            sent = 0
            try:
                for rec in batch_process(target, sources, admission=admission,
                                         max_chars=max_chars, cancel=cancel):
                    self.metrics.observe(rec)
                    emit(rec)
                    sent += 1
            except Cancelled:
                return
            except ModelCrashed as exc:
                # The worker died on the articles in a row: each one left gets the crash as its record.
                for source in sources[sent:]:
                    rec = error_record(source, exc)
                    self.metrics.observe(rec, exc)
                    emit(rec)


class _BatchStream(Response):
    """NDJSON of a batch whose model work runs apart from the socket.

    The work runs in its own thread and puts each record in a buffer (at most ``limits.max_files`` records, each
    bounded), so a client that reads slowly or not at all never paces the model: the slot is freed when the work
    ends. A record the client does not take within `WRITE_SECONDS` drops the stream, and a client that leaves
    cancels the work before its next model request.
    """

    media_type = "application/x-ndjson"

    def __init__(self, produce: Callable[[Callable[[bytes], None], threading.Event], None], slot: Any):
        super().__init__(media_type=self.media_type)
        # Streamed: no Content-Length (Response would announce an empty body).
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.produce, self.slot = produce, slot
        self.cancel = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue = asyncio.Queue()

        def work() -> None:
            try:
                self.produce(lambda line: loop.call_soon_threadsafe(lines.put_nowait, line), self.cancel)
            except Exception:  # noqa: BLE001 - the stream must still end; records carry per-article errors
                logger.exception("API batch failed")
            finally:
                self.slot.release()
                loop.call_soon_threadsafe(lines.put_nowait, None)

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.cancel.set()

        worker = threading.Thread(target=work, name="summarizer-api-batch", daemon=True)
        try:
            worker.start()
        except BaseException:
            self.slot.release()
            raise
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait_for(send({"type": "http.response.start", "status": 200, "headers": self.raw_headers}),
                                   WRITE_SECONDS)
            while (line := await lines.get()) is not None:
                if self.cancel.is_set():
                    return
                await asyncio.wait_for(send({"type": "http.response.body", "body": line, "more_body": True}),
                                       WRITE_SECONDS)
            await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}),
                                   WRITE_SECONDS)
        except (asyncio.TimeoutError, OSError) as exc:
            logger.warning("dropped an NDJSON stream: the client did not read it (%s)", type(exc).__name__)
        finally:
            self.cancel.set()
            watcher.cancel()


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
        raise _Refused(503, "the server is busy (queue full); retry later", {"Retry-After": "30"}) from None


def process_one(svc: Service, raw: bytes, cancel: threading.Event) -> ArticleResult:
    """The single route's work, off the event loop: parse, check sizes, wait for a slot, process."""
    item = _article_in(_parse_json(raw, max_values=MAX_VALUES))
    svc.work.input_of(item)  # a too-large input is refused before it waits for the model
    try:
        with take_slot(svc, cancel, wait=False):
            return svc.work.run(item, cancel)
    except Cancelled:
        raise _Refused(499, "the client left") from None


def parse_batch(raw: bytes, max_files: int) -> list[Any]:
    """The batch body's article objects; a body of the wrong shape is refused whole."""
    body = _parse_json(raw, max_values=max_files * MAX_VALUES)
    if not isinstance(body, dict) or set(body) != {"articles"} or not isinstance(body["articles"], list):
        raise _Refused(422, 'the body must be {"articles": [...]}, a list of article objects')
    items = body["articles"]
    if not items:
        raise _Refused(422, "articles: the list is empty")
    if len(items) > max_files:
        raise _Refused(413, f"{len(items)} articles; the limit is {max_files} per request")
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            # The batch's shape is wrong, not one article: the whole request is refused.
            raise _Refused(422, f"articles[{n}] is a {type(item).__name__}, not an article object")
    return items


async def _off_loop(request: Request, cancel: threading.Event, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, never on the event loop (a wait for the model there would freeze every
    route); a client that leaves meanwhile sets `cancel`, which `fn` watches."""
    task = asyncio.ensure_future(run_in_threadpool(fn, *args))
    try:
        while not task.done():
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if not done and await request.is_disconnected():
                cancel.set()
        return task.result()
    except BaseException:
        cancel.set()
        # Nobody will use what the thread still returns (a slot taken as the request was cut short): free it.
        task.add_done_callback(_release_orphan)
        raise


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
    items = parse_batch(raw, svc.pipe.config.limits.max_files)
    try:
        return items, take_slot(svc, cancel, wait=False)
    except Cancelled:
        raise _Refused(499, "the client left") from None


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

        svc.work.run_batch(items, cancel, lambda rec: emit(line(rec)))

    svc.metrics.requests.labels("/v1/articles:batch", "200").inc()
    return _BatchStream(produce, slot)


@router.get("/health", response_model=Health, tags=["service"], summary="Config, model state and queue")
def health(svc: Service = Depends(service)) -> Any:
    """Answers at once, also while a model loads."""
    config = svc.pipe.config
    model = config.models.get(config.translate.model) or config.models.get(config.summarize.model)
    loaded = model is None or model.backend == "extractive" or is_loaded(model)
    state = "loaded" if loaded else "loading" if loading(model) else "not loaded"
    return {"status": "ok", "config": config.name, "tasks": list(config.tasks), "model_loaded": loaded,
            "model": state, "queue": svc.queue.state()}


@router.get("/metrics", tags=["service"], summary="Prometheus metrics", responses={200: {"content": {"text/plain": {}}}})
def get_metrics(svc: Service = Depends(service)) -> Response:
    """Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _refused(request: Request, exc: _Refused) -> JSONResponse:
    request.app.state.service.metrics.requests.labels(route_label(request.url.path), str(exc.status)).inc()
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own validation errors (a query parameter such as ``?sentences=maybe``) in the documented shape."""
    errors = getattr(exc, "errors", lambda: [])()
    parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5]]
    return await _refused(request, _Refused(422, "; ".join(parts) or "invalid request"))


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
    app.state.service = Service(pipe, queue, metrics, _Work(pipe, metrics))
    app.state.metrics = metrics
    _serve_docs(app)
    app.include_router(router)
    app.add_exception_handler(_Refused, _refused)
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


# The demo's upload route: its files stream to disk, so its body is counted as it arrives, not held.
UPLOAD_PATH = "/gradio_api/upload"
# Bytes of JSON around the text: keys, options, a client's whitespace.
_JSON_ROOM = 65_536
# A character may arrive as six bytes (``\\u5317``: Python's json.dumps and requests escape every non-ASCII one).
_ESCAPED = 6


def body_limits(limits) -> dict[str, int]:
    """The most body bytes of each route with a body: one article (its text and glossary, escaped), a batch of
    ``max_files`` texts (3 bytes a character: a batch client sends UTF-8), and the demo's upload of
    ``max_files`` files."""
    one = (limits.max_request_chars + MAX_GLOSSARY_CHARS) * _ESCAPED + _JSON_ROOM
    batch = max(limits.max_bytes, limits.max_files * limits.max_request_chars * 3) + _JSON_ROOM
    upload = int(limits.max_files * limits.max_upload_mb * 1024 * 1024) + _JSON_ROOM
    return {"/v1/articles": one, "/v1/articles:batch": batch, UPLOAD_PATH: upload}


def demo_body_limit(limits) -> int:
    """The most body bytes of the demo's other routes (a pasted text of ``max_request_chars``, file references)."""
    return limits.max_request_chars * _ESCAPED + _JSON_ROOM
