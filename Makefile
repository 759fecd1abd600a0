# cisaudit's tasks. `make help` lists them.
PY ?= .venv/bin/python
BIN = $(dir $(PY))

.PHONY: help setup test test-fast test-lab lint format format-check typecheck contracts check bench demo ci

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

setup:  ## install system packages and cisaudit (+ the lab) in .venv
	bash scripts/setup.sh

test:  ## the whole test suite, lab included (needs root and docker.io)
	bash scripts/test.sh

test-fast:  ## fast tests on recorded facts, no lab
	$(PY) -m pytest -p no:cacheprovider -q -m "not lab"

test-lab:  ## only the tests that audit real lab hosts
	$(PY) -m pytest -p no:cacheprovider -q -m lab

lint:  ## ruff's lint rules
	$(BIN)ruff check cisaudit tests bench lab

format:  ## rewrite the code in ruff's format
	$(BIN)ruff format cisaudit tests bench lab

format-check:  ## fail when a file is not in ruff's format
	$(BIN)ruff format --check cisaudit tests bench lab docs

typecheck:  ## mypy over the package
	$(BIN)mypy

contracts:  ## import-linter: the layering of DESIGN.md
	$(BIN)lint-imports

check: lint format-check typecheck contracts  ## every static check CI runs

bench:  ## the benchmarks (lab hosts: root and docker.io)
	$(PY) bench/bench_scan.py
	$(PY) bench/bench_k8s_cluster.py
	$(PY) bench/bench_report.py

demo:  ## audit the demo lab: results, HTML and PDF in ./cisaudit-demo/
	bash scripts/demo.sh

ci:  ## what CI runs: .ci/run
	bash .ci/run
