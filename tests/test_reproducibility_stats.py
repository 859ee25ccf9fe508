"""The reproducibility verdict as a statistical procedure, on simulated series.

Seeded and small (a few hundred series, about a second): the false DIFFERS rate on
series where nothing changed, the power at a large shift, a shift below the floor never
called DIFFERS, and a metric of several series keeping the rate of one. The benchmark
(``benchmarks/reproducibility.py``) runs the same on 1,000 series with the real corpus's
noise and prints the power table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_experiment.core.checks import CheckInput, reproducibility
from pytest_experiment.core.checks.compare import AGREES, DIFFERS, judge
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.spec import Experiment, load_experiment

LOADED = load_experiment(
    Path(__file__).resolve().parent.parent / "experiments/web-latency/experiment.yaml"
)
assert LOADED is not None
WEB: Experiment = LOADED
BETWEEN = 0.10
"""The spread between runs, relative to their mean: about the real corpus's (10.4 %)."""
SERIES = 400


def rate(*, earlier: int, shift: float, floor: float, seed: int) -> float:
    """The share of ``SERIES`` simulated series called DIFFERS, the new run ``shift``
    between-run spreads away from the earlier runs' level."""
    generator = np.random.default_rng(seed)
    called = 0
    for _ in range(SERIES):
        history = 1 + BETWEEN * generator.standard_normal(earlier)
        new = 1 + BETWEEN * (shift + generator.standard_normal())
        called += judge(history.tolist(), float(new), floor=floor).outcome == DIFFERS
    return called / SERIES


def test_the_false_differs_rate_on_null_series_is_within_five_percent() -> None:
    # Binomial SD at 5 % over 400 series is 1.1 %: 7 % is two SDs above the target.
    for earlier in (2, 3, 5, 10):
        assert rate(earlier=earlier, shift=0.0, floor=0.10, seed=earlier) <= 0.07


def test_without_a_floor_the_verdict_is_a_calibrated_five_percent_test() -> None:
    # The prediction interval alone: a run like the earlier ones falls outside it one time
    # in twenty, whatever their number (a normal interval, or the pooled points, would not).
    for earlier in (2, 3, 5, 10):
        assert 0.025 <= rate(earlier=earlier, shift=0.0, floor=1e-9, seed=earlier) <= 0.075


def test_a_large_shift_is_found() -> None:
    assert rate(earlier=10, shift=6.0, floor=0.10, seed=1) >= 0.90
    assert rate(earlier=5, shift=8.0, floor=0.10, seed=2) >= 0.90


@settings(max_examples=300, deadline=None)
@given(
    earlier=st.lists(st.floats(0.01, 1e6), min_size=2, max_size=12),
    new=st.floats(0.0, 2e6),
    floor=st.floats(0.01, 0.9),
)
def test_a_shift_below_the_floor_is_never_differs(
    earlier: list[float], new: float, floor: float
) -> None:
    judged = judge(earlier, new, floor=floor)
    mean = sum(earlier) / len(earlier)
    if abs(new - mean) <= floor * mean:
        assert judged.outcome != DIFFERS
    if judged.outcome == AGREES:
        assert judged.interval is not None
        assert -floor <= judged.interval[0] <= judged.interval[1] <= floor


def _summary(name: str, day: int, cpu: list[float]) -> dict[str, Any]:
    stamp = f"2026-11-{day:02d}T10:00:00Z"
    return {
        "name": name,
        "createdAt": stamp,
        "targets": [{"name": "app", "machineType": "e2-standard-4", "nodeCount": 1}],
        "metrics": {
            "queries": {
                "cpu_by_pod": {
                    "query": "sum by (pod) (rate(cpu[1m]))",
                    "type": "instant",
                    "unit": "cores",
                    "data": [
                        {"value": v, "labels": {"pod": f"pod-{i}"}} for i, v in enumerate(cpu)
                    ],
                }
            }
        },
    }


def test_a_metric_of_several_series_keeps_the_false_alarm_rate_of_one() -> None:
    # Four pods per run, none changed: each series is judged at 5 % / 4, so the metric
    # as a whole is called DIFFERS at most about one time in twenty.
    generator = np.random.default_rng(11)
    called = 0
    trials = 200
    for trial in range(trials):
        runs = [
            _summary(
                f"web-lat-{trial}x{day}",
                day + 1,
                (1 + BETWEEN * generator.standard_normal(4)).tolist(),
            )
            for day in range(6)
        ]
        result = reproducibility(
            CheckInput(experiment=WEB, summary=runs[-1], intent=build_intent(WEB), history=runs)
        )
        called += result.figures["outcomes"]["cpu_by_pod"] == DIFFERS
    assert called / trials <= 0.07
