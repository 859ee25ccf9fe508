"""The reproducibility check in the HTML scorecard: one small chart per metric across the
experiment's published runs, from the check's figures in the JSON report alone.

Each chart puts every run oldest to newest, the new run marked, the band where a run
like the comparable earlier ones lands (their prediction interval), and a vertical rule
where the fingerprint changed (the runs before it are not compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.types import ObjView as Doc

WIDTH, HEIGHT, PAD, LEFT = 320.0, 120.0, 16.0, 48.0


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    value: float
    instance: str
    new: bool


@dataclass(frozen=True, slots=True)
class Rule:
    x: float
    changes: str


@dataclass(frozen=True, slots=True)
class ReproChart:
    metric: str
    outcome: str
    line: str
    dots: tuple[Dot, ...]
    rules: tuple[Rule, ...]
    band: tuple[float, float] | None
    """The band's top and bottom y."""
    band_x: float
    """Where the band starts: the last fingerprint change, else the first run."""
    low: str
    high: str
    width: float = WIDTH
    height: float = HEIGHT


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _pick(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One series per metric: the one that differs, else the first judged."""
    rank = {"differs": 0, "inconclusive": 1, "agrees": 2}
    chosen: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        metric = str(row.get("metric"))
        best = chosen.get(metric)
        if best is None or rank.get(str(row.get("outcome")), 3) < rank.get(
            str(best.get("outcome")), 3
        ):
            chosen[metric] = row
    return list(chosen.values())


def charts(check: Doc) -> tuple[ReproChart, ...]:
    """The charts of one reproducibility finding (empty for any other check)."""
    figures = check.get("figures") or {}
    runs = figures.get("history") or []
    rows = figures.get("comparisons") or []
    if check.get("check") != "reproducibility" or not runs or not rows:
        return ()
    return tuple(c for row in _pick(rows) if (c := _chart(row, runs)) is not None)


def _chart(row: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> ReproChart | None:
    values = [_number(v) for v in row.get("values") or ()]
    band = row.get("band")
    band_values = [n for b in (band or ()) if (n := _number(b)) is not None]
    numbers = [v for v in values if v is not None] + band_values
    if not numbers or len(values) != len(runs):
        return None
    low, high = min(numbers), max(numbers)
    # Runs that agree to the last digit (or a band of width 0) still get a visible scale.
    if high - low <= 1e-9 * max(abs(low), abs(high), 1e-12):
        middle = (low + high) / 2
        low, high = middle - abs(middle) * 0.1 - 1e-9, middle + abs(middle) * 0.1 + 1e-9
    span = high - low

    def y(v: float) -> float:
        return float(HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD))

    step = (WIDTH - LEFT - PAD) / max(len(runs) - 1, 1)
    dots = tuple(
        Dot(LEFT + i * step, y(v), v, str(runs[i].get("instance")), i == len(runs) - 1)
        for i, v in enumerate(values)
        if v is not None
    )
    rules = tuple(
        Rule(LEFT + (i - 0.5) * step, "; ".join(run.get("changes") or ()))
        for i, run in enumerate(runs)
        if i and run.get("changes")
    )
    # The line does not join runs across a fingerprint change: they were not compared.
    line = " ".join(
        f"{'M' if i == 0 or any(dots[i - 1].x < r.x < d.x for r in rules) else 'L'}"
        f"{d.x:.1f},{d.y:.1f}"
        for i, d in enumerate(dots)
    )
    label = str(row.get("metric"))
    if row.get("labels"):
        label += f"{{{row['labels']}}}"
    # The band covers the comparable runs: those since the last fingerprint change.
    start = max((r.x for r in rules), default=LEFT)
    return ReproChart(
        metric=label,
        outcome=str(row.get("outcome")),
        line=line,
        dots=dots,
        rules=rules,
        band=(y(max(band_values)), y(min(band_values))) if len(band_values) == 2 else None,
        band_x=start,
        low=f"{low:.4g}",
        high=f"{high:.4g}",
    )
