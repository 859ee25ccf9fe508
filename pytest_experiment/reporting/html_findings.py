"""What the HTML scorecard shows of one run's findings, from the JSON report document:
which declared metrics arrived, the metric groups, root causes, the suggested fix as
a diff, the diagnostics and each finding's figures. Plain data, like ``html_view``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_experiment.core import gate

Doc = Mapping[str, Any]


def _check(instance: Doc, name: str) -> Doc | None:
    """The instance's finding of check ``name``, if it ran."""
    return next((c for c in instance.get("checks") or () if c.get("check") == name), None)


@dataclass(frozen=True, slots=True)
class MetricCell:
    name: str
    state: str
    """``arrived``, ``empty``, ``error`` or ``missing``."""
    reason: str


def metrics_matrix(instance: Doc) -> tuple[MetricCell, ...]:
    """Which declared metrics arrived, and why each other one did not (from the
    custom-metrics check: its declared names and one detail line per gap)."""
    check = _check(instance, "custom-metrics")
    if check is None:
        return ()
    figures = check.get("figures") or {}
    missing = [str(n) for n in figures.get("missing") or ()]
    kinds = figures.get("gaps") or {}
    gaps = {}
    for line in check.get("details") or ():
        name, sep, why = str(line).partition(": ")
        if sep and name in missing:
            gaps[name] = why
    names = [str(n) for n in figures.get("metrics") or ()] or missing
    cells = []
    for name in names:
        why = gaps.get(name, "")
        if name not in missing:
            cells.append(MetricCell(name=name, state="arrived", reason="data"))
        else:
            state = {"error": "error", "absent": "missing"}.get(str(kinds.get(name)), "empty")
            cells.append(MetricCell(name=name, state=state, reason=why or "no data"))
    return tuple(cells)


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    with_data: int
    declared: int


def groups(instance: Doc) -> tuple[Group, ...]:
    """The differentiating metric groups and how many of each one's metrics had data."""
    check = _check(instance, "intent-coverage")
    tally = ((check or {}).get("figures") or {}).get("groups") or {}
    return tuple(
        Group(name=str(g), with_data=int(n.get("with_data", 0)), declared=int(n.get("declared", 0)))
        for g, n in tally.items()
        if isinstance(n, Mapping)
    )


def _causes(finding: Doc) -> list[str]:
    return [str(c) for c in (finding.get("figures") or {}).get("rootCauses") or ()]


def root_causes(instance: Doc) -> list[str]:
    """The gate's root causes the run's checks found, once each, in check order."""
    return list(dict.fromkeys(c for f in instance.get("checks") or () for c in _causes(f)))


def plain_details(finding: Doc) -> list[str]:
    """A finding's details without its root causes (those are listed once, per run)."""
    lines = {gate.cause_line(c) for c in _causes(finding)}
    return [str(d) for d in finding.get("details") or () if str(d) not in lines]


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str
    """``add``, ``del``, ``hunk``, ``file`` or ``same``."""
    text: str


def fix_diff(instance: Doc) -> tuple[DiffLine, ...]:
    review = instance.get("review") or {}
    gate = (review.get("figures") or {}).get("gateReport")
    text = str(gate.get("fixDiff") or "") if isinstance(gate, Mapping) else ""
    lines = []
    for line in text.rstrip("\n").splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        lines.append(DiffLine(kind=kind, text=line))
    return tuple(lines)


def diagnostics(instance: Doc) -> list[tuple[str, list[str]]]:
    """What the harness gathered where the run itself failed (the lifecycle, the review)
    or could not be verified (an errored check); a check's own details sit in its row."""
    found = []
    errored = [c for c in instance.get("checks") or () if c.get("verdict") == "error"]
    for finding in (instance.get("lifecycle"), *errored, instance.get("review")):
        if isinstance(finding, Mapping) and finding.get("verdict") in ("fail", "error"):
            details = [str(d) for d in finding.get("details") or ()]
            if details:
                found.append((str(finding.get("check")), details))
    return found


_NOT_FIGURES = frozenset(
    {
        "gateReport",
        "gate",
        "gateVerdicts",
        "metrics",
        "attempts",
        "comparisons",
        "history",
        "outcomes",
    }
)
"""Shown elsewhere on the page (the gate, the metrics matrix, the fix), not as figures."""


def figures_text(figures: Mapping[str, Any]) -> list[str]:
    """A finding's figures as short ``name: value`` lines (long lists are cut)."""
    lines = []
    for key, value in figures.items():
        if key in _NOT_FIGURES or value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value[:6])
            text = shown + (f", … (+{len(value) - 6})" if len(value) > 6 else "")
        elif isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k}={v}" for k, v in list(value.items())[:6])
        else:
            text = str(value)
        lines.append(f"{key}: {text}")
    return lines
