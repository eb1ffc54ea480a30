"""The two tasks: a Chinese summary (LLM or extractive TextRank) and a paragraph-aligned English translation."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from .clean import Article
from .config import GenerationOptions, SummarizeConfig, TranslateConfig
from .models import Generator
from .quality import (
    Glossary,
    fix_amounts,
    format_number,
    inline_hints,
    leaked_han,
    missing_numbers,
    number_hints,
    repeated_sentences,
    unsupported_numbers,
)
from .text import chunk_sentences, english_dateline, han_ratio, has_han, split_sentences

logger = logging.getLogger("summarizer")

__all__ = ["summarize", "textrank_summary", "translate_many", "Translation", "TaskError"]


class TaskError(RuntimeError):
    """A task that cannot run with this configuration (e.g. translation without a model)."""


# ---------------------------------------------------------------- summary

@dataclass
class SummaryOutcome:
    text: str
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fill(template: str, **values: object) -> str:
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", str(v))
    return out


_LEAD = re.compile(r"^\s*(?:摘要|总结|概要|Summary)\s*[:：]\s*", re.IGNORECASE)
_MARKUP = re.compile(r"^\s*(?:[-*•#>]+|\d+[.、)])\s*", re.MULTILINE)


def _tidy_summary(text: str) -> str:
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
        kept = text[: max_chars - 1].rstrip("，、,；;：:") + "…"
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
    requests = [_summary_messages(cfg, cfg.user_prompt, article.title, part, limit) for part in parts]
    partials = [_tidy_summary(t) for t in generator.generate(requests, gen)]
    text = _merge(partials, generator, cfg, article.title, limit, budget)
    why = _summary_problem(text, article)
    if why:
        retry_gen = GenerationOptions(max_new_tokens=gen.max_new_tokens, repetition_penalty=max(1.15, gen.repetition_penalty),
                                      no_repeat_ngram_size=gen.no_repeat_ngram_size)
        stricter = cfg.user_prompt + "\n必须使用简体中文，用自己的话概括，不要照抄原文，不要重复句子。"
        source = parts[0] if len(parts) == 1 else "\n".join(partials)
        retry = _tidy_summary(generator.generate([_summary_messages(cfg, stricter, article.title, source, limit)], retry_gen)[0])
        retry_why = _summary_problem(retry, article)
        if not retry_why:
            text = retry
            outcome.notes.append(f"summary retried: the first answer {why}")
        elif why == "copies the first paragraph" and retry_why == why:
            outcome.warnings.append("summary copies the first paragraph")
        else:
            text = textrank_summary(article, limit)
            outcome.warnings.append(f"model summary {why}; used the extractive summary instead")
            outcome.notes += _textrank_note(article)
    if len(text) > limit and cfg.shorten_prompt:
        shorter = _tidy_summary(generator.generate([_summary_messages(cfg, cfg.shorten_prompt, article.title, text, limit)],
                                                   gen)[0])
        if shorter and len(shorter) < len(text) and not _summary_problem(shorter, article):
            outcome.notes.append(f"summary of {len(text)} characters shortened by the model (limit {limit})")
            text = shorter
    text, cut = fit_chars(text, limit)
    if cut:
        outcome.notes.append(f"summary cut to {len(text)} characters at a sentence end (limit {limit})")
    bad = unsupported_numbers(text, article.title + "\n" + article.text)
    if bad:
        outcome.warnings.append("summary has numbers not in the article: " + ", ".join(format_number(v) for v in bad))
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
        partials = [_tidy_summary(next(outs)) if len(g) > 1 else g[0] for g in groups]
    return partials[0]


def _textrank_note(article: Article) -> list[str]:
    n = sum(len(split_sentences(p)) for p in article.paragraphs)
    if n <= TEXTRANK_MAX_SENTENCES:
        return []
    return [f"TextRank ranked the first {TEXTRANK_MAX_SENTENCES} of {n} sentences (its cost grows with the square "
            "of the sentence count)"]


def _summary_problem(text: str, article: Article) -> str | None:
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
    return None


def _summary_messages(cfg: SummarizeConfig, template: str, title: str, text: str, limit: int) -> list[dict]:
    return [
        {"role": "system", "content": cfg.system_prompt},
        {"role": "user", "content": _fill(template, title=title, text=text, max_chars=limit)},
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
    words = [{w for w in jieba.lcut(s[:_TEXTRANK_SENTENCE_CHARS]) if len(w) > 1 or "\u4e00" <= w <= "\u9fff"}
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


# ---------------------------------------------------------------- translation

@dataclass
class Translation:
    """English output for one article, paragraph-aligned with the source."""

    title_en: str = ""
    paragraphs_en: list[str] = field(default_factory=list)
    summary_en: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Segment:
    article: int
    slot: str
    index: int
    source: str
    context: str
    output: str = ""
    prefix: str = ""


def _segments(i: int, article: Article, summary: str, budget: int, count: Callable[[str], int]) -> list[_Segment]:
    segs = [_Segment(i, "title", 0, article.title, "")] if article.title else []
    previous = ""
    for p, para in enumerate(article.paragraphs):
        for chunk in chunk_sentences(split_sentences(para), budget, count):
            text = "".join(chunk)
            seg = _Segment(i, "para", p, text, previous)
            dateline = english_dateline(text)
            if dateline and has_han(dateline[1]):
                seg.prefix, seg.source = dateline
            segs.append(seg)
            previous = text
    if summary:
        segs.append(_Segment(i, "summary", 0, summary, ""))
    return segs


def _translate_messages(cfg: TranslateConfig, seg: _Segment, title: str, glossary: Glossary | None,
                        template: str, numbers: str = "") -> list[dict]:
    # Context goes into the system message: small models translate whatever sits in the user turn.
    system = cfg.system_prompt
    if cfg.context and title and seg.slot != "title":
        system += f"\nThe text is part of a news article titled: {title}"
    glossary_lines = glossary.prompt_lines(seg.source) if glossary else ""
    if glossary_lines:
        system += f"\nAlways use these translations:\n{glossary_lines}"
    hints = number_hints(seg.source) if cfg.number_hints else []
    if hints:
        system += "\nUse these number conversions: " + "; ".join(hints)
    user = _fill(template, text=seg.source, title=title, glossary=glossary_lines, numbers=numbers, context="")
    messages = [{"role": "system", "content": system}]
    for zh, en in cfg.few_shot:
        messages.append({"role": "user", "content": _fill(cfg.user_prompt, text=zh, title="", context="", glossary="")})
        messages.append({"role": "assistant", "content": en})
    messages.append({"role": "user", "content": user})
    return messages


_PREAMBLE = re.compile(r"^\s*(?:[^:\n]{0,60}\b(?:translat\w*|in english)\b[^:\n]{0,40}|english|译文)\s*[:：]\s*",
                       re.IGNORECASE)


def _tidy_english(text: str) -> str:
    text = _PREAMBLE.sub("", text.strip())
    text = text.strip()
    if len(text) > 1 and text[0] == text[-1] == '"' and text.count('"') == 2:
        text = text[1:-1]
    return re.sub(r"\s*\n\s*", " ", text).strip()


def translate_many(
    articles: Sequence[Article],
    summaries: Sequence[str],
    generator: Generator | None,
    cfg: TranslateConfig,
    glossary: Glossary | None = None,
) -> list[Translation]:
    """Translate several articles (title, every paragraph, summary) in one batched pass.

    Paragraphs are split into sentences and packed into chunks of at most ``cfg.chunk_tokens`` tokens
    (never across paragraphs, so the output keeps the paragraph count and order). Segments whose
    English still holds Han characters or drops a number are retried with a stricter prompt and a
    decoding constraint that forbids Han tokens; a warning stays only when the retry fails too.

    Raises:
        TaskError: No translation model is configured.
    """
    if generator is None:
        raise TaskError("this config has no translation model (extractive configs only summarize); "
                        "use a config with a model, or --tasks summary")
    budget = max(32, cfg.chunk_tokens)
    segs = [s for i, (a, summ) in enumerate(zip(articles, summaries))
            for s in _segments(i, a, summ, budget, generator.count_tokens)]
    if not segs:
        return [Translation() for _ in articles]

    def build(seg: _Segment, template: str, numbers: str = ""):
        if generator.kind == "seq2seq":
            return seg.source
        return _translate_messages(cfg, seg, articles[seg.article].title, glossary, template, numbers)

    outs = generator.generate([build(s, cfg.user_prompt) for s in segs], cfg.generation)
    for seg, out in zip(segs, outs):
        seg.output = _tidy_english(out)
    results = [Translation() for _ in articles]
    if cfg.repair:
        _repair(segs, results, generator, cfg, build)
    for seg in segs:
        res = results[seg.article]
        leaks = leaked_han(seg.output)
        if leaks:
            res.warnings.append(f"Chinese left in the English {seg.slot}: {' '.join(leaks[:5])}")
        if cfg.check_numbers:
            lost = missing_numbers(seg.source, seg.output)
            if lost:
                res.warnings.append(f"numbers not kept in the English {seg.slot}: "
                                    + ", ".join(format_number(v) for v in lost))
        if glossary:
            bad = glossary.violations(seg.source, seg.output)
            if bad:
                res.warnings.append("glossary terms not followed: " + ", ".join(bad))
    for i, article in enumerate(articles):
        res = results[i]
        paras = [[] for _ in article.paragraphs]
        for seg in segs:
            if seg.article != i:
                continue
            if seg.slot == "title":
                res.title_en = seg.output
            elif seg.slot == "summary":
                res.summary_en = seg.output
            else:
                paras[seg.index].append(seg.prefix + seg.output)
        res.paragraphs_en = [" ".join(p).strip() for p in paras]
    return results


_NUMERAL = re.compile(r"\d+(?:[.,/]\d+)*%?")


def _repair(segs, results, generator: Generator, cfg: TranslateConfig, build) -> None:
    for seg in segs:
        seg.output = fix_amounts(seg.source, seg.output)
    bad = [s for s in segs if leaked_han(s.output) or (cfg.check_numbers and missing_numbers(s.source, s.output))]
    if not bad:
        return
    def numbers(seg: _Segment) -> str:
        found = _NUMERAL.findall(seg.source)
        return f" (including {', '.join(dict.fromkeys(found))})" if found else ""

    def attempt(items: list[_Segment]) -> list[str]:
        # Each item is retried with the number conversions written into its text and, when that changes the
        # text, as it is too; the output losing the fewest numbers wins (either one can be the one that works).
        variants = []
        for k, x in enumerate(items):
            inlined = replace(x, source=inline_hints(x.source)) if cfg.number_hints else x
            variants.append((k, inlined))
            if inlined.source != x.source:
                variants.append((k, x))
        outs = generator.generate([build(v, cfg.repair_prompt, numbers(v)) for _, v in variants], cfg.generation,
                                  forbid_han=True)
        best: list[str] = [""] * len(items)
        for (k, _), out in zip(variants, outs):
            cand = fix_amounts(items[k].source, _tidy_english(out))
            if cand and (not best[k] or _cost(items[k].source, cand) < _cost(items[k].source, best[k])):
                best[k] = cand
        return best

    outs = attempt(bad)
    fixed: dict[int, int] = {}
    for seg, new in zip(bad, outs):
        old_cost, new_cost = _cost(seg.source, seg.output), _cost(seg.source, new)
        if new and new_cost < old_cost:
            seg.output = new
        if new and new_cost == 0:
            fixed[seg.article] = fixed.get(seg.article, 0) + 1
    # Still losing numbers: a long chunk makes small models compress; translate its sentences one by one.
    still = [s for s in bad if len(split_sentences(s.source)) > 1 and _cost(s.source, s.output) > 0]
    if still:
        pieces = [(seg, sent) for seg in still for sent in split_sentences(seg.source)]
        sub = [_Segment(seg.article, seg.slot, seg.index, sent, "") for seg, sent in pieces]
        joined: dict[int, list[str]] = {}
        for (seg, _), out in zip(pieces, attempt(sub)):
            joined.setdefault(id(seg), []).append(out)
        for seg in still:
            candidate = " ".join(joined[id(seg)])
            if _cost(seg.source, candidate) < _cost(seg.source, seg.output):
                seg.output = candidate
                if _cost(seg.source, candidate) == 0:
                    fixed[seg.article] = fixed.get(seg.article, 0) + 1
    for i in sorted({s.article for s in bad}):
        n = sum(1 for s in bad if s.article == i)
        results[i].notes.append(f"retried {n} segment(s) with leaked Chinese or lost numbers; {fixed.get(i, 0)} fully repaired")


def _cost(source: str, english: str) -> int:
    return len(leaked_han(english)) * 10 + len(missing_numbers(source, english))
