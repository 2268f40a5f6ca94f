# The two commands of the README: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test format bench bench-service install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What serving needs: the package and its dependencies, nothing for tests
$(SERVE_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(SERVE_STAMP)

# Everything: the test and benchmark tools too (the dev extra)
$(TEST_STAMP): $(SERVE_STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(TEST_STAMP)

install: $(TEST_STAMP)

## Install what serving needs and start the whole service (API and worker) on the embedded default.
serve: $(SERVE_STAMP)
	$(BIN)/gategraph serve

## Install everything and run the whole test suite: the linter and the formatter's check first, then pytest.
test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

## Lint and format the tree in place.
format: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks (not tests): figures printed as ratios against baselines measured in the same run.
bench: $(TEST_STAMP)
	$(BIN)/python -m tests.benchmarks.bench_core

## The whole stack (gunicorn, a Celery worker, Redis, PostgreSQL on this machine).
bench-service: $(TEST_STAMP)
	$(BIN)/python -m tests.benchmarks.bench_service

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
