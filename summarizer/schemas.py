"""The REST API's request and response bodies (pydantic): what `api` validates and what its OpenAPI schema shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .summarize import MAX_CHARS_RANGE
from .flags import ARTICLE_KINDS, FLAGS, WARNING_FLAGS

__all__ = ["ArticleIn", "BatchIn", "ArticleOut", "FlagOut", "SentencePairOut", "PassageOut", "ResultOut", "ErrorOut",
           "QueueOut", "Health", "MAX_GLOSSARY_TERMS"]

MAX_GLOSSARY_TERMS = 500


class ArticleIn(BaseModel):
    """One article to process: exactly one of `text`, `html`, `record`."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="Article text: crawler format, plain text or HTML (a title line first).")
    html: str | None = Field(None, description="An HTML page or fragment; <script>/<style> content is dropped.")
    record: dict[str, Any] | None = Field(None, description='A JSONL record: {"id","title","text"} or {"id","html"}.')
    tasks: list[Literal["summary", "translation"]] | None = Field(
        None, min_length=1, description="Which tasks to run (default: the server config's).")
    max_chars: int | None = Field(None, ge=MAX_CHARS_RANGE[0], le=MAX_CHARS_RANGE[1],
                                  description="Summary length limit in characters.")
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

    articles: list[dict[str, Any]] = Field(
        ..., min_length=1,
        description="Article objects as for POST /v1/articles (ArticleIn). An item that is not a valid article "
                    "becomes an inline error record in the stream; the others are processed.")


class ArticleOut(BaseModel):
    """Mirrors `summarizer.Article`."""

    id: str
    title: str
    paragraphs: list[str]
    image_count: int
    source: str | None
    encoding: str | None


class FlagOut(BaseModel):
    """Why a sentence pair is doubted, or how its English was made."""

    kind: Literal[tuple(FLAGS)] = Field(description="; ".join(f"{k}: {v}" for k, v in FLAGS.items()))  # type: ignore[valid-type]
    detail: str = Field(description='What exactly: the lost number, "蔡奇 (Cai Qi)", the invented name; "" if none.')


class SentencePairOut(BaseModel):
    """A Chinese sentence (or several) beside its English."""

    zh: str
    en: str
    aligned: bool = Field(description="False where the English could not be split by sentence: the whole segment.")
    flags: list[FlagOut]


class PassageOut(BaseModel):
    """The sentence pairs of the title, one paragraph or the summary."""

    slot: Literal["title", "para", "summary"]
    index: int
    pairs: list[SentencePairOut]


_WARNING_KINDS = {k: v for k, v in FLAGS.items() if k in WARNING_FLAGS} | ARTICLE_KINDS


class FindingOut(BaseModel):
    """One warning about the article, as a record (``warnings`` holds the same as sentences)."""

    kind: Literal[tuple(_WARNING_KINDS)] = Field(  # type: ignore[valid-type]
        description="; ".join(f"{k}: {v}" for k, v in _WARNING_KINDS.items()))
    detail: str = Field(description='What exactly: the lost numbers, "蔡奇 (Cai Qi)"; "" if none.')
    where: Literal["title", "para", "summary", "summary_zh", "article"] = Field(
        description="The English title, a paragraph or the English summary (as a passage's slot), the Chinese summary, "
                    "or the whole article.")
    index: int = Field(description="The paragraph's index where `where` is para; 0 elsewhere.")


class TermOut(BaseModel):
    """One name or quoted term of the article and the one English it has throughout."""

    zh: str = Field(description="The term as the source writes it.")
    en: str = Field(description="The English the title, paragraphs and summary use for it.")
    source: Literal["glossary", "dictionary", "gazetteer", "office table", "model"] = Field(
        description="glossary: the user's; dictionary: CC-CEDICT or a Chinese name's pinyin; gazetteer: China's places "
                    "in pinyin; office table: offices and party and state bodies as official media write them; model: "
                    "the English the model wrote for it in this article, held once confirmed (two renderings agree, "
                    "or the dictionary backs it).")


class ResultOut(BaseModel):
    """Mirrors `summarizer.ArticleResult.to_dict()`."""

    id: str
    article: ArticleOut
    summary_zh: str
    title_en: str
    paragraphs_en: list[str]
    summary_en: str
    warnings: list[str]
    findings: list[FindingOut]
    notes: list[str]
    summary_fallback: bool = Field(description="The model's summary failed its checks; the extractive one stands in.")
    retried_segments: int = Field(description="Translation segments repair translated again.")
    sentences: list[PassageOut] = Field(None, description="Sentence pairs with flags; left out with ?sentences=false.")
    terms: list[TermOut] = Field(description="One English per name and quoted term, kept through the article.")
    timings: dict[str, float]
    model: dict[str, Any]
    config: str
    duplicate_of: str | None = Field(None, description="In a batch: the id of an earlier article with the same "
                                                       "cleaned title and body, whose result this copies.")


class ErrorOut(BaseModel):
    """A refused request, or (with `id`) one article of a batch that failed."""

    error: str
    id: str | None = None
    source: str | None = None
    kind: str | None = Field(None, description="For one article of a batch: what failed (ArticleError, InputTooLarge, ModelCrashed, TimeBudgetExceeded, ...).")


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
    # loaded, loading (answered at once while a model loads) or not loaded.
    model: Literal["loaded", "loading", "not loaded"]
    queue: QueueOut
