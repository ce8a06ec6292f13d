# Two commands set everything up on a fresh machine with Python 3.11:
#   make up     installs agentledger, loads demo data into DuckDB, starts the API (:4318) and the dashboard (:8501)
#   make test   installs the test dependencies and runs the test suite
.PHONY: up test lint bench install install-dev clean

UV := $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
PY := .venv/bin/python

$(UV):
	python3 -m venv .venv-tools && .venv-tools/bin/pip install -q uv

install: $(UV)
	$(UV) sync --frozen --inexact --extra chdb --compile-bytecode

install-dev: $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode

up: install
	.venv/bin/agentledger up

test: install-dev
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist loadfile

lint: install-dev
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf .venv .venv-tools .agentledger artifacts
