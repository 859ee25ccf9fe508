# Two commands on a fresh machine:
#   make demo   set up, then run the example experiments (the main job)
#   make test   set up, then run the project's tests
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
UPSTREAM ?= $(abspath ../shared/upstream)
export EXPERIMENT_UPSTREAM ?= $(UPSTREAM)

.PHONY: setup assets demo test lint bench

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

demo: setup
	$(BIN)/pytest experiments -p no:cacheprovider -v \
		--experiment-results experiments/site/data --junitxml=report.xml \
		--experiment-report=experiment-report.json || test $$? -eq 1

test: assets
	$(BIN)/pytest -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/offline_scoring.py
	$(BIN)/python benchmarks/collection.py
