"""The reproducibility verdict's false-alarm rate and power, on synthetic series whose
noise is taken from the real published runs.

1. Noise from the real corpus (shared/upstream, EXPERIMENT_UPSTREAM): for every series
   measured by two or more runs of the same experiment and fingerprint, the spread of
   the run values (between runs) and of a range query's points (within a run), each
   relative to the mean; the medians are the noise of the synthetic runs. The between-run
   spread is that of the run values, so it already holds what a median of noisy points
   adds: the synthetic run level gets only the rest.
2. Synthetic series: each run's level is 1 × (1 + between · z), its points that level ×
   (1 + within · z), its value their median (as the check takes it). The new run's
   level is shifted by k × the between-run spread.
3. Judged with the check's own ``judge`` at the default 10 % floor.

Prints the false DIFFERS rate on null series, the power table (earlier runs × shift),
and the DIFFERS count among runs whose observed shift is below the floor (must be 0).

Run: .venv/bin/python benchmarks/reproducibility.py [--series 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pytest_experiment.core.checks.compare import DIFFERS, judge
from pytest_experiment.core.checks.history import read_run
from pytest_experiment.core.sitedata import load_site_data

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 0.10
EARLIER = (2, 3, 5, 10)
SHIFTS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)


@dataclass(frozen=True, slots=True)
class Noise:
    between: float
    within: float
    points: int
    series: int
    """How many real series the between-run figure is the median of."""


def real_noise(site_data: Path) -> Noise:
    """The median relative spread between runs and within a run, over the real corpus."""
    site = load_site_data(site_data)
    groups: dict[tuple[object, ...], list[float]] = {}
    within: list[float] = []
    points: list[int] = []
    for result in site.results:
        run = read_run(result.summary)
        stem = run.name.rsplit("-", 1)[0]
        for name, metric in run.metrics.items():
            for labels, series in metric.series.items():
                if series.short:
                    continue
                key = (stem, run.fingerprint, name, metric.fingerprint, labels)
                groups.setdefault(key, []).append(series.value)
    for result in site.results:
        run = read_run(result.summary)
        stem = run.name.rsplit("-", 1)[0]
        for name, metric in run.metrics.items():
            for labels, series in metric.series.items():
                key = (stem, run.fingerprint, name, metric.fingerprint, labels)
                mean = statistics.fmean(series.points)
                measured_twice = len(groups.get(key, ())) >= 2
                if series.kind == "range" and mean > 0 and not series.short and measured_twice:
                    within.append(statistics.stdev(series.points) / mean)
                    points.append(len(series.points))
    between = [
        statistics.stdev(values) / abs(statistics.fmean(values))
        for values in groups.values()
        if len(values) >= 2 and statistics.fmean(values) != 0
    ]
    if not between or not within:
        sys.exit(f"no series measured twice in {site_data}")
    return Noise(
        between=statistics.median(between),
        within=statistics.median(within),
        points=int(statistics.median(points)),
        series=len(between),
    )


def _values(
    generator: np.random.Generator, noise: Noise, runs: int, shift: float = 0.0
) -> list[float]:
    """Run values whose spread is ``noise.between``: the median of a run's points
    already carries some of it (about 1.25 × within / √points), the run level the rest."""
    from_points = 1.2533 * noise.within / noise.points**0.5
    level = max(noise.between**2 - from_points**2, 0.0) ** 0.5
    levels = 1.0 + level * generator.standard_normal(runs) + shift
    samples = levels[:, None] * (1 + noise.within * generator.standard_normal((runs, noise.points)))
    return [float(v) for v in np.median(samples, axis=1)]


def differs_rate(
    noise: Noise, *, earlier: int, shift: float, series: int, seed: int, floor: float = FLOOR
) -> tuple[float, int]:
    """The share of series called DIFFERS, and how many of those had an observed shift
    below the floor (which must never happen)."""
    generator = np.random.default_rng([seed, earlier, int(shift * 1000)])
    called = below = 0
    for _ in range(series):
        history = _values(generator, noise, earlier)
        new = _values(generator, noise, 1, shift * noise.between)[0]
        judged = judge(history, new, floor=floor)
        if judged.outcome == DIFFERS:
            called += 1
            below += abs(judged.shift or 0.0) <= floor
    return called / series, below


def table(noise: Noise, *, series: int, seed: int) -> dict[tuple[int, float], float]:
    return {
        (n, k): differs_rate(noise, earlier=n, shift=k, series=series, seed=seed)[0]
        for n in EARLIER
        for k in SHIFTS
    }


def below_floor(noise: Noise, *, series: int, seed: int) -> tuple[int, int]:
    """DIFFERS verdicts whose observed shift was within the floor, over shifts just under
    it, and the number of series tried."""
    tight = Noise(noise.between / 4, noise.within, noise.points, noise.series)
    found = 0
    tried = 0
    for fraction in (0.5, 0.8, 0.95, 1.0):
        for n in EARLIER:
            shift = fraction * FLOOR / tight.between
            found += differs_rate(tight, earlier=n, shift=shift, series=series, seed=seed)[1]
            tried += series
    return found, tried


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
    print(
        f"real noise: between runs {noise.between:.1%} (median over {noise.series} series), "
        f"within a run {noise.within:.1%} over {noise.points} points"
    )
    null, _ = differs_rate(noise, earlier=5, shift=0.0, series=args.series, seed=args.seed)
    print(f"false DIFFERS on {args.series} null series, 5 earlier runs: {null:.1%} (≤ 5 %)")
    rates = table(noise, series=args.series, seed=args.seed)
    print(_row(["earlier runs", *(f"shift {k:g}×" for k in SHIFTS)]))
    print(_row(["---"] * (len(SHIFTS) + 1)))
    for n in EARLIER:
        print(_row([str(n), *(f"{rates[(n, k)]:.1%}" for k in SHIFTS)]))
    found, tried = below_floor(noise, series=args.series // 4, seed=args.seed)
    print(f"DIFFERS with an observed shift within the floor: {found} of {tried} (must be 0)")
    print(f"took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
