"""Does the review queue hold every sentence behind each warning, and nothing else? Reads a run's results.jsonl.

For each article, the translation warnings (by slot and kind) must be exactly the flags on its sentence pairs (by
slot and kind): a warning with no flagged sentence, or a flagged sentence with no warning, is reported. The check
reads the warnings' wording only here, to hold two separate outputs against each other; no product code does.

    python benchmarks/review_queue.py OUT/results.jsonl [--output reports/review-queue.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

# The translation warnings' openings and the flag each stands for ({slot} is title, para or summary).
WARNING_KINDS = [
    (r"numbers not kept in the English (\w+)", "number_lost"),
    (r"names not kept in the English (\w+)", "name_missing"),
    (r"names in the English (\w+) that the source does not have", "name_unsupported"),
    (r"the English (\w+) names a weekday", "weekday_added"),
    (r"the English (\w+) names a month", "month_added"),
    (r"the English (\w+) names a year", "year_added"),
    (r"the English (\w+) describes the text", "description"),
    (r"the English (\w+) is far shorter", "content_short"),
    (r"Chinese left in the English (\w+)", "chinese_left"),
]


def check(rec: dict) -> dict:
    """The (slot, kind) pairs of an article's warnings and of its flagged sentences, and where they differ."""
    warned = set()
    for w in rec.get("warnings", []):
        for pattern, kind in WARNING_KINDS:
            m = re.match(pattern, w)
            if m:
                warned.add((m.group(1), kind))
    flagged = {(p["slot"], f["kind"]) for p in rec.get("sentences", []) for pair in p["pairs"] for f in pair["flags"]
               if f["kind"] not in ("repaired", "sampled")}
    pairs = sum(len(p["pairs"]) for p in rec.get("sentences", []))
    n_flagged = sum(any(f["kind"] not in ("repaired", "sampled") for f in pair["flags"])
                    for p in rec.get("sentences", []) for pair in p["pairs"])
    return {"id": rec["id"], "pairs": pairs, "flagged_pairs": n_flagged, "warnings": sorted(map(list, warned)),
            "warned_not_flagged": sorted(map(list, warned - flagged)),
            "flagged_not_warned": sorted(map(list, flagged - warned))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    recs = [json.loads(x) for x in args.results.read_text(encoding="utf-8").splitlines() if x.strip()]
    out = [check(r) for r in recs if "error" not in r]
    for o in out:
        print(o["id"], f"pairs {o['pairs']}", f"flagged {o['flagged_pairs']}", "warnings", o["warnings"],
              "MISMATCH" if o["warned_not_flagged"] or o["flagged_not_warned"] else "ok")
    ok = all(not o["warned_not_flagged"] and not o["flagged_not_warned"] for o in out)
    print("every warning has its sentences and every flagged sentence its warning:", ok)
    if args.output:
        args.output.write_text(json.dumps({"exact": ok, "articles": out}, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
