# Analytics Stack. `make demo` and `make test` set everything up themselves on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
PY := .venv/bin/python
UV = $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
ARGS ?=
BENCH_EVENTS ?= 200000

.PHONY: help setup browser demo test up pipeline docs generate bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup:  ## virtual environment with the pinned dependencies of uv.lock, the data docs' npm assets (+ checks for Python 3.11, Java 17, npm)
	@command -v python3 >/dev/null || { echo "error: python3 not found; install Python 3.11 and retry" >&2; exit 1; }
	@python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || command -v python3.11 >/dev/null || \
	  { echo "error: Python 3.11 is required (python3 is $$(python3 --version 2>&1)); install python3.11 and retry" >&2; exit 1; }
	@command -v java >/dev/null || { echo "error: Java 17+ is required by Spark and was not found; install it (Debian: apt-get install openjdk-17-jre-headless) and retry" >&2; exit 1; }
	@java -version 2>&1 | awk -F'"' '/version/ { split($$2, v, "."); exit !(v[1] >= 17) }' || \
	  { echo "error: Java 17+ is required by Spark; found: $$(java -version 2>&1 | head -1)" >&2; exit 1; }
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || { \
	  echo "installing uv $(UV_VERSION) with pip"; python3 -m pip install --quiet "uv==$(UV_VERSION)" || \
	  { echo "error: could not install uv with pip; install it (pip install uv==$(UV_VERSION)) and retry" >&2; exit 1; }; }
	@# bytecode compiled once here: every process of the chain (Dagster, dbt, ml) would otherwise compile its
	@# imports again when PYTHONDONTWRITEBYTECODE is set (3 s instead of 8 s to start `python -m ml`)
	@$(UV) sync --frozen --python 3.11 --quiet --compile-bytecode
	@command -v npm >/dev/null || { echo "error: npm is required for the offline data docs assets and was not found; install Node.js 20 with npm (Debian: apt-get install nodejs npm) and retry" >&2; exit 1; }
	@[ data_quality/docs_assets/node_modules/.package-lock.json -nt data_quality/docs_assets/package-lock.json ] || \
	  npm ci --ignore-scripts --no-audit --no-fund --silent --prefix data_quality/docs_assets
	@echo "environment ready: .venv (uv.lock), data docs assets (data_quality/docs_assets/package-lock.json)"

browser:  ## Debian's Chromium for the browser tests (installed when missing)
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian's chromium"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: the browser tests need Chromium; run: sudo apt-get install chromium" >&2; exit 1; fi; }

demo: setup  ## the main job on the embedded defaults
	$(PY) -m orchestration.demo $(ARGS)

test: setup browser  ## every test (CI runs exactly this)
	$(PY) -m pytest $(ARGS)

up: setup  ## the collector (ANALYTICS_COLLECTOR_HOST:PORT), Dagster UI + daemon (127.0.0.1:3000), the HTTP API (127.0.0.1:8000) and the MLflow UI (127.0.0.1:5000); Ctrl-C stops them
	$(PY) -m orchestration.up $(ARGS)

pipeline: setup  ## bring the warehouse up to date: every landed arrival day not yet through the chain (ARGS=--full-refresh)
	$(PY) -m orchestration.pipeline $(ARGS)

docs: setup  ## serve the dbt docs (127.0.0.1:8081) and the data quality docs (127.0.0.1:8082); Ctrl-C stops both
	$(PY) -m data_quality docs --serve & quality=$$!; trap 'kill $$quality' EXIT; $(PY) -m warehouse docs $(ARGS)

generate: setup  ## generate traffic (ARGS="--users 2000 --days 7 --sink landing")
	$(PY) -m collector.generator $(ARGS)

bench: setup  ## benchmarks next to a same-run baseline at BENCH_EVENTS=200000 (minutes); bench/README.md's sizes: BENCH_EVENTS="2000000 10000000" (hours)
	$(PY) bench/collector.py
	$(PY) bench/lake.py --events $(BENCH_EVENTS)
	$(PY) bench/warehouse.py --events $(BENCH_EVENTS)
	for events in $(BENCH_EVENTS); do $(PY) bench/ml.py --events $$events || exit 1; done

lint: setup  ## ruff
	.venv/bin/ruff check .

clean:  ## remove the data folder (not the virtual environment)
	rm -rf .data
