# fangpin — the two commands a newcomer needs are `make demo` and `make test` (see README).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
export FANGPIN_HOME ?= $(CURDIR)/var

.PHONY: demo serve test test-sqlite test-postgres test-fast check lint types migrations-check bench vendor clean install

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMP): $(BIN)/python pyproject.toml node_modules/.package-lock.json
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	bash scripts/install-browser.sh
	@touch $@

install: $(STAMP)

## The demo: a synthetic county on SQLite, served at http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/fangpin demo

serve: $(STAMP)
	$(BIN)/fangpin serve

## Everything: lint, types, migrations, the suite on SQLite and on PostgreSQL
test: $(TEST_STAMP)
	$(MAKE) --no-print-directory check
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: $(TEST_STAMP)
	@echo "== tests on SQLite =="
	env -u DATABASE_URL $(BIN)/pytest -n 2 --dist loadfile -p no:cacheprovider

test-postgres: $(TEST_STAMP)
	@echo "== tests on PostgreSQL ($(PG_URL)) =="
	bash scripts/ensure-postgres.sh
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -n 2 --dist loadfile -p no:cacheprovider

test-fast: $(TEST_STAMP)
	env -u DATABASE_URL $(BIN)/pytest -x -q -m "not browser and not slow"

check: $(TEST_STAMP) lint types migrations-check

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

types:
	$(BIN)/mypy src

migrations-check:
	FANGPIN_HOME=$$(mktemp -d) $(BIN)/fangpin manage makemigrations --check --dry-run

bench: $(TEST_STAMP)
	$(BIN)/python -m benchmarks

## Refresh the vendored UI kit from npm (the files are committed so that a deployment needs no npm)
vendor: node_modules/.package-lock.json
	cp node_modules/@tabler/core/dist/css/tabler.min.css node_modules/@tabler/core/dist/js/tabler.min.js src/fangpin/static/vendor/tabler/
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE src/fangpin/static/vendor/echarts/
	$(BIN)/python -m fangpin.analytics.geo 36

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
