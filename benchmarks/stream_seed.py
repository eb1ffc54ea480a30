"""What the demo shows and when: the seed through `Pipeline.process_stream` (the demo's path) on a warm model, the
time from the start to the Chinese summary, the English title, each English paragraph, the English summary and the
end. Run it on another tree's code with PYTHONPATH=TREE to compare (the answer memory is off).

Usage: .venv/bin/python benchmarks/stream_seed.py [--config default] [--set KEY=VALUE ...] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import summarizer

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_a4f61a660f2d4dbe.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    overrides = {"memory.enabled": False, **dict(s.split("=", 1) for s in args.set)}
    pipe = summarizer.load_pipeline(args.config, overrides)
    pipe.process("北京市今天召开会议。\n会议讨论城市发展。")  # warm: the model is loaded, as on a server that ran before
    seen: dict[str, float] = {}
    t0 = time.perf_counter()
    last = None
    for partial in pipe.process_stream(SEED.read_text(encoding="utf-8")):
        now = round(time.perf_counter() - t0, 1)
        if partial.summary_zh and "summary_zh" not in seen:
            seen["summary_zh"] = now
        if partial.title_en and "title_en" not in seen:
            seen["title_en"] = now
        for k, p in enumerate(partial.paragraphs_en):
            if p and f"paragraph {k + 1}" not in seen:
                seen[f"paragraph {k + 1}"] = now
        if partial.summary_en and "summary_en" not in seen:
            seen["summary_en"] = now
        last = partial
    seen["done"] = round(time.perf_counter() - t0, 1)
    report = {"config": args.config, "overrides": overrides, "seconds": seen, "paragraphs": len(last.paragraphs_en),
              "han_left": any("\u4e00" <= c <= "\u9fff" for c in " ".join([last.title_en, *last.paragraphs_en,
                                                                           last.summary_en])),
              "cai_qi": " ".join(last.paragraphs_en).count("Cai Qi"), "code": summarizer.__file__}
    print(json.dumps(report, ensure_ascii=False))
    if args.output:
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
