"""Recompute a translation report's scores from its saved hypotheses (after the checker improves).

Usage: .venv/bin/python scripts/rescore.py reports/translation-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from summarizer.evaluate import _markdown, translation_scores


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        report = json.loads(path.read_text(encoding="utf-8"))
        with open(report["data"], encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()][: report["n"]]
        report.update(translation_scores(report["hypotheses"], [r["en"] for r in rows], [r["zh"] for r in rows]))
        report["rescored"] = True
        path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        path.with_suffix(".md").write_text(_markdown(report), encoding="utf-8")
        print(path, {k: report[k] for k in ("bleu", "chrf", "leak_share", "numbers_kept")})


if __name__ == "__main__":
    main(sys.argv[1:])
