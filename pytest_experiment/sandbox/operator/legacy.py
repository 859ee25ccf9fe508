"""The older operator the seeds describe, kept so the harness is proven against both.

Its conventions: it writes ``Pending``; ``phaseTimestamps``,
``analysisPhaseTimestamps``, ``reviewPhaseTimestamps`` and ``observedGeneration``
(pruned by the API server under the real CRD, which does not declare them);
``Progressing``/``Complete``/``Failed`` conditions; Kubernetes Events;
``experiment=<instance>`` labels, hashed claim names, ``<instance>-analyzer``;
confirmed/rejected verdicts; and an early failure fails the experiment.
"""

from __future__ import annotations

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator import cloud
from pytest_experiment.sandbox.operator.config import (
    FINALIZER,
    LEGACY,
    REVIEW_ANNOTATION,
    instance,
    manual,
    meta,
    micros,
    namespace,
    now,
    publishes,
    seconds,
    spec,
    status,
)
from pytest_experiment.sandbox.operator.context import Ctx, Track
from pytest_experiment.sandbox.operator.legacy_status import event, fail, set_stamped, transition
from pytest_experiment.sandbox.scenarios import Scenario
from pytest_experiment.sandbox.summary import build_analysis, build_summary, machine_verdict


def reconcile(ctx: Ctx, obj: Obj, track: Track) -> None:
    if meta(obj).get("deletionTimestamp"):
        _finalize(ctx, obj)
        return
    finalizers = list(meta(obj).get("finalizers") or [])
    if FINALIZER not in finalizers:
        ctx.set_finalizers(obj, [*finalizers, FINALIZER])
        return
    phase = status(obj).get("phase")
    step = {
        None: _start,
        "": _start,
        "Pending": _pending,
        "Provisioning": _provisioning,
        "Ready": _ready,
        "Running": _running,
        "Complete": _complete,
    }.get(phase)
    if step is not None:
        step(ctx, obj, track)


def _start(ctx: Ctx, obj: Obj, track: Track) -> None:
    transition(ctx, obj, track, "Pending", message="Experiment accepted")


def _early_failure(ctx: Ctx, obj: Obj, track: Track, phase: str, default: str) -> bool:
    scenario = track.choice.scenario
    if scenario.value == f"stuck-{phase.lower()}":
        return True
    if not ctx.due(obj, track, phase, getattr(ctx.config.durations, phase.lower())):
        return True
    if scenario.value != f"fail-{phase.lower()}":
        return False
    message = str(track.choice.option("message", default))
    targets = [dict(t) for t in status(obj).get("targets") or []]
    if phase == "Provisioning":
        for target in targets:
            target["phase"] = "Failed"
            if target.get("clusterName") != "hub":
                cloud.fail_claim(ctx, namespace(obj), str(target["clusterName"]), message=message)
    if phase == "Ready":
        cloud.set_applications(ctx, obj, LEGACY, health="Degraded", sync="Synced", message=message)
    extra: Obj = {"targets": targets} if phase == "Provisioning" else {}
    fail(ctx, obj, track, phase, message, **extra)
    return True


def _pending(ctx: Ctx, obj: Obj, track: Track) -> None:
    default = "admission failed: target quota exceeded for project illm-lab"
    if _early_failure(ctx, obj, track, "Pending", default):
        return
    targets = []
    for declared in cloud.spec_targets(obj):
        cluster = declared.get("cluster") or {}
        name = str(declared.get("name"))
        if cluster.get("type") == "gke":
            cloud.create_claim(ctx, obj, LEGACY, target=name, cluster=cluster)
        targets.append(
            {
                "name": name,
                "phase": "Provisioning",
                "clusterName": LEGACY.cluster_name(instance(obj), name, cluster),
                "machineType": cluster.get("machineType") or "e2-medium",
                "nodeCount": int(cluster.get("nodeCount") or 1),
                "components": cloud.component_apps(declared),
            }
        )
    transition(
        ctx, obj, track, "Provisioning", message="Provisioning target clusters", targets=targets
    )


def _provisioning(ctx: Ctx, obj: Obj, track: Track) -> None:
    default = (
        "GKECluster claim failed: googleapi: Error 403: Insufficient regional quota "
        'to satisfy request: resource "CPUS"'
    )
    if _early_failure(ctx, obj, track, "Provisioning", default):
        return
    targets = [dict(t) for t in status(obj).get("targets") or []]
    declared = {str(t.get("name")): t for t in cloud.spec_targets(obj)}
    for target in targets:
        if target.get("clusterName") != "hub":
            cloud.claim_ready(
                ctx, namespace(obj), str(target["clusterName"]), message="Cluster is running"
            )
        cloud.create_applications(
            ctx, obj, LEGACY, {**declared.get(str(target["name"]), {}), **target}
        )
        target.update(
            phase="Ready", appsCreated=True, deployedLayers=["infrastructure", "applications"]
        )
    transition(
        ctx, obj, track, "Ready", message="Clusters ready; applications syncing", targets=targets
    )


def _ready(ctx: Ctx, obj: Obj, track: Track) -> None:
    default = "Application health Degraded: Deployment has timed out progressing"
    if _early_failure(ctx, obj, track, "Ready", default):
        return
    cloud.set_applications(ctx, obj, LEGACY, health="Healthy", sync="Synced")
    name = cloud.create_workflow(ctx, obj, LEGACY, inline=False, manual=manual(obj))
    workflow = {"name": name, "phase": "Running", "startedAt": seconds(now())}
    transition(
        ctx, obj, track, "Running", message=f"Workflow {name} running", workflowStatus=workflow
    )


def _running(ctx: Ctx, obj: Obj, track: Track) -> None:
    workflow = dict(status(obj).get("workflowStatus") or {})
    if workflow.get("phase") != "Running":
        return
    template = str((spec(obj).get("workflow") or {}).get("template") or "")
    if not cloud.template_exists(ctx, template):
        # Argo fails a workflow whose template is missing as soon as it sees it.
        message = f'workflowtemplates.argoproj.io "{template}" not found'
        cloud.finish_workflow(ctx, workflow["name"], phase="Error", message=message)
        workflow.update(phase="Error", finishedAt=seconds(now()))
        text = f"Workflow {workflow['name']} failed: {message}"
        fail(ctx, obj, track, "Running", text, workflowStatus=workflow)
        return
    if track.choice.scenario is Scenario.STUCK_RUNNING or not ctx.due(
        obj, track, "Running", ctx.config.durations.running
    ):
        return
    if track.choice.scenario is Scenario.FAIL_RUNNING:
        message = str(track.choice.option("message", "step validate-results failed: exit code 1"))
        cloud.finish_workflow(ctx, workflow["name"], phase="Failed", message=message)
        workflow.update(phase="Failed", finishedAt=seconds(now()))
        text = f"Workflow {workflow['name']} failed: {message}"
        fail(ctx, obj, track, "Running", text, workflowStatus=workflow)
        return
    cloud.finish_workflow(ctx, workflow["name"], phase="Succeeded")
    workflow.update(phase="Succeeded", finishedAt=seconds(now()))
    if manual(obj):
        ctx.patch_status(obj, {"workflowStatus": workflow})
        return
    _complete_run(ctx, obj, track, workflow)


def _complete_run(ctx: Ctx, obj: Obj, track: Track, workflow: Obj) -> None:
    name = instance(obj)
    summary = build_summary(
        experiment=obj,
        choice=track.choice,
        status={**status(obj), "workflowStatus": workflow},
        completed_at=now(),
        time_scale=ctx.config.time_scale,
        legacy=True,
    )
    ctx.put_json(f"{name}/metrics-snapshot.json", summary["metrics"])
    # The summary is in S3 before Complete is visible: readers fetch it on Complete.
    ctx.put_json(f"{name}/summary.json", summary)
    cloud.delete_cloud(ctx, obj, LEGACY, workflow=False)
    fields: Obj = {
        "workflowStatus": workflow,
        "resultsURL": f"s3://{ctx.config.bucket}/{name}/",
        "resourcesCleaned": True,
    }
    verdict = machine_verdict(summary)
    if verdict:
        fields["hypothesisResult"] = verdict
    if publishes(obj):
        fields["published"] = True
        if track.choice.scenario is not Scenario.NO_PR:
            fields.update(LEGACY.pull_request(name))
        skipped = track.choice.scenario is Scenario.ANALYZER_SKIP
        fields["analysisPhase"] = "Skipped" if skipped else "Pending"
        fields["analysisPhaseTimestamps"] = {fields["analysisPhase"]: micros(now())}
        if not skipped:
            fields["analysisJobName"] = LEGACY.analyzer_job(name)
        track.enter(f"analysis-{fields['analysisPhase']}")
    done = {"type": "Complete", "status": "True", "reason": "Succeeded"}
    transition(
        ctx, obj, track, "Complete", message="Results collected", conditions=[done], **fields
    )


def _complete(ctx: Ctx, obj: Obj, track: Track) -> None:
    if not publishes(obj):
        return
    current = status(obj)
    durations = ctx.config.durations
    phase = current.get("analysisPhase")
    job = LEGACY.analyzer_job(instance(obj))
    scenario = track.choice.scenario
    if phase == "Pending":
        if ctx.due(obj, track, "analysis-Pending", durations.analyzer_pending):
            cloud.create_analyzer_job(ctx, obj, LEGACY)
            set_stamped(ctx, obj, track, "analysisPhase", "Running")
        return
    if phase == "Running":
        if scenario is Scenario.ANALYZER_TIMEOUT or not ctx.due(
            obj, track, "analysis-Running", durations.analyzer_running
        ):
            return
        if scenario is Scenario.ANALYZER_FAIL:
            cloud.finish_analyzer_job(ctx, job, succeeded=False)
            set_stamped(ctx, obj, track, "analysisPhase", "Failed")
            return
        key = f"{instance(obj)}/summary.json"
        summary = ctx.get_json(key)
        summary["analysis"] = build_analysis(
            spec=spec(obj), summary=summary, choice=track.choice, generated_at=now(), legacy=True
        )
        ctx.put_json(key, summary)
        cloud.finish_analyzer_job(ctx, job, succeeded=True)
        set_stamped(ctx, obj, track, "analysisPhase", "Succeeded")
        return
    review = current.get("reviewPhase")
    if scenario is Scenario.NO_REVIEW_GATE:
        return
    if not review:
        if ctx.due(obj, track, f"analysis-{phase}", durations.review_pending):
            set_stamped(ctx, obj, track, "reviewPhase", "Pending")
        return
    if review != "Pending":
        return
    decision = (meta(obj).get("annotations") or {}).get(REVIEW_ANNOTATION)
    number = current.get("publishPRNumber")
    if decision == "approved":
        if number:
            event(ctx, obj, "PRMerged", f"Squash-merged PR #{number} and deleted its branch")
        set_stamped(ctx, obj, track, "reviewPhase", "Approved")
    elif decision == "rejected" or (
        scenario is Scenario.REVIEW_REJECTED
        and ctx.due(obj, track, "review-Pending", durations.reviewer_rejects)
    ):
        if number:
            event(ctx, obj, "PRClosed", f"Closed PR #{number} and deleted its branch")
        set_stamped(ctx, obj, track, "reviewPhase", "Rejected")


def _finalize(ctx: Ctx, obj: Obj) -> None:
    finalizers = list(meta(obj).get("finalizers") or [])
    if FINALIZER not in finalizers:
        return
    cloud.delete_cloud(ctx, obj, LEGACY, workflow=True)
    cloud.delete_analyzer_job(ctx, LEGACY.analyzer_job(instance(obj)))
    current = status(obj)
    if current.get("reviewPhase") == "Pending" and current.get("publishPRNumber"):
        number = current["publishPRNumber"]
        ctx.record_pr(int(number), "closed")
        event(
            ctx,
            obj,
            "PRClosed",
            f"Closed PR #{number} ({current.get('publishPRURL')}): "
            "experiment deleted while review was pending",
        )
    ctx.set_finalizers(obj, [f for f in finalizers if f != FINALIZER])
