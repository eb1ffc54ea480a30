"""How often each sentence flag fires on human references (a false-alarm rate: a reference is right by definition)
beside how often it fires on the model's English, on WMT19 and FLORES dev-200.

The model's English is the committed eval report's (`reports/translation-<set>-default-borrowed.json`, the default config):
English that repair already redid against these very flags, so its rate says how much repair left, not how often the
model errs. The first English, before any repair (`translation-<set>-default-first-english.json`, the same config
with ``translate.repair=false``), is shown beside it. Flags come from the same code as the records'
(`repair.sentence_pairs`). A flag that fires on more than 2 % of references is noted in docs/quality.md.

    python benchmarks/flags_false_alarms.py        # prints a table, writes reports/flags-false-alarms.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from summarizer.config import TranslateConfig
from summarizer.names import find_names
from summarizer.flags import WARNING_FLAGS
from summarizer.repair import Check, Segment, sentence_pairs

ROOT = Path(__file__).resolve().parent.parent
SETS = {"wmt19": "wmt19_newstest_zhen.jsonl", "flores": "flores200_dev_zhen.jsonl"}
# Flags that need more than one sentence: a term held to another segment's English, an English summary beside its
# article. The eval sets are single sentences, so these cannot fire there and are left out, not counted as 0 %.
KINDS = tuple(k for k in WARNING_FLAGS if k not in ("term_inconsistent", "summary_unsupported"))


def flags_of(zh: str, en: str, cfg: TranslateConfig) -> set[str]:
    """The warning flags `sentence_pairs` gives one source sentence and its English."""
    names = find_names(zh)
    seg = Segment(0, "para", 0, zh, en)
    pairs = sentence_pairs(seg, lambda s, source, english: Check(source, english, names, cfg), [])
    return {f.kind for p in pairs for f in p.flags if f.kind in KINDS}


def main() -> None:
    """Count each flag on references and on the model's English; write the report."""
    data = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval" / "translation"
    cfg = TranslateConfig()
    report: dict[str, dict] = {}
    for name, file in SETS.items():
        every = [json.loads(x) for x in (data / file).read_text(encoding="utf-8").splitlines() if x.strip()]
        rows, held = every[:200], every[200:400]
        hyps = json.loads((ROOT / "reports" / f"translation-{name}-default-borrowed.json").read_text())["hypotheses"]
        first_path = ROOT / "reports" / f"translation-{name}-default-first-english.json"
        firsts = json.loads(first_path.read_text())["hypotheses"] if first_path.exists() else [None] * len(hyps)
        on_ref = {k: 0 for k in KINDS}
        on_hyp = {k: 0 for k in KINDS}
        on_first = {k: 0 for k in KINDS}
        on_held = {k: 0 for k in KINDS}
        examples: dict[str, list[dict[str, str]]] = {}
        for r, hyp, first in zip(rows, hyps, firsts):
            for k in flags_of(r["zh"], first, cfg) if first is not None else ():
                on_first[k] += 1
            for k in flags_of(r["zh"], r["en"], cfg):
                on_ref[k] += 1
                if len(examples.setdefault(k, [])) < 3:
                    examples[k].append({"zh": r["zh"][:100], "reference": r["en"][:140]})
            for k in flags_of(r["zh"], hyp, cfg):
                on_hyp[k] += 1
        for r in held:  # references of rows 200-399, never read while the checks were written
            for k in flags_of(r["zh"], r["en"], cfg):
                on_held[k] += 1
        n = len(rows)
        report[name] = {"sentences": n,
                        "references": {k: round(v / n, 4) for k, v in on_ref.items()},
                        "references_rows_200_399": {k: round(v / len(held), 4) for k, v in on_held.items()},
                        "model": {k: round(v / n, 4) for k, v in on_hyp.items()},
                        "first_english": ({k: round(v / n, 4) for k, v in on_first.items()}
                                          if first_path.exists() else None),
                        "examples_on_references": examples}
    lines = ["| flag | WMT19 references | WMT19 references 200–399 | WMT19 first English | WMT19 after repair | "
             "FLORES references | FLORES references 200–399 | FLORES first English | FLORES after repair |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in KINDS:
        cells = [f"{100 * report[s][side][k]:.1f} %" if report[s][side] is not None else "–"
                 for s in SETS for side in ("references", "references_rows_200_399", "first_english", "model")]
        lines.append(f"| `{k}` | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    report["table"] = "\n".join(lines)
    (ROOT / "reports" / "flags-false-alarms.json").write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                                              encoding="utf-8")


if __name__ == "__main__":
    main()
