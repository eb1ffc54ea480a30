"""Precision and recall of the name finder (`summarizer.names.find_names`) on hand-listed crawl articles.

The list (tests/data/names_crawl.tsv) holds every name whose English is its pinyin in 27 crawled articles, split into
the articles read while the finder's rules were written (dev) and articles listed after (held-out). A name counts as
found when both its Chinese and its English are right.

    python benchmarks/names.py                      # prints the scores, writes reports/names-crawl.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from summarizer.evaluate import name_finder_scores

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Score the finder and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "names-crawl.json")
    args = parser.parse_args()
    crawl = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval" / "crawl"
    report = name_finder_scores(ROOT / "tests" / "data" / "names_crawl.tsv", crawl)
    for split in ("dev", "held-out", "all"):
        s = report[split]
        print(f"{split:9} names {s['names']:4}  found {s['found']:4}  correct {s['correct']:4}  "
              f"precision {s['precision']:.3f}  recall {s['recall']:.3f}")
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
