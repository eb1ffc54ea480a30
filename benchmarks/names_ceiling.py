"""Where the English of each hand-listed name can come from offline, and what that allows `names_ref_kept` to reach.

Each name of the hand-made list (`summarizer/examples/names_ref_dev.tsv`, WMT19 and FLORES dev-200) is put in the
first of these that holds one of its reference forms:
- source: the form is written in Latin letters in the Chinese sentence itself (洛丁（Lodin）);
- dictionary: CC-CEDICT's definitions of the name hold the form (印度洋 "Indian Ocean");
- pinyin: the form, less generic words (Temple, Grassland, Airlines, University...), is the pinyin of the name or of
  its start (法门寺 "Famen Temple", 广东省 "Guangdong");
- knowledge: none of them. Only a model or a resource that knows the name can write it (中国工程物理研究院 "China
  Academy of Engineering Physics", 祥鹏航空 "Lucky Air", 莫兰 "Moran", 伊藤忠商事 "Itochu").

Against eval reports of the same rows, it prints how often the output has each kind right, and the ceiling: the
score if every name of the first three kinds were right while the knowledge names stayed as they are; and how many
knowledge names a 93 % score would need.

    python benchmarks/names_ceiling.py [--wmt19 REPORT] [--flores REPORT] [--output reports/names-ceiling.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from names_ref import DATA, ROOT  # run as a script: benchmarks/ is on the path

REPORTS = {"wmt19": ROOT / "reports/translation-wmt19-default-borrowed.json",
           "flores": ROOT / "reports/translation-flores-default-borrowed.json"}
# Words an English name adds for the kind of thing it is; the rest of the name is what pinyin has to spell.
_GENERIC = {"temple", "grassland", "university", "lake", "river", "mountain", "mount", "mt", "district", "county",
            "province", "city", "town", "township", "village", "street", "road", "bridge", "airlines", "airline",
            "air", "airport", "park", "bay", "island", "islands", "hall", "group", "company", "bank", "port", "station",
            "square", "sea", "area", "scenic", "spot", "the", "of"}
TARGET = 0.93


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def origin(zh: str, forms: tuple[str, ...], source: str) -> str:
    """"source", "dictionary", "pinyin" or "knowledge": where the first of `forms` that can be had offline comes
    from (see the module's docstring)."""
    from pypinyin import lazy_pinyin

    from summarizer.dictionary import lookup

    if any(re.search("[A-Za-z]", f) and f.lower() in source.lower() for f in forms):
        return "source"
    definitions = " / ".join(d for _, d in lookup(zh)).lower()
    if definitions and any(f.lower() in definitions for f in forms):
        return "dictionary"
    starts = {_key("".join(lazy_pinyin(zh[:k]))) for k in range(1, len(zh) + 1)}
    for f in forms:
        core = _key("".join(w for w in re.findall(r"[A-Za-z']+", f) if w.lower() not in _GENERIC))
        if core and core in starts:
            return "pinyin"
    return "knowledge"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for dataset, path in REPORTS.items():
        ap.add_argument(f"--{dataset}", type=Path, default=path, help=f"an eval report of {dataset} dev rows")
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    from summarizer.evaluate import load_reference_names, name_written

    listed = load_reference_names()
    report = {}
    for dataset, data in DATA.items():
        run = json.loads(Path(getattr(args, dataset)).read_text(encoding="utf-8"))
        hypotheses = run["hypotheses"]
        sources = [json.loads(x)["zh"] for x in data.read_text(encoding="utf-8").splitlines()[:len(hypotheses)]]
        kinds: dict[str, dict] = {}
        for name in listed:
            if name.dataset != dataset or name.row >= len(hypotheses):
                continue
            kind = origin(name.zh, name.english, sources[name.row])
            entry = kinds.setdefault(kind, {"names": 0, "right": 0, "missed": []})
            entry["names"] += 1
            if name_written(hypotheses[name.row], name):
                entry["right"] += 1
            else:
                entry["missed"].append(f"{name.row} {name.zh} {name.english[0]}")
        total = sum(k["names"] for k in kinds.values())
        right = sum(k["right"] for k in kinds.values())
        knowledge = kinds.get("knowledge", {"names": 0, "right": 0})
        offline = total - knowledge["names"]
        needed = max(0, -(-int(TARGET * total * 1000) // 1000) - offline)
        report[dataset] = {
            "report": str(Path(getattr(args, dataset)).resolve().relative_to(ROOT)),
            "names": total, "right": right, "names_ref_kept": round(right / total, 4),
            "kinds": {k: {"names": v["names"], "share": round(v["names"] / total, 4), "right": v["right"],
                          "right_share": round(v["right"] / v["names"], 4), "missed": v["missed"]}
                      for k, v in sorted(kinds.items())},
            "ceiling": round((offline + knowledge["right"]) / total, 4),
            "knowledge_needed_for_target": needed,
            "knowledge_needed_share": round(needed / knowledge["names"], 4) if knowledge["names"] else 0.0,
        }
        r = report[dataset]
        print(f"{dataset}: {right}/{total} right ({r['names_ref_kept']:.1%})")
        for k, v in r["kinds"].items():
            print(f"  {k:10s} {v['names']:3d} names ({v['share']:.1%}), {v['right']} right ({v['right_share']:.1%})")
        print(f"  ceiling with every offline name right: {r['ceiling']:.1%}; {TARGET:.0%} needs {needed} of "
              f"{knowledge['names']} knowledge names ({r['knowledge_needed_share']:.1%}), the output has "
              f"{knowledge['right']}")
    if args.output:
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
