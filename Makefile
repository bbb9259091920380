# Two commands on a fresh machine: `make run` (serve on SQLite) and `make test` (whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format services bench clean

# The venv is rebuilt when pyproject.toml changes. Extras: `train` (TensorFlow, Keras, ONNX export:
# what worker processes need; `make run` trains in local worker processes) and `dev` (tests, lint).
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@

## run: install, migrate (on start) and serve on http://$(HOST):$(PORT) with SQLite
run: $(BIN)/.installed
	$(BIN)/uvicorn app.main:create_app --factory --host $(HOST) --port $(PORT)

## test: install, start PostgreSQL and Redis if needed, lint, run the whole suite
test: $(BIN)/.installed services lint
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

services:
	./.ci/services

## bench: every benchmark in bench/ (results go to BENCHMARKS.md by hand, with date and machine)
bench: $(BIN)/.installed services
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.defaults
	$(BIN)/python -m bench.training
	$(BIN)/python -m bench.forecast
	$(BIN)/python -m bench.accuracy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/out
