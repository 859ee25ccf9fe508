"""The real operator's phases up to the end of the workflow.

Absent phase → Provisioning → Ready → Running → Complete | Failed. ``Pending``
is never written. Early failures never fail the experiment: the target turns
``Failed`` (and the claim's Ready condition False with a terminal reason)
while the experiment stays where it was, with no timeout of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator import argo, cloud
from pytest_experiment.sandbox.operator.config import (
    REAL,
    instance,
    manual,
    namespace,
    spec,
    status,
)
from pytest_experiment.sandbox.operator.context import Ctx, Track
from pytest_experiment.sandbox.scenarios import Scenario

log = logging.getLogger("experiment-operator")

QUOTA_ERROR = (
    "cannot create GKE cluster: googleapi: Error 403: Insufficient regional quota to satisfy "
    "request: resource \"CPUS\": request requires '8.0' and is short '4.0'."
)
NAME_ERROR = (
    "cannot create GKE cluster: googleapi: Error 400: Invalid value for field 'resource.name': "
    "name must be at most 40 characters, start with a letter and contain only lowercase "
    "letters, digits and hyphens., badRequest"
)
UNHEALTHY = "Deployment has timed out progressing: ReplicaSet has timed out progressing."


def components(target: Mapping[str, Any]) -> list[str]:
    """What the real operator lists per target: the deployed objects as ``Kind/name``."""
    listed: list[str] = []
    for app in cloud.component_apps(target):
        listed += [f"Deployment/{app}", f"Service/{app}"]
    return listed


def _failed(obj: Obj) -> bool:
    return any(t.get("phase") == "Failed" for t in status(obj).get("targets") or [])


def _fail_targets(
    ctx: Ctx, obj: Obj, targets: list[Obj], *, message: str, claims: bool
) -> list[Obj]:
    for target in targets:
        target["phase"] = "Failed"
        cluster = str(target.get("clusterName") or "")
        if claims and cluster and cluster != "hub":
            cloud.fail_claim(ctx, namespace(obj), cluster, message=message)
    log.info("experiment=%s target failed (%s); the experiment stays", instance(obj), message)
    return targets


def start(ctx: Ctx, obj: Obj, track: Track) -> None:
    """Absent (or a hand-written ``Pending``) phase: create the claims, enter Provisioning."""
    choice = track.choice
    if choice.scenario is Scenario.STUCK_PENDING:
        return
    if not ctx.due(obj, track, "Pending", ctx.config.durations.pending):
        return
    name = instance(obj)
    targets: list[Obj] = []
    for declared in cloud.spec_targets(obj):
        cluster = declared.get("cluster") or {}
        target_name = str(declared.get("name"))
        entry: Obj = {
            "name": target_name,
            "phase": "Provisioning",
            "clusterName": REAL.cluster_name(name, target_name, cluster),
            "machineType": str(cluster.get("machineType") or "e2-medium"),
            "nodeCount": int(cluster.get("nodeCount") or 1),
            "components": components(declared),
        }
        if cluster.get("type") == "gke":
            cloud.create_claim(ctx, obj, REAL, target=target_name, cluster=cluster)
        targets.append(entry)
    if choice.scenario is Scenario.FAIL_PENDING:
        # The cloud refuses the cluster at once (here: a name GKE does not accept).
        message = str(choice.option("message", NAME_ERROR))
        targets = _fail_targets(ctx, obj, targets, message=message, claims=True)
    ctx.patch_status(obj, {"phase": "Provisioning", "targets": targets})
    track.enter("Provisioning")
    log.info("experiment=%s phase -> Provisioning", name)


def _ends(ctx: Ctx, obj: Obj, track: Track, stage: str, *, stuck: Scenario) -> bool:
    """Whether ``stage`` ends now: no target failed in it, it is not stuck, its time is up."""
    if _failed(obj) or track.choice.scenario is stuck:
        return False
    return ctx.due(obj, track, stage, getattr(ctx.config.durations, stage.lower()))


def provisioning(ctx: Ctx, obj: Obj, track: Track) -> None:
    choice = track.choice
    if not _ends(ctx, obj, track, "Provisioning", stuck=Scenario.STUCK_PROVISIONING):
        return
    targets = [dict(t) for t in status(obj).get("targets") or []]
    if choice.scenario is Scenario.FAIL_PROVISIONING:
        message = str(choice.option("message", QUOTA_ERROR))
        targets = _fail_targets(ctx, obj, targets, message=message, claims=True)
        ctx.patch_status(obj, {"targets": targets})
        return
    declared = {str(t.get("name")): t for t in cloud.spec_targets(obj)}
    for target in targets:
        cluster = str(target.get("clusterName"))
        if cluster != "hub":
            cloud.claim_ready(ctx, namespace(obj), cluster)
            target["endpoint"] = f"https://{cluster}.gke.sandbox.invalid"
            target["kubeconfigSecret"] = f"{cluster}-kubeconfig"
        else:
            target["endpoint"] = "https://kubernetes.default.svc"
        source = {**declared.get(str(target["name"]), {}), "clusterName": cluster}
        layers = cloud.create_applications(ctx, obj, REAL, source)
        target.update(phase="Ready", deployedLayers=layers, appsCreated=True)
    ctx.patch_status(obj, {"phase": "Ready", "targets": targets})
    track.enter("Ready")
    log.info("experiment=%s phase -> Ready", instance(obj))


def ready(ctx: Ctx, obj: Obj, track: Track) -> None:
    choice = track.choice
    if not _ends(ctx, obj, track, "Ready", stuck=Scenario.STUCK_READY):
        return
    if choice.scenario is Scenario.FAIL_READY:
        message = str(choice.option("message", UNHEALTHY))
        cloud.set_applications(ctx, obj, REAL, health="Degraded", sync="Synced", message=message)
        targets = [dict(t) for t in status(obj).get("targets") or []]
        ctx.patch_status(
            obj, {"targets": _fail_targets(ctx, obj, targets, message=message, claims=False)}
        )
        return
    cloud.set_applications(ctx, obj, REAL, health="Healthy", sync="Synced")
    template = str((spec(obj).get("workflow") or {}).get("template") or "")
    inline = not cloud.template_exists(ctx, template)
    if inline:
        log.info("experiment=%s template %r missing: inline workflow", instance(obj), template)
    workflow = cloud.create_workflow(ctx, obj, REAL, inline=inline, manual=manual(obj))
    ctx.patch_status(
        obj, {"phase": "Running", "workflowStatus": {"name": workflow, "phase": "Pending"}}
    )
    track.enter("Running")
    log.info("experiment=%s phase -> Running", instance(obj))


def _copied(ctx: Ctx, name: str) -> Obj:
    """workflowStatus as the operator copies it from the Argo Workflow."""
    argo = cloud.read_workflow(ctx, name)
    copied: Obj = {"name": name, "phase": str(argo.get("phase") or "Pending")}
    for key in ("startedAt", "finishedAt"):
        if argo.get(key):
            copied[key] = argo[key]
    return copied


def running(ctx: Ctx, obj: Obj, track: Track) -> None:
    choice = track.choice
    workflow = dict(status(obj).get("workflowStatus") or {})
    name = str(workflow.get("name") or f"{instance(obj)}-validation")
    if workflow.get("phase") == "Pending":
        ctx.patch_status(obj, {"workflowStatus": _copied(ctx, name)})
        return
    if workflow.get("phase") != "Running" or choice.scenario is Scenario.STUCK_RUNNING:
        # Manual completion: the workflow is done and the experiment stays Running.
        return
    if not ctx.due(obj, track, "Running", ctx.config.durations.running):
        return
    if choice.scenario is Scenario.FAIL_RUNNING:
        step = str(choice.option("step", argo.DEFAULT_STEP))
        message = str(choice.option("message", argo.DEFAULT_MESSAGE))
        cloud.fail_workflow(ctx, name, step=step, message=message)
        # No condition says why: the reason lives on the Workflow object, on its failed step.
        ctx.patch_status(obj, {"phase": "Failed", "workflowStatus": _copied(ctx, name)})
        track.enter("Failed")
        log.info("experiment=%s phase -> Failed (workflow failed)", instance(obj))
        return
    cloud.finish_workflow(ctx, name, phase="Succeeded")
    if manual(obj):
        ctx.patch_status(obj, {"workflowStatus": _copied(ctx, name)})
        log.info("experiment=%s workflow done; manual mode stays Running", instance(obj))
        return
    ctx.patch_status(obj, {"phase": "Complete", "workflowStatus": _copied(ctx, name)})
    track.enter("Complete")
    log.info("experiment=%s phase -> Complete", instance(obj))
