"""False alarms of the translation checks on human references: each check run on the reference English of WMT19
and FLORES dev, where every flag is a false alarm (or a free reference), so a rule fitted to one set shows it.

    python benchmarks/checks_on_references.py        # prints, writes reports/checks-on-references.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from summarizer.config import TranslateConfig
from summarizer.namecheck import missing_names
from summarizer.names import find_names
from summarizer.numbers import missing_numbers, source_numbers
from summarizer.translate import translation_problems

ROOT = Path(__file__).resolve().parent.parent
SETS = {"wmt19": "wmt19_newstest_zhen.jsonl", "flores": "flores200_dev_zhen.jsonl"}


def main() -> None:
    """Run every check on every reference and write the shares flagged."""
    data = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval" / "translation"
    cfg = TranslateConfig()
    report = {}
    for name, file in SETS.items():
        rows = [json.loads(line) for line in (data / file).read_text(encoding="utf-8").splitlines() if line.strip()]
        counts = {"sentences": len(rows), "numbers": 0, "numbers_flagged": 0, "names": 0, "names_flagged": 0,
                  "meta": 0, "short": 0, "weekday": 0, "month": 0, "invented": 0}
        examples: dict[str, list] = {"numbers": [], "names": [], "short": [], "weekday": [], "month": [], "meta": [], "invented": []}
        for r in rows:
            counts["numbers"] += len(source_numbers(r["zh"]))
            lost = missing_numbers(r["zh"], r["en"])
            counts["numbers_flagged"] += len(lost)
            names = find_names(r["zh"])
            counts["names"] += len(names)
            gone = missing_names(r["zh"], r["en"], names)
            counts["names_flagged"] += len(gone)
            problems = translation_problems(r["zh"], r["en"], cfg)
            for key in ("meta", "short", "weekday", "month"):
                counts[key] += problems[key]
            counts["invented"] += bool(problems["invented"])
            for key, hit in (("numbers", lost), ("names", [n.source for n in gone]), ("short", problems["short"]),
                             ("weekday", problems["weekday"]), ("month", problems["month"]), ("meta", problems["meta"]),
                             ("invented", problems["invented"])):
                if hit and len(examples[key]) < 5:
                    examples[key].append({"zh": r["zh"][:120], "en": r["en"][:160], "flag": str(hit)})
        n = counts["sentences"]
        report[name] = {**counts,
                        "numbers_false_alarm_share": round(counts["numbers_flagged"] / max(1, counts["numbers"]), 4),
                        "names_false_alarm_share": round(counts["names_flagged"] / max(1, counts["names"]), 4),
                        **{f"{k}_share": round(counts[k] / n, 4) for k in ("meta", "short", "weekday", "month", "invented")},
                        "examples": examples}
        print(name, {k: v for k, v in report[name].items() if k != "examples"})
    (ROOT / "reports" / "checks-on-references.json").write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                                                 encoding="utf-8")


if __name__ == "__main__":
    main()
