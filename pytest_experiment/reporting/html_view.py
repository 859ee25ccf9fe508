"""What the HTML scorecard shows, computed from the JSON report document alone.

The page is drawn from the dict the ``--experiment-report`` file holds, never
from the scoreboard's internal objects, so the HTML depends only on that
document's schema. Everything here is plain data and arithmetic (no Jinja2,
no pytest): the overview rows and the geometry of each phase timeline; a run's
findings are in ``html_findings``, a series' history and its criterion charts in
``html_series``. The templates only lay it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytest_experiment.base.types import ObjView as Doc
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.prices import usd

TERMINAL = frozenset({"Complete", "Failed", "Deleted", "Aborted", "Succeeded"})
"""Phases an experiment does not leave: drawn as a point where it was first seen."""
LABELS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "n-a": "N/A", "error": "ERROR"}

# Drawing units of the timeline's SVG (its viewBox): the browser scales them as one,
# so widths stay proportional to seconds whatever the page width.
WIDTH = 960.0
LEFT = 130.0
RIGHT = 110.0
"""Room for the last bar's label."""
ROW = 26.0
TOP = 26.0
PLOT = WIDTH - LEFT - RIGHT


@dataclass(frozen=True, slots=True)
class Verdict:
    css: str
    label: str


def verdict(value: Any) -> Verdict:
    """A verdict word of the report as a CSS class and the label shown; anything else is
    "not run", which is neither a skip nor N/A."""
    word = str(value) if value is not None else ""
    if word in LABELS:
        return Verdict(css=f"v-{word}", label=LABELS[word])
    return Verdict(css="v-none", label="—")


@dataclass(frozen=True, slots=True)
class Bar:
    phase: str
    seconds: float
    x: float
    width: float
    y: float
    point: bool
    """A terminal phase: a marker where it was first seen, not a span."""
    open: bool
    """The run was still in this phase when the harness stopped following it."""
    budget: float | None
    budget_x: float | None
    """Where the budget ends on the axis (None: no limit, or beyond the axis)."""
    overrun_x: float | None
    """Where the overrun starts, when the phase outlived its budget."""

    @property
    def overrun(self) -> bool:
        return self.overrun_x is not None


@dataclass(frozen=True, slots=True)
class Span:
    x: float
    width: float
    label: str


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage after Complete (the analyzer, the review): its outcome, untimed."""

    name: str
    verdict: Verdict
    text: str
    y: float


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    bars: tuple[Bar, ...]
    outages: tuple[Span, ...]
    stages: tuple[Stage, ...]
    ticks: tuple[Tick, ...]
    total: float
    height: float
    width: float = WIDTH
    left: float = LEFT
    plot: float = PLOT
    top: float = TOP
    row: float = ROW


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _nice_step(total: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if total / step <= 6:
            return float(step)
    return 14400.0


def timeline(instance: Doc, budgets: Mapping[str, Any]) -> Timeline | None:
    """Bars per phase on one time axis, from the instance's phase → first-seen record."""
    seen = [(str(p), t) for p, ts in (instance.get("timeline") or {}).items() if (t := _when(ts))]
    if not seen:
        return None
    seen.sort(key=lambda entry: entry[1])
    start = seen[0][1]
    lifecycle = instance.get("lifecycle") or {}
    timed_out = (lifecycle.get("figures") or {}).get("timedOutIn")
    spans: list[tuple[str, float, float, bool, bool]] = []
    for i, (phase, at) in enumerate(seen):
        begin = (at - start).total_seconds()
        if i + 1 < len(seen):
            spans.append((phase, begin, (seen[i + 1][1] - start).total_seconds(), False, False))
        elif phase in TERMINAL:
            spans.append((phase, begin, begin, True, False))
        else:
            # Left in this phase: it lasted at least its budget when the budget ended it.
            budget = _budget(budgets, phase)
            lasted = budget if timed_out == phase and budget else 0.0
            spans.append((phase, begin, begin + lasted, lasted == 0.0, True))
    total = max(max(end for _, _, end, _, _ in spans), 1.0)
    scale = PLOT / total
    bars = []
    for row, (phase, begin, end, point, still) in enumerate(spans):
        budget = _budget(budgets, phase)
        seconds = end - begin
        budget_end = begin + budget if budget is not None else None
        bars.append(
            Bar(
                phase=phase,
                seconds=seconds,
                x=LEFT + begin * scale,
                width=seconds * scale,
                y=TOP + row * ROW,
                point=point,
                open=still,
                budget=budget,
                budget_x=LEFT + budget_end * scale
                if budget_end is not None and budget_end <= total
                else None,
                overrun_x=LEFT + budget_end * scale
                if budget_end is not None and not point and seconds > (budget or 0)
                else None,
            )
        )
    outages = []
    for outage in instance.get("outages") or ():
        a, b = _when(outage.get("start")), _when(outage.get("end"))
        if a is None or b is None:
            continue
        begin = min(max((a - start).total_seconds(), 0.0), total)
        end = min(max((b - start).total_seconds(), begin), total)
        outages.append(
            Span(x=LEFT + begin * scale, width=(end - begin) * scale, label="not observed")
        )
    stages = _stages(instance, first_row=len(bars))
    step = _nice_step(total)
    ticks = tuple(
        Tick(x=LEFT + k * step * scale, label=format_duration(k * step))
        for k in range(int(total // step) + 1)
    )
    rows = len(bars) + len(stages)
    return Timeline(
        bars=tuple(bars),
        outages=tuple(outages),
        stages=stages,
        ticks=ticks,
        total=total,
        height=TOP + rows * ROW + 8,
    )


def _budget(budgets: Mapping[str, Any], phase: str) -> float | None:
    value = budgets.get(phase)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _stages(instance: Doc, *, first_row: int) -> tuple[Stage, ...]:
    """The analyzer and the review after Complete, with the outcome each one reached."""
    ai = next((c for c in instance.get("checks") or () if c.get("check") == "ai-verdict"), None)
    review = instance.get("review")
    found = []
    if ai is not None:
        found.append(("analyzer", ai))
    if isinstance(review, Mapping):
        found.append(("review", review))
    return tuple(
        Stage(
            name=name,
            verdict=verdict(finding.get("verdict")),
            text=str(finding.get("summary", "")).split("] ", 1)[-1],
            y=TOP + (first_row + i) * ROW,
        )
        for i, (name, finding) in enumerate(found)
    )


def overview(doc: Doc) -> list[dict[str, Any]]:
    """One row per run (an experiment that never ran: one row saying where it stopped)."""
    rows = []
    for experiment in doc.get("experiments") or ():
        runs = [i for i in experiment.get("instances") or () if ran(i)]
        if not runs:
            rows.append(
                {"experiment": experiment, "instance": None, "stopped": _stopped(experiment)}
            )
        for inst in runs:
            rows.append({"experiment": experiment, "instance": inst, "stopped": ""})
    return rows


def estimate(experiment_estimate: Doc | None) -> str:
    """The overview's estimate cell: the amount and what it rests on."""
    if not experiment_estimate:
        return "—"
    amount = experiment_estimate.get("usd")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        return f"{usd(amount)} ({experiment_estimate.get('basis')})"
    return "unknown"


def ran(instance: Doc) -> bool:
    """A run was followed (an instance) or a result was scored; a record of items that
    were all blocked before anything was applied is not a run."""
    if instance.get("instance"):
        return True
    findings = [instance.get("lifecycle"), instance.get("review"), *(instance.get("checks") or ())]
    return any(isinstance(f, Mapping) and f.get("verdict") != "n-a" for f in findings)


def _stopped(experiment: Doc) -> str:
    if any(f.get("verdict") == "fail" for f in experiment.get("validation") or ()):
        return "not applied (validation FAIL)"
    if any(f.get("verdict") == "fail" for f in experiment.get("preflight") or ()):
        return "not applied (pre-flight FAIL)"
    return "not run"


def offline(doc: Doc) -> bool:
    """Scored from result files: no request went to a cluster and no run was followed."""
    followed = any(
        i.get("timeline") for e in doc.get("experiments") or () for i in e.get("instances") or ()
    )
    return not followed and not doc.get("session") and not doc.get("cleanup")
