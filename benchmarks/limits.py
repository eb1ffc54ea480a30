"""Time and peak memory of one article of 10 kB, 100 kB and 1 MB (the byte limit), end to end through the CLI.

Each article is real crawled news text (../shared/eval/crawl, or the bundled seed) repeated to the size, processed by
``summarizer run`` in a fresh process, so the peak RSS is that article's. Every stage must stay bounded for any input
within the limits: the extractive summary ranks a capped set of sentences, the LLM summary a capped number of
chunks, and model work stops at ``limits.article_seconds``.

    python benchmarks/limits.py                         # extractive config, all three sizes
    python benchmarks/limits.py --config small --budget 120 --output reports/bench-limits-small.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"10kB": 10_000, "100kB": 100_000, "1MB": 999_000}


def corpus_text() -> str:
    """Paragraphs of real news: the crawl files when ../shared is there, else the seed."""
    crawl = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval" / "crawl"
    files = sorted(crawl.rglob("*.txt"))[:60] or [ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt"]
    return "\n".join(f.read_text(encoding="utf-8").split("\n", 1)[1] for f in files)


def article_of(size: int, body: str) -> str:
    text = "一篇很长的测试文章\n"
    while len(text.encode("utf-8")) < size:
        text += body + "\n"
    data = text.encode("utf-8")[:size]
    return data.decode("utf-8", errors="ignore")


def run_one(path: Path, config: str, budget: float | None) -> dict:
    out = path.parent / f"out-{path.stem}"
    cmd = [sys.executable, "-m", "summarizer.cli", "run", str(path), "-o", str(out), "--config", config, "--overwrite",
           "--no-memory"]
    if budget is not None:
        cmd += ["--set", f"limits.article_seconds={budget}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rec = json.loads((out / "results.jsonl").read_text(encoding="utf-8").splitlines()[0])
    return {
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 2),
        "peak_rss_mb_so_far": round(rss, 1),
        "exit": proc.returncode,
        "outcome": rec.get("error") or "ok",
        "notes": rec.get("notes", []),
        "timings": rec.get("timings"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="extractive")
    ap.add_argument("--budget", type=float, default=None, help="limits.article_seconds for this run")
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    body = corpus_text()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in SIZES.items():
            path = Path(tmp) / f"{name}.txt"
            path.write_text(article_of(size, body), encoding="utf-8")
            # RUSAGE_CHILDREN is a running maximum over children: sizes go small to large, so each figure is its own.
            rows[name] = run_one(path, args.config, args.budget)
            print(f"{name:>6}: {rows[name]['seconds']:7.2f} s  peak RSS {rows[name]['peak_rss_mb_so_far']:7.1f} MB  "
                  f"{rows[name]['outcome']}", flush=True)
    report = {"config": args.config, "article_seconds": args.budget, "machine": {"cores": os.cpu_count()},
              "sizes": rows}
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
