# Two commands do all the set-up: `make demo` and `make test`. Each creates .venv and installs
# what it needs on first use (and again when pyproject.toml or the package folders change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGE_DIRS := $(shell find core events triggers automations runtime sdk -type d -not -name __pycache__)

.PHONY: install demo test lint typecheck bench clean

$(STAMP): pyproject.toml $(PACKAGE_DIRS)
	@$(PYTHON) -c 'import sys; sys.exit("Proctor needs Python 3.11 or newer (set PYTHON=...)" if sys.version_info < (3, 11) else 0)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]" --config-settings editable_mode=strict
	@touch $(STAMP)

install: $(STAMP)

## The main job: a local server (embedded NATS) and a demo of events flowing through it.
demo: $(STAMP)
	$(BIN)/python examples/quickstart.py

## The whole test suite (starts its own nats-server; uses PostgreSQL when PROCTOR_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy -p proctor
	$(BIN)/mypy tests examples bench

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
