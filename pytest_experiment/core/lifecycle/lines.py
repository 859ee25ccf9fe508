"""What is said about a live run: progress, entering a phase, a failed run's summary, and
the commands a person pastes into a shell.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_experiment.base.types import ObjView as Obj
from pytest_experiment.base.views import meta, status, targets
from pytest_experiment.core.durations import format_duration, parse_go_duration


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
    instance = meta(obj).name
    if phase == "Provisioning":
        return [
            f"target {t.get('name')}: {t.get('phase', '<no phase>')} "
            f"(cluster: {t.get('clusterName') or '<none yet>'})"
            for t in targets(obj)
        ] or ["no targets reported yet"]
    if phase == "Ready":
        if applications_error is not None:
            return [f"ArgoCD applications: unavailable: {applications_error}"]
        lines = []
        for app in applications or ():
            app_status = status(app)
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


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, as a user types it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
