"""Prometheus metrics of the server, in a registry of their own, with labels bounded whatever clients send."""

from __future__ import annotations

from .pipeline import Pipeline
from .records import ArticleResult, ErrorRecord
from .workqueue import WorkQueue

__all__ = ["Metrics", "ROUTES", "route_label"]

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
        Gauge("summarizer_model_output_tokens", "Tokens the model generated in this process", registry=self.registry) \
            .set_function(lambda: pipe.model_usage().output_tokens)
        # Every level counts the requests it dropped: the pipeline those never handed on, the pool those still
        # waiting for a call, the backend those waiting in, being read by or decoding in a running call.
        Gauge("summarizer_model_cancelled_requests", "Model requests a cancel ended early or kept from being sent "
              "(Stop, a client that left)", registry=self.registry).set_function(
            lambda: pipe.model_usage().cancelled + pipe.cancelled_requests)
        Gauge("summarizer_model_shared_steps", "Decode steps of the model loop that decoded more than one request at once",
              registry=self.registry).set_function(lambda: pipe.model_usage().shared_steps)
        memory = pipe.memory
        Gauge("summarizer_memory_hits", "Model requests answered from the answer memory (this process)",
              registry=self.registry).set_function(lambda: memory.hits if memory is not None else 0)
        Gauge("summarizer_memory_misses", "Model requests the answer memory did not hold, asked of the model",
              registry=self.registry).set_function(lambda: memory.misses if memory is not None else 0)
        Gauge("summarizer_cancelled_jobs", "API requests and demo jobs a cancel ended (a client that left, Stop, a "
              "server that stops), in line or at work", registry=self.registry).set_function(lambda: queue.cancelled)
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
