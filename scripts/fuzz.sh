#!/usr/bin/env bash
# Fuzz the REST API from its own OpenAPI schema with schemathesis, bounded in examples and time.
# Usage: scripts/fuzz.sh [URL]   without URL it starts `summarizer serve --config extractive` on a free port, fuzzes
# it and stops it. Against your own server: scripts/fuzz.sh http://127.0.0.1:7860 (export FUZZ_KEY=KEY if it has keys).
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:-}"
examples="${FUZZ_EXAMPLES:-50}"
pid=""
if [ -z "$url" ]; then
  port=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  url="http://127.0.0.1:$port"
  SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE=0 .venv/bin/summarizer serve --config extractive --port "$port" \
    >/tmp/summarizer-fuzz-serve.log 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null || true' EXIT
  for _ in $(seq 120); do curl -fs "$url/health" >/dev/null 2>&1 && break; sleep 0.5; done
fi
headers=()
[ -n "${FUZZ_KEY:-}" ] && headers=(-H "Authorization: Bearer $FUZZ_KEY")
# positive_data_acceptance is left out: some schema-valid JSON is no article (text that cleans to nothing) and gets
# a documented 422.
timeout "${FUZZ_SECONDS:-600}" .venv/bin/schemathesis run "$url/openapi.json" --max-examples "$examples" \
  --exclude-checks positive_data_acceptance "${headers[@]}"
