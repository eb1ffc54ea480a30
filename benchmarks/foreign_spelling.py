"""How well the English of a transliterated foreign name is read off an English sentence, on human references.

`foreign.spelling_in` finds the word of an English sentence that sounds like a transliterated name (莫兰 → "Moran");
the translator uses it to keep one spelling per article. Here it reads the human references of WMT19 and FLORES
dev-200, and each reading is judged against the hand-made reference list (`summarizer/examples/names_ref_dev.tsv`),
not against the finder: right, wrong, or nothing read.

    python benchmarks/foreign_spelling.py [--output reports/foreign-spelling.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from names_ref import DATA  # the dev-200 sets the hand-made list covers (run as a script: benchmarks/ is on the path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    from summarizer.evaluate import foreign_spelling_scores

    report = {}
    for dataset, path in DATA.items():
        start = time.perf_counter()
        scores = foreign_spelling_scores(path, 200)
        scores["seconds"] = round(time.perf_counter() - start, 1)
        report[dataset] = scores
        print(f"{dataset}: {scores['found']} transliterations, {scores['listed']} on the list: "
              f"{scores['right']} right, {scores['wrong']} wrong, {scores['none']} not read "
              f"(precision {scores['precision']}, recall {scores['recall']}); {scores['seconds']} s")
        for w in scores["wrong_spellings"]:
            print(f"  wrong: row {w['row']} {w['source']} → {w['spelled']!r} (reference {w['reference']!r})")
    if args.output:
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
