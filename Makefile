# newsflow: `make demo` and `make test` each set up what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every runtime and dev dependency at an exact version; setup, .ci/run and the Dockerfile all
# install from it. Refresh with `make lock`.
LOCK := requirements.lock
# The torch `make lock` pins: the CPU build (this machine keeps its wheel on disk; the Dockerfile
# reads PyTorch's CPU index). Any other torch pulls GBs of CUDA libraries.
LOCK_TORCH ?= torch==2.13.0

.PHONY: setup lock demo test test-unit lint format services clean

setup: $(VENV)/.installed

# Exactly the lock (--no-deps: nothing it does not name), then newsflow itself, editable.
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

# Re-resolve every dependency to the newest release pyproject.toml allows (torch held at
# LOCK_TORCH), then install the result. Review the diff and run `make test` before committing.
lock: setup
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --upgrade \
		--upgrade-package '$(LOCK_TORCH)' --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml
	$(MAKE) setup

services:
	@scripts/ensure-services.sh

demo: setup
	$(BIN)/newsflow demo

# Everything: unit tests plus end-to-end runs with worker processes, Redis and PostgreSQL.
test: setup services
	$(BIN)/python -m pytest

# The edit-test loop: no worker processes or servers started (Redis must answer).
test-unit: setup services
	$(BIN)/python -m pytest -m "not integration"

lint: setup
	$(BIN)/ruff check workers tests benchmarks scripts
	$(BIN)/ruff format --check workers tests benchmarks scripts
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix workers tests benchmarks scripts
	$(BIN)/ruff format workers tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache newsflow-demo.db* newsflow-demo.log
