# Two commands on a fresh machine:
#   make demo   set up, then run the example experiments (the main job)
#   make test   set up, then run the project's tests
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
UPSTREAM ?= $(abspath ../shared/upstream)
export EXPERIMENT_UPSTREAM ?= $(UPSTREAM)

.PHONY: setup assets browser demo score test lint bench fuzz

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

# Debian's Chromium and its driver, for the browser tests and the screenshots
# (the system packages only; no browser build is downloaded). Root, as on CI.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "no chromium: browser tests will skip (apt-get install chromium chromium-driver)"; fi

# The main job: a sandbox for the session, every example applied and followed
# through it, the scorecard at the end. lint-demo fails validation and
# echo-scaling its quality gate on purpose, so pytest exits 1; any other exit
# code fails the target.
demo: assets browser
	$(BIN)/pytest experiments -p no:cacheprovider -v --experiment-sandbox \
		--experiment-apply-templates --experiment-review=auto --junitxml=report.xml \
		--experiment-report=experiment-report.json --experiment-html=report.html \
		|| test $$? -eq 1
	$(BIN)/python scripts/screenshot.py report.html report.png

# Offline: score the published results under experiments/site/data, no cluster.
score: setup browser
	$(BIN)/pytest experiments -p no:cacheprovider -v \
		--experiment-results experiments/site/data --junitxml=report.xml \
		--experiment-report=experiment-report.json --experiment-html=report.html \
		|| test $$? -eq 1
	$(BIN)/python scripts/screenshot.py report.html report.png

test: assets browser
	$(BIN)/pytest -n 2 --dist loadgroup

# The hypothesis suite with many more, random examples than the bounded "ci"
# profile make test uses (a few minutes on 2 cores).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/test_fuzz.py -p no:cacheprovider -q \
		--hypothesis-show-statistics

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: assets
	$(BIN)/python benchmarks/offline_scoring.py
	$(BIN)/python benchmarks/collection.py
	$(BIN)/python benchmarks/lifecycle.py --p6
	$(BIN)/python benchmarks/stuck_target.py
