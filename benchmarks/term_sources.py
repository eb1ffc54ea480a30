"""Which source supplies the terms of the crawl's articles, before any model runs (issue 46): over every file of
../shared/eval/crawl, the terms the article's table gets from the dictionary (CC-CEDICT, a Chinese name's pinyin),
the gazetteer, the office table, and the quoted terms left to the model (held only once confirmed). Counted once
per article, and how many of them the article gives two or more times (the ones the consistency score is about).

    python benchmarks/term_sources.py [../shared/eval/crawl] [--output reports/term-sources-crawl.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarizer import clean_article  # noqa: E402
from summarizer.offices import names_and_offices  # noqa: E402
from summarizer.terms import quoted_terms  # noqa: E402


def source_of(name) -> str:
    if name.origin:
        return name.origin
    return "dictionary"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("crawl", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared/eval/crawl"))
    ap.add_argument("--output")
    args = ap.parse_args()
    every, twice, examples = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
    files = sorted(Path(args.crawl).rglob("*.txt"))
    for path in files:
        article = clean_article(path)
        text = "\n".join([article.title, *article.paragraphs])
        table = names_and_offices(text)
        for name in table:
            kind = source_of(name)
            every[kind] += 1
            twice[kind] += text.count(name.source) >= 2
            examples[kind][f"{name.source} {name.english}"] += 1
        held = {n.source for n in table}
        for term in quoted_terms(text):
            if term not in held:
                every["model (quoted term)"] += 1
                twice["model (quoted term)"] += text.count(term) >= 2
    result = {"articles": len(files), "terms": dict(every), "terms_seen_twice": dict(twice),
              "most_common": {k: [f"{t} ({n})" for t, n in c.most_common(15)] for k, c in examples.items()}}
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
