"""Offices, bodies and places against human references (issue 46), before and after, from eval reports.

For every row of the data whose Chinese holds an office or body of the table (`offices.find_offices`) or a place of
the gazetteer, the human reference is the yardstick: a term counts where the reference writes it in one of the forms
the table accepts, and a system is right where its English holds a form the reference holds. Where the reference
holds none of the forms, `office_wrong` (or the place check) would flag a human translation: that is the check's
false-alarm rate. Names are also scored on rows the hand-made list does not cover, by a proxy that needs no finder:
the reference's capitalised words that are not sentence starts (their recall in the system's English).
`term_unverified`'s false-alarm rate: of the quoted terms the references render in quotes, the share whose human
English fails the dictionary's back-check (a term the article gives once, with one rendering, would be flagged).

    python benchmarks/vocabulary_refs.py DATA.jsonl --skip 0 --limit 200 BEFORE.json AFTER.json [--output R.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarizer.evaluate import name_written, reference_names_for  # noqa: E402
from summarizer.namecheck import missing_names  # noqa: E402
from summarizer.refnumbers import numbers_ref_kept  # noqa: E402
from summarizer.offices import form_in, names_and_offices  # noqa: E402
from summarizer.terms import backed_by_dictionary, quoted_terms, renderings  # noqa: E402

# Capitalised words that start sentences or are function words, not names.
_COMMON = set("The A An In On At For Of And But Or It He She They We I You This That These Those His Her Its Their Our "
              "As By From With To After Before When While If Mr Ms Mrs Dr Monday Tuesday Wednesday Thursday Friday "
              "Saturday Sunday January February March April May June July August September October November December "
              "There Here What Who How Why Which According However Meanwhile Also Some Many Most All Each Every One "
              "Two Three First Last".split())


def forms_held(english: str, name) -> list[str]:
    """The forms of `name` (its English, its accepted forms, a place's pinyin core) that `english` holds."""
    forms = [name.english, *name.accepted] + ([name.core] if name.core else [])
    return [f for f in forms if f and form_in(english, f)]


def reference_capitals(ref: str) -> list[str]:
    words = re.findall(r"(?<![.!?\"“]\s)(?<!^)\b([A-Z][a-zA-Z'-]{2,})", ref)
    return [w for w in dict.fromkeys(words) if w not in _COMMON]


def score(rows: list[dict], hyps: dict[str, list[str]], data_path: str | None = None) -> dict:
    import sacrebleu

    out: dict = {"rows": len(rows)}
    for kind in ("office", "place"):
        terms = with_ref = 0
        # Right: the system writes a form the reference writes. Standard: it writes any form the table accepts (the
        # reference shows the term is one the table covers: "Vice Mayor" where it says "deputy mayor").
        right = {k: 0 for k in hyps}
        standard = {k: 0 for k in hyps}
        for n, row in enumerate(rows):
            table = names_and_offices(row["zh"])
            flagged = missing_names(row["zh"], row["en"], table)
            for name in table:
                if (kind == "office") != (name.kind == "office") or (kind == "place" and name.origin != "gazetteer"):
                    continue
                terms += 1
                held = forms_held(row["en"], name)
                # The check itself on the human reference: a flag there is a false alarm.
                if name in flagged or not held:
                    continue
                with_ref += 1
                for k, hs in hyps.items():
                    right[k] += any(form_in(hs[n], f) for f in held)
                    standard[k] += bool(forms_held(hs[n], name))
        out[kind] = {"terms": terms, "reference_standard": with_ref,
                     "false_alarm_rate": round(1 - with_ref / terms, 4) if terms else None,
                     **{f"right_{k}": right[k] for k in hyps},
                     **{f"right_share_{k}": round(right[k] / with_ref, 4) if with_ref else None for k in hyps},
                     **{f"standard_share_{k}": round(standard[k] / with_ref, 4) if with_ref else None for k in hyps}}
    caps = 0
    kept = {k: 0 for k in hyps}
    for n, row in enumerate(rows):
        words = reference_capitals(row["en"])
        caps += len(words)
        for k, hs in hyps.items():
            low = hs[n].lower()
            kept[k] += sum(w.lower() in low for w in words)
    out["reference_capitals"] = {"words": caps, **{f"kept_{k}": round(kept[k] / max(1, caps), 4) for k in hyps}}
    quoted = backed = 0
    for row in rows:
        terms = quoted_terms(row["zh"])
        for term, ens in renderings([(row["zh"], row["en"])], terms).items():
            quoted += 1
            backed += backed_by_dictionary(term, ens[0])
    # The rows this change touches (an office, a body or a gazetteer place in the source) apart from the rest, whose
    # hints and checks are as before: there the runs differ only by the model loop's run-to-run noise.
    touched = [any(n.kind == "office" or n.origin == "gazetteer" for n in names_and_offices(r["zh"])) for r in rows]
    out["by_rows"] = {}
    every_name = reference_names_for(data_path, [r["zh"] for r in rows]) if data_path else None
    for label, keep in (("touched", True), ("untouched", False)):
        idx = [i for i, t in enumerate(touched) if t == keep]
        refs = [rows[i]["en"] for i in idx]
        names = [every_name[i] for i in idx] if every_name else None
        entry = {"rows": len(idx)}
        for k, hs in hyps.items() if idx else ():
            sub = [hs[i] for i in idx]
            kept, total = numbers_ref_kept(sub, refs)
            entry[k] = {"chrf": round(sacrebleu.corpus_chrf(sub, [refs]).score, 2), "numbers_ref_kept": kept,
                        "numbers_ref": total, "same_text_as_first": sum(h == first for h, first in
                                                                         zip(sub, [list(hyps.values())[0][i] for i in idx]))}
            if names and any(names):
                listed = [(h, n) for h, ns in zip(sub, names) for n in ns]
                entry[k]["names_ref_kept"] = round(sum(name_written(h, n) for h, n in listed) / max(1, len(listed)), 4)
                entry[k]["names_ref"] = len(listed)
        out["by_rows"][label] = entry
    out["term_unverified_false_alarm"] = {"quoted_terms_rendered_in_reference": quoted,
                                          "rate": round(1 - backed / quoted, 4) if quoted else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("reports", nargs="*", help="eval reports with hypotheses, named by their file stem")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--output")
    ap.add_argument("--all-rows", action="store_true", help="false alarms over every row of the set, no reports")
    args = ap.parse_args()
    lines = Path(args.data).read_text(encoding="utf-8").splitlines()
    if args.all_rows:
        result = {"data": args.data, **score([json.loads(line) for line in lines], {})}
        print(json.dumps(result, indent=1, ensure_ascii=False))
        if args.output:
            Path(args.output).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    rows = [json.loads(line) for line in lines[args.skip:args.skip + args.limit]]
    hyps = {}
    for path in args.reports:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        if report.get("skip", 0) != args.skip or len(report["hypotheses"]) != len(rows):
            raise SystemExit(f"{path}: rows {report.get('skip')}+{len(report['hypotheses'])}, not {args.skip}+{len(rows)}")
        hyps[Path(path).stem] = report["hypotheses"]
    result = {"data": args.data, "skip": args.skip, "limit": args.limit,
              **score(rows, hyps, args.data if args.skip == 0 else None),
              "scores": {Path(p).stem: {k: json.loads(Path(p).read_text())[k] for k in
                                        ("chrf", "bleu", "numbers_ref_kept", "names_ref_kept", "seconds_per_item")
                                        if k in json.loads(Path(p).read_text())} for p in args.reports}}
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
