"""Articles/min of `summarizer run` with the local engine vs --engine ray, same input, same config.

Usage: .venv/bin/python benchmarks/ray_vs_local.py [N_ARTICLES] [CONFIG] [TASKS]
Writes reports/bench-ray-vs-local.json. Each engine runs in a fresh process (model load included).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    config = sys.argv[2] if len(sys.argv) > 2 else "small"
    tasks = sys.argv[3] if len(sys.argv) > 3 else "summary"
    crawl = sorted((ROOT.parent / "shared" / "eval" / "crawl").rglob("*.txt"))[:n]
    tmp = Path(tempfile.mkdtemp())
    src = tmp / "in"
    src.mkdir()
    for i, f in enumerate(crawl):
        shutil.copy(f, src / f"{i:03d}.txt")
    report = {"articles": n, "config": config, "tasks": tasks, "cores": os.cpu_count()}
    for engine in ("local", "ray"):
        out = tmp / engine
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "summarizer.cli", "run", str(src), "-o", str(out), "--config", config,
                            "--tasks", tasks, "--engine", engine, "--no-memory"], cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        report[engine] = {"seconds": round(elapsed, 1), "articles_per_min": round(len(lines) / elapsed * 60, 2),
                          "records": len(lines), "exit": p.returncode}
    report["ray_overhead_seconds"] = round(report["ray"]["seconds"] - report["local"]["seconds"], 1)
    out_path = ROOT / "reports" / "bench-ray-vs-local.json"
    out_path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
