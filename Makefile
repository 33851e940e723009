# The two quick-start commands, `make demo` and `make test`, work on a fresh machine:
# they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STORE ?= ./credsight-data

.PHONY: demo test lint format bench install install-test lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the committed locks (exact versions, hashes checked), so a fresh machine next year
# builds what CI tested; pyproject keeps its ranges for people installing the package. `make lock` refreshes.
$(VENV)/.installed: requirements/run.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/run.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements/test.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed

# The dashboard's browser tests drive Debian's chromium (Playwright downloads no browser); CI runs as root.
$(VENV)/.chromium: | $(BIN)/python
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	touch $@

# Spark's tests run pyspark (a test dependency) on Debian's Java 17; the Lambda package's test reads its
# shared libraries' glibc needs with readelf (binutils).
$(VENV)/.java: | $(BIN)/python
	command -v java >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless)
	command -v readelf >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils)
	touch $@

# The Lambda package's test runs it under the Python of the runtime the template declares (3.12): these
# machines carry pyenv's 3.12 beside the system's 3.11, and Debian 12 packages none, so it is looked for, not installed.
LAMBDA_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.12.*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
$(VENV)/.lambda-python: | $(BIN)/python
	@test -n "$(LAMBDA_PYTHON)" && "$(LAMBDA_PYTHON)" -c 'import sys; assert sys.version_info[:2] == (3, 12)' || \
	  { echo "no Python 3.12 for the Lambda package's test: install one (pyenv install 3.12) or pass LAMBDA_PYTHON=..."; exit 1; }
	touch $@

# checkov (the templates' security scan) pins an old boto3 that cannot live beside credsight's own.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/bin/checkov: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/checkov.lock
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(BIN)/credsight demo --store $(STORE)

test: $(VENV)/.installed-test $(VENV)/.chromium $(VENV)/.java $(VENV)/.lambda-python $(CHECKOV_VENV)/bin/checkov
	CHECKOV=$(CHECKOV_VENV)/bin/checkov CREDSIGHT_LAMBDA_PYTHON=$(LAMBDA_PYTHON) $(BIN)/pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Rewrites BENCHMARKS.md from measurements; the 1,000-account store is built once under bench/data.
bench: $(VENV)/.installed-test $(VENV)/.chromium
	{ cat bench/HEADER.md && $(BIN)/python -m bench.startup && $(BIN)/python -m bench.storage && \
	  $(BIN)/python -m bench.ingest && $(BIN)/python -m bench.query && $(BIN)/python -m bench.collect && \
	  $(BIN)/python -m bench.findings && $(BIN)/python -m bench.changes && $(BIN)/python -m bench.commands && \
	  $(BIN)/python -m bench.compact && $(BIN)/python -m bench.identity && $(BIN)/python -m bench.search && \
	  $(BIN)/python -m bench.notify && $(BIN)/python -m bench.dashboard; } > BENCHMARKS.md.new
	mv BENCHMARKS.md.new BENCHMARKS.md

# New exact versions within pyproject's ranges (and checkov's), with their hashes.
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(LOCK) --upgrade -o requirements/run.lock pyproject.toml
	$(LOCK) --upgrade --extra test -o requirements/test.lock pyproject.toml
	$(LOCK) --upgrade -o requirements/checkov.lock requirements/checkov.in

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
