#!/usr/bin/env bash
# Break one guarantee at a time and check that the suite notices (issue 38): each mutation is applied to the working
# tree, the tests that should catch it run, and the file is restored from git. Needs a clean tree and the small model.
# Usage: bash scripts/mutation_check.sh   (about 10 minutes on 2 cores); prints one line per mutation.
set -uo pipefail
cd "$(dirname "$0")/.."
git diff --quiet || { echo "commit or stash first: the mutations are undone with git checkout"; exit 2; }
PY=.venv/bin/python
run() {  # name, file, sed expression, pytest args...
  local name=$1 file=$2 expr=$3; shift 3
  sed -i "$expr" "$file"
  if git diff --quiet -- "$file"; then echo "$name: the mutation did not apply"; return; fi
  if $PY -m pytest -q -p no:cacheprovider "$@" > "/tmp/mutation-$name.log" 2>&1; then
    echo "$name: NOT caught ($*)"
  else
    echo "$name: caught by $(grep -E '^FAILED' "/tmp/mutation-$name.log" | sed 's/ - .*//' | tr '\n' ' ')"
  fi
  git checkout -q -- "$file"
}
# Stop does nothing: the button neither sets the job's flag nor cancels the Gradio job.
run stop-noop summarizer/app.py 's/^        stop.click(stop_job, inputs=None, outputs=None, cancels=\[job\], api_name=False)/        stop.click(lambda: None, inputs=None, outputs=None, api_name=False)/' \
  tests/test_app.py -k stop_cancels
# A stream nobody reads is never dropped (no write timeout).
run write-drop summarizer/ndjson.py 's/self.write_seconds)/None)/' tests/test_api_hostile.py -k "write_seconds or nobody_reads"
# Too large becomes a plain 422.
run 413-mapping summarizer/serving.py '0,/return 413/s//return 422/' tests/test_api.py tests/test_api_hostile.py -k "413 or too_large or same_limits"
