"""The harness against instances driven by hand exactly as the real operator drives them.

The simulated operator is told to leave these instances alone (scenario
``operator-down`` for the test's generateName); the test then writes their status
through the status subresource, step by step, as the lab's operator does: no phase
at first, a target Failed while the experiment stays Provisioning, a Complete with
a late ``resultsURL`` while the quality gate re-collects, a Complete that turns
Failed, a failed workflow whose reason is only on the Argo Workflow. Each step is
taken when the pytest run, watched line by line, has reached the point it tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.base.resources import (
    EXPERIMENTS,
    GKE_CLUSTERS,
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    WORKFLOWS,
)
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import wait_until
from pytest_experiment.sandbox.scenarios import clear_scenario

from .lifecycle import BUCKET, METRICS, NAMESPACE, TIMEOUT, Run, SetScenario, experiment_doc
from .runs import LiveProcess, run_live, write

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")

HUB_TARGET = {"name": "side", "cluster": {"type": "hub"}, "components": [{"app": "naive-db-fsync"}]}


@pytest.fixture
def by_hand(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> Iterator[str]:
    """``prefix`` instances are left alone by the simulated operator: the test drives them."""
    scenario(prefix, "operator-down")
    yield prefix
    clear_scenario(k8s, prefix)
    # Later tests expect the operator Deployment ready again: wait until it says so.
    deployments = client.AppsV1Api(k8s)
    wait_until(
        lambda **kw: deployments.list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
        lambda objects: any(
            ((o.get("status") or {}).get("readyReplicas") or 0) >= 1 for o in objects.values()
        ),
        timeout=TIMEOUT,
        what="the operator to report a ready replica again",
        field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
    )


def patch_status(k8s: client.ApiClient, name: str, fields: Obj) -> None:
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(
        EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, name,
        {"status": fields}, _content_type="application/merge-patch+json",
    )  # fmt: skip


def seconds(moment: datetime | None = None) -> str:
    """RFC 3339 at second precision, as the real operator writes it."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def put_summary(s3: S3Client, instance: str, *, phase: str = "Complete", data: bool = True) -> str:
    queries: Obj = {}
    for i, metric in enumerate(METRICS):
        query: Obj = {"query": metric["query"], "type": metric.get("type", "instant")}
        if data or i == 0:
            # No `series` field, points as the real collector writes them.
            query["data"] = [{"timestamp": seconds(), "value": 0.0042}]
        queries[metric["name"]] = query
    summary = {
        "name": instance, "namespace": NAMESPACE, "createdAt": seconds(), "completedAt": seconds(),
        "durationSeconds": 2541.1, "phase": phase,
        "hypothesis": {"claim": "Skipping fsync cuts p99 write latency tenfold.",
                       "machineVerdict": "validated",
                       "successCriteria": [{"metric": "fsync_write_p99", "operator": "lt",
                                            "value": "0.5", "actualValue": "0.0042",
                                            "passed": True}]},
        "targets": [{"name": "app", "clusterName": f"{instance}-app"}],
        "workflow": {"name": f"{instance}-validation",
                     "phase": "Succeeded" if phase == "Complete" else "Failed"},
        "metrics": {"source": "target:monitoring/kube-prometheus-stack-prometheus",
                    "timeRange": {"duration": "43m26.855137229s"}, "queries": queries},
        "costEstimate": {"totalUSD": 0.018, "durationHours": 0.7, "perTarget": {"app": 0.018},
                         "note": "Rough estimate"},
    }  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=f"{instance}/summary.json", Body=json.dumps(summary).encode())
    return f"s3://{BUCKET}/{instance}/"


def toil(report: Obj) -> list[Obj]:
    """The run's toil, less the pre-flight's record of the operator these tests silence."""
    return [t for t in report["toil"] if not t["title"].startswith("Operator unhealthy")]


def applied(live: LiveProcess) -> str:
    line = live.wait_line("Applied experiment: * (from experiments/*")
    return line.split("Applied experiment: ", 1)[1].split(" ", 1)[0]


def line_time(live: LiveProcess, pattern: str) -> float:
    line = live.wait_line(pattern)
    return live.times[live.lines.index(line)]


# -- absent phase, stuck targets --------------------------------------------------------


def test_no_phase_is_pending_and_a_failed_target_fails_the_item_within_a_second(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, by_hand: str,
) -> None:  # fmt: skip
    write(pytester, "stuck", experiment_doc(by_hand))
    live = LiveProcess(pytester, sandbox, "--experiment-budget-provisioning=5m")
    instance = applied(live)
    # Nothing written yet: the harness reports (and times) it as Pending.
    live.wait_line(f"{instance}: Pending")
    target = {"name": "app", "phase": "Provisioning", "clusterName": f"{instance}-app"}
    patch_status(k8s, instance, {"phase": "Provisioning", "targets": [target]})
    live.wait_line(f"{instance}: Provisioning")
    written = time.monotonic()
    patch_status(k8s, instance, {"targets": [{**target, "phase": "Failed"}]})
    failed_at = line_time(live, "*::lifecycle FAILED*")
    code, report, text = live.finish()
    assert code == pytest.ExitCode.TESTS_FAILED, text
    # Seconds, not the 5-minute budget (the benchmark records the figure: well under 1 s).
    assert failed_at - written < 5.0, failed_at - written
    [experiment] = report["experiments"]
    lifecycle = experiment["instances"][0]["lifecycle"]
    assert lifecycle["summary"] == (
        f"[FAIL] Experiment {instance} stuck in Provisioning: target app Failed "
        f"(status.targets): no reason in the status; see its cluster claim {instance}-app"
    )
    assert any(line.startswith("GKECluster claims (") for line in lifecycle["details"])
    [record] = toil(report)
    assert record["title"].startswith(f"Target app failed, {instance} stuck in Provisioning - ")
    assert record["labels"] == ["toil", "stuck", "crossplane"]
    [cleanup] = report["cleanup"]
    assert cleanup["action"] == "kept"
    Run(api=k8s, name=instance).delete()


def test_a_claim_the_cloud_refused_fails_the_item_naming_target_and_reason(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, by_hand: str,
) -> None:  # fmt: skip
    run = Run.create(k8s, experiment_doc(by_hand, extra_targets=[HUB_TARGET]))
    patch_status(k8s, run.name, {"phase": "Provisioning", "targets": [
        {"name": "app", "phase": "Provisioning", "clusterName": f"{run.name}-app"},
        {"name": "side", "phase": "Provisioning", "clusterName": "hub"},
    ]})  # fmt: skip
    objects = client.CustomObjectsApi(k8s)
    claim = f"{run.name}-app"
    objects.create_namespaced_custom_object(
        GKE_CLUSTERS.group, GKE_CLUSTERS.version, NAMESPACE, GKE_CLUSTERS.plural,
        {"apiVersion": GKE_CLUSTERS.api_version, "kind": "GKECluster",
         "metadata": {"name": claim, "labels": {"experiments.illm.io/cluster": claim}},
         "spec": {}},
    )  # fmt: skip
    objects.patch_namespaced_custom_object_status(
        GKE_CLUSTERS.group, GKE_CLUSTERS.version, NAMESPACE, GKE_CLUSTERS.plural, claim,
        {"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "ReconcileError",
             "message": "googleapi: Error 400: Cluster name too long"}]}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    write(pytester, "refused", experiment_doc(by_hand))
    try:
        session = run_live(pytester, sandbox, f"--experiment-instance=refused={run.name}")
        lifecycle = session.lifecycle("refused")
        assert lifecycle["summary"] == (
            f"[FAIL] Experiment {run.name} stuck in Provisioning: target app Failed "
            f"(GKECluster {claim} Ready=False): ReconcileError: googleapi: Error 400: "
            "Cluster name too long"
        )
        assert session.cleanup("refused")["action"] == "left"
    finally:
        objects.delete_namespaced_custom_object(
            GKE_CLUSTERS.group, GKE_CLUSTERS.version, NAMESPACE, GKE_CLUSTERS.plural, claim
        )
        run.delete()


# -- after Complete ------------------------------------------------------------------------


def completed(k8s: client.ApiClient, prefix: str) -> Run:
    """A published instance the real operator has just marked Complete: no resultsURL yet,
    its quality gate re-collecting (re-collection 1 of 2)."""
    run = Run.create(k8s, experiment_doc(prefix, publish=True))
    patch_status(k8s, run.name, {
        "phase": "Complete", "completedAt": seconds(),
        "workflowStatus": {"name": f"{run.name}-validation", "phase": "Succeeded"},
        "iterationStatus": {"phase": "Recollecting", "currentIteration": 1},
    })  # fmt: skip
    return run


def test_a_late_results_url_is_waited_for_showing_the_quality_gate_then_review_skipped(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, s3: S3Client,
    by_hand: str,
) -> None:  # fmt: skip
    run = completed(k8s, by_hand)
    doc = experiment_doc(by_hand, publish=True)
    doc["spec"]["qualityGate"] = {"maxIterations": 2}
    write(pytester, "late", doc)
    live = LiveProcess(
        pytester, sandbox, f"--experiment-instance=late={run.name}",
        "--experiment-results-wait=60s", "--experiment-budget-analyzer-start=5s",
    )  # fmt: skip
    try:
        live.wait_line(f"{run.name}: quality gate re-collecting, re-collection 1 of 2")
        patch_status(k8s, run.name, {"iterationStatus": {"currentIteration": 2}})
        live.wait_line(f"{run.name}: quality gate re-collecting, re-collection 2 of 2")
        url = put_summary(s3, run.name)
        # Not published (say the PR could not be created): no analysis, review Skipped.
        patch_status(k8s, run.name, {
            "resultsURL": url, "iterationStatus": {"phase": "Passed"}, "published": False,
            "hypothesisResult": "validated", "analysisPhase": "Skipped",
            "reviewPhase": "Skipped",
        })  # fmt: skip
        code, report, text = live.finish()
    finally:
        run.delete()
    [instance] = report["experiments"][0]["instances"]
    assert instance["lifecycle"]["verdict"] == "pass", text
    checks = {c["check"]: c for c in instance["checks"]}
    assert checks["custom-metrics"]["verdict"] == "pass", checks["custom-metrics"]
    assert instance["review"]["summary"] == (
        "[N/A] Review: skipped by the operator (reviewPhase Skipped: published: false, "
        "no PR number)"
    )
    # Asked to publish and no PR: the operator's side of publishing failed.
    assert [t["title"] for t in toil(report)] == [
        f"No PR created for published experiment {run.name}"
    ]
    assert code == pytest.ExitCode.OK, text


def test_complete_turning_failed_by_an_exhausted_quality_gate_is_reported(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, by_hand: str,
) -> None:  # fmt: skip
    run = completed(k8s, by_hand)
    write(pytester, "exhausted", experiment_doc(by_hand, publish=True))
    live = LiveProcess(pytester, sandbox, f"--experiment-instance=exhausted={run.name}")
    message = "metrics coverage 0.25 below 1.00 after 3 iterations; nothing published"
    try:
        live.wait_line(f"{run.name}: quality gate re-collecting, re-collection 1 of 3")
        patch_status(k8s, run.name, {
            "phase": "Failed", "analysisPhase": "Skipped",
            "iterationStatus": {"phase": "Exhausted", "currentIteration": 3},
            "conditions": [{"type": "QualityGate", "status": "False", "reason": "Exhausted",
                            "message": message, "lastTransitionTime": seconds()}],
        })  # fmt: skip
        code, report, text = live.finish()
    finally:
        run.delete()
    assert code == pytest.ExitCode.TESTS_FAILED, text
    [instance] = report["experiments"][0]["instances"]
    # The lifecycle stays as observed: it completed.
    assert instance["lifecycle"]["verdict"] == "pass", instance["lifecycle"]
    turned = f"{run.name} turned Failed after Complete: QualityGate Exhausted: {message}"
    for check in instance["checks"]:
        assert check["verdict"] == "fail", check
        assert check["summary"] == f"[FAIL] {turned}; no results to score", check
    assert instance["review"]["summary"] == f"[N/A] Review: no review gate: {turned}"
    [record] = toil(report)
    assert record["title"] == (
        f"Experiment turned Failed after Complete: {run.name} - QualityGate Exhausted: {message}"
    )
    assert (record["priority"], record["labels"]) == (2, ["toil", "exhausted", "quality"])


def test_an_analyzer_job_gone_after_complete_is_reported_and_the_results_still_scored(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, s3: S3Client,
    by_hand: str,
) -> None:  # fmt: skip
    run = Run.create(k8s, experiment_doc(by_hand, publish=True))
    job = f"experiment-analyzer-{run.name}"
    patch_status(k8s, run.name, {
        "phase": "Complete", "completedAt": seconds(), "resultsURL": put_summary(s3, run.name),
        "published": True, "publishPRNumber": 412, "analysisPhase": "Pending",
        "analysisJobName": job,
    })  # fmt: skip
    write(pytester, "jobgone", experiment_doc(by_hand, publish=True))
    live = LiveProcess(pytester, sandbox, f"--experiment-instance=jobgone={run.name}")
    try:
        live.wait_line(f"{run.name}: analyzer Pending")
        patch_status(k8s, run.name, {
            "phase": "Failed",
            "conditions": [{"type": "AnalysisComplete", "status": "False",
                            "reason": "JobNotFound", "message": f"Job {job} not found",
                            "lastTransitionTime": seconds()}],
        })  # fmt: skip
        code, report, text = live.finish()
    finally:
        run.delete()
    [instance] = report["experiments"][0]["instances"]
    turned = (
        f"{run.name} turned Failed after Complete: AnalysisComplete JobNotFound: "
        f"Job {job} not found"
    )
    checks = {c["check"]: c for c in instance["checks"]}
    assert checks["custom-metrics"]["verdict"] == "pass", text
    assert turned in checks["custom-metrics"]["details"]
    assert checks["ai-verdict"]["summary"] == "[N/A] AI verdict: analyzer failed"
    assert turned in checks["ai-verdict"]["details"]
    assert instance["review"]["summary"] == f"[N/A] Review: no review gate: {turned}"
    [record] = toil(report)
    assert record["labels"] == ["toil", "jobgone", "analyzer"]
    assert code == pytest.ExitCode.OK, text


# -- a failed workflow --------------------------------------------------------------------


def test_a_failed_workflow_is_explained_by_argo_and_by_the_failed_runs_summary(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, s3: S3Client,
    by_hand: str,
) -> None:  # fmt: skip
    write(pytester, "broken", experiment_doc(by_hand))
    live = LiveProcess(pytester, sandbox)
    instance = applied(live)
    workflow = f"{instance}-validation"
    objects = client.CustomObjectsApi(k8s)
    objects.create_namespaced_custom_object(
        WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural,
        {"apiVersion": WORKFLOWS.api_version, "kind": "Workflow",
         "metadata": {"name": workflow,
                      "labels": {"experiments.illm.io/experiment": instance}},
         "spec": {}, "status": {"phase": "Running"}},
    )  # fmt: skip
    patch_status(
        k8s,
        instance,
        {"phase": "Running", "workflowStatus": {"name": workflow, "phase": "Running"}},
    )
    live.wait_line(f"{instance}: Running")
    reason = "child 'validate-results' failed: Error (exit code 1)"
    objects.patch_namespaced_custom_object(
        WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural, workflow,
        {"status": {"phase": "Failed", "message": reason}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    # Failed with no condition saying why; completedAt and resultsURL come a reconcile later.
    patch_status(
        k8s, instance, {"phase": "Failed", "workflowStatus": {"name": workflow, "phase": "Failed"}}
    )
    live.wait_line(f"{instance}: Failed")
    url = put_summary(s3, instance, phase="Failed", data=False)
    patch_status(k8s, instance, {"completedAt": seconds(), "resultsURL": url})
    try:
        code, report, text = live.finish()
    finally:
        objects.delete_namespaced_custom_object(
            WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural, workflow
        )
        Run(api=k8s, name=instance).delete()
    assert code == pytest.ExitCode.TESTS_FAILED, text
    lifecycle = report["experiments"][0]["instances"][0]["lifecycle"]
    assert lifecycle["summary"] == (
        f"[FAIL] Experiment {instance} failed in Running: workflow {workflow} Failed: {reason}"
    )
    details = lifecycle["details"]
    assert f"  {workflow}: Failed: {reason}" in details
    # The failed run's summary: diagnostics, not a gate.
    tail = details[details.index("failed run's summary.json phase: Failed") :]
    assert tail == [
        "failed run's summary.json phase: Failed",
        f"workflow {workflow}: Failed",
        "metrics from target:monitoring/kube-prometheus-stack-prometheus over 43m27s: "
        "1 with data (fsync_write_p99)",
        "metrics without data: fsync_write_throughput, hdb_write_latency, hdb_write_p99",
    ]
