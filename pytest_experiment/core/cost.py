"""What an experiment's cloud clusters are estimated to cost, before it is applied.

Priced the way the lab's operator prices a finished run (``costEstimate`` in
``summary.json``): each GKE target costs its machine type's on-demand rate ×
its node count (1 when not written), a fifth of that when preemptible; a hub
target costs nothing. The hourly rate times a duration is a cost, and two
durations are known before anything runs:

- the phase budgets: the harness gives up on an instance once they are spent,
  so rate × their sum (× the extensions ``--experiment-on-timeout=extend``
  allows, × the auto-fix re-runs) is an **upper bound**; a phase without a
  budget (Running has none by default) leaves none;
- the experiment's published runs (site data, matched by generateName): rate ×
  their median ``durationSeconds`` is the **expected** cost, shown beside the
  median of what the operator published for them (``costEstimate.totalUSD``).

The session guard (``--experiment-max-cost``) counts each experiment at its
upper bound when there is one, else at its expected cost; an experiment with
neither, or with a machine type the price table lacks, cannot be counted, and
then nothing is applied.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.options import Options
from pytest_experiment.core.prices import PriceTable, usd
from pytest_experiment.core.spec import Experiment, Target
from pytest_experiment.core.verdict import CheckResult, Status

PHASES = ("Pending", "Provisioning", "Ready", "Running")
"""The phases an instance holds (or is about to hold) its clusters in; each has a budget."""
RERUNS = 3
"""The auto-fix re-runs ``--experiment-autofix=apply`` may make of a published experiment."""
UPPER = "upper bound"
EXPECTED = "expected"


@dataclass(frozen=True, slots=True)
class TargetPrice:
    name: str
    hourly: float | None
    """USD per hour for the whole target (None: its machine type is not in the table)."""
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """How long the harness lets an instance hold its clusters, from the options."""

    budgets: Mapping[str, float | None]
    stretch: int = 1
    """Each budget may be spent this many times (``extend`` adds its extensions)."""
    runs: int = 1
    """Instances the experiment may be applied as (auto-fix re-runs add to the first)."""

    @classmethod
    def of(cls, options: Options, experiment: Experiment) -> Bound:
        extend = options.on_timeout == "extend"
        rerun = options.autofix == "apply" and experiment.publish
        return cls(
            budgets={phase: options.budget(phase) for phase in PHASES},
            stretch=1 + options.max_extensions if extend else 1,
            runs=1 + RERUNS if rerun else 1,
        )

    @property
    def seconds(self) -> float | None:
        if any(self.budgets.get(phase) is None for phase in PHASES):
            return None
        return sum(self.budgets[phase] or 0.0 for phase in PHASES) * self.stretch * self.runs

    def line(self, hourly: float) -> str:
        unbudgeted = [phase for phase in PHASES if self.budgets.get(phase) is None]
        if unbudgeted:
            flags = ", ".join(f"--experiment-budget-{p.lower()}" for p in unbudgeted)
            verb = "has" if len(unbudgeted) == 1 else "have"
            return f"no upper bound: {' and '.join(unbudgeted)} {verb} no budget ({flags})"
        parts = " + ".join(f"{p} {format_duration(self.budgets[p])}" for p in PHASES)
        text = f"upper bound: {usd(hourly)}/h × ({parts})"
        if self.stretch > 1:
            text += f" × {self.stretch} (--experiment-on-timeout=extend)"
        if self.runs > 1:
            text += f" × {self.runs} runs (--experiment-autofix=apply re-runs)"
        seconds = self.seconds or 0.0
        return f"{text} = {usd(hourly * seconds / 3600)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """What the experiment's published runs say of its duration and cost."""

    runs: int = 0
    median_seconds: float | None = None
    median_usd: float | None = None

    @classmethod
    def of(cls, summaries: Iterable[Mapping[str, Any]]) -> Published:
        """From published summaries: those with a duration (and, apart, a cost) count."""
        durations, costs = [], []
        for summary in summaries:
            seconds = _number(summary.get("durationSeconds"))
            if seconds is None or seconds <= 0:
                continue
            durations.append(seconds)
            cost = summary.get("costEstimate")
            total = _number(cost.get("totalUSD")) if isinstance(cost, Mapping) else None
            if total is not None:
                costs.append(total)
        return cls(
            runs=len(durations),
            median_seconds=statistics.median(durations) if durations else None,
            median_usd=statistics.median(costs) if costs else None,
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """One experiment's estimate and what it is made of."""

    experiment: str
    targets: tuple[TargetPrice, ...]
    bound: Bound
    published: Published
    prefix: str
    """The generateName its published runs were matched by."""
    source: str
    """The price table's source."""
    attached: bool = False
    """Followed with ``--experiment-instance``: this run creates nothing for it."""
    hourly: float | None = field(init=False)
    """USD per hour of every target together (None: a machine type the table lacks)."""
    upper: float | None = field(init=False)
    """Over the phase budgets (None: a phase without one, or no hourly rate)."""
    expected: float | None = field(init=False)
    """Over the median duration of the published runs (None: none, or no hourly rate)."""
    lines: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        # Worked out once: the guard and every report read them many times.
        rates = [t.hourly for t in self.targets]
        hourly = None if any(r is None for r in rates) else sum(r or 0.0 for r in rates)
        bound, median = self.bound.seconds, self.published.median_seconds
        fields = {
            "hourly": hourly,
            "upper": None if bound is None or hourly is None else hourly * bound / 3600,
            "expected": None if median is None or hourly is None else hourly * median / 3600,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "lines", tuple(self._lines()))

    @property
    def basis(self) -> str | None:
        if self.upper is not None:
            return UPPER
        return EXPECTED if self.expected is not None else None

    @property
    def amount(self) -> float | None:
        """What the guard counts: the upper bound, else the expected cost."""
        return self.upper if self.upper is not None else self.expected

    @property
    def why_unknown(self) -> str:
        """Why there is no amount to count ("" when there is one)."""
        unpriced = [t.name for t in self.targets if t.hourly is None]
        if unpriced:
            missing = next(t.line for t in self.targets if t.hourly is None)
            return f"{missing}; give its price with --experiment-price-table FILE"
        if self.amount is None:
            return (
                f"{self.bound.line(0.0).removeprefix('no upper bound: ')} and no published run "
                f"of {self.prefix or self.experiment}- to take a duration from"
            )
        return ""

    def headline(self) -> str:
        amount = self.amount
        if amount is None:
            return f"cost cannot be estimated: {self.why_unknown}"
        if self.basis == UPPER:
            return f"estimated {usd(amount)} (upper bound from the phase budgets)"
        runs = self.published.runs
        return f"estimated {usd(amount)} (expected, from {runs} published run{'s' * (runs != 1)})"

    def _lines(self) -> list[str]:
        lines = [t.line for t in self.targets] or ["no targets: no cloud cost"]
        hourly = self.hourly
        if hourly is not None:
            lines.append(self.bound.line(hourly))
            lines.append(self._expected_line(hourly))
        lines.append(f"prices: {self.source}")
        return lines

    def _expected_line(self, hourly: float) -> str:
        published = self.published
        if published.median_seconds is None:
            return f"expected: no published run of {self.prefix or self.experiment}- in site data"
        runs = published.runs
        text = (
            f"expected: {usd(hourly)}/h × {format_duration(published.median_seconds)} "
            f"(median duration of {runs} published run{'s' * (runs != 1)}) "
            f"= {usd(hourly * published.median_seconds / 3600)}"
        )
        if published.median_usd is not None:
            text += f"; the operator published a median of {usd(published.median_usd)}"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "usd": self.amount,
            "basis": self.basis,
            "hourlyUSD": self.hourly,
            "upperUSD": self.upper,
            "expectedUSD": self.expected,
            "boundSeconds": self.bound.seconds,
            "publishedRuns": self.published.runs,
            "publishedMedianSeconds": self.published.median_seconds,
            "publishedMedianUSD": self.published.median_usd,
            "attached": self.attached,
            "headline": self.headline(),
            "lines": list(self.lines),
            "source": self.source,
        }


def price_target(target: Target, prices: PriceTable) -> TargetPrice:
    """One target's hourly cost, priced as the operator prices it."""
    name = target.name or f"targets[{target.index}]"
    if target.cluster_type != "gke":
        kind = target.cluster_type or "no cluster.type"
        return TargetPrice(name, 0.0, f"{name}: {kind}: no cloud cluster, no cost")
    nodes = target.node_count if target.node_count and target.node_count > 0 else 1
    machine = target.machine_type
    if not machine:
        rate, what = prices.unset_hourly, "machineType unset (the operator's fallback rate)"
    elif machine in prices.hourly:
        rate, what = prices.hourly[machine], machine
    else:
        return TargetPrice(name, None, f"{name}: machine type {machine} is not in the price table")
    text = f"{name}: {nodes} × {what} at {usd(rate)}/h"
    if target.preemptible:
        rate *= prices.preemptible_factor
        text += f", preemptible × {prices.preemptible_factor:g}"
    return TargetPrice(name, rate * nodes, f"{text} = {usd(rate * nodes)}/h")


def estimate(
    experiment: Experiment,
    *,
    prices: PriceTable,
    bound: Bound,
    published: Iterable[Mapping[str, Any]] = (),
    attached: bool = False,
) -> Estimate:
    """The estimate of ``experiment`` from its targets, the budgets and its published runs."""
    return Estimate(
        experiment=experiment.name,
        targets=tuple(price_target(t, prices) for t in experiment.targets),
        bound=bound,
        published=Published.of(published),
        prefix=experiment.prefix,
        source=prices.source,
        attached=attached,
    )


def counted(estimates: Iterable[Estimate]) -> list[Estimate]:
    """The estimates a session total adds up: attached instances cost this run nothing."""
    return [e for e in estimates if not e.attached]


def session_total(estimates: Iterable[Estimate]) -> float | None:
    """The session's total, or None when an experiment in it cannot be estimated."""
    amounts = [e.amount for e in counted(estimates)]
    return None if any(a is None for a in amounts) else sum(a or 0.0 for a in amounts)


def guard(estimates: Sequence[Estimate], *, limit: float) -> dict[str, CheckResult]:
    """Each experiment's ``preflight[cost]`` verdict under ``--experiment-max-cost``.

    All or nothing: when the session's total is over the limit, or cannot be
    counted, every experiment fails, each with its own estimate, and nothing is applied.
    """
    total = session_total(estimates)
    unknown = [e for e in counted(estimates) if e.amount is None]
    if total is None:
        named = unknown[0]
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        session = (
            f"the session's cost cannot be estimated ({named.experiment}{more}); nothing is applied"
        )
    elif total > limit:
        session = (
            f"the session's {usd(total)} is over --experiment-max-cost {usd(limit)}; "
            "nothing is applied"
        )
    else:
        session = f"the session's {usd(total)} is within --experiment-max-cost {usd(limit)}"
    status = Status.PASS if total is not None and total <= limit else Status.FAIL
    verdicts = {}
    for each in estimates:
        figures = {
            "estimateUSD": each.amount,
            "basis": each.basis,
            "sessionUSD": total,
            "limitUSD": limit,
        }
        if each.attached:
            verdicts[each.experiment] = CheckResult(
                Status.NA,
                "attached with --experiment-instance: not created by this run, not counted",
                each.lines,
                figures,
            )
            continue
        summary = f"Cost {each.headline().removeprefix('cost ')}; {session}"
        verdicts[each.experiment] = CheckResult(status, summary, each.lines, figures)
    return verdicts


__all__ = [
    "EXPECTED",
    "UPPER",
    "Bound",
    "Estimate",
    "Published",
    "TargetPrice",
    "estimate",
    "guard",
    "price_target",
    "session_total",
]
