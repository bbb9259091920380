# Two commands on a fresh machine: `make run` (serve on SQLite) and `make test` (whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# One lock per install: the API image (base dependencies), the worker image (+ the train
# extra) and development (+ the dev extra). `make lock` writes them from pyproject.toml.
LOCK_FLAGS := --universal --generate-hashes --quiet

.PHONY: run test lint format services browser promtool busybox bench lock clean

# The venv is rebuilt when the lock changes: the pinned, hashed dependencies of the train extra
# (TensorFlow, Keras, ONNX export: `make run` trains in local worker processes) and the dev extra
# (tests, lint), then the project itself.
$(BIN)/.installed: requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

## run: install, migrate (on start) and serve on http://$(HOST):$(PORT) with SQLite, one server
## process per core (FORECAST_API_WORKERS)
run: $(BIN)/.installed
	$(BIN)/python -m app.serve --host $(HOST) --port $(PORT)

## test: install, start PostgreSQL and Redis if needed, install chromium (for the browser tests),
## promtool (for the alert rules' tests) and busybox (its sh runs the object store's entrypoint,
## as in its Alpine image) as root, lint, run the whole suite
test: $(BIN)/.installed services browser promtool busybox lint
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

services:
	./.ci/services

browser:
	./.ci/browser

promtool:
	./.ci/promtool

busybox:
	./.ci/busybox

## lock: re-resolve the dependencies of pyproject.toml into requirements/*.txt (needs PyPI);
## the three locks agree: api and worker are constrained to the versions of dev
lock: $(BIN)/.installed
	$(BIN)/uv pip compile pyproject.toml --extra train --extra dev $(LOCK_FLAGS) \
		-o requirements/dev.txt
	$(BIN)/uv pip compile pyproject.toml --extra train -c requirements/dev.txt $(LOCK_FLAGS) \
		-o requirements/worker.txt
	$(BIN)/uv pip compile pyproject.toml -c requirements/dev.txt $(LOCK_FLAGS) \
		-o requirements/api.txt

## bench: every benchmark in bench/ (results go to BENCHMARKS.md by hand, with date and machine)
bench: $(BIN)/.installed services
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.defaults
	$(BIN)/python -m bench.training
	$(BIN)/python -m bench.forecast
	$(BIN)/python -m bench.accuracy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/out test-output
