"""Throughput and memory benchmarks: articles/min, output tokens/s, model load time and peak RSS of a config.

The product path is timed through the batch core (`batch.process`), exactly as the batch CLI runs it; the naive baseline
(one request per sentence, a fresh model load per article) is built from the same public task functions.
"""

from __future__ import annotations

import dataclasses

import json
import logging
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .batch import process
from .clean import Article
from .config import load_config
from .evaluate import machine
from .config import GenerationOptions
from .models import Usage
from .runtime import clear_generators, get_generator
from .pipeline import Pipeline
from .records import ErrorRecord
from .summarize import summarize
from .text import split_sentences
from .translate import translate_many

logger = logging.getLogger("summarizer")

__all__ = ["bench_articles", "run_bench", "EXAMPLES_DIR", "SEED_NAME"]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SEED_NAME = "000_a4f61a660f2d4dbe.txt"


def _rss_mb(gens=()) -> float:
    # The model lives in a worker process by default: its peak counts with this process's.
    workers = sum(g.peak_rss_mb() or 0.0 for g in gens if hasattr(g, "peak_rss_mb"))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + workers


def bench_articles(n: int, folder: str | Path | None = None) -> list[Path]:
    """The seed plus the first `n - 1` articles (sorted) of `folder`, for repeatable benchmarks.

    Args:
        n: Number of articles wanted.
        folder: Crawled ``*.txt`` files to draw from (e.g. ``../shared/eval/crawl``); default the examples
            bundled with the package, so fewer than `n` may come back.
    """
    seed = EXAMPLES_DIR / SEED_NAME
    pool = sorted(p for p in Path(folder or EXAMPLES_DIR).rglob("*.txt") if p.resolve() != seed.resolve())
    return [seed] + pool[: max(0, n - 1)]


def decode_rate(gen: Any) -> float | None:
    """Output tokens a second of plain decoding, measured now with one short request (None if the backend
    does not count)."""
    start = gen.usage_now()
    gen.generate([[{"role": "user", "content": "Count from one to forty in English words, separated by commas."}]],
                 GenerationOptions(max_new_tokens=64))
    spent = gen.usage_now().minus(start)
    return spent.output_tokens / spent.decode_seconds if spent.decode_seconds > 0 else None


def _generator(cfg, key: str, task: str):
    if task not in cfg.tasks or key not in cfg.models or cfg.models[key].backend == "extractive":
        return None
    return get_generator(cfg.models[key])


def _usage(gens) -> Usage:
    total = Usage()
    for g in gens:
        u = g.usage_now()
        for f in dataclasses.fields(Usage):
            setattr(total, f.name, getattr(total, f.name) + getattr(u, f.name))
    return total


def _article_row(r: Any, spent: Usage, seconds: float, rate: float | None) -> dict[str, Any]:
    notes = getattr(r, "notes", ())
    retried = getattr(r, "retried_segments", 0)
    return {
        "id": r.id,
        "source": r.source if isinstance(r, ErrorRecord) else Path(r.article.source or "").name,
        "seconds": round(seconds, 2),
        "timings": getattr(r, "timings", None),
        "model_calls": spent.calls,
        "prompt_tokens": spent.prompt_tokens,
        "cached_prompt_tokens": spent.cached_prompt_tokens,
        "output_tokens": spent.output_tokens,
        "prompt_seconds": round(spent.prompt_seconds, 2),
        "decode_seconds": round(spent.decode_seconds, 2),
        # Steps that read prompt chunks beside decode tokens; decode steps and their mean width.
        "mixed_seconds": round(spent.mixed_seconds, 2),
        "steps": spent.steps,
        "mean_width": round(spent.decode_tokens / spent.steps, 2) if spent.steps else None,
        "retranslated_segments": retried,
        "efficiency": round(spent.output_tokens / rate / seconds, 3) if rate and seconds else None,
        # What the checks left for a reader (names or numbers lost after repair, ...), to compare quality too.
        "warnings": list(getattr(r, "warnings", ())),
        "notes": list(notes),
        # The output itself, so a speed change can be read for what it did to the text.
        "summary_zh": getattr(r, "summary_zh", ""),
        "title_en": getattr(r, "title_en", ""),
        "paragraphs_en": list(getattr(r, "paragraphs_en", ())),
        "summary_en": getattr(r, "summary_en", ""),
    }


def run_bench(*, config: str | None = None, overrides: dict | None = None, articles: int = 20, naive: bool = False,
              output: Path | None = None, folder: str | Path | None = None) -> dict[str, Any]:
    """Articles/min, where the time goes (prompt vs. output tokens, cache reuse, model calls, re-translated
    segments, seconds per stage) and how close to the decode bound a config runs, per article and in total.

    The efficiency is ``(output_tokens / decode_rate) / wall_time``: the share of the time that decoding the
    English and the summary at the rate measured at the start of the run needs.

    With `naive`, the same articles also run through the naive baseline: every sentence translated
    alone, with a fresh model load per article (no batching, no reuse).

    Args:
        config: Config name or path.
        overrides: Dotted config overrides.
        articles: How many articles (the seed first).
        naive: Also time the naive baseline.
        output: Where to write the JSON report.
        folder: Where the articles after the seed come from (see `bench_articles`).
    """
    cfg = load_config(config, overrides)
    pipe = Pipeline(cfg)
    files = bench_articles(articles, folder)
    t0 = time.perf_counter()
    pipe.warm_up()
    load_s = time.perf_counter() - t0
    model_cfg = cfg.models.get(cfg.translate.model)
    gen = get_generator(model_cfg) if "translation" in cfg.tasks and model_cfg is not None else None
    used = {id(g): g for g in (_generator(cfg, cfg.summarize.model, "summary"), gen) if g is not None}
    rate = decode_rate(next(iter(used.values()))) if used else None
    per_article = []
    results = []
    before = start = _usage(used.values())
    t0 = last = time.perf_counter()
    # As `summarizer run` does (limits.batch_size): an article's seconds are those since the record before it, so the
    # article that closes a batch carries the batch's model time.
    for r in process(pipe, files):
        now = time.perf_counter()
        spent = _usage(used.values()).minus(before)
        before = _usage(used.values())
        per_article.append(_article_row(r, spent, now - last, rate))
        results.append(r)
        last = now
    elapsed = time.perf_counter() - t0
    total = _usage(used.values()).minus(start)
    report: dict[str, Any] = {
        "config": cfg.name,
        "articles": len(files),
        "load_seconds": round(load_s, 2),
        "seconds": round(elapsed, 1),
        "articles_per_min": round(len(files) / elapsed * 60, 2),
        "decode_rate_tokens_per_s": round(rate, 2) if rate else None,
        "model_calls": total.calls,
        "prompt_tokens": total.prompt_tokens,
        "cached_prompt_tokens": total.cached_prompt_tokens,
        "output_tokens": total.output_tokens,
        "prompt_seconds": round(total.prompt_seconds, 1),
        "decode_seconds": round(total.decode_seconds, 1),
        "retranslated_segments": sum(row["retranslated_segments"] for row in per_article),
        "output_tokens_per_s": round(total.output_tokens / elapsed, 2) if total.output_tokens else None,
        # The share of the wall time that decoding the output at the measured rate needs: 1.0 is the bound.
        "efficiency": round(total.output_tokens / rate / elapsed, 3) if rate and total.output_tokens else None,
        "peak_rss_mb": round(_rss_mb(used.values()), 1),
        "errors": sum(1 for r in results if isinstance(r, ErrorRecord)),
        "seed_timings": getattr(results[0], "timings", None),
        "backend": model_cfg.backend if model_cfg is not None else "extractive",
        "per_article": per_article,
        "machine": machine(),
    }
    if naive and gen is not None:
        t0 = time.perf_counter()
        naive_cfg = replace(cfg.translate, context=False)
        for f in files:
            clear_generators()  # no reuse: every article pays the model load
            g = get_generator(model_cfg)
            article = pipe.article(f)
            summ = summarize(article, g, cfg.summarize)
            # One request per sentence, articles one at a time: no packing, no cross-article batch.
            sentences = tuple(s for p in (article.title, *article.paragraphs, summ.text) for s in split_sentences(p))
            translate_many([Article(id=article.id, title="", paragraphs=sentences)], [""], g, naive_cfg)
        naive_s = time.perf_counter() - t0
        report["naive_seconds"] = round(naive_s, 1)
        report["naive_articles_per_min"] = round(len(files) / naive_s * 60, 2)
        report["speedup_vs_naive"] = round(naive_s / elapsed, 2)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
