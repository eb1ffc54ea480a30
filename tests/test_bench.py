"""`summarizer bench` on the bundled seed and crawl examples, with the extractive config (no model)."""

from __future__ import annotations

import json

from summarizer.bench import run_bench
from summarizer.clean import clean_file

from conftest import SEED


def test_bench_report_carries_figures_and_the_output_per_article(tmp_path):
    out = tmp_path / "bench.json"
    report = run_bench(config="extractive", articles=2, output=out)
    assert report["articles"] == 2 and report["errors"] == 0 and report["articles_per_min"] > 0
    assert report["peak_rss_mb"] > 0 and json.loads(out.read_text(encoding="utf-8"))["articles"] == 2
    seed = report["per_article"][0]
    assert seed["source"] == SEED.name and seed["model_calls"] == 0
    # The text is in the report, so a speed change can be read for what it did to the output.
    assert seed["summary_zh"] and seed["summary_zh"][:4] in "".join(clean_file(SEED).paragraphs)
    assert seed["paragraphs_en"] == [] and seed["title_en"] == ""
