"""Lifecycle decisions over plain data: phases, budgets, what to report, which toil to log.

No I/O here: ``live`` feeds these functions the objects the watch saw, so
every message, category and priority of §4 and §10 is tested without a
cluster. Priorities and labels follow the seed's toil guide: P1 the
experiment cannot run at all, P2 it ran but failed or needed a hand, P3 it
completed with friction.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_experiment.toil import ToilRecord

Obj = Mapping[str, Any]

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
    """The experiment's phase; an object the operator has not touched yet is Pending."""
    return str(status(obj).get("phase") or "Pending")


def is_terminal(obj: Obj | None) -> bool:
    return phase_of(obj) in TERMINAL


def manual_completion(spec: Obj) -> bool:
    workflow = spec.get("workflow") if isinstance(spec.get("workflow"), Mapping) else {}
    completion = workflow.get("completion") if isinstance(workflow, Mapping) else None
    return isinstance(completion, Mapping) and completion.get("mode") == "manual"


def failed_in(timeline: Sequence[str], obj: Obj | None) -> str:
    """The phase an experiment failed in: the last one the watch saw before Failed, else
    the furthest phase its ``phaseTimestamps`` record."""
    seen = [p for p in timeline if p in PHASES]
    if seen:
        return seen[-1]
    stamps = status(obj).get("phaseTimestamps")
    recorded = [p for p in PHASES if isinstance(stamps, Mapping) and p in stamps]
    return recorded[-1] if recorded else "Pending"


def first_condition_message(obj: Obj | None) -> str:
    """The message of the condition that explains a failure: ``Failed`` first, then any
    condition whose status is not the healthy one, then any message at all."""
    conditions = [c for c in status(obj).get("conditions") or [] if isinstance(c, Mapping)]
    ranked = sorted(
        (c for c in conditions if c.get("message")),
        key=lambda c: (c.get("type") != "Failed", c.get("status") == "True"),
    )
    return " ".join(str(ranked[0]["message"]).split()) if ranked else "no condition message"


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
    """R94: the phase being waited in and the time spent against its budget."""
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
    """What R32 reports once when an instance enters ``phase``."""
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
        return lines or [f"no ArgoCD applications labelled experiment={instance} yet"]
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


# -- toil records (R100) ---------------------------------------------------------------------


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
