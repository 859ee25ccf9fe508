# Two commands on a fresh machine:
#   make demo   set up, then run the example experiments (the main job)
#   make test   set up, then run the project's tests
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
UPSTREAM ?= $(abspath ../shared/upstream)
export EXPERIMENT_UPSTREAM ?= $(UPSTREAM)

.PHONY: setup assets demo score test lint bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip check
	touch $(STAMP)

setup: $(STAMP)

# etcd + kube-apiserver for the sandbox: KUBEBUILDER_ASSETS, else built once
# into ~/.cache/pytest-experiment (about 4 minutes the first time).
assets: setup
	$(BIN)/experiment-sandbox install

# The main job: a sandbox for the session, every example applied and followed
# through it, the scorecard at the end. lint-demo fails validation and
# echo-scaling its quality gate on purpose, so pytest exits 1; any other exit
# code fails the target.
demo: assets
	$(BIN)/pytest experiments -p no:cacheprovider -v --experiment-sandbox \
		--experiment-apply-templates --experiment-review=auto --junitxml=report.xml \
		--experiment-report=experiment-report.json || test $$? -eq 1

# Offline: score the published results under experiments/site/data, no cluster.
score: setup
	$(BIN)/pytest experiments -p no:cacheprovider -v \
		--experiment-results experiments/site/data --junitxml=report.xml \
		--experiment-report=experiment-report.json || test $$? -eq 1

test: assets
	$(BIN)/pytest -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: assets
	$(BIN)/python benchmarks/offline_scoring.py
	$(BIN)/python benchmarks/collection.py
	$(BIN)/python benchmarks/lifecycle.py --p6
	$(BIN)/python benchmarks/stuck_target.py
