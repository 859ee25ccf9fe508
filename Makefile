# Two commands on a fresh machine:
#   make demo   set up, then run the example experiments (the main job)
#   make test   set up, then run the project's tests
# CI also runs `make test-min`: the tests on the lowest pytest pyproject.toml declares.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
MIN_VENV ?= .venv-min
MIN_STAMP := $(MIN_VENV)/.installed
# The sandbox tests that drive pytest itself hardest (capture, the terminal, --lf,
# pytest-timeout, xdist workers and their crashes, SIGTERM); the others exercise the
# cluster, the same on any pytest.
MIN_SANDBOX ?= tests/sandbox/test_progress.py tests/sandbox/test_last_failed.py \
	tests/sandbox/test_session_end.py tests/sandbox/test_live_session.py
UPSTREAM ?= $(abspath ../shared/upstream)
export EXPERIMENT_UPSTREAM ?= $(UPSTREAM)

.PHONY: setup assets browser demo score test test-min lint bench fuzz mutate

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

# A second venv with pytest, pytest-xdist, pytest-timeout and pytest-html at the
# lowest versions pyproject.toml declares, so the compat branches for them run.
$(MIN_STAMP): pyproject.toml scripts/lowest_pins.py
	$(PY) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/pip install --quiet -e '.[dev]' $$($(PY) scripts/lowest_pins.py)
	$(MIN_VENV)/bin/pip check
	$(MIN_VENV)/bin/pip list 2>/dev/null | grep -E '^pytest(-xdist|-timeout|-html)? '
	touch $(MIN_STAMP)

test-min: assets $(MIN_STAMP)
	$(MIN_VENV)/bin/pytest -p no:cacheprovider -n 2 --dist loadgroup \
		--ignore=tests/sandbox --ignore=tests/browser
	$(MIN_VENV)/bin/pytest -p no:cacheprovider -n 2 --dist loadgroup $(MIN_SANDBOX)

# The hypothesis suite with many more, random examples than the bounded "ci"
# profile make test uses (a few minutes on 2 cores).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/test_fuzz.py tests/test_fuzz_verdicts.py \
		-p no:cacheprovider -q \
		--hypothesis-show-statistics

# Mutation testing of the pure core (long: not part of make test nor of .ci/run). Each
# mutant of a core/ module runs that module's fast tests; the survivors are printed and
# every mutant is written to mutation.json. MUTATE=core/gate.py limits it to modules.
MUTATE ?=
mutate: setup
	$(BIN)/python scripts/mutate.py --survivors-only --json mutation.json $(MUTATE)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/actionlint -shellcheck=$(BIN)/shellcheck docs/ci/github-actions.yml

bench: assets
	$(BIN)/python benchmarks/offline_scoring.py
	$(BIN)/python benchmarks/collection.py
	$(BIN)/python benchmarks/lifecycle.py --p6
	$(BIN)/python benchmarks/stuck_target.py
	$(BIN)/python benchmarks/hostile_input.py
