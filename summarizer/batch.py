"""The batch core every interface calls (the CLI on either engine, the demo's uploads, the API's batch route): the
resume and duplicate filter on cleaned inputs, the model's warm-up, one batch size (``limits.batch_size``), error
records, failure counting, stderr lines and progress, and the sink. An engine only runs the model part on inputs the
core admitted: `LocalEngine` here, `ray_engine.RayEngine` on Ray Data, whose actors call `process_shard`."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import sys
import threading
import time
from typing import Any, Iterable, Iterator, Protocol

from .clean import Article
from .inputs import NoInputsError
from .pipeline import Pipeline
from .records import SKIP, ArticleResult, ErrorRecord, RecordDict
from .sink import JsonlSink
from .text import printable

logger = logging.getLogger("summarizer")

__all__ = ["Engine", "LocalEngine", "run_job", "process", "process_shard", "admitted", "Admission", "Progress"]

Record = ArticleResult | ErrorRecord | RecordDict


class Engine(Protocol):
    """Where the model part of a batch job runs."""

    def warm_up(self, pipe: Pipeline) -> None:
        """Load the models, or raise the error that ends the job (`ModelLoadError`, `EmbeddedModelError`)."""

    def records(self, pipe: Pipeline, items: Iterable[Article | ErrorRecord], *, batch_size: int | None,
                max_chars: int | None, cancel: threading.Event | None) -> Iterator[Record]:
        """A record for each admitted input (error records passed through), through `process_shard`."""


def process_shard(pipe: Pipeline, items: Iterable[Article | ErrorRecord], *, batch_size: int | None = None,
                  max_chars: int | None = None, cancel: threading.Event | None = None) -> Iterator[Record]:
    """The model part of the batch core for admitted inputs (cleaned `Article`s and ready `ErrorRecord`s): articles
    translated ``batch_size`` at a time, a failure becoming that article's error record. Every engine runs this: the
    local one in this process, Ray's actors on theirs."""
    yield from pipe.process_many(items, batch_size=batch_size or pipe.config.limits.batch_size, max_chars=max_chars,
                                 cancel=cancel)


class LocalEngine:
    """The model part in this process (the CLI's default, the API and the demo)."""

    def warm_up(self, pipe: Pipeline) -> None:
        """Load the models now, so one that cannot load ends the job with its message, not one record per article."""
        pipe.warm_up()

    def records(self, pipe: Pipeline, items: Iterable[Article | ErrorRecord], *, batch_size: int | None = None,
                max_chars: int | None = None, cancel: threading.Event | None = None) -> Iterator[Record]:
        """`process_shard` over the whole stream."""
        return process_shard(pipe, items, batch_size=batch_size, max_chars=max_chars, cancel=cancel)


def admitted(pipe: Pipeline, items: Iterable[Any], admission: Admission,
             clean_seconds: dict[str, float] | None = None) -> Iterator[Article | ErrorRecord]:
    """Each input cleaned (a failure is its `ErrorRecord`), then through the resume and duplicate filter.

    Args:
        pipe: Its limits bound the cleaning.
        items: Paths, text, records or ready `ErrorRecord`s (as `inputs.discover_inputs` yields them).
        admission: The filter; an input it skips gets no record.
        clean_seconds: Filled with each article's cleaning time by id.
    """
    for item in items:
        t0 = time.perf_counter()
        rec = pipe.article_or_error(item)
        verdict = admission(rec)
        if verdict is SKIP:
            continue
        if isinstance(verdict, ErrorRecord):
            rec = verdict
        if clean_seconds is not None and isinstance(rec, Article):
            clean_seconds[rec.id] = round(time.perf_counter() - t0, 4)
        yield rec


def process(pipe: Pipeline, items: Iterable[Any], *, admission: Admission | None = None, batch_size: int | None = None,
            max_chars: int | None = None, cancel: threading.Event | None = None,
            engine: Engine | None = None) -> Iterator[Record]:
    """The batch core: inputs -> cleaning -> resume and duplicate filter -> the engine's `process_shard` (articles
    translated together) -> records. The CLI, the demo's uploads and the API's batch route all go through it, so an
    input gets the same record, and a failure the same error id, everywhere.

    Args:
        pipe: The configured pipeline.
        items: Paths, text, records or ready `ErrorRecord`s.
        admission: The resume/duplicate filter; a fresh one (nothing done yet) when None. Share one across calls
            to find duplicates across them.
        batch_size: Articles translated together (default ``limits.batch_size``).
        max_chars: Summary length limit (default from the config).
        cancel: A `threading.Event`; when set the work stops before its next model request (`Cancelled`).
        engine: Where the model part runs (default `LocalEngine`; local records come in input order).
    """
    admission = admission if admission is not None else Admission({})
    clean_seconds: dict[str, float] = {}
    stream = admitted(pipe, items, admission, clean_seconds)
    for rec in (engine or LocalEngine()).records(pipe, stream, batch_size=batch_size, max_chars=max_chars,
                                                 cancel=cancel):
        yield _with_clean_time(rec, clean_seconds.pop(str(rec.id), None))


def _with_clean_time(rec: Record, seconds: float | None) -> Record:
    # Cleaning happens here, before the engine, so its time is added here to what the engine measured.
    if seconds is None or rec.error is not None:
        return rec
    timings = dict(rec.timings)
    timings["clean"] = seconds
    timings["total"] = round(timings.get("total", 0.0) + seconds, 3)
    if isinstance(rec, RecordDict):
        return RecordDict({**rec.to_dict(), "timings": timings})
    return dataclasses.replace(rec, timings=timings)


def run_job(pipe: Pipeline, items: Iterable[Any], sink: JsonlSink, *, engine: Engine | None = None,
            limit: int | None = None, batch_size: int | None = None, progress: bool = True) -> int:
    """The batch job: inputs -> `process` on an engine -> `sink`, with an error line on stderr per failed input.

    Args:
        pipe: The configured pipeline.
        items: Inputs as yielded by `inputs.discover_inputs`.
        sink: The JSONL output; ids already in it are skipped (a previous error counts as failed).
        engine: Where the model part runs (default `LocalEngine`).
        limit: Take at most this many inputs.
        batch_size: Articles translated together (default ``limits.batch_size``).
        progress: Show a progress bar (terminal) or progress lines on stderr.

    Returns:
        The number of failed articles (error records written now or found from an earlier run).

    Raises:
        NoInputsError: No input at all.
        ModelLoadError: The model cannot be loaded.
        ModelCrashed: The model worker crashed `runtime.CRASHES_TO_STOP` times in a row.
    """
    items = list(itertools.islice(items, limit) if limit is not None else items)
    if not items:
        raise NoInputsError("no inputs found (no *.txt, *.html or *.jsonl files, records or text)")
    engine = engine or LocalEngine()
    engine.warm_up(pipe)
    failed = 0
    admit = Admission(sink.done)
    bar = Progress(len(items)) if progress else None
    try:
        for result in process(pipe, items, admission=admit, batch_size=batch_size, engine=engine):
            sink.write(result)
            if result.error is not None:
                failed += 1
                say(f"error: {printable(str(result.source or result.id))}: {printable(result.error)}")
            if bar is not None:
                bar.total = len(items) - admit.skipped
                bar.step(result)
    finally:
        if bar is not None:
            bar.close()
    return failed + admit.failed_before


def say(line: str) -> None:
    """One line on stderr in one write: print() writes the text and its newline apart, and another thread's log
    (Ray Data's) landed between them, gluing its line onto ours."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Admission:
    """Decides, per cleaned input, whether to process it: ids already done are skipped (resume), a repeated id
    becomes a "duplicate id" error record with a ``dup-`` id stable across runs."""

    def __init__(self, done: dict[str, bool]):
        """Args: done: ids already written, each with whether it succeeded (`JsonlSink.done`)."""
        self.done = done
        self.seen: dict[str, str] = {}
        self.count: dict[str, int] = {}
        # Inputs skipped because done, and of those the ones that had failed.
        self.skipped = 0
        self.failed_before = 0

    def __call__(self, rec: Article | ErrorRecord):
        return self.check(rec.id, rec.source, isinstance(rec, Article))

    def check(self, rid: str, source: str | None, is_article: bool = True):
        """None to go on, `SKIP` to drop the input (done before), or the `ErrorRecord` of a duplicate id."""
        if rid in self.seen and is_article:
            n = self.count[rid] = self.count.get(rid, 0) + 1
            dup_id = "dup-" + hashlib.sha256(f"{rid}\0{source}\0{n}".encode("utf-8", "replace")).hexdigest()[:12]
            if dup_id in self.done:
                return self._skip(dup_id)
            return ErrorRecord(id=dup_id, source=source,
                               error=f"duplicate id {rid!r}: {self.seen[rid]} already has it")
        if rid in self.done:
            self.seen.setdefault(rid, "an earlier record")
            return self._skip(rid)
        self.seen[rid] = source or "an earlier record"
        return None

    def _skip(self, rid: str):
        self.skipped += 1
        if not self.done[rid]:
            self.failed_before += 1
        return SKIP


class Progress:
    """Progress of a batch job on stderr: a tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="article", file=sys.stderr)

    def step(self, result) -> None:
        """One record written (an `ArticleResult`, an `ErrorRecord`, or anything with ``id`` and ``error``)."""
        self.n += 1
        elapsed = time.perf_counter() - self.t0
        rate = self.n / elapsed * 60 if elapsed else 0.0
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.set_postfix_str(f"{rate:.1f} articles/min")
            self.bar.update(1)
        else:
            eta = (self.total - self.n) / (self.n / elapsed) if self.n and elapsed else 0.0
            status = "error" if isinstance(result, ErrorRecord) or getattr(result, "error", None) else "ok"
            say(f"[{self.n}/{self.total}] {printable(str(result.id))} {status} · {rate:.1f} articles/min · "
                f"ETA {eta:.0f}s")

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()


