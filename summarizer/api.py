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

import hmac
import json
import logging
import os
import re
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterator, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .checks import Glossary
from .clean import ArticleError
from .models import TimeBudgetExceeded
from .runtime import ModelCrashed, is_loaded
from .pipeline import ArticleResult, ErrorRecord, Pipeline, error_message
from .translate import TaskError

logger = logging.getLogger("summarizer")

__all__ = ["create_api", "WorkQueue", "QueueFull", "ArticleIn", "BatchIn", "ResultOut", "ErrorOut", "Health"]

MAX_GLOSSARY_TERMS = 500


# ---------------------------------------------------------------- schema

class ArticleIn(BaseModel):
    """One article to process: exactly one of `text`, `html`, `record`."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="Article text: crawler format, plain text or HTML (a title line first).")
    html: str | None = Field(None, description="An HTML page or fragment; <script>/<style> content is dropped.")
    record: dict[str, Any] | None = Field(None, description='A JSONL record: {"id","title","text"} or {"id","html"}.')
    tasks: list[Literal["summary", "translation"]] | None = Field(
        None, min_length=1, description="Which tasks to run (default: the server config's).")
    max_chars: int | None = Field(None, ge=10, le=2000, description="Summary length limit in characters.")
    glossary: dict[str, str] | None = Field(None, description="Required translations for this request, term -> English.")

    @model_validator(mode="after")
    def _one_input(self) -> ArticleIn:
        given = [k for k in ("text", "html", "record") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of "text", "html" or "record"')
        if self.glossary is not None and len(self.glossary) > MAX_GLOSSARY_TERMS:
            raise ValueError(f"at most {MAX_GLOSSARY_TERMS} glossary terms")
        return self


class BatchIn(BaseModel):
    """Several articles; the records stream back as NDJSON in input order."""

    model_config = ConfigDict(extra="forbid")

    articles: list[ArticleIn] = Field(..., min_length=1)


class ArticleOut(BaseModel):
    """Mirrors `summarizer.Article`."""

    id: str
    title: str
    paragraphs: list[str]
    image_count: int
    source: str | None
    encoding: str | None


class ResultOut(BaseModel):
    """Mirrors `summarizer.ArticleResult.to_dict()`."""

    id: str
    article: ArticleOut
    summary_zh: str
    title_en: str
    paragraphs_en: list[str]
    summary_en: str
    warnings: list[str]
    notes: list[str]
    timings: dict[str, float]
    model: dict[str, Any]
    config: str


class ErrorOut(BaseModel):
    """A refused request, or (with `id`) one article of a batch that failed."""

    error: str
    id: str | None = None
    source: str | None = None


class QueueOut(BaseModel):
    running: int
    waiting: int
    concurrency: int
    max_waiting: int


class Health(BaseModel):
    status: Literal["ok"]
    config: str
    tasks: list[str]
    model_loaded: bool
    queue: QueueOut


# ---------------------------------------------------------------- the shared queue

class QueueFull(RuntimeError):
    """No slot free and the waiting line is full."""


class WorkQueue:
    """The bounded queue in front of the one model of the process, shared by the demo and the API.

    At most `concurrency` jobs run; at most `max_waiting` wait. The API is refused (503) when the line is
    full; the demo's own Gradio queue waits in line here.
    """

    def __init__(self, concurrency: int = 1, max_waiting: int = 16):
        self.concurrency, self.max_waiting = max(1, concurrency), max(0, max_waiting)
        self.running = self.waiting = 0
        self._cond = threading.Condition()

    def slot(self, *, wait: bool = True) -> _Slot:
        """A context manager holding one slot; raises `QueueFull` at once when not `wait` and the line is full."""
        with self._cond:
            if not wait and self.running >= self.concurrency and self.waiting >= self.max_waiting:
                raise QueueFull(f"{self.running} running and {self.waiting} waiting")
            self.waiting += 1
            try:
                while self.running >= self.concurrency:
                    self._cond.wait()
            finally:
                self.waiting -= 1
            self.running += 1
        return _Slot(self)

    def _release(self) -> None:
        with self._cond:
            self.running -= 1
            self._cond.notify()

    def state(self) -> dict[str, int]:
        """Running and waiting jobs, and the limits."""
        with self._cond:
            return {"running": self.running, "waiting": self.waiting, "concurrency": self.concurrency,
                    "max_waiting": self.max_waiting}


class _Slot:
    def __init__(self, queue: WorkQueue):
        self._queue, self._held = queue, True

    def __enter__(self) -> _Slot:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._queue._release()


# ---------------------------------------------------------------- auth and rate limit

def api_keys(environ: dict[str, str] | None = None) -> list[str]:
    """Keys from ``SUMMARIZER_API_KEYS``: comma-separated, or a file with one key per line (``#`` comments)."""
    raw = (environ if environ is not None else os.environ).get("SUMMARIZER_API_KEYS", "").strip()
    if not raw:
        return []
    if "," not in raw and Path(raw).is_file():
        lines = Path(raw).read_text(encoding="utf-8").splitlines()
        return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return [k.strip() for k in raw.split(",") if k.strip()]


class RateLimiter:
    """At most `per_minute` requests per key in any 60 s window."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """0 when the request may go (and is counted), else the seconds until it may."""
        if self.per_minute <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            q = self._seen.setdefault(key, deque())
            while q and now - q[0] >= 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return int(60 - (now - q[0])) + 1
            q.append(now)
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v}
            return 0


# ---------------------------------------------------------------- metrics

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
            kind = type(exc).__name__ if exc is not None else rec.error.split(":", 1)[0]
            self.errors.labels(kind if re.fullmatch(r"[A-Z]\w{0,40}", kind) else "ArticleError").inc()
            return
        self.articles.labels("ok").inc()
        for stage, seconds in rec.timings.items():
            self.stage.labels(stage).observe(seconds)
        for note in rec.notes:
            m = re.match(r"retried (\d+) segment", note)
            if m:
                self.retries.inc(int(m.group(1)))


# ---------------------------------------------------------------- the app

class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _status_for(exc: BaseException) -> int:
    if isinstance(exc, ArticleError) and "over the limit" in exc.reason:
        return 413
    if isinstance(exc, (ArticleError, TaskError, ValueError)):
        return 422
    if isinstance(exc, TimeBudgetExceeded):
        return 504
    if isinstance(exc, ModelCrashed):
        # The worker restarts on the next request: the service is up, this request could not be served.
        return 503
    return 500


def create_api(pipe: Pipeline, queue: WorkQueue, *, environ: dict[str, str] | None = None):
    """The FastAPI app with the REST routes; the demo is mounted on it by `app.create_server_app`.

    Args:
        pipe: The one pipeline (and model) of the process.
        queue: The queue shared with the demo.
        environ: Where ``SUMMARIZER_API_KEYS`` / ``SUMMARIZER_AUTH`` are read (default ``os.environ``).
    """
    env = dict(os.environ if environ is None else environ)
    keys = api_keys(env)
    locked = bool(env.get("SUMMARIZER_AUTH")) and not keys
    limits = pipe.config.limits
    limiter = RateLimiter(limits.api_requests_per_minute)
    metrics = Metrics(pipe, queue)
    variants: dict[tuple, Pipeline] = {}
    variants_lock = threading.Lock()

    app = FastAPI(title="summarizer", version="1", description=__doc__.split("\n\n")[0],
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    _serve_docs(app)

    def refuse(route: str, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        metrics.requests.labels(route, str(status)).inc()
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return refuse(request.url.path, 422, "; ".join(parts) or "invalid request")

    @app.exception_handler(_Refused)
    async def _refused(request: Request, exc: _Refused) -> JSONResponse:
        return refuse(request.url.path, exc.status, exc.message, exc.headers)

    def check(request: Request) -> None:
        # Auth, then the rate limit, then the body size: each refusal is cheap and says what to do.
        who = request.client.host if request.client else "?"
        if keys or locked:
            given = request.headers.get("authorization", "")
            token = given[7:].strip() if given.lower().startswith("bearer ") else ""
            match = next((k for k in keys if token and hmac.compare_digest(token.encode(), k.encode())), None)
            if match is None:
                why = ("the demo is password-protected; set SUMMARIZER_API_KEYS to use the API" if locked
                       else "send Authorization: Bearer <key>")
                raise _Refused(401, f"authentication required: {why}", {"WWW-Authenticate": "Bearer"})
            who = "key:" + match
        wait = limiter.retry_after(who)
        if wait:
            raise _Refused(429, f"rate limit of {limiter.per_minute} requests a minute reached; retry in {wait} s",
                           {"Retry-After": str(wait)})
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > _body_limit(limits):
            raise _Refused(413, f"the request body is {int(size):,} bytes; the limit is {_body_limit(limits):,}")

    def pipeline_for(item: ArticleIn) -> Pipeline:
        tasks = tuple(t for t in ("summary", "translation") if t in (item.tasks or pipe.config.tasks))
        key = (tasks, json.dumps(item.glossary, sort_keys=True, ensure_ascii=False) if item.glossary else None)
        if key == (pipe.config.tasks, None):
            return pipe
        with variants_lock:
            if key not in variants:
                if len(variants) > 64:
                    variants.clear()
                glossary = Glossary(dict(item.glossary)) if item.glossary else None
                variants[key] = pipe.variant(tasks=tasks, glossary=glossary)
            return variants[key]

    def input_of(item: ArticleIn) -> Any:
        if item.record is not None:
            return item.record
        text = item.text if item.text is not None else item.html
        if len(text) > limits.max_request_chars:
            raise _Refused(413, f"the text is {len(text):,} characters; the limit is {limits.max_request_chars:,}")
        return {"html": text} if item.html is not None else text

    def run_one(item: ArticleIn) -> ArticleResult:
        target, source = pipeline_for(item), input_of(item)
        try:
            result = target.process(source, max_chars=item.max_chars)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a plain refusal, never a stack trace
            metrics.observe(ErrorRecord(id="", source=None, error=error_message(exc)), exc)
            if _status_for(exc) == 500:
                logger.exception("API article failed")
            raise _Refused(_status_for(exc), error_message(exc)) from None
        metrics.observe(result)
        return result

    def take_slot():
        try:
            return queue.slot(wait=False)
        except QueueFull:
            raise _Refused(503, "the server is busy (queue full); retry later", {"Retry-After": "30"}) from None

    responses = {401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut},
                 429: {"model": ErrorOut}, 503: {"model": ErrorOut}, 504: {"model": ErrorOut}}

    @app.post("/v1/articles", response_model=ResultOut, responses=responses, tags=["articles"],
              summary="Summarize and translate one article")
    def post_article(item: ArticleIn, request: Request) -> Any:
        check(request)
        with take_slot():
            result = run_one(item)
        metrics.requests.labels("/v1/articles", "200").inc()
        return result.to_dict()

    @app.post("/v1/articles:batch", responses={200: {"content": {"application/x-ndjson": {}},
                                                     "description": "One JSON record per line, in input order"},
                                                **responses},
              tags=["articles"], summary="Process several articles, streamed as NDJSON")
    def post_batch(batch: BatchIn, request: Request) -> StreamingResponse:
        check(request)
        if len(batch.articles) > limits.max_files:
            raise _Refused(413, f"{len(batch.articles)} articles; the limit is {limits.max_files} per request")
        slot = take_slot()
        metrics.requests.labels("/v1/articles:batch", "200").inc()

        def lines() -> Iterator[bytes]:
            try:
                for n, item in enumerate(batch.articles):
                    try:
                        rec: dict[str, Any] = run_one(item).to_dict()
                    except _Refused as exc:
                        rec = ErrorRecord(id=f"#{n}", source=None, error=exc.message).to_dict()
                    yield (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
            finally:
                slot.release()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/health", response_model=Health, tags=["service"], summary="Config, model state and queue")
    def health() -> Any:
        model = pipe.config.models.get(pipe.config.translate.model) or pipe.config.models.get(pipe.config.summarize.model)
        loaded = model is None or model.backend == "extractive" or is_loaded(model)
        return {"status": "ok", "config": pipe.config.name, "tasks": list(pipe.config.tasks), "model_loaded": loaded,
                "queue": queue.state()}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {}}}})
    def get_metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    return app


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


def _body_limit(limits) -> int:
    # Room for a batch of max_files texts of max_request_chars (3 bytes a character in UTF-8), plus JSON.
    return max(limits.max_bytes, limits.max_files * limits.max_request_chars * 3) + 65_536
