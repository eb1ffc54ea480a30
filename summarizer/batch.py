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
from collections import OrderedDict, deque
from typing import Any, Iterable, Iterator, Protocol

from .clean import Article
from .inputs import NoInputsError
from .pipeline import Pipeline
from .records import SKIP, ArticleResult, ErrorRecord, RecordDict, content_key, duplicate_record
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
    # An article whose cleaned title and body equal an earlier one's is not sent to the engine: its record copies
    # that one's (no model time), in its own place in input order. The records of the latest firsts are kept for
    # that (`_FIRSTS_KEPT`); an older one is read back from the results file being written, when there is one.
    firsts: dict[str, str] = {}  # content key -> the first article's id
    kept: OrderedDict[str, Record] = OrderedDict()  # first id -> its record, once written
    order: deque[tuple[str, Any]] = deque()  # ("engine", id) or ("copy", (article, first id | an earlier record))
    done: dict[str, Record] = {}  # records the engine gave back, until their turn
    queued: set[str] = set()

    def source_of(key: str) -> str | dict[str, Any] | None:
        first = firsts.get(key)
        if first is not None and (first in queued or first in kept):
            return first
        return admission.earlier(key)

    def distinct(stream: Iterable[Article | ErrorRecord]) -> Iterator[Article | ErrorRecord]:
        for rec in stream:
            if isinstance(rec, Article):
                key = content_key(rec.title, rec.paragraphs)
                first = source_of(key)
                if first is not None:
                    order.append(("copy", (rec, first)))
                    continue
                firsts[key] = rec.id
            order.append(("engine", str(rec.id)))
            queued.add(str(rec.id))
            yield rec

    def ready() -> Iterator[Record]:
        while order:
            kind, what = order[0]
            if kind == "engine":
                if what not in done:
                    return
                rec = done.pop(what)
                queued.discard(what)
                kept[what] = rec
                while len(kept) > _FIRSTS_KEPT:
                    kept.popitem(last=False)
            else:
                dup, first = what
                if isinstance(first, str):
                    if first not in kept:
                        return
                    first = kept[first]
                rec = duplicate_record(first, dup)
                admission.duplicates += 1
            order.popleft()
            yield _with_clean_time(rec, clean_seconds.pop(str(rec.id), None))

    stream = distinct(admitted(pipe, items, admission, clean_seconds))
    for rec in (engine or LocalEngine()).records(pipe, stream, batch_size=batch_size, max_chars=max_chars,
                                                 cancel=cancel):
        done[str(rec.id)] = rec
        yield from ready()
    yield from ready()


# Records of first articles kept in memory for the articles of the same content that follow them.
_FIRSTS_KEPT = 64


def _with_clean_time(rec: Record, seconds: float | None) -> Record:
    # Cleaning happens here, before the engine, so its time is added here to what the engine measured.
    if seconds is None or rec.error is not None:
        return rec
    timings = dict(rec.timings)
    timings["clean"] = seconds
    # To the cleaning time's own precision: a total rounded coarser could read below it (0.0 against 0.0001).
    timings["total"] = round(timings.get("total", 0.0) + seconds, 4)
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
    admit = Admission(sink.done, sink)
    bar = Progress(len(items)) if progress else None
    if bar is not None and isinstance(engine, LocalEngine):
        pipe.on_step = bar.inside  # Ray's actors run their own pipelines: their steps are not seen here
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
            pipe.on_step = None
    if admit.duplicates:
        say(f"{admit.duplicates} article(s) had the same content as an earlier one: their records copy its result "
            "(duplicate_of), at no model time")
    return failed + admit.failed_before


def say(line: str) -> None:
    """One line on stderr in one write: print() writes the text and its newline apart, and another thread's log
    (Ray Data's) landed between them, gluing its line onto ours."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Admission:
    """Decides, per cleaned input, whether to process it: ids already done are skipped (resume), a repeated id
    becomes a "duplicate id" error record with a ``dup-`` id stable across runs."""

    def __init__(self, done: dict[str, bool], sink: JsonlSink | None = None):
        """Args:
            done: ids already written, each with whether it succeeded (`JsonlSink.done`).
            sink: The results file being resumed, whose results an article of the same content copies.
        """
        self.done = done
        self.sink = sink
        self.seen: dict[str, str] = {}
        self.count: dict[str, int] = {}
        # Inputs skipped because done, and of those the ones that had failed.
        self.skipped = 0
        self.failed_before = 0
        # Articles whose content an earlier one had: their records copy its result.
        self.duplicates = 0

    def earlier(self, key: str) -> dict[str, Any] | None:
        """The record a resumed results file holds for this content (`records.content_key`), or None."""
        if self.sink is None or key not in self.sink.contents:
            return None
        return self.sink.read_at(self.sink.contents[key])

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
    """Progress of a batch job on stderr: a tqdm bar on a terminal, plain log lines otherwise. Inside the articles
    being processed it shows the step (`inside`: the Chinese summary, the parts translated, checks and retries) with
    the time left at the rate of the parts so far, and says again what runs when nothing was said for
    `QUIET_SECONDS`, so a long step is never silent."""

    QUIET_SECONDS = 12.0

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.perf_counter()
        self.bar = None
        self._lock = threading.Lock()
        self._step: tuple[str, int, int] | None = None
        self._step_since = self._said = time.perf_counter()
        self._parts_since: tuple[float, int] | None = None
        self._closed = threading.Event()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="article", file=sys.stderr)
        threading.Thread(target=self._beat, name="summarizer-progress", daemon=True).start()

    def inside(self, what: str, done: int, total: int) -> None:
        """The step running inside the current articles (`Pipeline.on_step`)."""
        now = time.perf_counter()
        with self._lock:
            if self._step is None or self._step[0] != what:
                self._step_since = now
            if what == "translating" and (self._parts_since is None or done < self._parts_since[1]):
                self._parts_since = (now, done)
            self._step = (what, done, total)
        self._show()

    def _line(self) -> str:
        what, done, total = self._step or ("cleaning", 0, 0)
        now = time.perf_counter()
        line = f"{what}"
        if total and what != "the Chinese summary":
            line += f" {done}/{total} parts"
            if what == "translating" and self._parts_since is not None and done > self._parts_since[1]:
                rate = (now - self._parts_since[0]) / (done - self._parts_since[1])
                line += f" · ETA {rate * (total - done):.0f}s"
        return line + f" · {now - self._step_since:.0f}s in this step"

    def _show(self) -> None:
        with self._lock:
            line = self._line()
            self._said = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix_str(line)
        else:
            say(f"[{min(self.n + 1, self.total)}/{self.total}] {line}")

    def _beat(self) -> None:
        while not self._closed.wait(2.0):
            if time.perf_counter() - self._said >= self.QUIET_SECONDS:
                self._show()

    def step(self, result) -> None:
        """One record written (an `ArticleResult`, an `ErrorRecord`, or anything with ``id`` and ``error``)."""
        self.n += 1
        with self._lock:
            self._step, self._parts_since, self._said = None, None, time.perf_counter()
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
        self._closed.set()
        if self.bar is not None:
            self.bar.close()


