"""The article consistency score (issues 37 and 46) over `summarizer run` records: of the terms an article gives two
or more times (its term table's names, places, offices and bodies, and its quoted terms), the share written one way
everywhere, or flagged where they are not. Target: 100 %.

A table term is kept in a part (title, paragraph, summary) when the part's English holds its English or a form the
table accepts (`namecheck.missing_names`); a quoted term no table holds is one way when every English part that has
it renders it alike. A part that does not keep a term counts as flagged when one of its sentence pairs carries a
flag on it (name_missing, term_inconsistent, office_wrong, term_unverified). With ``--references`` (the JSONL the
articles were made of, 10 rows an article, in order), each table term's English is also checked against the human
references of the rows that have it: the share of those occurrences whose reference writes the same English.

    python benchmarks/consistency.py OUT/results.jsonl [--references DATA.jsonl --rows-per-article 10] [--output R.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarizer.namecheck import missing_names  # noqa: E402
from summarizer.names import Name  # noqa: E402
from summarizer.offices import names_and_offices  # noqa: E402
from summarizer.terms import quoted_terms, renderings  # noqa: E402

_FLAGS = {"name_missing", "term_inconsistent", "office_wrong", "term_unverified"}


def parts_of(rec: dict) -> list[tuple[str, str, list[dict]]]:
    """(Chinese, English, flags) of the title, each paragraph and the summary of a record."""
    flags: dict[tuple[str, int], list[dict]] = collections.defaultdict(list)
    for passage in rec.get("sentences", []):
        for pair in passage["pairs"]:
            flags[(passage["slot"], passage["index"])] += pair["flags"]
    art = rec["article"]
    out = [(art["title"], rec.get("title_en", ""), flags[("title", 0)])] if art["title"] else []
    out += [(zh, en, flags[("para", i)]) for i, (zh, en) in enumerate(zip(art["paragraphs"], rec["paragraphs_en"]))]
    if rec.get("summary_zh") and rec.get("summary_en"):
        out.append((rec["summary_zh"], rec["summary_en"], flags[("summary", 0)]))
    return out


def article_score(rec: dict, refs: list[str] | None = None) -> dict:
    parts = parts_of(rec)
    text = "\n".join(zh for zh, _, _ in parts)
    table = {n.source: n for n in names_and_offices(text)}
    terms = {t["zh"]: t for t in rec.get("terms", [])}
    counts = collections.Counter()
    repeated = one_way = flagged = 0
    ref_terms = ref_same = 0
    bad: list[str] = []
    for zh, term in terms.items():
        having = [p for p in parts if zh in p[0]]
        if sum(p[0].count(zh) for p in parts) < 2:
            continue
        repeated += 1
        counts[term["source"]] += 1
        name = table.get(zh)
        name = name if name is not None and name.english == term["en"] else Name(zh, term["en"], "term")
        # Checked with the whole table, as the pipeline does: 市委 inside 市委常委会 is that longer office's.
        everything = [n for n in table.values() if n.source != zh] + [name]
        lost = [p for p in having if name in missing_names(p[0], p[1], everything)]
        if not lost:
            one_way += 1
        elif all(any(f["kind"] in _FLAGS and zh in f.get("detail", "") for f in p[2]) for p in lost):
            flagged += 1
        else:
            bad.append(f"{zh} ({term['en']}, {term['source']})")
        if refs is not None:
            for row, zh_row in enumerate(rec["article"]["paragraphs"]):
                if zh in zh_row and row < len(refs):
                    ref_terms += 1
                    ref_same += name not in missing_names(zh_row, refs[row], everything)
    quoted = [t for t in quoted_terms(text) if t not in terms and text.count(t) >= 2]
    said = renderings([(zh, en) for zh, en, _ in parts], quoted)
    for term in quoted:
        repeated += 1
        counts["quoted, not held"] += 1
        having = [p for p in parts if term in p[0]]
        if len(set(e.lower() for e in said.get(term, []))) == 1 and len(said[term]) == len(having):
            one_way += 1
        elif all(any(f["kind"] in _FLAGS and term in f.get("detail", "") for f in p[2]) for p in having):
            flagged += 1
        else:
            bad.append(f"{term} (quoted)")
    return {"id": rec["id"], "repeated": repeated, "one_way": one_way, "flagged": flagged, "neither": bad,
            "sources": dict(counts), "reference_occurrences": ref_terms, "reference_same": ref_same}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--references")
    ap.add_argument("--rows-per-article", type=int, default=10)
    ap.add_argument("--output")
    args = ap.parse_args()
    recs = [json.loads(line) for line in Path(args.results).read_text(encoding="utf-8").splitlines() if line.strip()]
    recs = [r for r in recs if "paragraphs_en" in r]
    refs = None
    if args.references:
        rows = [json.loads(line)["en"] for line in Path(args.references).read_text(encoding="utf-8").splitlines()]
        refs = {f"rows-{i}": rows[i:i + args.rows_per_article] for i in range(0, len(rows), args.rows_per_article)}
    per = [article_score(r, refs.get(r["id"]) if refs else None) for r in recs]
    total = sum(a["repeated"] for a in per)
    good = sum(a["one_way"] + a["flagged"] for a in per)
    sources = collections.Counter()
    for a in per:
        sources.update(a["sources"])
    occurrences = sum(a["reference_occurrences"] for a in per)
    result = {"results": args.results, "articles": len(per), "terms_seen_twice": total,
              "one_way": sum(a["one_way"] for a in per), "flagged": sum(a["flagged"] for a in per),
              "score": round(good / total, 4) if total else None, "term_sources": dict(sources),
              "reference_occurrences": occurrences,
              "reference_same_share": round(sum(a["reference_same"] for a in per) / occurrences, 4) if occurrences else None,
              "articles_detail": per}
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(json.dumps({k: v for k, v in result.items() if k != "articles_detail"}, indent=1, ensure_ascii=False))
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
