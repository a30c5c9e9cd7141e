# newsflow: `make demo` and `make test` each set up what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch comes first and pinned: the machine's local CPU build; anything looser pulls CUDA wheels.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test lint format services benchmarks clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q '$(TORCH_SPEC)'
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

services:
	@scripts/ensure-services.sh

demo: setup
	$(BIN)/newsflow demo

test: setup services
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check workers tests benchmarks
	$(BIN)/ruff format --check workers tests benchmarks
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix workers tests benchmarks
	$(BIN)/ruff format workers tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache newsflow-demo.db* newsflow-demo.log
