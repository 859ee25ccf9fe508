"""The quality gate's decision: the root causes a failed gate has, and what to do next.

Pure: the checks' results and the spec in, a decision out. The causes are
judged from experiment.yaml alone, so each can name the auto-fix that
addresses it (``autofix`` makes the edits); the rest escalate to a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_experiment.core.checks.reading import shown_names
from pytest_experiment.core.limits import strings
from pytest_experiment.core.options import AutofixMode
from pytest_experiment.core.spec import (
    HYPERDISK_FAMILIES,
    LATENCY_SUFFIXES,
    NAMESPACE_VAR,
    Experiment,
)
from pytest_experiment.core.verdict import CheckResult, Status, gate, gated

MAX_ATTEMPTS = 3
# Component or target names that show the experiment drives its own load.
LOAD_HINTS = ("loadgen", "load-gen", "loadtest", "load-test", "locust", "generator", "vegeta")


@dataclass(frozen=True, slots=True)
class RootCause:
    check: str
    """The check whose failure this explains."""
    message: str
    fix: str | None
    """The auto-fix that addresses it, or None when a human must decide."""
    infrastructure: bool = False
    """An infrastructure mismatch (machine family vs storage): never auto-fixed."""


def _has_load_generation(experiment: Experiment) -> bool:
    names = [t.name for t in experiment.targets] + [c.app for _, c in experiment.components()]
    return any(hint in name.lower() for name in names for hint in LOAD_HINTS)


def _mentions_hyperdisk(value: Any) -> bool:
    return any("hyperdisk" in text.lower() for text in strings(value))


def _coverage_causes(
    experiment: Experiment, missing: Iterable[str], *, pipeline: bool
) -> list[RootCause]:
    """Why differentiating groups have no data: an infrastructure mismatch if the spec shows one.

    Hyperdisk is tied to a group when the group's own metrics name it; when
    no metric does, a mention anywhere in the spec (storage class, component,
    code snippet) is taken to concern every group.
    """
    in_metrics = {
        m.group for m in experiment.metrics if _mentions_hyperdisk([m.name, m.query, m.description])
    }
    anywhere = not in_metrics and _mentions_hyperdisk(experiment.data)
    unsupported = list(
        dict.fromkeys(
            t.machine_type
            for t in experiment.targets
            if t.machine_type and t.machine_family not in HYPERDISK_FAMILIES
        )
    )
    causes: list[RootCause] = []
    for group in missing:
        if (group in in_metrics or anywhere) and unsupported:
            causes.extend(
                RootCause(
                    "intent-coverage",
                    f"{machine} does not support Hyperdisk volumes, so the {group} group has "
                    "no results. Compatible families: C3, C4, N4, A3, M3, M4.",
                    None,
                    infrastructure=True,
                )
                for machine in unsupported
            )
        elif pipeline:
            causes.append(
                RootCause(
                    "intent-coverage",
                    f"Experiment's differentiating data missing — {group} has no results, "
                    "as no custom metric arrived: the custom-metrics causes above explain it",
                    None,
                )
            )
        else:
            causes.append(
                RootCause(
                    "intent-coverage",
                    f"Experiment's differentiating data missing — {group} has no results; "
                    "the spec shows no infrastructure mismatch (check the target's PVCs "
                    "and events)",
                    None,
                )
            )
    return causes


def root_causes(
    experiment: Experiment, results: Sequence[tuple[str, CheckResult]]
) -> list[RootCause]:
    """What the spec says about why the gate failed, each with its auto-fix if any.

    Judged from experiment.yaml alone: the target cluster is usually gone by
    the time the gate fails, and the checks stay pure.
    """
    by_name = dict(results)

    def status(name: str) -> Status | None:
        result = by_name.get(name)
        return result.status if result is not None else None

    causes: list[RootCause] = []
    apps = {c.app for _, c in experiment.components()}
    metrics_trouble = status("custom-metrics") in (Status.FAIL, Status.WARN) or (
        status("metrics-source") is Status.WARN
    )
    if metrics_trouble:
        if "kube-prometheus-stack" not in apps:
            causes.append(
                RootCause(
                    "custom-metrics",
                    "experiment lacks kube-prometheus-stack — the operator queries "
                    "target-local Prometheus for custom metrics via ServiceMonitor scrapes",
                    "add-kube-prometheus-stack",
                )
            )
        lacking = [app for app in ("metrics-agent", "metrics-egress") if app not in apps]
        if lacking:
            causes.append(
                RootCause(
                    "custom-metrics",
                    f"experiment lacks {' + '.join(lacking)} — needed for the hub VM fallback path",
                    "add-metrics-pipeline",
                )
            )
        namespaced = [m.name for m in experiment.metrics if NAMESPACE_VAR.search(m.query)]
        if namespaced:
            causes.append(
                RootCause(
                    "custom-metrics",
                    "`$NAMESPACE` resolves to the Experiment CR namespace ('experiments'), "
                    "not the target namespace where pods run; use `$EXPERIMENT` instead "
                    f"({shown_names(namespaced)})",
                    "fix-namespace-var",
                )
            )
    if (metrics_trouble or status("workload-pods") is Status.FAIL) and not _has_load_generation(
        experiment
    ):
        causes.append(
            RootCause(
                "custom-metrics" if metrics_trouble else "workload-pods",
                "no load generation: no component or target drives traffic, so workload "
                "metrics stay empty",
                "add-load-test",
            )
        )
    if status("presentation") is Status.WARN:
        unitless = [
            m.name for m in experiment.metrics if m.name.endswith(LATENCY_SUFFIXES) and not m.unit
        ]
        if unitless:
            causes.append(
                RootCause(
                    "presentation",
                    f"latency metrics without a unit: {shown_names(unitless)}",
                    "add-metric-units",
                )
            )
    coverage = by_name.get("intent-coverage")
    if coverage is not None and coverage.status is Status.FAIL:
        # Groups empty because nothing custom arrived at all are the pipeline's doing.
        pipeline = status("custom-metrics") is Status.FAIL and any(
            c.check == "custom-metrics" and c.fix != "add-load-test" for c in causes
        )
        causes.extend(
            _coverage_causes(experiment, coverage.figures.get("missing", ()), pipeline=pipeline)
        )
    verdict = by_name.get("machine-verdict")
    if verdict is not None and verdict.status is Status.FAIL:
        causes.extend(
            RootCause("machine-verdict", f"criterion not evaluable (passed: null): {text}", None)
            for text in verdict.figures.get("unevaluated", ())
        )
    return causes


@dataclass(frozen=True, kw_only=True)
class GateDecision:
    gate: Status
    causes: tuple[RootCause, ...]
    fixes: tuple[str, ...]
    """Fixes that address a cause and have not been applied yet, in the order found."""
    escalation: str | None
    """Why a person must decide instead of an auto-fix (None when a fix applies or the gate
    does not fail)."""

    @property
    def failed(self) -> bool:
        return self.gate is Status.FAIL


def decide(
    experiment: Experiment,
    results: Sequence[tuple[str, CheckResult]],
    *,
    applied: Iterable[str] = (),
) -> GateDecision:
    """Gate the results, name the root causes and pick the fixes still to try."""
    status = gate(gated(name, r.status) for name, r in results)
    if status is Status.PASS:
        return GateDecision(gate=status, causes=(), fixes=(), escalation=None)
    causes = tuple(root_causes(experiment, results))
    done = set(applied)
    fixes = tuple(dict.fromkeys(c.fix for c in causes if c.fix and c.fix not in done))
    escalation: str | None = None
    # Groups empty because no custom metric arrived at all are the pipeline's doing: its fix
    # is the answer. A group empty on its own, or a machine that cannot mount the storage,
    # is an infrastructure question.
    pipeline = any(c.check == "custom-metrics" and c.fix for c in causes)
    if status is Status.FAIL:
        if any(c.check == "intent-coverage" and (c.infrastructure or not pipeline) for c in causes):
            # A missing differentiating group is an infrastructure question;
            # making the workload skip the variant would hide it.
            escalation = "intent coverage failed: never auto-fixed, a person must decide"
            fixes = ()
        elif not fixes:
            escalation = (
                f"no new fix applies (already applied: {', '.join(sorted(done))})"
                if done
                else "no fixable root cause identified"
            )
    return GateDecision(gate=status, causes=causes, fixes=fixes, escalation=escalation)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the auto-fix loop does after one attempt's gate."""

    suggest: tuple[str, ...] = ()
    """Fixes to print as a diff, leaving the file alone."""
    apply: tuple[str, ...] = ()
    """Fixes to write before re-running; empty when the loop ends here."""
    stopped: str | None = None
    """Why ``apply`` mode ends without a passing gate (None otherwise)."""


def plan(
    decision: GateDecision | None, *, mode: AutofixMode, attempts: int, applied: Sequence[str]
) -> Plan:
    """The next step after an attempt: apply ``decision.fixes`` and re-run, or stop and say why.

    ``attempts`` counts the re-runs already made; the seed stops at three even
    while new fixes keep appearing, so a loop of partial fixes cannot run on.
    """
    if decision is None or not decision.failed or mode == "off":
        return Plan()
    if mode == "suggest":
        return Plan(suggest=decision.fixes)
    if not decision.fixes:
        return Plan(stopped=decision.escalation or "no fix applies")
    if attempts >= MAX_ATTEMPTS:
        return Plan(stopped=f"{MAX_ATTEMPTS} auto-fix attempts exhausted: {', '.join(applied)}")
    return Plan(apply=decision.fixes)


def cause_text(cause: RootCause) -> str:
    """One root cause as a report lists it: its check, what it found, its fix."""
    return f"({cause.check}): {cause.message}" + (f" [fix: {cause.fix}]" if cause.fix else "")


def cause_line(text: str) -> str:
    """A ``cause_text`` as a detail line of the check it explains."""
    return f"root cause {text}"


def cause_lines(causes: Iterable[RootCause]) -> list[str]:
    return [cause_line(cause_text(c)) for c in causes]
