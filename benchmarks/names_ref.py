"""The name finder against the hand-made reference list of WMT19 and FLORES dev-200 names (not against itself).

For each listed name: does `find_names` on its source sentence give a name that covers it, and is the finder's
English one the human reference uses? Prints recall (listed names found with the reference's English), precision
over the found names the list judges (found names that cover a listed one: share with the right English), and the
found names the list does not judge.

    python benchmarks/names_ref.py [--output reports/names-ref-finder.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "summarizer" / "examples" / "names_ref_dev.tsv"
DATA = {"wmt19": ROOT.parent / "shared/eval/translation/wmt19_newstest_zhen.jsonl",
        "flores": ROOT.parent / "shared/eval/translation/flores200_dev_zhen.jsonl"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    from summarizer.names import find_names

    listed: dict[tuple[str, int], list[tuple[str, list[str], str]]] = {}
    for line in LIST.read_text(encoding="utf-8").splitlines()[1:]:
        dataset, row, zh, english, kind = line.split("\t")
        listed.setdefault((dataset, int(row)), []).append((zh, english.split("|"), kind))
    report = {}
    for dataset, path in DATA.items():
        rows = [json.loads(x)["zh"] for x in path.read_text(encoding="utf-8").splitlines()[:200]]
        n = found_right = judged = judged_right = unjudged = 0
        by_kind: dict[str, list[int]] = {}
        misses = []
        for i, zh in enumerate(rows):
            names = find_names(zh)
            want = listed.get((dataset, i), [])
            for src, forms, kind in want:
                n += 1
                hit = any(src in f.source and any(_same(f.english, form) for form in forms) for f in names)
                found_right += hit
                by_kind.setdefault(kind, [0, 0])
                by_kind[kind][0] += 1
                by_kind[kind][1] += hit
                if not hit:
                    misses.append(f"{i}:{src}")
            for f in names:
                cover = [w for w in want if w[0] in f.source or f.source in w[0]]
                if cover:
                    judged += 1
                    judged_right += any(_same(f.english, form) for _, forms, _ in cover for form in forms)
                else:
                    unjudged += 1
        report[dataset] = {"listed": n, "recall": round(found_right / max(1, n), 3),
                           "judged_found": judged, "precision": round(judged_right / max(1, judged), 3),
                           "unjudged_found": unjudged,
                           "recall_by_kind": {k: round(v[1] / max(1, v[0]), 3) for k, v in sorted(by_kind.items())},
                           "missed": misses}
        print(dataset, {k: v for k, v in report[dataset].items() if k != "missed"}, flush=True)
    if args.output:
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


def _same(english: str, form: str) -> bool:
    from summarizer.text import name_key

    a, b = name_key(english), name_key(form)
    return bool(a) and (a == b or b in a)


if __name__ == "__main__":
    main()
