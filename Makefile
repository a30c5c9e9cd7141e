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

# Everything: unit tests plus end-to-end runs with worker processes, Redis and PostgreSQL, all in
# one process: the end-to-end runs share one Redis database (NEWSFLOW_E2E_REDIS_DB) and go one
# at a time, and CI runs the unit tests the serial way too.
test: setup services
	$(BIN)/python -m pytest

# The edit-test loop: no worker processes or servers started (Redis must answer), spread over
# TEST_WORKERS pytest-xdist processes, each with a Redis database of its own (tests/conftest.py).
# The unit tests mostly wait (on Redis, sockets, time-outs), so 3 beat 2 on this 2-core machine
# (35-39 s against 43-52 s); 4 were no faster and used 10% more CPU. TEST_WORKERS=0 runs them in
# one process. Bytecode is cached (__pycache__/, git-ignored) even where PYTHONDONTWRITEBYTECODE
# is set: without it every worker compiles workers/ and rewrites each test module's asserts
# again, ~2 s of CPU per process.
TEST_WORKERS ?= 3
test-unit: setup services
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -m "not integration" -n $(TEST_WORKERS)

lint: setup
	$(BIN)/ruff check workers tests benchmarks scripts
	$(BIN)/ruff format --check workers tests benchmarks scripts
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix workers tests benchmarks scripts
	$(BIN)/ruff format workers tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache newsflow-demo.db* newsflow-demo.log
