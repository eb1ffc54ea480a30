"""Content duplicates in the 520 crawl files (issue 47): how many articles have the cleaned title and body of an
earlier file, and the model requests and output tokens their records no longer cost (each duplicated article
processed once with the model, its requests counted, times the copies that now reuse it). Also the navigation lines
cleaning drops.

    python benchmarks/crawl_duplicates.py --config small     # writes reports/crawl-duplicates-small.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from summarizer.clean import clean_article, html_to_paragraphs, is_navigation_line
from summarizer.pipeline import load_pipeline
from summarizer.records import content_key

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="small")
    args = ap.parse_args()
    crawl = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval" / "crawl"
    files = sorted(p for p in crawl.rglob("*") if p.is_file())
    groups: dict[str, list[Path]] = defaultdict(list)
    navigation = 0
    for path in files:
        article = clean_article(path)
        groups[content_key(article.title, article.paragraphs)].append(path)
        raw, _, _ = html_to_paragraphs(path.read_text(encoding="utf-8", errors="replace"))
        navigation += sum(is_navigation_line(p) for p in raw)
    repeated = {k: v for k, v in groups.items() if len(v) > 1}
    pipe = load_pipeline(args.config, {"memory.enabled": False})
    per_first = []
    for paths in repeated.values():
        calls, tokens, t0 = pipe.model_calls, pipe.model_usage().output_tokens, time.perf_counter()
        pipe.process(paths[0])
        per_first.append({"first": paths[0].name, "copies": len(paths) - 1, "model_requests": pipe.model_calls - calls,
                          "output_tokens": pipe.model_usage().output_tokens - tokens,
                          "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(per_first[-1], ensure_ascii=False), flush=True)
    report = {
        "config": args.config, "files": len(files), "distinct_contents": len(groups),
        "duplicates": sum(len(v) - 1 for v in repeated.values()), "contents_repeated": len(repeated),
        "navigation_lines_dropped": navigation,
        "saved": {"model_requests": sum(f["model_requests"] * f["copies"] for f in per_first),
                  "output_tokens": sum(f["output_tokens"] * f["copies"] for f in per_first),
                  "seconds": round(sum(f["seconds"] * f["copies"] for f in per_first), 1)},
        "per_first": per_first,
    }
    path = ROOT / "reports" / f"crawl-duplicates-{args.config}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "per_first"}), "\nwrote", path)


if __name__ == "__main__":
    main()
