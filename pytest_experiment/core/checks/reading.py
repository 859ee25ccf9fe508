"""What every check reads: its input, and a results summary read defensively.

Summaries come from several operator generations and from an analyzer that
sometimes crashed half-way, so every field is read defensively: a section that
is missing or has the wrong type yields N/A or WARN *with the reason*,
never an exception. The one exception is data that is simply absent: the
operator leaves out the ``metrics`` section when it collected nothing, and a
query's ``data`` when it is empty, so those count as collected nothing (see
``has_data``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_experiment.core.intent import Intent
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, Status

NO_METRICS = "summary has no metrics section"
NO_QUERIES = "metrics section has no queries"
_NAMES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Reproducibility:
    """How the reproducibility check judges: the options that reach it."""

    floor: float = 0.10
    """The relative shift that matters (0.10: 10 %)."""
    fail: bool = False
    """A DIFFERS verdict fails the check instead of warning."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInput:
    experiment: Experiment
    summary: Mapping[str, Any]
    intent: Intent
    analyzer: str | None = None
    """Live analyzer outcome (``Succeeded``, ``Failed``, ``Skipped``, ``Timeout``);
    None when scoring offline, where ``analysis`` is read if present."""
    history: Sequence[Mapping[str, Any]] | None = None
    """Published summaries of the same experiment (its generateName), in any order: the
    runs this one is compared with. None: no published results to compare with."""
    reproducibility: Reproducibility = Reproducibility()
    _gaps: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def data_gap(self, name: str) -> str:
        """``data_gap`` of the summary's query ``name``, computed once for every check:
        a query of a million points costs one pass, not one per check that reads it."""
        gap = self._gaps.get(name)
        if gap is None:
            queries, _ = queries_of(self.summary)
            gap = data_gap(queries.get(name) if queries is not None else None)
            self._gaps[name] = gap
        return gap


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    title: str
    func: Callable[[CheckInput], CheckResult]


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def queries_of(summary: Any) -> tuple[Mapping[str, Any] | None, str]:
    """``metrics.queries``, or why it cannot be read.

    The operator leaves the ``metrics`` section out when it collected nothing,
    so an absent (or null) section is *empty*, not unreadable: it comes back as
    an empty mapping with the reason, and every declared metric counts as
    missing. The same holds for a section without ``queries`` (absent or null):
    zero metrics arrived either way. A section or ``queries`` of any other
    unexpected shape gives None: not measurable, which the checks report as
    such rather than guess.
    """
    if not isinstance(summary, Mapping):
        return None, f"summary is a {type_name(summary)}, not an object"
    metrics = summary.get("metrics")
    if metrics is None:
        return {}, NO_METRICS
    if not isinstance(metrics, Mapping):
        return None, f"metrics section is a {type_name(metrics)}, not an object"
    queries = metrics.get("queries")
    if queries is None:
        return {}, NO_QUERIES
    if not isinstance(queries, Mapping):
        return None, f"metrics.queries is a {type_name(queries)}, not an object"
    return queries, ""


def not_measurable(title: str, reason: str, **figures: Any) -> CheckResult:
    """WARN: the summary cannot be read for this check (``reason`` says why)."""
    return CheckResult(
        Status.WARN, f"{title}: not measurable — {reason}", figures={**figures, "reason": reason}
    )


def first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# A number as published: JSON numbers, or the decimal strings Prometheus
# serialises sample values as. Python's float() would also take "1_0", "nan"
# and "Infinity", none of which a chart can plot.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a plottable number.

    Booleans, null, objects, non-numeric strings, NaN and the infinities
    (as JSON numbers or as strings) are all None.
    """
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float) and not (
        isinstance(value, str) and _DECIMAL.fullmatch(value.strip())
    ):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        return None
    return number if math.isfinite(number) else None


def point_value(point: Any) -> float | None:
    """The finite numeric value of one data point, or None.

    The operator writes points as ``{"timestamp", "value", "labels"?}``
    objects; Prometheus' own API returns ``[timestamp, "value"]`` pairs. A
    point of any other shape has no value.
    """
    if isinstance(point, Mapping):
        return finite_number(point.get("value"))
    if isinstance(point, list | tuple) and len(point) == 2:
        return finite_number(point[1])
    return None


def data_gap(entry: Any) -> str:
    """Why a query entry has no usable data; empty when it has some.

    A query has data when it has no ``error`` and at least one point with a
    finite numeric value: the operator leaves ``data`` out of an empty query,
    and a series of NaN or nulls is as empty as no series on the site.
    """
    if entry is None:
        return "not in results"
    if not isinstance(entry, Mapping):
        return f"malformed entry ({type_name(entry)})"
    error = entry.get("error")
    if error:
        return f"query error: {first_line(str(error))}"
    data = entry.get("data")
    if data is None or data == []:
        return "no data"
    if not isinstance(data, list):
        return f"malformed data ({type_name(data)})"
    if not any(point_value(point) is not None for point in data):
        return f"no finite numeric value in {len(data)} point{'s' if len(data) > 1 else ''}"
    return ""


def gap_kind(entry: Any) -> str:
    """What kind of gap ``data_gap`` finds, for a reader that must not parse its text:
    ``absent`` (no such query in the results), ``error`` (the query failed) or
    ``empty`` (it ran and gave nothing usable)."""
    if entry is None:
        return "absent"
    if isinstance(entry, Mapping) and entry.get("error"):
        return "error"
    return "empty"


def has_data(entry: Any) -> bool:
    """True when a ``metrics.queries`` entry holds at least one usable point."""
    return not data_gap(entry)


def declared_metrics(experiment: Experiment) -> list[str]:
    return list(dict.fromkeys(m.name for m in experiment.metrics if m.name))


def shown_names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown}, … (+{more} more)" if more > 0 else shown
