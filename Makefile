# The two commands of the README: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test bench bench-service install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	@# Graphviz's dot draws the job diagrams; Debian's package, when this machine can install it
	@command -v dot >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q graphviz >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q graphviz >/dev/null; }; }; } || \
	  echo "note: Graphviz (dot) is not installed: job diagrams will answer 503 until it is"
	touch $(STAMP)

install: $(STAMP)

## Install everything and start the whole service (API and worker) on the embedded default.
serve: $(STAMP)
	$(BIN)/gategraph serve

## Install everything and run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## Benchmarks (not tests): figures printed as ratios against baselines measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_core

## The whole stack (gunicorn, a Celery worker, Redis, PostgreSQL on this machine).
bench-service: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_service

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
