"""A series in the HTML scorecard: its history (instances × checks) and one small
line chart per success-criterion metric, from the JSON report document alone.

Plain data and arithmetic, like ``html_view``: the templates only lay it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.types import ObjView as Doc


def series(doc: Doc) -> list[dict[str, Any]]:
    """The runs of each series (experiments naming one series read as one history; an
    experiment in no series is its own), newest first, each run with its experiment."""
    groups: dict[str, dict[str, Any]] = {}
    for experiment in doc.get("experiments") or ():
        intent = experiment.get("intent") or {}
        key = str(intent.get("series") or experiment.get("name"))
        group = groups.setdefault(
            key,
            {"name": key, "named": bool(intent.get("series")), "experiments": [], "instances": []},
        )
        group["experiments"].append(experiment.get("name"))
        group["instances"] += [
            {**i, "experiment": experiment.get("name")} for i in experiment.get("instances") or ()
        ]
    for group in groups.values():
        group["instances"].sort(
            key=lambda i: (str(i.get("completedAt") or ""), str(i.get("instance"))), reverse=True
        )
    return list(groups.values())


def history(experiment: Doc) -> tuple[list[str], list[tuple[Doc, list[Any]]]]:
    """Instances (newest first, as the report orders them) × checks: each cell the
    verdict word of that check on that instance (None where it did not run)."""
    instances = [
        i
        for i in experiment.get("instances") or ()
        if any(c.get("verdict") != "n-a" for c in i.get("checks") or ())
    ]
    names = list(dict.fromkeys(c["check"] for i in instances for c in i["checks"]))
    rows = []
    for inst in instances:
        by_name = {c["check"]: c.get("verdict") for c in inst["checks"]}
        rows.append((inst, [by_name.get(n) for n in names]))
    return names, rows


@dataclass(frozen=True, slots=True)
class Value:
    """One run's published value of a criterion metric (None: not evaluated)."""

    instance: str
    value: float | None
    passed: bool | None
    threshold: float | None
    words: str


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    value: float | None
    instance: str
    passed: bool | None

    @property
    def css(self) -> str:
        return "dot-pass" if self.passed else ("dot-fail" if self.passed is False else "dot-none")


@dataclass(frozen=True, slots=True)
class Chart:
    metric: str
    points: tuple[Point, ...]
    """Every run, oldest first; a run without a value sits on the baseline, unjoined."""
    threshold_y: float | None
    threshold: str
    path: str
    low: str
    high: str
    width: float = 320.0
    height: float = 120.0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def criterion_charts(experiment: Doc) -> tuple[Chart, ...]:
    """One small line chart per success-criterion metric across the series' instances,
    oldest to newest, from the values the results published."""
    instances = sorted(
        (i for i in experiment.get("instances") or () if i.get("criteria")),
        key=lambda i: (str(i.get("completedAt") or ""), str(i.get("instance"))),
    )
    series: dict[str, list[Value]] = {}
    for inst in instances:
        for c in inst.get("criteria") or ():
            if not c.get("metric"):
                continue
            series.setdefault(str(c["metric"]), []).append(
                Value(
                    instance=str(inst.get("instance")),
                    value=_number(c.get("actualValue")),
                    passed=c.get("passed") if isinstance(c.get("passed"), bool) else None,
                    threshold=_number(c.get("value")),
                    words=f"{c.get('operator') or ''} {c.get('value') or ''}".strip(),
                )
            )
    return tuple(
        _chart(metric, values)
        for metric, values in series.items()
        if any(v.value is not None for v in values)
    )


def _chart(metric: str, values: Sequence[Value]) -> Chart:
    width, height, pad = 320.0, 120.0, 18.0
    threshold = next((v.threshold for v in values if v.threshold is not None), None)
    numbers = [v.value for v in values if v.value is not None]
    numbers += [threshold] if threshold is not None else []
    low, high = min(numbers), max(numbers)
    if high == low:
        low, high = low - 1, high + 1
    span = high - low

    def y(v: float) -> float:
        return height - pad - (v - low) / span * (height - 2 * pad)

    left = 48.0  # room for the axis labels
    step = (width - left - pad) / max(len(values) - 1, 1)
    points = tuple(
        Point(
            x=left + i * step,
            y=y(v.value) if v.value is not None else height - 6,
            value=v.value,
            instance=v.instance,
            passed=v.passed,
        )
        for i, v in enumerate(values)
    )
    measured = [p for p in points if p.value is not None]
    path = " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(measured))
    return Chart(
        metric=metric,
        points=points,
        threshold_y=y(threshold) if threshold is not None else None,
        threshold=next((v.words for v in values if v.words), ""),
        path=path,
        low=f"{low:.4g}",
        high=f"{high:.4g}",
    )
