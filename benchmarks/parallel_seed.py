"""The seed through `summarizer run`, one request at a time (``models.llm.parallel=1``, as before batched decoding)
against the decode width this machine picks, back to back in one session, with the same quality checks.

Usage: .venv/bin/python benchmarks/parallel_seed.py [CONFIG] [--output reports/bench-parallel-seed-CONFIG.json]
Each run is a fresh process (model load included in the wall time; the width probe is cached by then).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(config: str, parallel: int, out: Path) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "summarizer.cli", "run", "seeds/", "-o", str(out), "--config", config,
                        "--set", f"models.llm.parallel={parallel}", "--overwrite", "--no-memory"], cwd=ROOT, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    (rec,) = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    en = " ".join(rec["paragraphs_en"])
    return {"parallel_setting": parallel, "exit": p.returncode, "wall_seconds": round(wall, 1),
            "timings": rec["timings"], "width": rec["model"].get("translation", {}).get("parallel"),
            "paragraphs": len(rec["paragraphs_en"]), "han_left": bool(re.search(r"[\u4e00-\u9fff]", en + rec["title_en"]
                                                                               + rec["summary_en"])),
            "cai_qi": en.count("Cai Qi"), "warnings": rec["warnings"], "title_en": rec["title_en"],
            "summary_en": rec["summary_en"], "paragraphs_en": rec["paragraphs_en"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", default="default")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    report = {"config": args.config, "cores": os.cpu_count(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for name, parallel in (("one_at_a_time", 1), ("together", 0)):
        report[name] = run(args.config, parallel, tmp / name)
        r = report[name]
        print(f"{name}: {r['wall_seconds']} s (summary {r['timings'].get('summary')} s, translation "
              f"{r['timings'].get('translation')} s), width {r['width']}, {r['paragraphs']} paragraphs, Han left "
              f"{r['han_left']}, Cai Qi x{r['cai_qi']}, {len(r['warnings'])} warnings", flush=True)
    a, b = report["one_at_a_time"], report["together"]
    report["speedup"] = round(a["wall_seconds"] / b["wall_seconds"], 2)
    report["same_paragraphs"] = sum(x == y for x, y in zip(a["paragraphs_en"], b["paragraphs_en"]))
    print(f"speed-up {report['speedup']}x; {report['same_paragraphs']} of {a['paragraphs']} paragraphs the same text")
    if args.output:
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
