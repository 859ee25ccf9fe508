"""Cost estimates against what the operator published, on the real corpus.

For every experiment of shared/upstream (EXPERIMENT_UPSTREAM) with at least two
published runs in its site data, prints what ``--experiment-max-cost`` would
count before applying it, beside the ``costEstimate.totalUSD`` the operator
published for its runs:

  rate      its targets priced with the shipped table (nodes × on-demand rate,
            preemptible × 0.2, an unset machine type at the operator's fallback),
            beside the median rate the operator charged its runs (totalUSD over
            durationHours): where they differ, the spec's machines changed since
  expected  rate × the median ``durationSeconds`` of its published runs (what
            the guard counts when Running has no budget, the default)
  loo err   leave-one-out: each run's published cost against rate × the median
            duration of the *other* runs; the median relative error (and, apart,
            at the rate the run was charged: the error of the duration alone)
  upper     rate × the phase budgets with ``--experiment-budget-running 1h``
            (what the guard counts when every phase has a budget), and how many
            published runs cost no more than that

Then times the guard itself: estimating and deciding a session of the corpus's
experiments, and of 1,000 experiments (the collection benchmark's tree), as the
run does once when it starts.

Run: .venv/bin/python benchmarks/cost_estimates.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_experiment.core.cost import Bound, estimate, guard
from pytest_experiment.core.options import Options
from pytest_experiment.core.prices import shipped_prices, usd
from pytest_experiment.core.sitedata import load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment

ROOT = Path(__file__).resolve().parent.parent
RUNNING = Options(budget_running=3600.0)


def corpus() -> Path:
    path = Path(os.environ.get("EXPERIMENT_UPSTREAM", ROOT.parent / "shared" / "upstream"))
    if not (path / "experiments").is_dir():
        sys.exit(f"corpus not found at {path}: set EXPERIMENT_UPSTREAM")
    return path


def machines(experiment: Experiment) -> str:
    parts = []
    for target in experiment.targets:
        if target.cluster_type != "gke":
            continue
        nodes = target.node_count or 1
        spot = ", preemptible" if target.preemptible else ""
        parts.append(f"{nodes} × {target.machine_type or '(unset)'}{spot}")
    return "; ".join(parts) or "none"


def published_cost(summary: Mapping[str, Any]) -> float | None:
    cost = summary.get("costEstimate")
    total = cost.get("totalUSD") if isinstance(cost, Mapping) else None
    return float(total) if isinstance(total, int | float) else None


def table(upstream: Path) -> list[str]:
    site = load_site_data(upstream / "site-data")
    rows = [
        "| experiment (series) | runs | machines in the spec | rate | runs' rate | "
        "median duration | expected | published median (min–max) | expected / published | "
        "loo err | upper (Running 1h) | runs ≤ upper |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(upstream.glob("experiments/*/experiment.yaml")):
        experiment = load_experiment(path)
        if experiment is None:
            continue
        runs = [s for _, s in site.results_for(experiment.generate_name)]
        priced = [(s, published_cost(s)) for s in runs if published_cost(s) is not None]
        if len(priced) < 2:
            continue
        found = estimate(
            experiment,
            prices=shipped_prices(),
            bound=Bound.of(RUNNING, experiment),
            published=runs,
        )
        hourly = found.hourly or 0.0
        costs = [c for _, c in priced if c is not None]
        durations = [float(s["durationSeconds"]) for s, _ in priced]
        errors, duration_errors = [], []
        for i, cost in enumerate(costs):
            others = statistics.median(durations[:i] + durations[i + 1 :])
            errors.append(abs(hourly * others / 3600 - cost) / cost)
            # Its own rate: how far the median duration of the others is from its own.
            duration_errors.append(abs(others - durations[i]) / durations[i])
        charged = statistics.median(c / (d / 3600) for c, d in zip(costs, durations, strict=True))
        upper = found.upper or 0.0
        within = sum(1 for c in costs if c <= upper)
        expected = found.expected or 0.0
        published = statistics.median(costs)
        rows.append(
            f"| {experiment.name} ({experiment.prefix}-) | {len(costs)} | {machines(experiment)} "
            f"| {usd(hourly)}/h | {usd(charged)}/h "
            f"| {statistics.median(durations) / 60:.1f} min | {usd(expected)} "
            f"| {usd(published)} ({usd(min(costs))}–{usd(max(costs))}) "
            f"| {expected / published:.2f} × | {statistics.median(errors) * 100:.0f} % "
            f"({statistics.median(duration_errors) * 100:.0f} %) "
            f"| {usd(upper)} | {within}/{len(costs)} |"
        )
    return rows


def time_guard(
    experiments: list[Experiment], site_runs: dict[str, list[Any]], repeat: int
) -> float:
    """Median seconds to estimate every experiment and decide the session."""
    prices = shipped_prices()
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        estimates = [
            estimate(
                e,
                prices=prices,
                bound=Bound.of(RUNNING, e),
                published=site_runs.get(e.generate_name, []),
            )
            for e in experiments
        ]
        guard(estimates, limit=1_000_000.0)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    upstream = corpus()
    print("\n".join(table(upstream)))
    site = load_site_data(upstream / "site-data")
    lab = [
        e
        for p in sorted(upstream.glob("experiments/*/experiment.yaml"))
        if (e := load_experiment(p)) is not None
    ]
    runs = {e.generate_name: [s for _, s in site.results_for(e.generate_name)] for e in lab}
    print()
    print(
        f"guard over the corpus's {len(lab)} experiments: "
        f"{time_guard(lab, runs, args.repeat) * 1000:.2f} ms (median of {args.repeat})"
    )
    example = load_experiment(ROOT / "experiments" / "web-latency" / "experiment.yaml")
    assert example is not None
    many = [example.__class__.from_source(example.source, name=f"exp-{i:04d}") for i in range(1000)]
    examples = load_site_data(ROOT / "experiments" / "site" / "data")
    runs = {example.generate_name: [s for _, s in examples.results_for(example.generate_name)]}
    print(
        f"guard over 1,000 experiments (web-latency, "
        f"{len(runs[example.generate_name])} published runs each): "
        f"{time_guard(many, runs, max(3, args.repeat // 4)) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
