"""The objects the operator creates under an experiment: claims, applications, workflow, Job.

The sandbox has no Crossplane, Argo CD or Argo Workflows controllers, so the
operator also writes these objects' status the way those controllers would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from pytest_experiment.base.resources import (
    APPLICATIONS,
    ARGOCD_NAMESPACE,
    CLAIM_LABEL,
    GKE_CLUSTERS,
    OPERATOR_NAMESPACE,
    WORKFLOW_NAMESPACE,
    WORKFLOW_TEMPLATES,
    WORKFLOWS,
)
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator import argo
from pytest_experiment.sandbox.operator.config import (
    LAYER_LABEL,
    MANAGED_BY,
    MERGE_PATCH,
    PR_REPOSITORY,
    TARGET_LABEL,
    WORKFLOW_SERVICE_ACCOUNT,
    Conventions,
    instance,
    namespace,
    now,
    seconds,
    spec,
)
from pytest_experiment.sandbox.operator.context import Ctx, tolerating

# Components that make up a target's observability layer (deployed as `-obs`).
OBS_COMPONENTS = frozenset({"kube-prometheus-stack", "metrics-agent", "metrics-egress"})
CLAIM_KEYS = ("zone", "nodeCount", "machineType", "diskSizeGb", "preemptible")


def spec_targets(obj: Obj) -> list[Obj]:
    return [dict(t) for t in spec(obj).get("targets") or [] if isinstance(t, Mapping)]


def component_apps(target: Mapping[str, Any]) -> list[str]:
    return [
        str(c.get("app"))
        for c in target.get("components") or []
        if isinstance(c, Mapping) and c.get("app")
    ]


# -- GKECluster claims ---------------------------------------------------------


def create_claim(
    ctx: Ctx, obj: Obj, conventions: Conventions, *, target: str, cluster: Mapping[str, Any]
) -> str:
    name = instance(obj)
    claim = conventions.cluster_name(name, target, cluster)
    if conventions.legacy:
        labels = conventions.labels(name, **{TARGET_LABEL: target})
    else:
        labels = {**MANAGED_BY, CLAIM_LABEL: claim}
    wanted = {key: cluster[key] for key in CLAIM_KEYS if key in cluster}
    ctx.create(
        GKE_CLUSTERS,
        namespace(obj),
        {
            "apiVersion": GKE_CLUSTERS.api_version,
            "kind": "GKECluster",
            "metadata": {"name": claim, "labels": labels},
            "spec": {"zone": "us-central1-a", "machineType": "e2-medium", **wanted},
        },
    )
    set_claim(ctx, namespace(obj), claim, ready=False, state="PROVISIONING", reason="Creating")
    return claim


def set_claim(
    ctx: Ctx,
    where: str,
    name: str,
    *,
    ready: bool,
    state: str,
    reason: str,
    message: str = "",
) -> None:
    """The claim's status as Crossplane writes it: Synced, and Ready with a reason."""
    at = seconds(now())
    ready_condition: Obj = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": reason,
        "lastTransitionTime": at,
    }
    if message:
        ready_condition["message"] = message
    body = {
        "status": {
            "clusterName": name,
            "status": state,
            "endpoint": f"https://{name}.gke.sandbox.invalid" if ready else "",
            "conditions": [
                {
                    "type": "Synced",
                    "status": "True" if ready or state != "ERROR" else "False",
                    "reason": "ReconcileSuccess" if state != "ERROR" else "ReconcileError",
                    "lastTransitionTime": at,
                },
                ready_condition,
            ],
        }
    }
    with tolerating(404):
        ctx.patch(GKE_CLUSTERS, where, name, body, status=True)


def fail_claim(ctx: Ctx, where: str, name: str, *, message: str) -> None:
    """The cloud refused the cluster: the claim is not Ready, with Crossplane's error."""
    set_claim(
        ctx, where, name, ready=False, state="ERROR", reason="ReconcileError", message=message
    )


def claim_ready(ctx: Ctx, where: str, name: str, *, message: str = "") -> None:
    set_claim(ctx, where, name, ready=True, state="RUNNING", reason="Available", message=message)


# -- Argo CD Applications --------------------------------------------------------


def app_layers(target: Mapping[str, Any], *, legacy: bool) -> list[tuple[str, str, list[str]]]:
    """(name suffix, layer, components) for each Application a target gets."""
    apps = component_apps(target) or [str(target.get("name"))]
    if legacy:
        return [(f"-{app}", "applications", [app]) for app in apps]
    obs = [a for a in apps if a in OBS_COMPONENTS]
    workload = [a for a in apps if a not in OBS_COMPONENTS]
    if not obs:
        return [("", "workload", workload)]
    # A target with its own observability stack is deployed in layers.
    return [("-infra", "infra", []), ("-obs", "obs", obs), ("", "workload", workload)]


def create_applications(
    ctx: Ctx, obj: Obj, conventions: Conventions, target: Mapping[str, Any]
) -> list[str]:
    """Create the target's Applications; returns the layers deployed."""
    name = instance(obj)
    target_name = str(target["name"])
    layers: list[str] = []
    for suffix, layer, components in app_layers(target, legacy=conventions.legacy):
        extra = {TARGET_LABEL: target_name}
        if not conventions.legacy:
            extra[LAYER_LABEL] = layer
        path = f"components/{components[0]}" if components else "components/infra"
        ctx.create(
            APPLICATIONS,
            ARGOCD_NAMESPACE,
            {
                "apiVersion": APPLICATIONS.api_version,
                "kind": "Application",
                "metadata": {
                    "name": f"{name}-{target_name}{suffix}",
                    "labels": conventions.labels(name, **extra),
                },
                "spec": {
                    "project": "default",
                    "source": {"repoURL": PR_REPOSITORY, "path": path, "targetRevision": "HEAD"},
                    "destination": {"name": target.get("clusterName"), "namespace": name},
                },
                "status": {"health": {"status": "Progressing"}, "sync": {"status": "OutOfSync"}},
            },
        )
        if layer not in layers:
            layers.append(layer)
    return layers


def set_applications(
    ctx: Ctx, obj: Obj, conventions: Conventions, *, health: str, sync: str, message: str = ""
) -> None:
    for app in ctx.labelled(APPLICATIONS, ARGOCD_NAMESPACE, conventions.selector(instance(obj))):
        state: Obj = {"health": {"status": health}, "sync": {"status": sync}}
        if message:
            state["health"]["message"] = message
            state["conditions"] = [{"type": "SyncError", "message": message}]
        ctx.patch(
            APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"], {"status": state}, status=False
        )


# -- Argo Workflows ----------------------------------------------------------------


def template_exists(ctx: Ctx, name: str) -> bool:
    return bool(name) and ctx.get(WORKFLOW_TEMPLATES, WORKFLOW_NAMESPACE, name) is not None


def inline_templates(*, manual: bool) -> Obj:
    """What the operator submits when the WorkflowTemplate is missing: an echo, and a
    suspend step in manual mode so the workflow waits for someone to end the run."""
    steps = [[{"name": "echo", "template": "echo"}]]
    templates: list[Obj] = [
        {
            "name": "echo",
            "container": {
                "image": "alpine:3",
                "command": ["echo"],
                "args": ["no WorkflowTemplate found; nothing to validate"],
            },
        }
    ]
    if manual:
        steps.append([{"name": "wait", "template": "wait"}])
        templates.append({"name": "wait", "suspend": {}})
    return {"entrypoint": "main", "templates": [{"name": "main", "steps": steps}, *templates]}


def create_workflow(
    ctx: Ctx, obj: Obj, conventions: Conventions, *, inline: bool, manual: bool
) -> str:
    name = instance(obj)
    workflow_name = f"{name}-validation"
    declared = spec(obj).get("workflow") or {}
    parameters = [{"name": "experiment", "value": name}] + [
        {"name": str(k), "value": str(v)} for k, v in (declared.get("params") or {}).items()
    ]
    body: Obj = {"serviceAccountName": WORKFLOW_SERVICE_ACCOUNT}
    if inline:
        body.update(inline_templates(manual=manual))
    else:
        body["workflowTemplateRef"] = {"name": declared.get("template")}
    body["arguments"] = {"parameters": parameters}
    ctx.create(
        WORKFLOWS,
        WORKFLOW_NAMESPACE,
        {
            "apiVersion": WORKFLOWS.api_version,
            "kind": "Workflow",
            "metadata": {"name": workflow_name, "labels": conventions.labels(name)},
            "spec": body,
            "status": {"phase": "Running", "startedAt": seconds(now()), "progress": "0/1"},
        },
    )
    return workflow_name


def read_workflow(ctx: Ctx, name: str) -> Obj:
    return dict((ctx.get(WORKFLOWS, WORKFLOW_NAMESPACE, name) or {}).get("status") or {})


def finish_workflow(ctx: Ctx, name: str, *, phase: str, message: str = "") -> None:
    state: Obj = {"phase": phase, "finishedAt": seconds(now()), "progress": "1/1"}
    if message:
        state["message"] = message
    ctx.patch(WORKFLOWS, WORKFLOW_NAMESPACE, name, {"status": state}, status=False)


def fail_workflow(ctx: Ctx, name: str, *, step: str, message: str) -> None:
    """The one step of the workflow fails: Argo's status, with the failed step's node."""
    started = str(read_workflow(ctx, name).get("startedAt") or seconds(now()))
    state = argo.failed_status(
        name, step=step, message=message, started_at=started, finished_at=seconds(now())
    )
    ctx.patch(WORKFLOWS, WORKFLOW_NAMESPACE, name, {"status": state}, status=False)


def suspend_workflow(ctx: Ctx, name: str) -> None:
    """Manual mode: the validation steps are done and the workflow waits at its suspend step."""
    ctx.patch(
        WORKFLOWS,
        WORKFLOW_NAMESPACE,
        name,
        {"status": {"progress": "1/2", "message": "waiting at suspend step"}},
        status=False,
    )


# -- the analyzer Job ----------------------------------------------------------------


def create_analyzer_job(ctx: Ctx, obj: Obj, conventions: Conventions) -> str:
    name = instance(obj)
    job = conventions.analyzer_job(name)
    labels = (
        conventions.labels(name)
        if conventions.legacy
        else {"app": "experiment-analyzer", "experiment": name}
    )
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "labels": labels},
        "spec": {
            "backoffLimit": 0 if conventions.legacy else 1,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "analyzer",
                            "image": "pytest-experiment/sandbox-analyzer:local",
                            "args": [f"--experiment={name}"],
                        }
                    ],
                },
            },
        },
    }
    with tolerating(409):
        ctx.batch.create_namespaced_job(OPERATOR_NAMESPACE, body)
    _patch_job(ctx, job, {"active": 1, "startTime": seconds(now())})
    return job


def finish_analyzer_job(ctx: Ctx, job: str, *, succeeded: bool) -> None:
    at = seconds(now())
    condition: Obj = {
        "type": "Complete" if succeeded else "Failed",
        "status": "True",
        "lastProbeTime": at,
        "lastTransitionTime": at,
    }
    if not succeeded:
        condition.update(
            reason="BackoffLimitExceeded", message="Job has reached the specified backoff limit"
        )
    state: Obj = {"active": None, "conditions": [condition]}
    if succeeded:
        state.update(succeeded=1, completionTime=at)
    else:
        state["failed"] = 1
    _patch_job(ctx, job, state)


def analyzer_job_exists(ctx: Ctx, job: str) -> bool:
    try:
        ctx.batch.read_namespaced_job(job, OPERATOR_NAMESPACE)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def delete_analyzer_job(ctx: Ctx, job: str) -> None:
    with tolerating(404):
        ctx.batch.delete_namespaced_job(job, OPERATOR_NAMESPACE, propagation_policy="Background")


def _patch_job(ctx: Ctx, job: str, state: Obj) -> None:
    ctx.batch.patch_namespaced_job_status(
        job, OPERATOR_NAMESPACE, {"status": state}, _content_type=MERGE_PATCH
    )


# -- cleanup --------------------------------------------------------------------------


def delete_cloud(ctx: Ctx, obj: Obj, conventions: Conventions, *, workflow: bool) -> None:
    """Delete the claims and applications (and the workflow): what costs money or clutters."""
    name = instance(obj)
    claims = {
        str(t.get("clusterName"))
        for t in (obj.get("status") or {}).get("targets") or []
        if t.get("clusterName") and t.get("clusterName") != "hub"
    }
    claims |= {
        conventions.cluster_name(name, str(t.get("name")), t.get("cluster") or {})
        for t in spec_targets(obj)
        if (t.get("cluster") or {}).get("type") == "gke"
    }
    for claim in sorted(claims):
        ctx.delete(GKE_CLUSTERS, namespace(obj), claim)
    for app in ctx.labelled(APPLICATIONS, ARGOCD_NAMESPACE, conventions.selector(name)):
        ctx.delete(APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"])
    if workflow:
        ctx.delete(WORKFLOWS, WORKFLOW_NAMESPACE, f"{name}-validation")
