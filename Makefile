# The two quick-start commands, `make demo` and `make test`, work on a fresh machine:
# they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STORE ?= ./credsight-data

.PHONY: demo test lint format bench install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The dashboard's browser tests drive Debian's chromium (Playwright downloads no browser); CI runs as root.
$(VENV)/.chromium: | $(BIN)/python
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	touch $@

# checkov (the templates' security scan) pins an old boto3 that cannot live beside credsight's own.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check 'checkov>=3.2,<4'

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(BIN)/credsight demo --store $(STORE)

test: $(VENV)/.installed-test $(VENV)/.chromium $(CHECKOV_VENV)/bin/checkov
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Rewrites BENCHMARKS.md from measurements; the 1,000-account store is built once under bench/data.
bench: $(VENV)/.installed-test $(VENV)/.chromium
	{ cat bench/HEADER.md; $(BIN)/python -m bench.storage; $(BIN)/python -m bench.ingest; \
	  $(BIN)/python -m bench.query; $(BIN)/python -m bench.collect; $(BIN)/python -m bench.findings; \
	  $(BIN)/python -m bench.changes; $(BIN)/python -m bench.dashboard; } > BENCHMARKS.md.new
	mv BENCHMARKS.md.new BENCHMARKS.md

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
