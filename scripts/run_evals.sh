#!/usr/bin/env bash
# Quality reports under reports/: the config and the plain-prompt baseline of the same model, side by side.
# Usage: scripts/run_evals.sh [CONFIG]   sizes: N_WMT N_CRAWL N_LCSTS N_FLORES (defaults 200 100 200 200).
# About an hour per config on 2 cores; ONLY=wmt,crawl,lcsts,flores picks datasets,
# PLAIN=0 skips the baselines, MAIN=0 runs only the baselines.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg="${1:-default}"
E=../shared/eval
S=.venv/bin/summarizer
only="${ONLY:-wmt,crawl,lcsts,flores}"
variants=()
[ "${MAIN:-1}" = "1" ] && variants+=("")
[ "${PLAIN:-1}" = "1" ] && variants+=("--baseline")
for ds in ${only//,/ }; do
  for base in "${variants[@]+"${variants[@]}"}"; do
    tag="$cfg"; [ -n "$base" ] && tag="$cfg-plain"
    case "$ds" in
      wmt) $S eval translation $E/translation/wmt19_newstest_zhen.jsonl --config "$cfg" $base --limit "${N_WMT:-200}" \
             --output reports/translation-wmt19-$tag.json ;;
      flores) $S eval translation $E/translation/flores200_dev_zhen.jsonl --config "$cfg" $base --limit "${N_FLORES:-200}" \
             --output reports/translation-flores-$tag.json ;;
      crawl) $S eval summarization $E/summarization/crawl_headline_dev.jsonl --config "$cfg" $base --limit "${N_CRAWL:-100}" \
             --max-chars 40 --output reports/summarization-crawl_headline_dev-$tag.json ;;
      lcsts) $S eval summarization $E/summarization/lcsts_part3_test.jsonl --config "$cfg" $base --limit "${N_LCSTS:-200}" \
             --max-chars 30 --output reports/summarization-lcsts-$tag.json ;;
    esac
  done
done
