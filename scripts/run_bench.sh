#!/usr/bin/env bash
# Throughput and memory figures under reports/bench-*.json (each config in its own process, so peak RSS is its own).
# Usage: scripts/run_bench.sh   (seed + N-1 crawl articles: N_SMALL=21 for the 0.5B, N_DEFAULT=2 for the 1.5B,
# whose 21-article run takes about an hour on 2 cores). Run nothing else meanwhile: llama.cpp threads spin.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/summarizer
CRAWL="${SUMMARIZER_SHARED:-../shared}/eval/crawl"
$S bench --config small --articles "${N_SMALL:-21}" --naive --folder "$CRAWL" --output reports/bench-small.json
$S bench --config default --articles "${N_DEFAULT:-2}" --naive --folder "$CRAWL" --output reports/bench-default.json
$S bench --config small --articles 1 --set models.llm.backend=transformers --set models.llm.threads=2 \
   --output reports/bench-small-transformers.json
.venv/bin/python benchmarks/ray_vs_local.py 20 extractive summary
