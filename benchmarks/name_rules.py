"""Where the dictionary's name rules of issue 37 fire, and whether the human reference agrees, on WMT19 and FLORES
(dev rows 0-199, where rules are tuned, and rows 200-399, never read while writing them) and on the crawl.

The rules: CC-CEDICT's English of a mainland place that contradicts its own pinyin gives way to the pinyin
(`dictionary.pinyin_over_romanisation`, 巫溪 "Wushi" → "Wuxi County"); a much-used river, sea or range gets its
English name as a hint (`dictionary.well_known_feature`, 长江 "Yangtze River"); official names of six words
(北京科技大学 "University of Science and Technology Beijing"). For each name the finder gives by one of these rules,
the reference is read for the hint's words, case-insensitive, with no code of the checks: "agrees" when it has the
hint's first word, "other" when it does not (the reference words it otherwise or leaves it out: a false alarm if
the hint were required). The crawl has no references: its firings are listed.

    python benchmarks/name_rules.py         # prints a table, writes reports/name-rules.json
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from summarizer.dictionary import WELL_KNOWN, lookup, pinyin_over_romanisation, well_known_feature, word_count
from summarizer.names import find_names

ROOT = Path(__file__).resolve().parent.parent
SETS = {"wmt19": "wmt19_newstest_zhen.jsonl", "flores": "flores200_dev_zhen.jsonl"}


def rule_of(word: str, english: str) -> str | None:
    """Which of the three rules gave `word` its English, if any."""
    entries = lookup(word)
    if not entries:
        return None
    pinyin, definition = entries[0]
    first = definition.split("; ")[0]
    if word_count(word) > WELL_KNOWN and well_known_feature(word):
        return "well_known_feature"
    words = first.split(" in ")[0].split()
    if len(words) == 2 and pinyin_over_romanisation(word, pinyin, words[0] + " " + words[1].capitalize(), first):
        return "pinyin_over_romanisation"
    if len(english.split()) == 6:
        return "six_words"
    return None


def _agrees(english: str, reference: str) -> bool:
    head = re.sub(r"[^a-z]", "", english.split()[0].lower())
    return head in re.sub(r"[^a-z ]", "", reference.lower()).split() or head in reference.lower()


def main() -> None:
    """Count each rule's firings and the references' agreement; write the report."""
    shared = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval"
    report: dict[str, dict] = {}
    for name, file in SETS.items():
        rows = [json.loads(line) for line in (shared / "translation" / file).open(encoding="utf-8")][:400]
        for part, lo in (("rows 0-199", 0), ("rows 200-399", 200)):
            counts: dict[str, dict] = {}
            for k, row in enumerate(rows[lo:lo + 200], start=lo):
                for n in find_names(row["zh"]):
                    rule = rule_of(n.source, n.english)
                    if rule:
                        c = counts.setdefault(rule, {"fired": 0, "agrees": 0, "other": []})
                        c["fired"] += 1
                        if _agrees(n.english, row["en"]):
                            c["agrees"] += 1
                        else:
                            c["other"].append({"row": k, "zh": n.source, "hint": n.english, "reference": row["en"][:200]})
            report[f"{name} {part}"] = counts
    crawl: dict[str, list] = {}
    for path in sorted((shared / "crawl").rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for n in find_names(text):
                rule = rule_of(n.source, n.english)
                if rule:
                    crawl.setdefault(rule, []).append(f"{n.source} {n.english}")
    report["crawl"] = {rule: {"fired": len(v), "names": sorted(set(v))} for rule, v in crawl.items()}
    (ROOT / "reports" / "name-rules.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n",
                                                      encoding="utf-8")
    for where, counts in report.items():
        for rule, c in counts.items():
            agrees = f", reference agrees {c['agrees']}, other {len(c['other'])}" if "agrees" in c else ""
            print(f"{where:22} {rule:26} fired {c['fired']}{agrees}")


if __name__ == "__main__":
    main()
