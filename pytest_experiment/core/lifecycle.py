"""Lifecycle decisions over plain data: phases, budgets, what to report, which toil to log.

No I/O here: ``live`` feeds these functions the objects the watch saw, so
every message, category and priority of apply, follow and toil is tested without a
cluster. Priorities and labels follow the seed's toil guide: priority 1
when the experiment cannot run at all, 2 when it ran but failed or needed a hand,
3 when it completed with friction.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_experiment.base.types import ObjView as Obj
from pytest_experiment.core.toil import ToilRecord

PHASES = ("Pending", "Provisioning", "Ready", "Running")
TERMINAL = ("Complete", "Failed")
# The component a stuck phase is waiting on (seed: Step 4, timeout handling).
TIMEOUT_LABEL = {
    "Pending": "crossplane",
    "Provisioning": "crossplane",
    "Ready": "argocd",
    "Running": "workflow",
}
# Where a failure in a phase comes from (seed: Step 5, on Failed); anything else: operator.
FAILURE_CATEGORY = {"Provisioning": "crossplane", "Ready": "argocd", "Running": "workflow"}


def status(obj: Obj | None) -> Obj:
    if not obj:
        return {}
    value = obj.get("status")
    return value if isinstance(value, Mapping) else {}


def phase_of(obj: Obj | None) -> str:
    """The experiment's phase; an object the operator has not touched yet is Pending.

    The real operator never writes ``Pending``: a new experiment has no phase
    (or ``""``) until it starts provisioning, and both count as Pending.
    """
    return normal_phase(status(obj).get("phase"))


def normal_phase(value: Any) -> str:
    """A status phase as the harness reports it: absent or empty is Pending."""
    return str(value or "Pending")


def is_terminal(obj: Obj | None) -> bool:
    return phase_of(obj) in TERMINAL


def manual_completion(spec: Obj) -> bool:
    workflow = spec.get("workflow") if isinstance(spec.get("workflow"), Mapping) else {}
    completion = workflow.get("completion") if isinstance(workflow, Mapping) else None
    return isinstance(completion, Mapping) and completion.get("mode") == "manual"


def failed_in(timeline: Sequence[str], obj: Obj | None) -> str:
    """The phase an experiment failed in: the last one the watch saw before Failed.

    Only what the harness observed counts: the real CRD keeps no record of
    when each phase was entered. An instance first seen already Failed is
    placed by what its status still shows: a workflow means it ran, a
    target's phase where provisioning got to.
    """
    seen = [p for p in timeline if p in PHASES]
    if seen and seen[-1] != "Pending":
        return seen[-1]
    current = status(obj)
    workflow = current.get("workflowStatus")
    if isinstance(workflow, Mapping) and workflow.get("name"):
        return "Running"
    targets = [t for t in current.get("targets") or [] if isinstance(t, Mapping)]
    if targets:
        return "Ready" if all(t.get("phase") == "Ready" for t in targets) else "Provisioning"
    return seen[-1] if seen else "Pending"


def first_condition_message(obj: Obj | None) -> str:
    """The message of the condition that explains a failure: ``Failed`` first, then any
    condition whose status is not the healthy one, then any message at all."""
    conditions = [c for c in status(obj).get("conditions") or [] if isinstance(c, Mapping)]
    ranked = sorted(
        (c for c in conditions if c.get("message")),
        key=lambda c: (c.get("type") != "Failed", c.get("status") == "True"),
    )
    return " ".join(str(ranked[0]["message"]).split()) if ranked else "no condition message"


# Crossplane Ready reasons that only mean "not yet": anything else with Ready False is
# the cloud refusing the cluster, which no amount of waiting mends.
_CLAIM_WAITING = frozenset({"", "Creating", "Deleting", "Unavailable", "Available"})


@dataclass(frozen=True, kw_only=True)
class StuckTarget:
    """A target the operator will never recover: it leaves the experiment waiting forever."""

    target: str
    reason: str
    source: str
    """Where the harness read it: ``status.targets`` or the GKECluster claim's name."""

    def line(self, instance: str, phase: str) -> str:
        return (
            f"Experiment {instance} stuck in {phase}: target {self.target} Failed "
            f"({self.source}): {self.reason}"
        )


def failed_target(obj: Obj | None) -> StuckTarget | None:
    """The first target whose ``phase`` is Failed while the experiment has not failed.

    The real operator never fails an experiment in Provisioning or Ready: a
    cluster or application error marks only the target, and the experiment
    waits with no deadline of its own.
    """
    if phase_of(obj) not in ("Pending", "Provisioning", "Ready"):
        return None
    for target in status(obj).get("targets") or []:
        if isinstance(target, Mapping) and target.get("phase") == "Failed":
            return StuckTarget(
                target=str(target.get("name") or "<unnamed>"),
                reason=_target_reason(target, obj),
                source="status.targets",
            )
    return None


def _target_reason(target: Obj, obj: Obj | None) -> str:
    """Why a target failed, as far as the experiment's own status says."""
    for key in ("message", "reason", "error"):
        if target.get(key):
            return " ".join(str(target[key]).split())
    message = first_condition_message(obj)
    if message != "no condition message":
        return message
    cluster = target.get("clusterName")
    return (
        f"no reason in the status; see its cluster claim {cluster}"
        if cluster
        else ("no reason in the status")
    )


def claim_names(obj: Obj | None) -> list[str]:
    """The GKECluster claims an instance's targets use: ``<instance>-<target>`` (and what
    the status names, for operators that name them otherwise)."""
    instance = str(((obj or {}).get("metadata") or {}).get("name") or "")
    names: list[str] = []
    spec = (obj or {}).get("spec")
    spec_targets = spec.get("targets") if isinstance(spec, Mapping) else None
    for target in spec_targets or []:
        if isinstance(target, Mapping) and target.get("name") and instance:
            names.append(f"{instance}-{target['name']}")
    for target in status(obj).get("targets") or []:
        if isinstance(target, Mapping):
            cluster = str(target.get("clusterName") or "")
            if cluster and cluster != "hub" and cluster not in names:
                names.append(cluster)
    return names


def claim_target(claim: Obj, instance: str) -> str:
    labels = (claim.get("metadata") or {}).get("labels") or {}
    name = str((claim.get("metadata") or {}).get("name") or "")
    target = labels.get("experiments.illm.io/target")
    if target:
        return str(target)
    return name.removeprefix(f"{instance}-") if name.startswith(f"{instance}-") else name


def failed_claim(claims: Sequence[Obj], instance: str) -> StuckTarget | None:
    """A GKECluster claim whose Ready condition is False for a reason that will not pass."""
    for claim in claims:
        conditions = (claim.get("status") or {}).get("conditions") or []
        ready = next(
            (c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), None
        )
        if ready is None or ready.get("status") != "False":
            continue
        reason = str(ready.get("reason") or "")
        if reason in _CLAIM_WAITING:
            continue
        message = " ".join(str(ready.get("message") or "").split())
        name = str((claim.get("metadata") or {}).get("name") or "")
        return StuckTarget(
            target=claim_target(claim, instance),
            reason=f"{reason}: {message}" if message else reason,
            source=f"GKECluster {name} Ready=False",
        )
    return None


def explained(
    stuck: StuckTarget,
    *,
    obj: Obj | None,
    claims: Sequence[Obj] = (),
    applications: Sequence[Obj] = (),
) -> StuckTarget:
    """``stuck`` with the reason the real operator keeps off the experiment: the Ready
    condition of the target's claim, else the health of its applications."""
    if not stuck.reason.startswith("no reason in the status"):
        return stuck
    instance = str(((obj or {}).get("metadata") or {}).get("name") or "")
    cluster = next(
        (
            str(t.get("clusterName") or "")
            for t in status(obj).get("targets") or []
            if isinstance(t, Mapping) and t.get("name") == stuck.target
        ),
        "",
    )
    for claim in claims:
        name = str((claim.get("metadata") or {}).get("name") or "")
        if name != cluster and claim_target(claim, instance) != stuck.target:
            continue
        conditions = (claim.get("status") or {}).get("conditions") or []
        ready = next(
            (c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), None
        )
        if ready is not None and ready.get("status") == "False" and ready.get("message"):
            message = " ".join(str(ready["message"]).split())
            reason = f" ({ready['reason']})" if ready.get("reason") else ""
            return StuckTarget(
                target=stuck.target,
                reason=f"GKECluster {name} Ready=False{reason}: {message}",
                source=stuck.source,
            )
    for app in applications:
        labels = (app.get("metadata") or {}).get("labels") or {}
        if labels.get("experiments.illm.io/target") not in (None, stuck.target):
            continue
        health = (app.get("status") or {}).get("health") or {}
        if health.get("status") not in (None, "Healthy", "Progressing"):
            app_name = (app.get("metadata") or {}).get("name")
            message = " ".join(str(health.get("message") or "").split())
            text = f"application {app_name} health {health.get('status')}"
            return StuckTarget(
                target=stuck.target,
                reason=f"{text}: {message}" if message else text,
                source=stuck.source,
            )
    return stuck


# -- the real operator's formats -----------------------------------------------------------

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (second precision or finer, ``Z`` or an offset), else None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Go writes nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_go_duration(value: Any) -> float | None:
    """Seconds in a Go duration such as ``43m26.855137229s`` or ``20m0s``; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sign * sum(float(n) * _GO_UNITS[u] for n, u in parts)


def run_total(obj: Obj | None) -> float | None:
    """Seconds from ``metadata.creationTimestamp`` to ``status.completedAt``, when both exist."""
    created = parse_time(((obj or {}).get("metadata") or {}).get("creationTimestamp"))
    completed = parse_time(status(obj).get("completedAt"))
    if created is None or completed is None or completed < created:
        return None
    return (completed - created).total_seconds()


# -- after Complete ----------------------------------------------------------------------------

# Conditions with which the real operator turns a Complete run Failed, and the
# reasons that mean it did.
TURN_CONDITIONS = {
    "QualityGate": frozenset({"Exhausted"}),
    "AnalysisComplete": frozenset({"Failed", "JobNotFound"}),
}


@dataclass(frozen=True, kw_only=True)
class Turn:
    """Why a Complete run turned Failed: the operator's condition."""

    type: str
    reason: str
    message: str

    def line(self) -> str:
        message = f": {self.message}" if self.message else ""
        return f"{self.type} {self.reason}{message}"


def turned_failed(obj: Obj | None) -> Turn | None:
    """The condition that explains a Failed phase reached after Complete, or None."""
    if phase_of(obj) != "Failed":
        return None
    for condition in status(obj).get("conditions") or []:
        if not isinstance(condition, Mapping):
            continue
        kind = str(condition.get("type") or "")
        reason = str(condition.get("reason") or "")
        if reason in TURN_CONDITIONS.get(kind, ()):
            return Turn(
                type=kind,
                reason=reason,
                message=" ".join(str(condition.get("message") or "").split()),
            )
    iteration = status(obj).get("iterationStatus")
    if isinstance(iteration, Mapping) and iteration.get("phase") == "Exhausted":
        return Turn(type="QualityGate", reason="Exhausted", message=_iteration_text(iteration))
    return None


def _iteration_text(iteration: Obj) -> str:
    current, limit = iteration.get("currentIteration"), iteration.get("maxIterations")
    if current is None:
        return ""
    return f"iteration {current} of {limit}" if limit is not None else f"iteration {current}"


def quality_gate_progress(obj: Obj | None, *, max_iterations: int | None = None) -> str | None:
    """``quality gate re-collecting, iteration 2 of 3`` while the operator re-collects."""
    iteration = status(obj).get("iterationStatus")
    if not isinstance(iteration, Mapping) or iteration.get("phase") != "Recollecting":
        return None
    current = iteration.get("currentIteration")
    limit = iteration.get("maxIterations") or max_iterations
    if current is None:
        return "quality gate re-collecting"
    of = f" of {limit}" if limit is not None else ""
    return f"quality gate re-collecting, iteration {current}{of}"


def max_iterations(spec: Obj) -> int:
    """``spec.qualityGate.maxIterations`` (the CRD's default is 3)."""
    gate = spec.get("qualityGate")
    value = gate.get("maxIterations") if isinstance(gate, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 3


def recollect_delay(spec: Obj) -> float:
    """``spec.qualityGate.recollectDelaySeconds`` (the CRD's default is 120)."""
    gate = spec.get("qualityGate")
    value = gate.get("recollectDelaySeconds") if isinstance(gate, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return 120.0


def review_skipped_why(obj: Obj | None) -> str:
    """Why the operator skipped review: it opens one only for a published run with a PR."""
    current = status(obj)
    reasons = []
    if current.get("published") is not True:
        reasons.append("published: false")
    number = current.get("publishPRNumber")
    if not isinstance(number, int) or isinstance(number, bool):
        reasons.append("no PR number")
    return ", ".join(reasons) or "published with a PR, yet skipped by the operator"


# -- a failed run's summary ------------------------------------------------------------------


def failed_summary_lines(summary: Obj, *, declared: Sequence[str] = ()) -> list[str]:
    """What a Failed run's summary.json tells about the failure (not a quality gate)."""
    lines = [f"summary.json phase: {summary.get('phase') or '<none>'}"]
    workflow = summary.get("workflow")
    if isinstance(workflow, Mapping):
        name = workflow.get("name") or "<unnamed>"
        lines.append(f"workflow {name}: {workflow.get('phase') or '<no phase>'}")
    metrics = summary.get("metrics")
    queries = metrics.get("queries") if isinstance(metrics, Mapping) else None
    if not isinstance(queries, Mapping):
        lines.append("metrics: none collected (no metrics section)")
        return lines
    arrived = sorted(
        str(name)
        for name, query in queries.items()
        if isinstance(query, Mapping) and query.get("data") and not query.get("error")
    )
    missing = sorted(str(name) for name in queries if str(name) not in arrived)
    missing += [name for name in declared if name not in queries]
    source = metrics.get("source") if isinstance(metrics, Mapping) else None
    window = metrics.get("timeRange") if isinstance(metrics, Mapping) else None
    span = parse_go_duration(window.get("duration")) if isinstance(window, Mapping) else None
    where = f" from {source}" if source else ""
    over = f" over {format_duration(span)}" if span is not None else ""
    lines.append(
        f"metrics{where}{over}: {len(arrived)} with data"
        + (f" ({', '.join(arrived)})" if arrived else "")
    )
    if missing:
        lines.append(f"metrics without data: {', '.join(missing)}")
    return lines


def format_duration(seconds: float | None) -> str:
    """``45s``, ``20m``, ``1h30m``, ``no limit`` — how budgets and elapsed times are shown."""
    if seconds is None:
        return "no limit"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 and seconds != int(seconds) else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"


def delete_command(instance: str, namespace: str) -> str:
    """A command a person pastes into a shell: every value from the cluster or a file is quoted."""
    return shlex.join(["kubectl", "delete", "experiment", instance, "-n", namespace])


def apply_template_command(path: str) -> str:
    """How to apply a WorkflowTemplate file by hand, quoted for a shell."""
    return shlex.join(["kubectl", "apply", "-n", "argo-workflows", "-f", path])


def inspect_command(instance: str, namespace: str) -> str:
    """What to run to see why a deleted instance is still there (its finalizers)."""
    return shlex.join(["kubectl", "get", "experiment", instance, "-n", namespace, "-o", "yaml"])


def progress_line(
    *, name: str, instance: str, phase: str, elapsed: float, budget: float | None
) -> str:
    """The phase being waited in and the time spent against its budget."""
    against = f" / {format_duration(budget)}" if budget is not None else ""
    return f"{name} ({instance}): {phase} {format_duration(elapsed)}{against}"


def entering_lines(
    phase: str,
    obj: Obj | None,
    *,
    namespace: str,
    applications: Sequence[Obj] | None = None,
    applications_error: str | None = None,
    manual: bool = False,
) -> list[str]:
    """What is reported once when an instance enters ``phase``."""
    current = status(obj)
    instance = str((obj or {}).get("metadata", {}).get("name") or "")
    if phase == "Provisioning":
        return [
            f"target {t.get('name')}: {t.get('phase', '<no phase>')} "
            f"(cluster: {t.get('clusterName') or '<none yet>'})"
            for t in current.get("targets") or []
            if isinstance(t, Mapping)
        ] or ["no targets reported yet"]
    if phase == "Ready":
        if applications_error is not None:
            return [f"ArgoCD applications: unavailable: {applications_error}"]
        lines = []
        for app in applications or ():
            app_status = app.get("status") or {}
            health = (app_status.get("health") or {}).get("status", "<unknown>")
            sync = (app_status.get("sync") or {}).get("status", "<unknown>")
            lines.append(f"application {app['metadata']['name']}: health {health}, sync {sync}")
        return lines or [f"no ArgoCD applications labelled with {instance} yet"]
    if phase == "Running":
        workflow = current.get("workflowStatus") or {}
        lines = [
            f"workflow {workflow.get('name', '<none yet>')} ({workflow.get('phase', '<no phase>')})"
        ]
        if manual:
            lines += [
                "This is a manual-completion experiment. It will stay Running until you delete it.",
                f"Use: {delete_command(instance, namespace)}",
            ]
        return lines
    return []


# -- toil records ---------------------------------------------------------------------------


def validation_toil(name: str, reason: str) -> ToilRecord:
    return ToilRecord(
        title=f"Validation failed: {name} - {reason}",
        priority=2,
        experiment=name,
        categories=("config",),
    )


def missing_template_toil(name: str, template: str) -> ToilRecord:
    return ToilRecord(
        title=f"Missing WorkflowTemplate: {template} for {name}",
        priority=2,
        experiment=name,
        categories=("workflow", "config"),
    )


def operator_toil(name: str) -> ToilRecord:
    return ToilRecord(
        title=f"Operator unhealthy at experiment start: {name}",
        priority=1,
        experiment=name,
        categories=("operator",),
    )


def unreachable_toil(name: str, error: str) -> ToilRecord:
    return ToilRecord(
        title=f"Cluster unreachable at experiment start: {name} - {error}",
        priority=1,
        experiment=name,
        categories=("networking",),
    )


def apply_toil(name: str, error: str) -> ToilRecord:
    return ToilRecord(
        title=f"Apply failed: {name} - {error}",
        priority=1,
        experiment=name,
        categories=("config",),
    )


def timeout_toil(
    name: str, instance: str, phase: str, budget: float, *, by: str = ""
) -> ToilRecord:
    what = f"{by} ({format_duration(budget)}) in {phase}" if by else f"{phase} timeout"
    if not by:
        what += f" ({format_duration(budget)})"
    return ToilRecord(
        title=f"{what} for {instance}",
        priority=2,
        experiment=name,
        categories=("timing", TIMEOUT_LABEL.get(phase, "operator")),
    )


def failed_toil(name: str, instance: str, phase: str, message: str) -> ToilRecord:
    return ToilRecord(
        title=f"Experiment failed: {instance} - {message}",
        priority=2,
        experiment=name,
        categories=(FAILURE_CATEGORY.get(phase, "operator"),),
    )


def deleted_toil(name: str, instance: str, phase: str) -> ToilRecord:
    return ToilRecord(
        title=f"Experiment deleted while {phase}: {instance}",
        priority=2,
        experiment=name,
        categories=("operator",),
    )


def results_toil(name: str, instance: str, problem: str) -> ToilRecord:
    return ToilRecord(
        title=f"No results to score for {instance}: {problem}",
        priority=3,
        experiment=name,
        categories=("quality",),
    )


def stuck_toil(name: str, instance: str, phase: str, stuck: StuckTarget) -> ToilRecord:
    return ToilRecord(
        title=f"Target {stuck.target} failed, {instance} stuck in {phase} - {stuck.reason}",
        priority=2,
        experiment=name,
        categories=(FAILURE_CATEGORY.get(phase, "crossplane"),),
    )


def turn_toil(name: str, instance: str, turn: Turn) -> ToilRecord:
    return ToilRecord(
        title=f"Experiment turned Failed after Complete: {instance} - {turn.line()}",
        priority=2,
        experiment=name,
        categories=("quality" if turn.type == "QualityGate" else "analyzer",),
    )


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, as a user types it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
