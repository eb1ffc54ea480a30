"""Translate every N consecutive rows of a translation set as one article's paragraphs (the whole article path: one
term table per article, hints, checks, repair) and write the records, for `benchmarks/consistency.py`.

    python benchmarks/articles_of_rows.py DATA.jsonl --limit 200 --rows 10 --config default -o OUT/results.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import summarizer  # noqa: E402
from summarizer import Article  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--config", default="default")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    lines = Path(args.data).read_text(encoding="utf-8").splitlines()[args.skip:args.skip + args.limit]
    rows = [json.loads(line)["zh"] for line in lines]
    articles = [Article(id=f"rows-{i}", title="", paragraphs=tuple(rows[i:i + args.rows]))
                for i in range(0, len(rows), args.rows)]
    pipe = summarizer.load_pipeline(args.config).variant(tasks=("translation",))
    start = time.perf_counter()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for result in pipe.process_many(articles, batch_size=1):
            f.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    print(f"{len(articles)} articles in {time.perf_counter() - start:.1f} s -> {out}")


if __name__ == "__main__":
    main()
