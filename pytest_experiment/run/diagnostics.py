"""What went wrong with an instance, gathered for a failed or timed-out item.

Each part is read on its own and is best effort: a part that cannot be read
becomes one line saying why, and never hides the other parts. Values from the
cluster are flattened to one line and shortened, since they end up in
terminal output, JUnit failure text and toil titles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base import views
from pytest_experiment.base.errors import ExperimentError, NotFound, ResultsError
from pytest_experiment.base.resources import (
    ARGOCD_NAMESPACE,
    EXPERIMENT_NAMESPACE,
    OPERATOR_NAMESPACE,
    WORKFLOW_NAMESPACE,
    Labelled,
)
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.core import argo
from pytest_experiment.core.lifecycle import claim_names, failed_summary_lines, status
from pytest_experiment.run.ports import Cluster

LOG_LINES = 50
# Container states that mean a pod is failing even though its phase says Running/Pending.
_FAILING_REASONS = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "Error"}
)


@dataclass(frozen=True, kw_only=True)
class Part:
    """One section of the diagnostics: its lines, or why it could not be read."""

    key: str
    title: str
    lines: tuple[str, ...] = ()
    error: str | None = None

    def render(self) -> list[str]:
        if self.error is not None:
            return [f"{self.title}: unavailable: {self.error}"]
        if not self.lines:
            return [f"{self.title}: none"]
        return [f"{self.title}:", *(f"  {line}" for line in self.lines)]


@dataclass(frozen=True, kw_only=True)
class Diagnostics:
    instance: str
    parts: tuple[Part, ...]

    def part(self, key: str) -> Part:
        return next(p for p in self.parts if p.key == key)

    def render(self) -> list[str]:
        return [f"diagnostics for {self.instance}:", *(x for p in self.parts for x in p.render())]


# -- formatting of each kind (pure) -------------------------------------------------


def failed_summary(
    read: Callable[[str], Mapping[str, Any]], url: str, *, declared: Sequence[str]
) -> list[str]:
    """What a failed run's summary.json says (which metrics arrived, the workflow's phase):
    diagnostics, never a quality gate. Best effort: one line when it cannot be read."""
    if not url:
        return ["failed run's summary.json: none (no status.resultsURL)"]
    try:
        summary = read(url)
    except ResultsError as exc:
        return [f"failed run's summary.json: unavailable: {one_line(exc)}"]
    first, *rest = failed_summary_lines(summary, declared=declared)
    return [f"failed run's {first}", *rest]


def _why(condition: Mapping[str, Any]) -> str:
    """`` (Reason): message`` of a condition, each part only when it is set."""
    reason = f" ({condition['reason']})" if condition.get("reason") else ""
    message = f": {one_line(condition['message'])}" if condition.get("message") else ""
    return reason + message


def condition_lines(experiment: Mapping[str, Any]) -> list[str]:
    lines = []
    for found in views.conditions(experiment):
        lines.append(f"{found.get('type')}={found.get('status')}{_why(found)}")
    return lines


def workflow_lines(workflows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``<name>: Failed at step <step>: <its message>`` (Argo's own message when no
    failed step is listed), one line per Workflow."""
    return [f"{w['metadata']['name']}: {one_line(argo.describe(w))}" for w in workflows]


def pod_failure(pod: Mapping[str, Any]) -> str | None:
    """Why ``pod`` counts as failed, or None when it does not."""
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return one_line(status.get("message") or status.get("reason") or "phase Failed")
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _FAILING_REASONS:
            return one_line(
                f"{container.get('name')}: {waiting['reason']} {waiting.get('message', '')}"
            )
        terminated = state.get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return one_line(
                f"{container.get('name')}: exit code {terminated.get('exitCode')} "
                f"({terminated.get('reason', 'terminated')})"
            )
    return None


def failed_pod_lines(pods: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for pod in pods:
        failure = pod_failure(pod)
        if failure is not None:
            lines.append(f"{pod['metadata']['name']}: {failure}")
    return lines


def claim_lines(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for claim in claims:
        meta = claim["metadata"]
        ready = views.condition(claim, "Ready")
        where = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
        if ready is None:
            lines.append(f"{where}: no Ready condition yet")
            continue
        lines.append(f"{where}: Ready={ready.get('status')}{_why(ready)}")
    return lines


def application_lines(applications: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for app in applications:
        status = app.get("status") or {}
        health = status.get("health") or {}
        sync = (status.get("sync") or {}).get("status", "<unknown>")
        conditions = status.get("conditions") or []
        detail = health.get("message") or (conditions[0].get("message") if conditions else None)
        message = f": {one_line(detail)}" if detail else ""
        lines.append(
            f"{app['metadata']['name']}: health {health.get('status', '<unknown>')}, "
            f"sync {sync}{message}"
        )
    return lines


def event_lines(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """``Warning BackOff Pod/web-1: Back-off restarting failed container (x3)``, oldest first."""
    lines = []
    for event in events:
        involved = event.get("involvedObject") or {}
        count = event.get("count")
        times = f" (x{count})" if isinstance(count, int) and count > 1 else ""
        message = one_line(event.get("message") or "", limit=200)
        lines.append(
            f"{event.get('type') or 'Normal'} {event.get('reason') or '<no reason>'} "
            f"{involved.get('kind') or '?'}/{involved.get('name') or '?'}: {message}{times}"
        )
    return lines


def workflow_reason(cluster: Cluster, experiment: Mapping[str, Any] | None) -> str | None:
    """Why the workflow the experiment's status names ended as it did, from the Argo
    Workflow (its failed step), or what can be said once the operator's cleanup has
    deleted it; None when the status names no workflow."""
    workflow = status(experiment).get("workflowStatus")
    if not isinstance(workflow, Mapping) or not workflow.get("name"):
        return None
    name = str(workflow["name"])
    try:
        found = cluster.get_workflow(name)
    except NotFound:
        return f"workflow {name} {_deleted(experiment)}"
    except ExperimentError as exc:
        return f"workflow {name}: {one_line(exc)}"
    return one_line(argo.workflow_reason(name, found))


def _deleted(experiment: Mapping[str, Any] | None) -> str:
    workflow = status(experiment).get("workflowStatus") or {}
    cleaned = status(experiment).get("resourcesCleaned") is True
    return argo.deleted(str(workflow.get("phase") or ""), cleaned=cleaned)


def workflow_name(instance: str, experiment: Mapping[str, Any] | None) -> str:
    """The instance's Argo Workflow: as its status names it, else ``<instance>-validation``."""
    workflow = status(experiment).get("workflowStatus")
    named = workflow.get("name") if isinstance(workflow, Mapping) else None
    return str(named or f"{instance}-validation")


# -- gathering (I/O, each part isolated) ------------------------------------------


def _part(key: str, title: str, read: Callable[[], list[str]]) -> Part:
    try:
        return Part(key=key, title=title, lines=tuple(read()))
    except ExperimentError as exc:
        return Part(key=key, title=title, error=one_line(exc))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A malformed object from the cluster must cost its own part only.
        return Part(key=key, title=title, error=one_line(f"unexpected object shape ({exc!r})"))


def gather(
    cluster: Cluster,
    instance: str,
    *,
    namespace: str = EXPERIMENT_NAMESPACE,
    experiment: Mapping[str, Any] | None = None,
) -> Diagnostics:
    """All diagnostics for ``instance``; ``experiment`` saves a read when the caller has it."""
    read: list[Mapping[str, Any] | ExperimentError] = []

    def read_experiment() -> Mapping[str, Any]:
        """Read once for every part that needs it; a failure is the same for each."""
        if experiment is not None:
            return experiment
        if not read:
            try:
                read.append(cluster.get_experiment(instance, namespace=namespace))
            except ExperimentError as exc:
                read.append(exc)
        if isinstance(read[0], ExperimentError):
            raise read[0]
        return read[0]

    def known_experiment() -> Mapping[str, Any] | None:
        """The experiment if it could be read, for the parts that only refine a lookup."""
        try:
            return read_experiment()
        except ExperimentError:
            return None

    def conditions() -> list[str]:
        return condition_lines(read_experiment())

    def labelled(
        kind: Labelled, lines: Callable[[list[Obj]], list[str]]
    ) -> Callable[[], list[str]]:
        return lambda: lines(cluster.list_labelled(kind, instance=instance))

    def workflows() -> list[str]:
        found = cluster.list_labelled(Labelled.WORKFLOWS, instance=instance)
        known = known_experiment()
        name = workflow_name(instance, known)
        if all(views.meta(w).name != name for w in found):
            # The seeds' operator labels it; otherwise it is found by the name it was given.
            try:
                found.append(cluster.get_workflow(name))
            except NotFound:
                if not found and status(known).get("workflowStatus"):
                    # The status names it, so it ran: the operator's cleanup deleted it.
                    return [f"{name}: {_deleted(known)}"]
        return workflow_lines(found)

    def claims() -> list[str]:
        names = claim_names(known_experiment() or {"metadata": {"name": instance}})
        return claim_lines(cluster.list_claims(instance=instance, names=names))

    def events() -> list[str]:
        spaces = (namespace, WORKFLOW_NAMESPACE, ARGOCD_NAMESPACE, OPERATOR_NAMESPACE)
        return event_lines(cluster.events(instance, namespaces=spaces))

    parts = (
        _part("conditions", "conditions", conditions),
        _part(
            "operator-logs",
            f"operator logs mentioning {instance} (last {LOG_LINES})",
            lambda: [
                one_line(x, limit=500) for x in cluster.operator_log_tail(instance, lines=LOG_LINES)
            ],
        ),
        _part("workflows", f"workflows ({Labelled.WORKFLOWS.title})", workflows),
        _part(
            "failed-pods",
            f"failed pods ({Labelled.PODS.title})",
            labelled(Labelled.PODS, failed_pod_lines),
        ),
        _part("gke-clusters", f"GKECluster claims ({Labelled.GKE_CLUSTERS.title})", claims),
        _part(
            "applications",
            f"ArgoCD applications ({Labelled.APPLICATIONS.title})",
            labelled(Labelled.APPLICATIONS, application_lines),
        ),
        _part("events", f"events of {instance} and its objects", events),
    )
    return Diagnostics(instance=instance, parts=parts)
