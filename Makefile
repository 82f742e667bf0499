# Two commands for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB ?= sqlite+aiosqlite:///demo.db
QUESTION ?= who attended the Miami talks?

.PHONY: demo test install install-dev lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Installs, ingests the bundled sample corpus offline and answers a question.
demo: install
	$(BIN)/briefbot --db '$(DEMO_DB)' ingest examples/corpus
	$(BIN)/briefbot --db '$(DEMO_DB)' ask '$(QUESTION)' -k 3

## Installs what the tests need, lints, and runs the whole suite (CI runs exactly this).
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm .pytest_cache .ruff_cache *.egg-info
