"""The Chinese summary: an LLM with chunk-and-merge for long articles and checks, or extractive TextRank."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field, replace

from .checks import repeated_sentences
from .clean import Article
from .config import SummarizeConfig, fill_prompt
from .flags import Finding
from .models import Generator
from .names import find_names
from .numbers import format_number, unsupported_numbers
from .text import chunk_sentences, han_ratio, has_han, is_han, split_sentences

logger = logging.getLogger("summarizer")

__all__ = ["summarize", "unsupported_items", "textrank_summary", "fit_chars", "SummaryOutcome", "TEXTRANK_MAX_SENTENCES",
           "summary_problem", "tidy_summary", "check_max_chars", "MAX_CHARS_RANGE"]


@dataclass
class SummaryOutcome:
    """A summary and what happened on the way to it."""

    # The summary, at most the configured number of characters.
    text: str
    # Problems a reader should know about (numbers not in the article, a fallback to TextRank).
    findings: list[Finding] = field(default_factory=list)
    # What was done (chunks merged, a retry, a cut at a sentence end).
    notes: list[str] = field(default_factory=list)
    # The model's summary failed its checks twice and the extractive (TextRank) summary stands in for it.
    fallback: bool = False

    @property
    def warnings(self) -> list[str]:
        """The findings as sentences for a reader."""
        return [f.text for f in self.findings]


_LEAD = re.compile(r"^\s*(?:摘要|总结|概要|Summary)\s*[:：]\s*", re.IGNORECASE)
# List markers; "91.6%" at the start of a line is a number, not item 91 (that read turned it into "6%").
_MARKUP = re.compile(r"^\s*(?:[-*•#>]+|\d+(?:[、)]|\.(?!\d)))\s*", re.MULTILINE)


# The summary lengths a caller may ask for, in characters (the API, the demo and `Pipeline.process` check them).
MAX_CHARS_RANGE = (10, 2000)


def check_max_chars(value: object) -> int | None:
    """A caller's summary length: None (the config's), or an int within `MAX_CHARS_RANGE`.

    Raises:
        ValueError: Any other value (a str such as "10", a bool, a float, -5): a wrong length must not quietly
            become a 13-character summary.
    """
    if value is None:
        return None
    low, high = MAX_CHARS_RANGE
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"max_chars must be an int from {low} to {high}, not {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ValueError(f"max_chars must be from {low} to {high}, not {value}")
    return value


def tidy_summary(text: str) -> str:
    """A model's summary without what chat models wrap around it: a "摘要：" lead, Markdown, list markers."""
    text = _LEAD.sub("", text.strip())
    text = _MARKUP.sub("", text)
    text = text.replace("**", "").replace("__", "")
    text = re.sub(r"\s*\n\s*", "", text)
    return text.strip().strip("“”\"'「」")


def fit_chars(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut `text` to at most `max_chars` at the last sentence end that fits; (text, was_cut)."""
    if len(text) <= max_chars:
        return text, False
    kept = ""
    for sentence in split_sentences(text):
        if len(kept) + len(sentence) > max_chars:
            break
        kept += sentence
    if not kept:
        kept = text[: max_chars - 1]
        if re.search(r"[\d.]$", kept) and re.match(r"[\d.,%％万亿千百]", text[max_chars - 1:max_chars]):
            # Never end inside a number or before its unit: "增长22.…", or "230…" for 230万, read as other numbers
            # (these cuts made 6 % of the 40-character crawl-dev summaries and 3 % of the 30-character LCSTS ones
            # state numbers the article lacks).
            kept = re.sub(r"[\d.,]*$", "", kept)
        kept = kept.rstrip("，、,；;：:.") + "…"
    return kept, True


def summarize(
    article: Article,
    generator: Generator | None,
    cfg: SummarizeConfig,
    *,
    max_chars: int | None = None,
) -> SummaryOutcome:
    """Summarize `article` in Simplified Chinese, at most `max_chars` characters.

    Long articles are split into chunks that fit the model context, each summarized, then the partial
    summaries merged; this is recorded in the outcome's notes. Without a generator (or when the model
    fails to answer in Chinese) the extractive TextRank summary is used.

    Args:
        article: The cleaned article.
        generator: A chat model, or ``None`` for the extractive summarizer.
        cfg: Prompts, chunk budget and generation options.
        max_chars: Overrides ``cfg.max_chars``.
    """
    limit = max_chars or cfg.max_chars
    if generator is None:
        return SummaryOutcome(textrank_summary(article, limit), notes=["extractive TextRank summary"] + _textrank_note(article))
    if not has_han(article.title + article.text):
        # Nothing Chinese to summarize (punctuation, digits, another script): the model would only guess at length.
        return SummaryOutcome(textrank_summary(article, limit),
                              notes=["the article has no Chinese text: extractive summary, no model call"])
    outcome = SummaryOutcome("")
    prompt_overhead = generator.count_tokens(cfg.system_prompt + cfg.user_prompt + article.title) + 16
    budget = max(256, min(cfg.chunk_tokens, generator.context_length - cfg.generation.max_new_tokens - prompt_overhead))
    body_tokens = generator.count_tokens(article.text)
    if body_tokens <= budget:
        parts = [article.text]
    else:
        sentences = [s for p in article.paragraphs for s in split_sentences(p)]
        parts = ["".join(c) for c in chunk_sentences(sentences, budget, generator.count_tokens)]
        if len(parts) > cfg.max_chunks:
            # Model calls stay bounded for any article within the size limit; news puts its facts first.
            outcome.notes.append(f"article of {body_tokens} tokens: its first {cfg.max_chunks} of {len(parts)} "
                                 "chunks summarized (summarize.max_chunks)")
            parts = parts[:cfg.max_chunks]
        outcome.notes.append(f"article of {body_tokens} tokens summarized in {len(parts)} chunks, then merged")
    gen = cfg.generation
    if not cfg.shorten_prompt:
        # Whatever the model writes past `limit` characters is cut off anyway, and a token carries at least one
        # character of Chinese text (digits and punctuation one each): tokens past limit + a margin are waste.
        gen = replace(gen, max_new_tokens=min(gen.max_new_tokens, limit + 32))
    requests = [_summary_messages(cfg, cfg.user_prompt, article.title, part, limit) for part in parts]
    partials = [tidy_summary(t) for t in generator.generate(requests, gen)]
    text = _merge(partials, generator, cfg, article.title, limit, budget)
    why = summary_problem(text, article)
    if why:
        retry_gen = replace(gen, repetition_penalty=max(1.15, gen.repetition_penalty))
        stricter = cfg.user_prompt + "\n" + cfg.retry_instruction
        unsupported = unsupported_items(text, article)
        if unsupported:
            stricter += fill_prompt(cfg.unsupported_instruction, items="、".join(unsupported))
        source = parts[0] if len(parts) == 1 else "\n".join(partials)
        retry = tidy_summary(generator.generate([_summary_messages(cfg, stricter, article.title, source, limit)], retry_gen)[0])
        retry_why = summary_problem(retry, article)
        if not retry_why:
            text = retry
            outcome.notes.append(f"summary retried: the first answer {why}")
        elif why == "copies the first paragraph" and retry_why == why:
            outcome.findings.append(Finding("summary_copies_lead", where="summary_zh"))
        else:
            text = textrank_summary(article, limit)
            outcome.fallback = True
            outcome.findings.append(Finding("summary_fallback", why, where="summary_zh"))
            outcome.notes += _textrank_note(article)
    if len(text) > limit and cfg.shorten_prompt:
        shorter = tidy_summary(generator.generate([_summary_messages(cfg, cfg.shorten_prompt, article.title, text, limit)],
                                                   gen)[0])
        if shorter and len(shorter) < len(text) and not summary_problem(shorter, article):
            outcome.notes.append(f"summary of {len(text)} characters shortened by the model (limit {limit})")
            text = shorter
    text, cut = fit_chars(text, limit)
    if cut:
        outcome.notes.append(f"summary cut to {len(text)} characters at a sentence end (limit {limit})")
    bad = unsupported_numbers(text, article.title + "\n" + article.text)
    if bad:
        outcome.findings.append(Finding("summary_numbers", ", ".join(format_number(v) for v in bad), where="summary_zh"))
    outcome.text = text
    return outcome


def _merge(partials: list[str], generator: Generator, cfg: SummarizeConfig, title: str, limit: int, budget: int) -> str:
    """Merge partial summaries level by level, each merge prompt within `budget` tokens."""
    while len(partials) > 1:
        groups = chunk_sentences(partials, budget, generator.count_tokens)
        if len(groups) == len(partials):
            groups = [partials[i:i + 2] for i in range(0, len(partials), 2)]
        merging = [g for g in groups if len(g) > 1]
        outs = iter(generator.generate(
            [_summary_messages(cfg, cfg.merge_prompt, title, "\n".join(g), limit) for g in merging], cfg.generation))
        partials = [tidy_summary(next(outs)) if len(g) > 1 else g[0] for g in groups]
    return partials[0]


def _textrank_note(article: Article) -> list[str]:
    n = sum(len(split_sentences(p)) for p in article.paragraphs)
    if n <= TEXTRANK_MAX_SENTENCES:
        return []
    return [f"TextRank ranked the first {TEXTRANK_MAX_SENTENCES} of {n} sentences (its cost grows with the square "
            "of the sentence count)"]


def summary_problem(text: str, article: Article) -> str | None:
    """Why a model summary is unusable, or None when it passes every check."""
    if not text:
        return "was empty"
    if han_ratio(text) < 0.5:
        return "was not Chinese"
    if repeated_sentences(text):
        return "repeats a sentence"
    first = article.paragraphs[0]
    core = text.rstrip("。…")
    if len(core) >= 30 and (core in first or first.startswith(core)):
        return "copies the first paragraph"
    unsupported = unsupported_items(text, article)
    if unsupported:
        return f"states what the article does not: {'、'.join(unsupported)}"
    return None


def unsupported_items(summary: str, article: Article) -> list[str]:
    """Numbers and people's names in a Chinese `summary` that `article` (title and text) does not contain."""
    source = article.title + "\n" + article.text
    items = [format_number(v) for v in unsupported_numbers(summary, source)]
    items += [n.source for n in find_names(summary) if n.kind == "person" and n.source not in source]
    return items


def _summary_messages(cfg: SummarizeConfig, template: str, title: str, text: str, limit: int) -> list[dict]:
    return [
        {"role": "system", "content": cfg.system_prompt},
        {"role": "user", "content": fill_prompt(template, title=title, text=text, max_chars=limit)},
    ]


# TextRank compares every pair of sentences; this cap keeps a 1 MB article at a fraction of a second.
TEXTRANK_MAX_SENTENCES = 300
# Words of a sentence are taken from this many characters of it (a megabyte with no full stop is one sentence).
_TEXTRANK_SENTENCE_CHARS = 2000


def textrank_summary(article: Article, max_chars: int = 200) -> str:
    """Extractive summary: TextRank over sentences with jieba word overlap, in article order.

    Only the first `TEXTRANK_MAX_SENTENCES` sentences are ranked, so time and memory stay bounded.

    Args:
        article: The cleaned article.
        max_chars: Length limit; at least one sentence (cut if needed) is always returned.
    """
    import jieba

    jieba.setLogLevel(logging.WARNING)
    sentences = []
    for p in article.paragraphs:
        sentences += split_sentences(p)
        if len(sentences) >= TEXTRANK_MAX_SENTENCES:
            break
    sentences = sentences[:TEXTRANK_MAX_SENTENCES]
    if not sentences:
        return fit_chars(article.title, max_chars)[0]
    words = [{w for w in jieba.lcut(s[:_TEXTRANK_SENTENCE_CHARS]) if len(w) > 1 or is_han(w)}
             for s in sentences]
    n = len(sentences)
    # Sparse edges: most sentence pairs share no word, and a dense n x n matrix is what made this slow.
    edges: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            overlap = len(words[i] & words[j])
            if overlap and len(words[i]) > 1 and len(words[j]) > 1:
                w = overlap / (math.log(len(words[i])) + math.log(len(words[j])))
                edges[i].append((j, w))
                edges[j].append((i, w))
    for row in edges:
        row.sort()
    out_sum = [sum(w for _, w in row) or 1.0 for row in edges]
    scores = [1.0] * n
    for _ in range(30):
        scores = [0.15 + 0.85 * sum(w / out_sum[j] * scores[j] for j, w in edges[i]) for i in range(n)]
    # A small lead bias: news puts the key facts first.
    ranked = sorted(range(n), key=lambda i: scores[i] * (1.0 + 0.5 / (1 + i)), reverse=True)
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if used + len(sentences[i]) <= max_chars:
            chosen.append(i)
            used += len(sentences[i])
    if not chosen:
        return fit_chars(sentences[ranked[0]], max_chars)[0]
    return "".join(sentences[i] for i in sorted(chosen))
