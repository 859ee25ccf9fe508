"""Numbers and times as the operator writes them: reproducible values, series, thresholds."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pytest_experiment.base.types import Obj

_LATENCY_SUFFIXES = ("_latency", "_p50", "_p90", "_p95", "_p99")
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
# Offsets around a pinned value that average to zero: the series' mean is the value.
_PINNED_SPREAD = (-0.04, 0.02, 0.03, -0.02, 0.01, 0.0)


def rfc3339(moment: datetime) -> str:
    """UTC at second precision, as the real operator writes every time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    # Kubernetes writes seconds ("…Z"), the operator microseconds; both parse here.
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def go_duration(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    text = f"{rest:.1f}s"
    if minutes or hours:
        text = f"{int(minutes)}m{text}"
    return f"{int(hours)}h{text}" if hours else text


def is_latency_metric(name: str) -> bool:
    return name.endswith(_LATENCY_SUFFIXES) or "latency" in name


def rng(*parts: str) -> random.Random:
    """A generator seeded with names, so the same instance always gets the same values."""
    return random.Random("\x00".join(parts))


def token(generator: random.Random, length: int) -> str:
    return "".join(generator.choice(_ALNUM) for _ in range(length))


def _value_range(metric: Mapping[str, Any]) -> tuple[float, float]:
    unit = str(metric.get("unit") or "").lower()
    name = str(metric.get("name") or "")
    if unit in ("s", "sec", "seconds") or (not unit and is_latency_metric(name)):
        return 0.012, 0.25
    if unit in ("ms", "milliseconds"):
        return 2.0, 250.0
    if unit in ("bytes", "b"):
        return 5e6, 5e8
    if unit == "cores":
        return 0.05, 2.0
    if unit in ("percent", "%"):
        return 1.0, 99.0
    if unit == "ratio" or name.endswith("_ratio"):
        return 0.05, 0.95
    if "/s" in unit or "throughput" in name or name.endswith("_rate"):
        return 100.0, 5000.0
    return 1.0, 1000.0


def series(
    instance: str,
    metric: Mapping[str, Any],
    kind: str,
    *,
    start: datetime,
    end: datetime,
    pinned: float | None,
) -> list[Obj]:
    """A query's data points: one for an instant query, six across the run for a range;
    ``pinned`` (a value meeting a success criterion) is the single value or the mean."""
    generator = rng(instance, "metric", str(metric.get("name")))
    low, high = _value_range(metric)
    if kind != "range":
        value = pinned if pinned is not None else generator.uniform(low, high)
        return [{"timestamp": rfc3339(end), "value": round(value, 6)}]
    points = len(_PINNED_SPREAD)
    step = (end - start) / (points - 1)
    if pinned is not None:
        values = [pinned * (1 + offset) for offset in _PINNED_SPREAD]
    else:
        values = [generator.uniform(low, high) for _ in range(points)]
    return [
        {"timestamp": rfc3339(start + step * i), "value": round(v, 6)} for i, v in enumerate(values)
    ]


def threshold(text: Any) -> float | None:
    match = re.match(r"\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)", str(text))
    return float(match.group(1)) if match else None


def satisfying(operator: str, limit: float) -> float:
    """A value on the passing side of ``operator limit``."""
    if operator in ("lt", "lte"):
        return limit * 0.5 if limit > 0 else limit - 1.0
    return limit * 1.5 if limit > 0 else limit + 1.0


def passes(actual: float, operator: str, limit: float) -> bool:
    return {
        "lt": actual < limit,
        "lte": actual <= limit,
        "gt": actual > limit,
        "gte": actual >= limit,
    }.get(operator, False)


def _numbers(query: Mapping[str, Any] | None) -> list[float]:
    return [
        float(point["value"])
        for point in (query or {}).get("data") or []
        if isinstance(point, Mapping) and isinstance(point.get("value"), int | float)
    ]


def compared_value(query: Mapping[str, Any] | None) -> float | None:
    """The value a criterion is compared with: the single instant point, else the mean."""
    values = _numbers(query)
    if not values:
        return None
    return values[0] if len(values) == 1 else sum(values) / len(values)


def last_value(query: Mapping[str, Any] | None) -> float | None:
    values = _numbers(query)
    return values[-1] if values else None
