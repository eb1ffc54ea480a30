"""Throughput and memory benchmarks: articles/min, output tokens/s, model load time and peak RSS of a config.

The product path is timed through `Pipeline.process_many`, exactly as the batch CLI runs it; the naive baseline
(one request per sentence, a fresh model load per article) is built from the same public task functions.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .clean import Article
from .config import load_config
from .evaluate import machine
from .models import clear_generators, get_generator
from .pipeline import ErrorRecord, Pipeline
from .summarize import summarize
from .text import split_sentences
from .translate import translate_many

logger = logging.getLogger("summarizer")

__all__ = ["bench_articles", "run_bench", "EXAMPLES_DIR", "SEED_NAME"]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SEED_NAME = "000_a4f61a660f2d4dbe.txt"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def run_bench(*, config: str | None = None, overrides: dict | None = None, articles: int = 20, naive: bool = False,
              output: Path | None = None, folder: str | Path | None = None) -> dict[str, Any]:
    """Articles/min, output tokens/s, load time and peak RSS of a config on the seed and crawled articles.

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
    t0 = time.perf_counter()
    results = list(pipe.process_many(files))
    elapsed = time.perf_counter() - t0
    model_cfg = cfg.models.get(cfg.translate.model)
    gen = get_generator(model_cfg) if "translation" in cfg.tasks and model_cfg is not None else None
    out_tokens = 0
    for r in results:
        if not isinstance(r, ErrorRecord) and gen is not None:
            out_tokens += sum(gen.count_tokens(p) for p in r.paragraphs_en) + gen.count_tokens(r.title_en + r.summary_en)
    report: dict[str, Any] = {
        "config": cfg.name,
        "articles": len(files),
        "load_seconds": round(load_s, 2),
        "seconds": round(elapsed, 1),
        "articles_per_min": round(len(files) / elapsed * 60, 2),
        "output_tokens_per_s": round(out_tokens / elapsed, 2) if out_tokens else None,
        "peak_rss_mb": round(_rss_mb(), 1),
        "errors": sum(1 for r in results if isinstance(r, ErrorRecord)),
        "seed_timings": getattr(results[0], "timings", None),
        "backend": model_cfg.backend if model_cfg is not None else "extractive",
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
