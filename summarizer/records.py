"""What the pipeline gives back: an `ArticleResult` per article, or an `ErrorRecord` for an input that failed, and the
one scheme of ids and messages error records get, whichever interface made them."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .clean import Article, ArticleError, check_id, path_text
from .flags import Finding
from .repair import Passage
from .terms import Term

logger = logging.getLogger("summarizer")

__all__ = ["ArticleResult", "ErrorRecord", "RecordDict", "error_record", "error_message", "input_id", "input_source",
           "log_failure", "SKIP", "content_key", "duplicate_record"]


@dataclass(frozen=True)
class ArticleResult:
    """Everything produced for one article.

    Attributes:
        article: The cleaned article (id, title, paragraphs, image_count, source, encoding).
        summary_zh: Simplified-Chinese summary ("" when the summary task is off).
        title_en: English title.
        paragraphs_en: English paragraphs, same count and order as ``article.paragraphs``.
        summary_en: English translation of the summary.
        findings: What the checks doubt, as records (kind, detail, where); `warnings` are their sentences.
        notes: What was done (chunked summary, repaired segments, ...).
        summary_fallback: The model's summary failed its checks and the extractive summary stands in for it.
        retried_segments: Translation segments repair translated again.
        sentences: The title, each paragraph and the summary as Chinese sentences beside their English, each pair
            with the flags of the checks that doubt it (`flags.FLAGS`); every warning lands on its sentence(s).
        terms: One English per name and quoted term of the article (`terms.Term`: zh, en, and its source:
            glossary, dictionary or model), as the title, paragraphs and summary use it.
        timings: Seconds per stage.
        model: Which models produced it (name, backend, sha256, device) per task.
        config: Name of the config used.
        duplicate_of: The id of an earlier article of the job (this run, or one `--resume` kept) whose cleaned title
            and body this one's equal: its result was copied, at no model cost (None for an article processed).
        step: In a partial result of `Pipeline.process_stream`: what runs now, as (what, done, total), e.g.
            ("translating the paragraph 7", 6, 20); None in a finished result, and never in a record.
    """

    article: Article
    summary_zh: str = ""
    title_en: str = ""
    paragraphs_en: tuple[str, ...] = ()
    summary_en: str = ""
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    summary_fallback: bool = False
    retried_segments: int = 0
    sentences: tuple[Passage, ...] = ()
    terms: tuple[Term, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    config: str = ""
    duplicate_of: str | None = None
    step: tuple[str, int, int] | None = None

    @property
    def id(self) -> str:
        """The article id."""
        return self.article.id

    @property
    def warnings(self) -> tuple[str, ...]:
        """Problems a reader should know about (leftover Chinese, numbers not kept, ...): the findings as sentences."""
        return tuple(f.text for f in self.findings)

    @property
    def source(self) -> str | None:
        """Where the article came from (as `ErrorRecord.source`)."""
        return self.article.source

    @property
    def error(self) -> None:
        """None: a result is no error (so code can read ``error`` off any record)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``dataclasses.asdict`` with tuples as lists)."""
        d = dataclasses.asdict(self)
        d["id"] = self.article.id
        d["article"]["paragraphs"] = list(self.article.paragraphs)
        for k in ("paragraphs_en", "notes"):
            d[k] = list(d[k])
        # The sentences first (the field the CLI and the API always wrote), then the records they are made from.
        d = {k: v for key, value in d.items()
             for k, v in ((("warnings", list(self.warnings)), ("findings", [f.to_dict() for f in self.findings]))
                          if key == "findings" else ((key, value),))}
        d["sentences"] = [{"slot": p.slot, "index": p.index,
                           "pairs": [{"zh": s.zh, "en": s.en, "aligned": s.aligned,
                                      "flags": [{"kind": f.kind, "detail": f.detail} for f in s.flags]}
                                     for s in p.pairs]} for p in self.sentences]
        if self.duplicate_of is None:
            del d["duplicate_of"]  # only a copied record says so, so every other record keeps its shape
        del d["step"]
        return d


@dataclass(frozen=True)
class ErrorRecord:
    """An input that could not be processed; written beside results so one bad file sinks nothing else."""

    # The input's id (the file's stem, the JSON record's id) and where it came from.
    id: str
    source: str | None
    # What went wrong, for a reader.
    error: str
    # What failed, for code: the exception's class ("ArticleError", "InputTooLarge", "ModelCrashed", ...).
    kind: str = "ArticleError"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return dataclasses.asdict(self)


SKIP = object()
"""Returned by the batch core's `batch.Admission` to drop an input without a record (done in an earlier run)."""


def input_source(item: Any) -> str | None:
    """Where an input came from, for its records: a file path, a JSONL ``file:LINE``, or None for text."""
    if isinstance(item, Article):
        return item.source
    if isinstance(item, os.PathLike):
        return path_text(item)
    if isinstance(item, dict):
        src = item.get("source")
        # A client's source is data: escaped where UTF-8 cannot carry it, so every writer can.
        return src.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(src, str) and len(src) <= 4096 \
            else None
    if isinstance(item, ErrorRecord):
        return item.source
    return None


def input_id(item: Any) -> str:
    """The id an input's error record gets: the record's own id when usable, else a hash of its source or content."""
    if isinstance(item, (Article, ErrorRecord)):
        return item.id
    if isinstance(item, dict) and item.get("id") is not None:
        try:
            return check_id(item["id"])
        except ArticleError:
            pass
    src = input_source(item)
    if src:
        raw = src.encode("utf-8", "replace")
    elif isinstance(item, (bytes, bytearray)):
        raw = bytes(item)
    elif isinstance(item, dict):
        raw = repr(sorted(item.items(), key=lambda kv: str(kv[0]))).encode("utf-8", "replace")
    else:
        raw = str(item).encode("utf-8", "replace")
    return "err-" + hashlib.sha256(raw).hexdigest()[:12]


def error_message(exc: BaseException) -> str:
    """The one-line message an error record stores: the plain reason for bad input, else ``Class: message``."""
    if isinstance(exc, ArticleError):
        return exc.reason
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


def error_record(item: Any, exc: BaseException) -> ErrorRecord:
    """The `ErrorRecord` for an input that failed with `exc`."""
    source = input_source(item)
    if source is None and isinstance(exc, ArticleError) and exc.source:
        source = exc.source
    return ErrorRecord(id=input_id(item), source=source, error=error_message(exc), kind=type(exc).__name__)


def log_failure(item: Any, exc: BaseException) -> None:
    """Log why an input failed: a bad input's reason at DEBUG, anything else with its traceback at INFO."""
    where = input_source(item) or input_id(item)
    if isinstance(exc, ArticleError):
        logger.debug("%s: %s", where, exc.reason)
    else:
        logger.info("%s failed", where, exc_info=exc)


class RecordDict:
    """A record already serialised (by a Ray actor), read like the others and written as is."""

    def __init__(self, d: dict[str, Any]):
        """Args: d: A result or error record as `to_dict` gives it."""
        self._d = d
        self.id = d["id"]
        self.error: str | None = d.get("error")
        self.source: str | None = d.get("source") if self.error is not None else (d.get("article") or {}).get("source")
        self.timings: dict[str, float] = d.get("timings") or {}

    def to_dict(self) -> dict[str, Any]:
        """The record as it was given."""
        return self._d


def content_key(title: str, paragraphs: Any) -> str:
    """What makes two articles the same content: the cleaned title and body (ids and sources aside), hashed."""
    return hashlib.sha256("\0".join([title, *paragraphs]).encode("utf-8", "surrogatepass")).hexdigest()


def duplicate_record(first: ArticleResult | ErrorRecord | RecordDict | dict[str, Any], dup: Article):
    """The record of `dup`, whose content equals the article of `first` (its record, made in this run or read back
    from the results file): the same result under `dup`'s id and source, naming the first; its error, if it failed."""
    d = first.to_dict() if not isinstance(first, dict) else first
    if d.get("error") is not None:
        return ErrorRecord(id=dup.id, source=dup.source, error=f"the same content as {d['id']}, which failed: "
                                                                 f"{d['error']}", kind=d.get("kind", "ArticleError"))
    if isinstance(first, ArticleResult):
        return dataclasses.replace(first, article=dup, timings={}, duplicate_of=first.id)
    copy = dict(d, id=dup.id, article=dup.to_dict(), timings={}, duplicate_of=str(d["id"]))
    return RecordDict(copy)
