"""Recompute a translation report's scores from its saved hypotheses (after the checker improves).

Usage: .venv/bin/python scripts/rescore.py reports/translation-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from summarizer.evaluate import markdown_report, reference_names_for, translation_scores


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        report = json.loads(path.read_text(encoding="utf-8"))
        with open(report["data"], encoding="utf-8") as f:
            skip = report.get("skip", 0)
            rows = [json.loads(line) for line in f if line.strip()][skip:skip + report["n"] * (report.get("join", 1) or 1)]
        join = report.get("join", 1) or 1
        if join > 1:
            rows = [{"zh": "".join(r["zh"] for r in rows[i:i + join]), "en": " ".join(r["en"] for r in rows[i:i + join])}
                    for i in range(0, len(rows), join)]
        names = reference_names_for(report["data"], [r["zh"] for r in rows], join, skip)
        for old in ("names_kept", "names"):
            report.pop(old, None)
        report.update(translation_scores(report["hypotheses"], [r["en"] for r in rows], [r["zh"] for r in rows],
                                         names))
        report["rescored"] = True
        path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        path.with_suffix(".md").write_text(markdown_report(report), encoding="utf-8")
        print(path, {k: report.get(k) for k in ("bleu", "chrf", "numbers_ref_kept", "numbers_kept", "names_ref_kept",
                                                    "names_ref")})


if __name__ == "__main__":
    main(sys.argv[1:])
