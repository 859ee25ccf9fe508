"""Reporting: scorecards, the final summary, the JSON report and the GitHub step summary.

Everything here is rebuilt from test reports (their ``user_properties``),
never from worker-local state, so a run under pytest-xdist prints the same
scorecard as a run in one process: the controller sees only reports.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_experiment.core.prices import usd
from pytest_experiment.core.verdict import Status, gate, gated

REPORT_SCHEMA = Path(__file__).parents[1] / "schemas" / "report.schema.json"
"""The JSON Schema the ``--experiment-report`` document follows."""
SCHEMA_VERSION = 1
"""Bumped whenever a field of the JSON report is renamed or removed (adding one is not)."""
_TAGS = {s.value: s for s in Status}
# Reports arrive in worker order under xdist; findings are shown in spec order.


@functools.cache
def _rule_order() -> dict[str, int]:
    from pytest_experiment.core.rules import RULES

    return {rule.name: i for i, rule in enumerate(RULES)}


@functools.cache
def _check_order() -> dict[str, int]:
    from pytest_experiment.core.checks import CHECKS

    return {check.name: i for i, check in enumerate(CHECKS)}


RESERVED_PROPERTIES = frozenset(
    {
        "experiment", "instance", "step", "check", "verdict", "summary", "details", "run",
        "intent", "estimate", "blocked",
    }
)  # fmt: skip
"""The properties every item's report carries; a figure of the same name is written
``figure.<name>`` so it can never overwrite one."""


@dataclass
class Finding:
    check: str
    status: Status
    line: str
    details: list[str]
    figures: dict[str, Any]
    blocked: bool = False
    """Not judged: an earlier step of the experiment failed."""

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "verdict": self.status.value,
            "summary": self.line,
            "details": self.details,
            "figures": self.figures,
        }


@dataclass
class InstanceReport:
    """One run of an experiment: a live instance, or one result file scored offline."""

    instance: str
    run: dict[str, Any] = field(default_factory=dict)
    quality: list[Finding] = field(default_factory=list)
    lifecycle: Finding | None = None
    review: Finding | None = None

    @property
    def gate_verdicts(self) -> dict[str, Status]:
        """Every check's verdict the gate was decided on: all the checks of the scored
        summary, as the items recorded them, even when ``-k`` selected only some;
        else the verdicts of the findings reported."""
        for finding in self.quality:
            recorded = finding.figures.get("gateVerdicts")
            if isinstance(recorded, Mapping) and recorded:
                return {str(k): _TAGS.get(str(v), Status.ERROR) for k, v in recorded.items()}
        return {f.check: f.status for f in self.quality if not f.blocked}

    @property
    def gate(self) -> Status | None:
        scored = [gated(check, status) for check, status in self.gate_verdicts.items()]
        if not scored or all(s is Status.NA for s in scored):
            return None
        return gate(scored)

    @property
    def unselected(self) -> list[str]:
        """Checks the gate was decided on whose items this session did not report."""
        reported = {f.check for f in self.quality}
        return [check for check in self.gate_verdicts if check not in reported]


@dataclass
class ExperimentReport:
    name: str
    path: str = ""
    validation: list[Finding] = field(default_factory=list)
    preflight: list[Finding] = field(default_factory=list)
    intent: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] = field(default_factory=dict)
    """What its clouds clusters were estimated to cost before it was applied."""
    instances: dict[str, InstanceReport] = field(default_factory=dict)

    def runs(self) -> list[InstanceReport]:
        """Newest completion first, whatever order xdist workers reported them in."""
        return sorted(
            self.instances.values(),
            key=lambda r: (str(r.run.get("completedAt") or ""), r.instance),
            reverse=True,
        )

    def instance(self, name: str) -> InstanceReport:
        if name not in self.instances:
            self.instances[name] = InstanceReport(name)
        return self.instances[name]

    @property
    def published(self) -> bool:
        return bool(self.intent.get("publish", True))


def carries_verdict(*, when: str, passed: bool) -> bool:
    """Whether a test report is the one an item's verdict travels on: the call's, or a
    setup's that ended the item (an environment failure, a skip)."""
    return when == "call" or (when == "setup" and not passed)


def property_name(name: str) -> str:
    """The one naming convention of every JUnit property and JSON report field: camelCase.

    Checks name their figures in Python style (``workload_pods``); the reports a CI reads
    spell them as the Kubernetes API spells its fields (``workloadPods``, ``completedAt``).
    Only names are converted, never data (a metric group called ``hdb_write`` stays so).
    """
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def timeline_of(run: Mapping[str, Any]) -> dict[str, str]:
    """Phase → when the harness first saw it (ISO 8601, in the order seen), from the
    lifecycle's run record.

    The one place the report reads the live run's record of phases entered, so a change
    in how that record is kept touches only this function.
    """
    timeline = run.get("timeline")
    if not isinstance(timeline, Mapping):
        return {}
    # In the order seen: properties travel as JSON with sorted keys, which loses it.
    return {str(p): str(seen) for p, seen in sorted(timeline.items(), key=lambda x: str(x[1]))}


def outages_of(run: Mapping[str, Any]) -> list[dict[str, str]]:
    """The spans the watch was down, from the phases the run record lists as not
    observed (each names the outage it fell in), once each, in time order."""
    missed = run.get("notObserved")
    if not isinstance(missed, Mapping):
        return []
    spans = {
        (str(span["from"]), str(span["to"]))
        for span in missed.values()
        if isinstance(span, Mapping) and span.get("from") and span.get("to")
    }
    return [{"start": start, "end": end} for start, end in sorted(spans)]


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class Scoreboard:
    """Accumulates findings from reports; renders every output format."""

    def __init__(self) -> None:
        self.experiments: dict[str, ExperimentReport] = {}
        self.toil: list[dict[str, Any]] = []
        self.cleanup: list[dict[str, Any]] = []
        self.orphans: list[dict[str, Any]] = []
        """What the sweep did with instances of earlier runs whose owner lease expired."""
        self.session: dict[str, Any] = {}
        self.namespaces: set[str] = set()
        """Where the live runs created instances (for the xdist controller's sweep)."""
        self.toil_error = ""
        """Why ``bd sync`` failed, when it did."""
        self.problems: list[str] = []
        """Input files that could not be read (site data), one line each."""
        self.budgets: dict[str, float | None] = {}
        """Seconds each phase or stage was allowed (None: no limit), for drawing timelines."""
        self.max_cost: float | None = None
        """``--experiment-max-cost``, the limit the session's estimate was held to."""

    def merge_facts(self, facts: Mapping[str, Any]) -> None:
        """What a live run (this process's, or an xdist worker's) did outside any item."""
        self.toil.extend(facts.get("toil") or [])
        self.namespaces.update(facts.get("namespaces") or ())
        self.orphans.extend(facts.get("orphans") or [])
        for entry in facts.get("cleanup") or []:
            known = self.cleanup_for(str(entry.get("instance")))
            if known is None:
                self.cleanup.append(entry)
            elif known.get("action") == "gone":
                # Under xdist the controller and a worker can both report one instance;
                # "already deleted" says less than what the other one did to it.
                self.cleanup[self.cleanup.index(known)] = entry
        for section, counts in (facts.get("session") or {}).items():
            merged = self.session.setdefault(section, {})
            for key, value in counts.items():
                merged[key] = merged.get(key, 0) + value

    def kept_by_error(self) -> list[dict[str, Any]]:
        """Instances the policy said to delete whose delete the API refused or failed."""
        return [entry for entry in [*self.cleanup, *self.orphans] if entry.get("error")]

    def cleanup_for(self, instance: str) -> dict[str, Any] | None:
        return next((c for c in self.cleanup if c.get("instance") == instance), None)

    def ordered(self) -> list[ExperimentReport]:
        """By name: reports arrive in worker order under xdist, output must not depend on it."""
        return [self.experiments[name] for name in sorted(self.experiments)]

    def add(self, *, nodeid: str, properties: Iterable[tuple[str, Any]]) -> None:
        props = {k: _parse(v) for k, v in properties}
        name = props.get("experiment")
        status = _TAGS.get(str(props.get("verdict")))
        if not isinstance(name, str) or status is None:
            return
        report = self.experiments.setdefault(name, ExperimentReport(name))
        report.path = report.path or nodeid.split("::", 1)[0]
        figures = {
            k.removeprefix("figure."): v for k, v in props.items() if k not in RESERVED_PROPERTIES
        }
        finding = Finding(
            check=str(props.get("check", "")),
            status=status,
            line=str(props.get("summary", "")),
            details=[str(d) for d in props.get("details") or []],
            figures=figures,
            blocked=str(props.get("blocked")).lower() == "true",
        )
        if isinstance(props.get("intent"), dict):
            report.intent = props["intent"]
        if isinstance(props.get("estimate"), dict):
            report.estimate = props["estimate"]
        step = props.get("step")
        instance = str(props.get("instance") or "")
        if step == "validate":
            report.validation.append(finding)
            order = _rule_order()
            report.validation.sort(key=lambda f: order.get(f.check, len(order)))
        elif step == "preflight":
            report.preflight.append(finding)
        elif step == "lifecycle":
            record = report.instance(instance)
            record.lifecycle = finding
            if isinstance(props.get("run"), dict):
                record.run = {**props["run"], **record.run}
        elif step == "quality":
            record = report.instance(instance)
            record.quality.append(finding)
            # Built-in checks first in their order, then hook-added ones by name.
            record.quality.sort(
                key=lambda f: (_check_order().get(f.check, len(_check_order())), f.check)
            )
            if isinstance(props.get("run"), dict):
                # The results' record wins, but the lifecycle's phase timeline is kept.
                record.run = {**record.run, **props["run"]}
        elif step == "review":
            record = report.instance(instance)
            record.review = finding
            if isinstance(props.get("run"), dict):
                record.run.update({k: v for k, v in props["run"].items() if v is not None})

    def cost(self) -> dict[str, Any] | None:
        """The session's estimated cost, from the experiments' estimates (an attached one is
        not counted); None when no experiment has one. ``estimatedUSD`` is None when one
        counted cannot be estimated."""
        estimates = [r.estimate for r in self.ordered() if r.estimate]
        if not estimates:
            return None
        counted = [e.get("usd") for e in estimates if not e.get("attached")]
        known = [a for a in counted if isinstance(a, int | float) and not isinstance(a, bool)]
        return {
            "estimatedUSD": sum(known) if len(known) == len(counted) else None,
            "experiments": len(counted),
            "unknown": len(counted) - len(known),
            "limitUSD": self.max_cost,
        }

    # -- JSON report -------------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "session": self.session,
            "toil": self.toil,
            "cleanup": self.cleanup,
            "orphans": self.orphans,
            "problems": self.problems,
            "budgets": self.budgets,
            "cost": self.cost(),
            "experiments": [
                {
                    "name": r.name,
                    "path": r.path,
                    "intent": r.intent,
                    "estimate": r.estimate or None,
                    "validation": [f.as_json() for f in r.validation],
                    "preflight": [f.as_json() for f in r.preflight],
                    "instances": [
                        {
                            "instance": i.instance,
                            **{k: v for k, v in i.run.items() if k not in ("instance", "timeline")},
                            "timeline": timeline_of(i.run),
                            **({"outages": o} if (o := outages_of(i.run)) else {}),
                            "lifecycle": i.lifecycle.as_json() if i.lifecycle else None,
                            "checks": [f.as_json() for f in i.quality],
                            "gate": i.gate.value if i.gate else None,
                            "review": i.review.as_json() if i.review else None,
                            "cleanup": self.cleanup_for(i.instance),
                        }
                        for i in r.runs()
                    ],
                }
                for r in self.ordered()
            ],
        }


def session_cost(cost: Mapping[str, Any]) -> str:
    """``estimated cost $0.23 for 3 experiments, over --experiment-max-cost $0.20``."""
    count = cost["experiments"]
    what = f"for {count} experiment{'s' * (count != 1)}"
    limit = cost.get("limitUSD")
    total = cost.get("estimatedUSD")
    if total is None:
        text = f"estimated cost unknown {what} ({cost['unknown']} cannot be estimated)"
        return text + (", nothing applied" if limit is not None else "")
    text = f"estimated cost {usd(total)} {what}"
    if limit is None:
        return text
    if total > limit:
        return f"{text}, over --experiment-max-cost {usd(limit)}: nothing applied"
    return f"{text}, within --experiment-max-cost {usd(limit)}"


def root_causes(record: InstanceReport) -> list[str]:
    """The root causes the checks' details name, once each, in check order."""
    found = [str(c) for f in record.quality for c in f.figures.get("rootCauses") or ()]
    return list(dict.fromkeys(found))


def unscored(finding: Finding) -> bool:
    return finding.status is Status.NA and not finding.figures
