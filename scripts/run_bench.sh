#!/usr/bin/env bash
# Throughput and memory figures under reports/bench-*.json (each config in its own process, so peak RSS is its own).
# Usage: scripts/run_bench.sh [ARTICLES]   (seed + ARTICLES-1 crawl articles; default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-5}"
S=.venv/bin/summarizer
$S bench --config small --articles "$n" --naive --output reports/bench-small.json
$S bench --config default --articles "$n" --naive --output reports/bench-default.json
$S bench --config small --articles 1 --set models.llm.backend=transformers --set models.llm.threads=2 \
   --output reports/bench-small-transformers.json
.venv/bin/python benchmarks/ray_vs_local.py 20 extractive summary
