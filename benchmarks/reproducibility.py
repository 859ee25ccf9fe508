"""The reproducibility verdict's false-alarm rate and power, on synthetic series whose
noise is taken from the real published runs.

1. Noise from the real corpus (shared/upstream, EXPERIMENT_UPSTREAM): for every series
   measured by two or more runs of the same experiment and fingerprint, the spread of
   its run values (between runs) and, for a range series, of a run's points (within a
   run), each relative to the mean; the medians over the series are the noise of the
   synthetic runs. The between-run spread is that of the run values, so it already holds
   what a median of noisy points adds: the synthetic run level gets only the rest.
2. Synthetic series: each run's level is 1 × (1 + level · z), its points that level ×
   (1 + within · z), its value their median (as the check takes it). The new run's
   level is shifted by k × σ.
3. Judged with the check's own ``judge`` at the default 10 % floor.

Prints the false DIFFERS rate on null series, the power table (earlier runs × shift in
units of σ) with the oracle bound beside each cell, the smallest shift with 90 % power
for each number of earlier runs, the same under the reading "3 × the earlier runs'
range", and the DIFFERS count among runs whose observed shift is below the floor (0).

The oracle knows the true mean and σ and tests |new − mean| > 1.96 σ (two-sided, 5 %,
no floor): no verdict on one new run can do better at that false-alarm rate, because the
new run carries its own between-run noise. Its power is Φ(k − 1.96) + Φ(−k − 1.96).

Run: .venv/bin/python benchmarks/reproducibility.py [--series 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import integrate, optimize, stats

from pytest_experiment.core.checks.compare import DIFFERS, judge
from pytest_experiment.core.checks.history import Series, read_run
from pytest_experiment.core.sitedata import load_site_data

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 0.10
ALPHA = 0.05
EARLIER = (2, 3, 5, 10)
SHIFTS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
TARGET = 0.90


@dataclass(frozen=True, slots=True)
class Noise:
    between: float
    within: float
    points: int
    series: int
    """How many real series the between-run figure is the median of."""
    ranged: int
    """How many of them are range series (the within-run figures' median)."""


def real_noise(site_data: Path) -> Noise:
    """The real corpus's noise: per series (one label set of one metric of one experiment
    and fingerprint) measured by two runs or more, the spread of its run values relative
    to their mean (between runs) and, for a range series, the median spread of a run's
    points (within a run) and their number. The medians over the series are the noise."""
    site = load_site_data(site_data)
    groups: dict[tuple[object, ...], list[Series]] = {}
    for result in site.results:
        run = read_run(result.summary)
        stem = run.name.rsplit("-", 1)[0]
        for name, metric in run.metrics.items():
            for labels, series in metric.series.items():
                if not series.short:
                    key = (stem, run.fingerprint, name, metric.fingerprint, labels)
                    groups.setdefault(key, []).append(series)
    between: list[float] = []
    within: list[float] = []
    points: list[float] = []
    for measured in groups.values():
        values = [s.value for s in measured]
        mean = statistics.fmean(values)
        if len(values) < 2 or mean == 0:
            continue
        between.append(statistics.stdev(values) / abs(mean))
        if measured[0].kind == "range":
            within.append(
                statistics.median(
                    statistics.stdev(s.points) / abs(statistics.fmean(s.points))
                    for s in measured
                    if statistics.fmean(s.points) != 0
                )
            )
            points.append(statistics.median(len(s.points) for s in measured))
    if not between or not within:
        sys.exit(f"no series measured twice in {site_data}")
    return Noise(
        between=statistics.median(between),
        within=statistics.median(within),
        points=round(statistics.median(points)),
        series=len(between),
        ranged=len(within),
    )


def _values(
    generator: np.random.Generator, noise: Noise, runs: int, shift: float = 0.0
) -> np.ndarray:
    """Run values whose spread is ``noise.between``: the median of a run's points
    already carries some of it (about 1.25 × within / √points), the run level the rest."""
    from_points = 1.2533 * noise.within / noise.points**0.5
    level = max(noise.between**2 - from_points**2, 0.0) ** 0.5
    levels = 1.0 + level * generator.standard_normal(runs) + shift
    samples = levels[:, None] * (1 + noise.within * generator.standard_normal((runs, noise.points)))
    values: np.ndarray = np.median(samples, axis=1)
    return values


Shift = Callable[[np.ndarray], float]
"""The new run's shift (relative to the level) given the earlier runs' values."""


def differs_rate(
    noise: Noise, *, earlier: int, shift: Shift, series: int, seed: int, floor: float = FLOOR
) -> tuple[float, int]:
    """The share of series called DIFFERS, and how many of those had an observed shift
    within the floor (which must never happen)."""
    generator = np.random.default_rng(seed)
    called = below = 0
    for _ in range(series):
        history = _values(generator, noise, earlier)
        new = float(_values(generator, noise, 1, shift(history))[0])
        judged = judge(history.tolist(), new, floor=floor)
        if judged.outcome == DIFFERS:
            called += 1
            below += abs(judged.shift or 0.0) <= floor
    return called / series, below


def run_spread(noise: Noise, *, seed: int) -> float:
    """σ: the spread of the synthetic run values, relative to the level. It is the real
    between-run figure unless the median of a run's points alone is noisier (then that)."""
    values = _values(np.random.default_rng(seed), noise, 20_000)
    return float(np.std(values, ddof=1) / np.mean(values))


def in_sigmas(k: float, sigma: float) -> Shift:
    return lambda _: k * sigma


def oracle(k: float) -> float:
    """Power of the test that knows the mean and σ: |new − mean| > z σ, two-sided."""
    z = stats.norm.ppf(1 - ALPHA / 2)
    return float(stats.norm.cdf(k - z) + stats.norm.cdf(-k - z))


def t_theory(k: float, earlier: int) -> float:
    """Power of the prediction interval alone (no floor) for normal run values: the new
    run's distance from the earlier mean, k / √(1 + 1/n) in units of its own spread,
    against the t critical value times the estimated spread (χ² with n − 1 degrees of
    freedom). The noncentral t, integrated directly: SciPy's ``nct`` loses its accuracy
    at one degree of freedom and a large shift."""
    df = earlier - 1
    critical = stats.t.ppf(1 - ALPHA / 2, df)
    ncp = k / (1 + 1 / earlier) ** 0.5

    def given(v: float) -> float:
        bound = critical * (v / df) ** 0.5
        return float(stats.norm.sf(bound - ncp) + stats.norm.cdf(-bound - ncp)) * float(
            stats.chi2.pdf(v, df)
        )

    return float(integrate.quad(given, 0, np.inf, limit=200)[0])


def k_for(power: float, curve: Callable[[float], float]) -> float:
    return float(optimize.brentq(lambda k: curve(k) - power, 0.01, 200.0))


def corpus() -> Path:
    path = Path(os.environ.get("EXPERIMENT_UPSTREAM", ROOT.parent / "shared" / "upstream"))
    if not (path / "site-data").is_dir():
        sys.exit(f"corpus not found at {path}: set EXPERIMENT_UPSTREAM")
    return path / "site-data"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    noise = real_noise(corpus())
    n, seed = args.series, args.seed
    sigma = run_spread(noise, seed=seed)
    print(
        f"real noise: between runs {noise.between:.1%} of the mean (median over "
        f"{noise.series} series), within a run {noise.within:.1%} over {noise.points} points "
        f"(median over the {noise.ranged} range series); the synthetic run values' spread "
        f"σ = {sigma:.1%}"
    )

    print(f"\nfalse DIFFERS on {n} null series (target ≤ 5 %; binomial 95 % interval):")
    below = 0
    rates = []
    for earlier in EARLIER:
        rate, found = differs_rate(
            noise, earlier=earlier, shift=in_sigmas(0.0, sigma), series=n, seed=seed + earlier
        )
        below += found
        rates.append(rate)
        low, high = stats.binomtest(round(rate * n), n).proportion_ci()
        print(f"  {earlier} earlier runs: {rate:.1%} ({low:.1%}–{high:.1%})")
    pooled = round(sum(rates) * n)
    low, high = stats.binomtest(pooled, n * len(EARLIER)).proportion_ci()
    print(f"  all {n * len(EARLIER)}: {pooled / (n * len(EARLIER)):.1%} ({low:.1%}–{high:.1%})")

    print(f"\npower (share called DIFFERS), {n} series a cell; oracle bound in brackets:")
    print(_row(["earlier runs", *(f"{k:g} σ" for k in SHIFTS)]))
    print(_row(["---"] * (len(SHIFTS) + 1)))
    for earlier in EARLIER:
        cells = []
        for k in SHIFTS:
            rate, found = differs_rate(
                noise, earlier=earlier, shift=in_sigmas(k, sigma), series=n, seed=seed
            )
            below += found
            cells.append(f"{rate:.1%} ({oracle(k):.0%})")
        print(_row([str(earlier), *cells]))

    oracle_k = k_for(TARGET, oracle)
    print(f"\nsmallest shift with {TARGET:.0%} power (oracle: {oracle_k:.2f} σ whatever the runs):")
    print(_row(["earlier runs", "this verdict (simulated)", "t interval alone (theory)"]))
    print(_row(["---"] * 3))
    for earlier in EARLIER:
        theory = k_for(TARGET, functools.partial(t_theory, earlier=earlier))

        def simulated(k: float, e: int = earlier) -> float:
            rate, _ = differs_rate(noise, earlier=e, shift=in_sigmas(k, sigma), series=n, seed=seed)
            return rate

        low, high = 0.0, 2 * theory + 5
        for _ in range(12):  # the same series at every shift: the rate grows with it
            middle = (low + high) / 2
            low, high = (low, middle) if simulated(middle) >= TARGET else (middle, high)
        print(
            _row(
                [
                    str(earlier),
                    f"{high:.1f} σ ({high * sigma:+.0%})",
                    f"{theory:.1f} σ ({theory * sigma:+.0%})",
                ]
            )
        )

    print("\nthe other reading: a shift of 3 × the earlier runs' range (max − min):")
    for earlier in EARLIER:
        rate, found = differs_rate(
            noise,
            earlier=earlier,
            shift=lambda history: 3 * float(history.max() - history.min()),
            series=n,
            seed=seed,
        )
        below += found
        print(f"  {earlier} earlier runs: {rate:.1%}")

    critical = stats.t.ppf(1 - ALPHA / 2, 4)
    print(
        f"\n90 % at 3 σ with 5 earlier runs at ≤ 5 % false DIFFERS: the oracle reaches "
        f"Φ(3 − 1.96) = {oracle(3.0):.1%}; the t interval (4 df, critical {critical:.3f}, "
        f"noncentrality 3/√1.2 = {3 / 1.2**0.5:.2f}) {t_theory(3.0, 5):.1%}."
    )
    print(f"DIFFERS with an observed shift within the floor, over every series above: {below}")
    print(f"took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
