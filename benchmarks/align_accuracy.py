"""How often `align_sentences` pairs Chinese and English sentences rightly, on WMT19 and FLORES dev.

k consecutive rows (k = 2, 3, 4) are joined, as a paragraph of news would be, and aligned; the rows are the truth:
a pairing is right when none of its pieces spans two rows. Only groups whose sentence counts differ are counted
(equal counts pair one to one without the alignment). Two kinds of English: the human references, and the
embedded 1.5B's own translations of the same rows from the committed dev-200 reports (what repair aligns).

    python benchmarks/align_accuracy.py        # prints, writes reports/align-accuracy.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from summarizer.align import align_sentences, english_sentences
from summarizer.text import split_sentences

ROOT = Path(__file__).resolve().parent.parent
SETS = {"wmt19": "wmt19_newstest_zhen.jsonl", "flores": "flores200_dev_zhen.jsonl"}
# The committed dev-200 runs of the default config whose hypotheses are the model's English (one per row).
MODEL_RUNS = {"wmt19": "translation-wmt19-default-1127.json", "flores": "translation-flores-default-1127.json"}


def score(rows: list[dict], english: list[str], sizes=(2, 3, 4)) -> dict[str, int]:
    """Count groups (counts differ), right, declined and wrong pairings over `rows` with `english` per row."""
    counts = {"groups": 0, "right": 0, "declined": 0, "wrong": 0}
    for k in sizes:
        for g in range(0, len(rows) - k + 1, k):
            zh_rows = [split_sentences(r["zh"]) for r in rows[g:g + k]]
            en_rows = [english_sentences(e) for e in english[g:g + k]]
            zh = [s for row in zh_rows for s in row]
            en = [s for row in en_rows for s in row]
            if len(zh) < 2 or len(zh) == len(en) or not all(en_rows):
                continue
            counts["groups"] += 1
            pieces = align_sentences(zh, en)
            if pieces is None:
                counts["declined"] += 1
                continue
            zh_row = [r for r, row in enumerate(zh_rows) for _ in row]
            en_row = [r for r, row in enumerate(en_rows) for _ in row]
            i = j = 0
            right = True
            for zh_piece, en_piece in pieces:
                a = b = 0
                while "".join(zh[i:i + a]) != zh_piece:
                    a += 1
                while " ".join(en[j:j + b]) != en_piece:
                    b += 1
                right &= len({zh_row[x] for x in range(i, i + a)} | {en_row[x] for x in range(j, j + b)}) == 1
                i, j = i + a, j + b
            counts["right" if right else "wrong"] += 1
    return counts


def main() -> None:
    """Score the references and the model's English on both sets; print and write the report."""
    data = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared")) / "eval" / "translation"
    report = {}
    for name, file in SETS.items():
        rows = [json.loads(line) for line in (data / file).read_text(encoding="utf-8").splitlines() if line.strip()]
        hypotheses = json.loads((ROOT / "reports" / MODEL_RUNS[name]).read_text(encoding="utf-8"))["hypotheses"]
        report[name] = {"references": score(rows, [r["en"] for r in rows]),
                        "model": score(rows[:len(hypotheses)], hypotheses)}
    print("| set | English | groups (counts differ) | right | declined | wrong | wrong of paired |")
    print("|---|---|---|---|---|---|---|")
    for name, kinds in report.items():
        for kind, c in kinds.items():
            paired = c["right"] + c["wrong"]
            print(f"| {name} | {kind} | {c['groups']} | {c['right']} | {c['declined']} | {c['wrong']} | "
                  f"{c['wrong'] / max(1, paired):.1%} |")
    (ROOT / "reports" / "align-accuracy.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
