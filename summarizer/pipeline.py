"""The one `Pipeline` every interface (CLI, web demo, Python, Ray) calls: clean -> summarize -> translate."""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

from .clean import Article, InputTooLarge, article_from_record, clean_article
from .config import Config, load_config
from .calls import BudgetedGenerator
from .memory import AnswerMemory, open_memory
from .models import Cancelled, Generator, ModelInfo, Usage
from .runtime import CRASHES_TO_STOP, ModelCrashed, get_generator, is_loaded
from .checks import Glossary, load_glossary
from .config import SummarizeConfig
from .summarize import SummaryOutcome, check_max_chars, summarize
from .text import not_chinese
from .translate import Translation, translate_many
from .flags import Finding
from .repair import Passage
from .records import ArticleResult, ErrorRecord, error_record, input_source, log_failure

logger = logging.getLogger("summarizer")

__all__ = ["Pipeline", "load_pipeline"]

Item = Union[Article, str, bytes, os.PathLike, dict]


class Pipeline:
    """Clean, summarize and translate articles with the models a `Config` names.

    Models load lazily on first use and are shared across pipelines in the process.
    """

    def __init__(self, config: Config, glossary: Glossary | None = None,
                 generators: Mapping[str, Generator] | None = None):
        """A pipeline over `config`'s models.

        Args:
            config: The configuration (`load_config`).
            glossary: Required translations; replaces the config's ``translate.glossary``.
            generators: Generators to use instead of loading the config's models, by model key (``"llm"``): an
                application that holds its own model, or a test's tiny one.
        """
        self.config = config
        self._given: dict[str, Generator] = dict(generators or {})
        # Told what runs inside an article as it goes, ``on_step(what, done, total)`` (the CLI's progress line).
        self.on_step: Callable[[str, int, int], None] | None = None
        # Model requests made by this pipeline and its variants, and those a cancel kept from being sent (metrics).
        self.model_calls = 0
        self.cancelled_requests = 0
        self._calls_lock = threading.Lock()
        self._parent: Pipeline | None = None
        self._glossary: Glossary | None = glossary
        if glossary is None and config.translate.glossary:
            path = Path(config.translate.glossary)
            if not path.is_absolute() and not path.exists() and config.source:
                path = Path(config.source).parent / path
            self._glossary = load_glossary(path)

    def _generator(self, key: str) -> Generator | None:
        if key == "extractive":
            return None
        if key in self._given:
            return self._given[key]
        model_cfg = self.config.models[key]
        if model_cfg.backend == "extractive":
            return None
        return get_generator(model_cfg)

    def variant(self, *, tasks: Sequence[str] | None = None, glossary: Glossary | None = None) -> Pipeline:
        """The same pipeline (same models, shared) with other tasks and/or a glossary that replaces the config's."""
        cfg = self.config if tasks is None else dataclasses.replace(self.config, tasks=tuple(tasks))
        other = Pipeline(cfg, glossary=glossary, generators=self._given)
        other._parent = self
        return other

    def _count_calls(self, n: int) -> None:
        with self._calls_lock:
            self.model_calls += n
        if self._parent is not None:
            self._parent._count_calls(n)

    def _count_cancelled(self, n: int) -> None:
        with self._calls_lock:
            self.cancelled_requests += n
        if self._parent is not None:
            self._parent._count_cancelled(n)

    def model_usage(self) -> Usage:
        """What the models this pipeline uses have spent so far in this process (zeros before they load)."""
        total = Usage()
        seen: set[int] = set()
        for key in {self.config.summarize.model, self.config.translate.model}:
            cfg = self.config.models.get(key)
            if key in self._given:
                gen: Generator | None = self._given[key]
            elif cfg is None or cfg.backend == "extractive" or not is_loaded(cfg):
                continue
            else:
                gen = get_generator(cfg)
            if gen is None or id(gen) in seen:
                continue
            seen.add(id(gen))
            used = gen.usage_now()
            for f in dataclasses.fields(Usage):
                setattr(total, f.name, getattr(total, f.name) + getattr(used, f.name))
        return total

    def warm_up(self) -> None:
        """Load the models now instead of on the first article."""
        for task, key in (("summary", self.config.summarize.model), ("translation", self.config.translate.model)):
            if task in self.config.tasks:
                self._generator(key)

    def article(self, item: Item, *, id: str | None = None, title: str | None = None) -> Article:
        """Clean one input into an `Article`.

        A ``str`` is always article text; a file is read only when given as a `pathlib.Path` (or other
        PathLike). Bytes are file content; a dict is a JSONL record; an `Article` is returned as is.
        `title`, when given, is used instead of the first line (``""``: the text has no title line).

        Raises:
            ArticleError: The input is not a usable article.
        """
        limits = self.config.limits
        limit, seconds = limits.max_bytes, limits.clean_seconds or None
        if isinstance(item, Article):
            article = item
        elif isinstance(item, dict):
            article = article_from_record(item, source=input_source(item), id=id, max_bytes=limit, seconds=seconds)
        else:
            article = clean_article(item, id=id, title=title, max_bytes=limit, seconds=seconds)
        if len(article.paragraphs) > limits.max_paragraphs > 0:
            # Each paragraph is translated on its own: thousands of tiny ones would buy hundreds of model calls.
            raise InputTooLarge(f"the article has {len(article.paragraphs):,} paragraphs; the limit is "
                                f"{limits.max_paragraphs:,} (limits.max_paragraphs)", article.source)
        return article

    def article_or_error(self, item: Item | ErrorRecord) -> Article | ErrorRecord:
        """`article`, with any failure (logged) as the input's `ErrorRecord`; an `ErrorRecord` passes through."""
        if isinstance(item, ErrorRecord):
            return item
        try:
            return self.article(item)
        except Exception as exc:  # noqa: BLE001 - any failure of one input is that input's record
            log_failure(item, exc)
            return error_record(item, exc)

    def process(self, item: Item, *, id: str | None = None, max_chars: int | None = None,
                cancel: threading.Event | None = None) -> ArticleResult:
        """Process one article.

        Args:
            item: Article text (a ``str`` is never read as a path), a `pathlib.Path` to a file, bytes,
                a JSONL record dict, or an `Article`.
            id: Article id to use (default: from the record or a content hash).
            max_chars: Summary length limit (default from config).
            cancel: Set by the caller to stop the work before its next model request (a client that left).

        Returns:
            The `ArticleResult`.

        Raises:
            ArticleError: The input is not a usable article.
            TimeBudgetExceeded: Model work took longer than ``limits.article_seconds``.
            Cancelled: `cancel` was set.
        """
        t0 = time.perf_counter()
        article = self.article(item, id=id)
        clean_s = time.perf_counter() - t0
        return self._run([article], [clean_s], self._summary_config(max_chars),
                         cancelled=cancel.is_set if cancel is not None else None)[0]

    def process_file(self, path: str | os.PathLike, *, max_chars: int | None = None) -> ArticleResult:
        """Process the file at `path` (a str here is a path: the explicit entry point for file names)."""
        return self.process(Path(path), max_chars=max_chars)

    def process_many(
        self,
        items: Iterable[Item | ErrorRecord],
        *,
        batch_size: int | None = None,
        max_chars: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ArticleResult | ErrorRecord]:
        """Process many inputs, batching translation across articles; yields in input order.

        Any exception while one input is cleaned or processed becomes that input's `ErrorRecord`
        (the exception class and message; the traceback goes to the log at INFO), so a bad input never
        takes a sibling down. A batch that fails is retried article by article, so a model worker crash
        (`ModelCrashed`) costs one article; `runtime.CRASHES_TO_STOP` crashes in a row raise it instead.

        Args:
            items: Inputs as for `process`, or ready `ErrorRecord`s to pass through.
            batch_size: Articles translated together (default ``limits.batch_size``).
            max_chars: Summary length limit (default from config).
            cancel: When set, the work stops before its next model request and `Cancelled` is raised (a client
                that left); the articles not yet done get no record.
        """
        batch_size = batch_size or self.config.limits.batch_size
        batch: list[Article] = []
        cancelled = cancel.is_set if cancel is not None else None
        clean_times: list[float] = []
        summary_cfg = self._summary_config(max_chars)
        for item in items:
            t0 = time.perf_counter()
            rec = self.article_or_error(item)
            if isinstance(rec, ErrorRecord):
                if batch:
                    yield from self._run_safely(batch, clean_times, summary_cfg, cancelled)
                    batch, clean_times = [], []
                yield rec
                continue
            batch.append(rec)
            clean_times.append(time.perf_counter() - t0)
            if len(batch) >= batch_size:
                yield from self._run_safely(batch, clean_times, summary_cfg, cancelled)
                batch, clean_times = [], []
        if batch:
            yield from self._run_safely(batch, clean_times, summary_cfg, cancelled)

    def _run_safely(self, batch, clean_times, summary_cfg, cancelled=None):
        if cancelled is not None and cancelled():
            raise Cancelled("the job was cancelled")
        try:
            yield from self._run(batch, clean_times, summary_cfg, cancelled=cancelled)
        except Exception as exc:  # noqa: BLE001 - one failing batch must not end the run
            if isinstance(exc, Cancelled) or (isinstance(exc, ModelCrashed) and exc.in_a_row >= CRASHES_TO_STOP):
                # Nobody wants the rest; or the worker dies on whatever it is given: stop, leave it for --resume.
                raise
            if len(batch) == 1:
                log_failure(batch[0], exc)
                yield error_record(batch[0], exc)
                return
            for article, ct in zip(batch, clean_times):
                yield from self._run_safely([article], [ct], summary_cfg, cancelled)

    def _summary_config(self, max_chars: int | None) -> SummarizeConfig:
        # The per-call length limit becomes part of the summary config once, here, instead of riding along.
        cfg = self.config.summarize
        max_chars = check_max_chars(max_chars)
        return cfg if max_chars is None else dataclasses.replace(cfg, max_chars=max_chars)

    def summarize_text(self, item: Item, *, max_chars: int | None = None) -> SummaryOutcome:
        """The Chinese summary alone, exactly as `process` makes it (eval scores this).

        Args:
            item: Anything `article` accepts (text, a Path, a record, an `Article`).
            max_chars: Summary length limit (default from config).
        """
        article = self.article(item)
        return summarize(article, self._generator(self.config.summarize.model), self._summary_config(max_chars))

    def translate_segments(self, texts: Sequence[str]) -> list[Translation]:
        """English for each text, translated as one paragraph with the article machinery (hints, checks, repair).

        The texts are batched together as `process_many` batches articles; eval scores this, so a report
        measures what users get. ``result.paragraphs_en[0]`` is the English of a text.

        Raises:
            TaskError: This config has no translation model.
        """
        articles = [Article(id=str(i), title="", paragraphs=(t,)) for i, t in enumerate(texts)]
        return translate_many(articles, [""] * len(articles), self._generator(self.config.translate.model),
                              self.config.translate, self._glossary)

    def process_stream(self, item: Item, *, max_chars: int | None = None,
                       cancel: threading.Event | None = None) -> Iterator[ArticleResult]:
        """Process one article, yielding partial results as they come, then the full one.

        The first result holds the cleaned article, the next adds the Chinese summary, then the English title,
        each English paragraph in turn and the English summary; the last is what `process` returns. Closing
        the iterator early, or setting `cancel`, stops the work before its next model request (a Stop button).

        Raises:
            ArticleError: The input is not a usable article.
            TimeBudgetExceeded: Model work took longer than ``limits.article_seconds``.
        """
        t0 = time.perf_counter()
        article = self.article(item)
        clean_s = time.perf_counter() - t0
        partial = ArticleResult(article=article, paragraphs_en=("",) * len(article.paragraphs), config=self.config.name)
        yield partial
        events: queue.Queue = queue.Queue()
        # Closing this iterator stops its own worker only; `cancel` may be shared by a caller's other jobs.
        closed = threading.Event()
        stop = (lambda: closed.is_set() or cancel.is_set()) if cancel is not None else closed.is_set

        def work() -> None:
            try:
                done = self._run([article], [clean_s], self._summary_config(max_chars), cancelled=stop,
                                 on_summary=lambda text: events.put(("summary_zh", text)),
                                 on_part=lambda _i, slot, index, english, pairs: events.put((slot, index, english,
                                                                                            pairs)),
                                 on_step=lambda what, done, total: events.put(("step", what, done, total)))
                events.put(("done", done[0]))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
                events.put(("error", exc))

        worker = threading.Thread(target=work, name=f"summarizer-{article.id}", daemon=True)
        worker.start()
        try:
            while True:
                kind, *rest = events.get()
                if kind == "done":
                    yield rest[0]
                    return
                if kind == "error":
                    raise rest[0]
                if kind == "summary_zh":
                    partial = dataclasses.replace(partial, summary_zh=rest[0])
                    yield partial
                    continue
                if kind == "step":
                    partial = dataclasses.replace(partial, step=tuple(rest))
                    yield partial
                    continue
                # Sentence pairs appear as their title, paragraph or summary is done.
                partial = dataclasses.replace(partial, sentences=(*partial.sentences, Passage(kind, rest[0],
                                                                                              tuple(rest[2]))))
                if kind == "title":
                    partial = dataclasses.replace(partial, title_en=rest[1])
                elif kind == "summary":
                    partial = dataclasses.replace(partial, summary_en=rest[1])
                else:
                    paras = list(partial.paragraphs_en)
                    paras[rest[0]] = rest[1]
                    partial = dataclasses.replace(partial, paragraphs_en=tuple(paras))
                yield partial
        finally:
            closed.set()

    def _run(self, articles: list[Article], clean_times: list[float], summary_cfg: SummarizeConfig, *,
             cancelled: Callable[[], bool] | None = None, on_summary: Callable[[str], None] | None = None,
             on_part: Callable[..., None] | None = None,
             on_step: Callable[[str, int, int], None] | None = None) -> list[ArticleResult]:
        cfg = self.config
        on_step = on_step or self.on_step
        summaries = [""] * len(articles)
        findings: list[list[Finding]] = [[] for _ in articles]
        notes = [[] for _ in articles]
        fallback = [False] * len(articles)
        timings = [{"clean": round(c, 4)} for c in clean_times]
        for i, article in enumerate(articles):
            why = not_chinese(article.title + "\n" + article.text)
            if why:
                findings[i].append(Finding("not_chinese", why))
        model_info: dict[str, Any] = {}
        budget = cfg.limits.article_seconds * len(articles)
        deadline = time.monotonic() + budget
        def write_summaries(gen: Generator | None) -> list[str]:
            for i, (out, seconds) in enumerate(_summaries(articles, gen, summary_cfg)):
                summaries[i] = out.text
                if on_summary is not None:
                    on_summary(out.text)
                findings[i] += out.findings
                notes[i] += out.notes
                fallback[i] = out.fallback
                timings[i]["summary"] = round(seconds, 3)
            return summaries

        later = None
        if "summary" in cfg.tasks:
            if on_step is not None:
                on_step("the Chinese summary", 0, 1)
            gen = self._budgeted(self._generator(cfg.summarize.model), budget, deadline, cancelled)
            model_info["summary"] = _info(gen)
            if gen is not None and "translation" in cfg.tasks:
                # The title and paragraphs need no summary: they go to the model while it is written.
                writer = ThreadPoolExecutor(1, thread_name_prefix="summarizer-summaries")
                later = writer.submit(write_summaries, gen)
                writer.shutdown(wait=False)  # its thread ends with the summaries
            else:
                write_summaries(gen)
        translations = None
        try:
            if "translation" in cfg.tasks:
                gen = self._budgeted(self._generator(cfg.translate.model), budget, deadline, cancelled)
                model_info["translation"] = _info(gen)
                t0 = time.perf_counter()
                translations = translate_many(articles, later.result if later is not None else summaries, gen,
                                              cfg.translate, self._glossary, on_part=on_part, on_step=on_step)
                per = (time.perf_counter() - t0) / len(articles)
                for i in range(len(articles)):
                    timings[i]["translation"] = round(per, 3)
        finally:
            if later is not None:
                later.exception()  # the summaries' work ends before the batch's does, whatever happened
        results = []
        for i, article in enumerate(articles):
            tr = translations[i] if translations else None
            timings[i]["total"] = round(sum(timings[i].values()), 3)
            results.append(ArticleResult(
                article=article,
                summary_zh=summaries[i],
                title_en=tr.title_en if tr else "",
                paragraphs_en=tuple(tr.paragraphs_en) if tr else (),
                summary_en=tr.summary_en if tr else "",
                findings=tuple(findings[i] + (tr.findings if tr else [])),
                notes=tuple(notes[i] + (tr.notes if tr else [])),
                summary_fallback=fallback[i],
                retried_segments=tr.retried if tr else 0,
                sentences=tuple(tr.sentences) if tr else (),
                terms=tuple(tr.terms) if tr else (),
                timings=timings[i],
                model=model_info,
                config=cfg.name,
            ))
        return results

    def _budgeted(self, gen: Generator | None, seconds: float, deadline: float,
                  cancelled: Callable[[], bool] | None = None) -> Generator | None:
        # One deadline for the summary and the translation of the batch; every call is counted.
        if gen is None:
            return gen
        return BudgetedGenerator(gen, seconds, deadline, on_requests=self._count_calls,
                                 cancelled=cancelled, on_cancelled=self._count_cancelled, memory=self.memory)

    @property
    def memory(self) -> AnswerMemory | None:
        """The answer memory this pipeline uses (None when ``memory.enabled`` is off), opened on first use."""
        cfg = self.config.memory
        return open_memory(cfg.path, cfg.max_mb) if cfg.enabled else None


def _summaries(articles: list[Article], gen: Generator | None,
               cfg: SummarizeConfig) -> list[tuple[SummaryOutcome, float]]:
    """Each article's summary and its seconds. Several articles are summarized side by side, so their requests meet
    in the model's loop; the first article's error, if any, is raised once every article is done."""
    def one(article: Article) -> tuple[SummaryOutcome, float]:
        t0 = time.perf_counter()
        return summarize(article, gen, cfg), time.perf_counter() - t0

    if gen is None or len(articles) == 1:
        return [one(a) for a in articles]
    with ThreadPoolExecutor(len(articles), thread_name_prefix="summarizer-summary") as pool:
        futures = [pool.submit(one, a) for a in articles]
        done = [(f, f.exception()) for f in futures]
    for _, exc in done:
        if exc is not None:
            raise exc
    return [f.result() for f, _ in done]


def _info(gen: Generator | None) -> dict[str, Any]:
    if isinstance(gen, BudgetedGenerator):
        gen = gen.inner
    info = gen.info if gen is not None else ModelInfo(name="textrank", backend="extractive")
    return dataclasses.asdict(info)


def load_pipeline(config: str | os.PathLike | Config | None = None, overrides: dict | None = None, **kwargs: Any) -> Pipeline:
    """Build a `Pipeline` from a bundled config name, a TOML path, or a `Config`.

    Args:
        config: ``"default"``, ``"small"``, ``"extractive"``, ... or a path; default env
            ``SUMMARIZER_CONFIG`` or ``default``.
        overrides: Dotted keys, e.g. ``{"translate.segment_tokens": 120}``.
        **kwargs: Shortcuts accepted by `load_config` (``max_chars``, ``tasks``, ``threads``, ...).
    """
    if isinstance(config, Config):
        if overrides or kwargs:
            raise TypeError("pass overrides with a config name or path, not with a Config object")
        return Pipeline(config)
    return Pipeline(load_config(config, overrides, **kwargs))
