"""Does the review queue hold every sentence behind each warning, and nothing else? Reads a run's results.jsonl.

For each article, the translation warnings (its ``findings`` on the English title, paragraphs and summary, by slot and
kind) must be exactly the flags on its sentence pairs (by slot and kind): a warning with no flagged sentence, or a
flagged sentence with no warning, is reported. Both are records; no wording is read.

    python benchmarks/review_queue.py OUT/results.jsonl [--output reports/review-queue.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Where a finding is about the English, as a sentence passage's slot.
ENGLISH = ("title", "para", "summary")


def check(rec: dict) -> dict:
    """The (slot, kind) pairs of an article's warnings and of its flagged sentences, and where they differ."""
    warned = {(f["where"], f["kind"]) for f in rec.get("findings", []) if f["where"] in ENGLISH}
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
