"""Offline scoring of the whole real corpus must take ≤ 1 s.

Measures two things on shared/upstream (EXPERIMENT_UPSTREAM):
  scoring   load every experiment and the site data, then run the eight
            checks on every matching result file, each compared with the earlier
            results of its experiment: the work a results directory adds (median of
            repeated runs, in-process; the first run, which imports SciPy, is
            printed apart);
  pytest    the user's command end to end, `pytest <experiments>
            --experiment-results <site-data> ...`, wall time including
            interpreter start-up, plugin import and collection.

Run: .venv/bin/python benchmarks/offline_scoring.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_experiment.core.checks import CheckInput, History, reproducibility, run_checks
from pytest_experiment.core.checks.reproducibility import templates
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.sitedata import load_site_data
from pytest_experiment.core.spec import load_experiment

ROOT = Path(__file__).resolve().parent.parent


def corpus() -> Path:
    path = Path(os.environ.get("EXPERIMENT_UPSTREAM", ROOT.parent / "shared" / "upstream"))
    if not (path / "experiments").is_dir():
        sys.exit(f"corpus not found at {path}: set EXPERIMENT_UPSTREAM")
    return path


def score_once(upstream: Path) -> int:
    site = load_site_data(upstream / "site-data")
    scored = 0
    for path in sorted(upstream.glob("experiments/*/experiment.yaml")):
        experiment = load_experiment(path)
        if experiment is None:
            continue
        intent = build_intent(
            experiment, series=site.series, prior_metric_names=site.prior_metric_names(experiment)
        )
        results = site.results_for(experiment.generate_name)
        # As the session does: one history per experiment, each run read once.
        history = History((summary for _, summary in results), templates=templates(experiment))
        for _, summary in results:
            run_checks(
                CheckInput(experiment=experiment, summary=summary, intent=intent, history=history)
            )
            scored += 1
    return scored


def reproducibility_once(upstream: Path) -> tuple[float, int]:
    """Seconds spent in the reproducibility check alone over the corpus (each history read
    afresh, as a new session reads it), and the number of results it judged."""
    site = load_site_data(upstream / "site-data")
    spent, judged = 0.0, 0
    for path in sorted(upstream.glob("experiments/*/experiment.yaml")):
        experiment = load_experiment(path)
        if experiment is None:
            continue
        intent = build_intent(
            experiment, series=site.series, prior_metric_names=site.prior_metric_names(experiment)
        )
        results = site.results_for(experiment.generate_name)
        history = History((summary for _, summary in results), templates=templates(experiment))
        for _, summary in results:
            inp = CheckInput(experiment=experiment, summary=summary, intent=intent, history=history)
            started = time.perf_counter()
            reproducibility(inp)
            spent += time.perf_counter() - started
            judged += 1
    return spent, judged


def pytest_wall(upstream: Path) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(upstream / "experiments"),
                f"--experiment-results={upstream / 'site-data'}",
                f"--experiment-site-data={upstream / 'site-data'}",
                f"--experiment-components-dir={upstream / 'components'}",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return elapsed, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    upstream = corpus()
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        scored = score_once(upstream)
        times.append(time.perf_counter() - started)
    alone = [reproducibility_once(upstream) for _ in range(args.repeat)]
    per_check = statistics.median(spent / judged for spent, judged in alone)
    wall, tail = pytest_wall(upstream)
    print(f"corpus: {upstream}")
    print(f"result files scored: {scored}")
    print(f"first run (imports SciPy for the statistics): {times[0] * 1000:.1f} ms")
    times = times[1:] or times
    print(
        f"scoring: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {args.repeat} runs (target ≤ 1000 ms)"
    )
    print(
        f"the reproducibility check alone: median {per_check * 1000:.2f} ms per result "
        f"({alone[0][1]} results, history reading included)"
    )
    print(f"pytest end to end: {wall:.2f} s wall ({tail})")


if __name__ == "__main__":
    main()
