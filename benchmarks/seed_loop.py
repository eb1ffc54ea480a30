"""The seed through `summarizer run` on the code of another tree (the main before the loop) and on this one, back to
back in one session, each arm a fresh process with the answer memory off; the same quality checks for each.

Usage: .venv/bin/python benchmarks/seed_loop.py --base /tmp/base [--config default] [--arm NAME:TREE:KEY=VALUE ...]
    [--output reports/bench-seed-loop-default.json]
An arm's TREE is "base" or "here"; KEY=VALUE pairs (comma-separated) go to --set. Each arm's code is put first on
PYTHONPATH (the model worker inherits it).
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


def run(tree: Path, config: str, sets: list[str], out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "summarizer.cli", "run", str(ROOT / "seeds"), "-o", str(out), "--config", config,
           "--overwrite", "--no-memory"]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    (rec,) = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    en = " ".join(rec.get("paragraphs_en", []))
    return {"exit": p.returncode, "wall_seconds": round(wall, 1), "timings": rec.get("timings"),
            "width": rec.get("model", {}).get("translation", {}).get("parallel"),
            "paragraphs": len(rec.get("paragraphs_en", [])),
            "han_left": bool(re.search(r"[\u4e00-\u9fff]", en + rec.get("title_en", "") + rec.get("summary_en", ""))),
            "cai_qi": en.count("Cai Qi"), "warnings": rec.get("warnings"), "title_en": rec.get("title_en"),
            "summary_zh": rec.get("summary_zh"), "summary_en": rec.get("summary_en"),
            "paragraphs_en": rec.get("paragraphs_en"), "stderr_tail": p.stderr[-600:] if p.returncode else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="a checkout of the code to compare with")
    ap.add_argument("--config", default="default")
    ap.add_argument("--arm", action="append", default=[], help="NAME:TREE:KEY=VALUE,... (TREE: base or here)")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    arms = args.arm or ["base:base:", "here:here:"]
    rows = {}
    for arm in arms:
        name, tree, sets = (arm.split(":", 2) + [""])[:3]
        with tempfile.TemporaryDirectory() as tmp:
            rows[name] = run(args.base if tree == "base" else ROOT, args.config, [s for s in sets.split(",") if s],
                             Path(tmp))
        rows[name]["arm"] = arm
        print(name, rows[name]["wall_seconds"], "s", rows[name]["paragraphs"], "paragraphs, Han:",
              rows[name]["han_left"], "Cai Qi:", rows[name]["cai_qi"], flush=True)
    first = next(iter(rows.values()))["wall_seconds"]
    report = {"config": args.config, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "arms": rows,
              "speedup_vs_first": {k: round(first / v["wall_seconds"], 3) for k, v in rows.items()}}
    print(json.dumps(report["speedup_vs_first"]))
    if args.output:
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
