#!/usr/bin/env bash
# Quality reports under reports/: the default config and the plain-prompt baseline of the same model, side by side.
# Usage: scripts/run_evals.sh [CONFIG]   (default: default). Takes about an hour per config on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg="${1:-default}"
E=../shared/eval
S=.venv/bin/summarizer
for base in "" "--baseline"; do
  tag="$cfg"; [ -n "$base" ] && tag="$cfg-plain"
  $S eval translation $E/translation/wmt19_newstest_zhen.jsonl --config "$cfg" $base --limit 200 \
     --output reports/translation-wmt19-$tag.json
done
for base in "" "--baseline"; do
  tag="$cfg"; [ -n "$base" ] && tag="$cfg-plain"
  $S eval summarization $E/summarization/crawl_headline_dev.jsonl --config "$cfg" $base --limit 100 --max-chars 40 \
     --output reports/summarization-crawl_headline_dev-$tag.json
  $S eval summarization $E/summarization/lcsts_part3_test.jsonl --config "$cfg" $base --limit 200 --max-chars 30 \
     --output reports/summarization-lcsts-$tag.json
done
for base in "" "--baseline"; do
  tag="$cfg"; [ -n "$base" ] && tag="$cfg-plain"
  $S eval translation $E/translation/flores200_dev_zhen.jsonl --config "$cfg" $base --limit 200 \
     --output reports/translation-flores-$tag.json
done
