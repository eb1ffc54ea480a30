"""The one `Pipeline` every interface (CLI, web demo, Python, Ray) calls: clean -> summarize -> translate."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

from .clean import Article, ArticleError, clean_article
from .config import Config, load_config
from .models import Generator, ModelInfo, get_generator
from .quality import Glossary, load_glossary
from .tasks import summarize, translate_many

logger = logging.getLogger("summarizer")

__all__ = ["Pipeline", "ArticleResult", "ErrorRecord", "load_pipeline"]

Item = Union[Article, str, bytes, os.PathLike, dict]


@dataclass(frozen=True)
class ArticleResult:
    """Everything produced for one article.

    Attributes:
        article: The cleaned article (id, title, paragraphs, image_count, source, encoding).
        summary_zh: Simplified-Chinese summary ("" when the summary task is off).
        title_en: English title.
        paragraphs_en: English paragraphs, same count and order as ``article.paragraphs``.
        summary_en: English translation of the summary.
        warnings: Problems a reader should know about (leftover Chinese, numbers not kept, ...).
        notes: What was done (chunked summary, repaired segments, ...).
        timings: Seconds per stage.
        model: Which models produced it (name, backend, sha256, device) per task.
        config: Name of the config used.
    """

    article: Article
    summary_zh: str = ""
    title_en: str = ""
    paragraphs_en: tuple[str, ...] = ()
    summary_en: str = ""
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    config: str = ""

    @property
    def id(self) -> str:
        """The article id."""
        return self.article.id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``dataclasses.asdict`` with tuples as lists)."""
        d = dataclasses.asdict(self)
        d["id"] = self.article.id
        d["article"]["paragraphs"] = list(self.article.paragraphs)
        for k in ("paragraphs_en", "warnings", "notes"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class ErrorRecord:
    """An input that could not be processed; written beside results so one bad file sinks nothing else."""

    id: str
    source: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return dataclasses.asdict(self)


class Pipeline:
    """Clean, summarize and translate articles with the models a `Config` names.

    Models load lazily on first use and are shared across pipelines in the process.
    """

    def __init__(self, config: Config):
        self.config = config
        self._glossary: Glossary | None = None
        if config.translate.glossary:
            path = Path(config.translate.glossary)
            if not path.is_absolute() and not path.exists() and config.source:
                path = Path(config.source).parent / path
            self._glossary = load_glossary(path)

    def _generator(self, key: str) -> Generator | None:
        if key == "extractive":
            return None
        model_cfg = self.config.models[key]
        if model_cfg.backend == "extractive":
            return None
        return get_generator(model_cfg)

    def warm_up(self) -> None:
        """Load the models now instead of on the first article."""
        for task, key in (("summary", self.config.summarize.model), ("translation", self.config.translate.model)):
            if task in self.config.tasks:
                self._generator(key)

    def article(self, item: Item, *, id: str | None = None) -> Article:
        """Clean one input (path, bytes, text, JSONL record dict or `Article`) into an `Article`."""
        if isinstance(item, Article):
            return item
        if isinstance(item, dict):
            from .clean import article_from_record

            return article_from_record(item, id=id, max_bytes=self.config.limits.max_bytes)
        return clean_article(item, id=id, max_bytes=self.config.limits.max_bytes)

    def process(self, item: Item, *, id: str | None = None, max_chars: int | None = None) -> ArticleResult:
        """Process one article.

        Args:
            item: A path, bytes, raw text/HTML, a JSONL record dict, or an `Article`.
            id: Article id to use (default: from the record or a content hash).
            max_chars: Summary length limit (default from config).

        Returns:
            The `ArticleResult`.

        Raises:
            ArticleError: The input is not a usable article.
        """
        t0 = time.perf_counter()
        article = self.article(item, id=id)
        clean_s = time.perf_counter() - t0
        return self._run([article], [clean_s], max_chars=max_chars)[0]

    def process_many(
        self, items: Iterable[Item], *, batch_size: int = 4, max_chars: int | None = None
    ) -> Iterator[ArticleResult | ErrorRecord]:
        """Process many inputs, batching translation across articles; yields in input order.

        A bad input yields an `ErrorRecord` instead of raising, so it never takes a sibling down.
        """
        batch: list[Article] = []
        clean_times: list[float] = []
        for item in items:
            if isinstance(item, ErrorRecord):
                if batch:
                    yield from self._run_safely(batch, clean_times, max_chars)
                    batch, clean_times = [], []
                yield item
                continue
            t0 = time.perf_counter()
            try:
                article = self.article(item)
            except (ArticleError, OSError) as exc:
                if batch:
                    yield from self._run_safely(batch, clean_times, max_chars)
                    batch, clean_times = [], []
                yield ErrorRecord(id=_error_id(item), source=_source_of(item), error=str(exc))
                continue
            batch.append(article)
            clean_times.append(time.perf_counter() - t0)
            if len(batch) >= batch_size:
                yield from self._run_safely(batch, clean_times, max_chars)
                batch, clean_times = [], []
        if batch:
            yield from self._run_safely(batch, clean_times, max_chars)

    def _run_safely(self, batch, clean_times, max_chars):
        try:
            yield from self._run(batch, clean_times, max_chars=max_chars)
        except Exception as exc:  # noqa: BLE001 - one failing batch must not end the run
            if len(batch) == 1:
                logger.exception("article %s failed", batch[0].id)
                yield ErrorRecord(id=batch[0].id, source=batch[0].source, error=f"{type(exc).__name__}: {exc}")
                return
            for article, ct in zip(batch, clean_times):
                yield from self._run_safely([article], [ct], max_chars)

    def _run(self, articles: list[Article], clean_times: list[float], max_chars: int | None) -> list[ArticleResult]:
        cfg = self.config
        summaries = [""] * len(articles)
        warnings = [[] for _ in articles]
        notes = [[] for _ in articles]
        timings = [{"clean": round(c, 4)} for c in clean_times]
        model_info: dict[str, Any] = {}
        if "summary" in cfg.tasks:
            gen = self._generator(cfg.summarize.model)
            model_info["summary"] = _info(gen)
            for i, article in enumerate(articles):
                t0 = time.perf_counter()
                out = summarize(article, gen, cfg.summarize, max_chars=max_chars)
                summaries[i] = out.text
                warnings[i] += out.warnings
                notes[i] += out.notes
                timings[i]["summary"] = round(time.perf_counter() - t0, 3)
        translations = None
        if "translation" in cfg.tasks:
            gen = self._generator(cfg.translate.model)
            model_info["translation"] = _info(gen)
            t0 = time.perf_counter()
            translations = translate_many(articles, summaries, gen, cfg.translate, self._glossary)
            per = (time.perf_counter() - t0) / len(articles)
            for i in range(len(articles)):
                timings[i]["translation"] = round(per, 3)
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
                warnings=tuple(warnings[i] + (tr.warnings if tr else [])),
                notes=tuple(notes[i] + (tr.notes if tr else [])),
                timings=timings[i],
                model=model_info,
                config=cfg.name,
            ))
        return results


def _info(gen: Generator | None) -> dict[str, Any]:
    info = gen.info if gen is not None else ModelInfo(name="textrank", backend="extractive")
    return dataclasses.asdict(info)


def _source_of(item: Any) -> str | None:
    if isinstance(item, (str, os.PathLike)) and not isinstance(item, bytes):
        s = str(item)
        if "\n" not in s and len(s) < 4096:
            return s
    if isinstance(item, dict):
        return item.get("source")
    return None


def _error_id(item: Any) -> str:
    import hashlib

    if isinstance(item, dict) and item.get("id") is not None:
        return str(item["id"])
    src = _source_of(item)
    raw = src.encode("utf-8") if src else (item if isinstance(item, bytes) else str(item).encode("utf-8", "replace"))
    return "err-" + hashlib.sha256(raw).hexdigest()[:12]


def load_pipeline(config: str | os.PathLike | Config | None = None, overrides: dict | None = None, **kwargs: Any) -> Pipeline:
    """Build a `Pipeline` from a bundled config name, a TOML path, or a `Config`.

    Args:
        config: ``"default"``, ``"small"``, ``"extractive"``, ... or a path; default env
            ``SUMMARIZER_CONFIG`` or ``default``.
        overrides: Dotted keys, e.g. ``{"translate.chunk_tokens": 120}``.
        **kwargs: Shortcuts accepted by `load_config` (``max_chars``, ``tasks``, ``threads``, ...).
    """
    if isinstance(config, Config):
        if overrides or kwargs:
            raise TypeError("pass overrides with a config name or path, not with a Config object")
        return Pipeline(config)
    return Pipeline(load_config(config, overrides, **kwargs))
