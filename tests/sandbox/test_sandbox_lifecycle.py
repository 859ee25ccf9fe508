"""The simulated operator's happy path, review gate and deletion, observed through the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubernetes import client

from pytest_experiment.checks import INFRA_PREFIXES
from pytest_experiment.sandbox.kube import APPLICATIONS, GKE_CLUSTERS, WORKFLOWS
from pytest_experiment.sandbox.operator import FINALIZER, REVIEW_ANNOTATION
from pytest_experiment.sandbox.summary import parse_time

from .lifecycle import (
    DECLARED,
    NAMESPACE,
    Run,
    experiment_doc,
    queries,
    status_of,
    summary,
    with_data,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PHASES = ["Pending", "Provisioning", "Ready", "Running", "Complete"]


def test_happy_published_lifecycle(
    k8s: client.ApiClient, s3: S3Client, workflow_template: str, prefix: str
) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    review = run.wait_status("reviewPhase", "Pending")
    status = status_of(review)

    assert FINALIZER in review["metadata"]["finalizers"]
    assert status["phase"] == "Complete"
    stamps = status["phaseTimestamps"]
    assert sorted(stamps, key=lambda phase: parse_time(stamps[phase])) == PHASES
    assert set(run.phases()) <= set(PHASES)
    assert status["completedAt"] == stamps["Complete"]
    assert status["resultsURL"] == f"s3://experiment-results/{run.name}/"
    assert status["hypothesisResult"] == "confirmed"
    assert status["resourcesCleaned"] is True
    assert status["workflowStatus"]["name"] == f"{run.name}-validation"
    assert status["workflowStatus"]["phase"] == "Succeeded"
    (target,) = status["targets"]
    assert target["name"] == "app"
    assert target["clusterName"].startswith(f"illm-{run.name}-app-")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Complete"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"

    assert status["published"] is True
    assert status["publishBranch"] == f"results/{run.name}"
    assert status["publishPRURL"].endswith(f"/pull/{status['publishPRNumber']}")
    assert status["analysisPhase"] == "Succeeded"
    assert status["analysisJobName"] == f"{run.name}-analyzer"
    analysis_stamps = status["analysisPhaseTimestamps"]
    assert [parse_time(analysis_stamps[p]) for p in ("Pending", "Running", "Succeeded")] == sorted(
        parse_time(analysis_stamps[p]) for p in ("Pending", "Running", "Succeeded")
    )
    assert "Pending" in status["reviewPhaseTimestamps"]
    job = client.BatchV1Api(k8s).read_namespaced_job(
        f"{run.name}-analyzer", "experiment-operator-system"
    )
    assert job.status.succeeded == 1

    document = summary(s3, run)
    assert document["name"] == run.name
    assert document["namespace"] == NAMESPACE
    assert document["phase"] == "Complete"
    assert with_data(document) >= DECLARED
    assert document["metrics"]["source"] == f"target:{run.name}/kube-prometheus-stack-prometheus"
    assert queries(document)["fsync_write_p99"]["query"].count(run.name) == 1
    assert "$EXPERIMENT" not in queries(document)["fsync_write_throughput"]["query"]
    hypothesis = document["hypothesis"]
    assert hypothesis["machineVerdict"] == "confirmed"
    assert all(c["passed"] is True for c in hypothesis["successCriteria"])
    assert all(isinstance(c["actualValue"], float) for c in hypothesis["successCriteria"])
    pods = [d["labels"]["pod"] for d in queries(document)["cpu_by_pod"]["data"]]
    workload = [p for p in pods if not p.startswith(INFRA_PREFIXES)]
    assert {p.rsplit("-", 2)[0] for p in workload} == {"naive-db-fsync", "db-benchmark-loadgen"}
    assert len(pods) > len(workload)
    assert document["costEstimate"]["totalUSD"] > 0
    assert document["workflow"]["template"] == workflow_template
    analysis = document["analysis"]
    assert analysis["hypothesisVerdict"] == "confirmed"
    assert analysis["abstract"]

    # Expensive resources went away at Complete; the workflow stays as a record.
    assert run.labelled(GKE_CLUSTERS, NAMESPACE) == []
    assert run.labelled(APPLICATIONS, "argocd") == []
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
    assert workflow["status"]["phase"] == "Succeeded"

    run.annotate(REVIEW_ANNOTATION, "approved")
    approved = run.wait_status("reviewPhase", "Approved")
    assert "Approved" in status_of(approved)["reviewPhaseTimestamps"]
    assert any(e.reason == "PRMerged" for e in run.events())

    run.delete()
    run.wait_gone()
    assert run.labelled(WORKFLOWS, "argo-workflows") == []


def test_unpublished_run_has_no_analysis_or_review(
    k8s: client.ApiClient, s3: S3Client, workflow_template: str, prefix: str
) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=False, criteria=False))
    done = status_of(run.wait_terminal())

    assert done["phase"] == "Complete"
    assert "hypothesisResult" not in done
    for absent in ("published", "analysisPhase", "reviewPhase", "publishPRURL"):
        assert absent not in done
    assert run.assert_quiet("phase")["status"].get("analysisPhase") is None
    document = summary(s3, run)
    assert "machineVerdict" not in document["hypothesis"]
    assert "analysis" not in document


def test_objects_labelled_with_the_instance_while_it_runs(
    k8s: client.ApiClient, workflow_template: str, prefix: str
) -> None:
    hub = {"name": "loadgen", "cluster": {"type": "hub"}, "components": [{"app": "k6"}]}
    run = Run.create(k8s, experiment_doc(prefix, extra_targets=[hub], mode="manual"))

    provisioning = run.wait_status("phase", "Provisioning")
    targets = {t["name"]: t for t in status_of(provisioning)["targets"]}
    assert targets["app"]["phase"] == "Provisioning"
    assert targets["loadgen"]["clusterName"] == "hub"
    (claim,) = run.wait_labelled(GKE_CLUSTERS, NAMESPACE, lambda c: len(c) == 1, what="a claim")
    assert claim["metadata"]["name"] == targets["app"]["clusterName"]
    assert claim["spec"]["machineType"] == "e2-standard-4"

    ready = run.wait_status("phase", "Ready")
    assert {t["phase"] for t in status_of(ready)["targets"]} == {"Ready"}
    claim_ready = run.labelled(GKE_CLUSTERS, NAMESPACE)[0]["status"]
    assert {c["type"]: c["status"] for c in claim_ready["conditions"]}["Ready"] == "True"
    apps = run.labelled(APPLICATIONS, "argocd")
    assert {a["metadata"]["name"] for a in apps} == {
        f"{run.name}-app-{c}"
        for c in (
            "naive-db-fsync",
            "db-benchmark-loadgen",
            "kube-prometheus-stack",
            "metrics-agent",
            "metrics-egress",
        )
    } | {f"{run.name}-loadgen-k6"}
    assert all("health" in a["status"] and "sync" in a["status"] for a in apps)

    running = run.wait_status("phase", "Running")
    assert status_of(running)["workflowStatus"]["phase"] == "Running"
    healthy = run.labelled(APPLICATIONS, "argocd")
    assert {(a["status"]["health"]["status"], a["status"]["sync"]["status"]) for a in healthy} == {
        ("Healthy", "Synced")
    }
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
    assert workflow["spec"]["workflowTemplateRef"]["name"] == workflow_template
    assert {"name": "duration", "value": "30m"} in workflow["spec"]["arguments"]["parameters"]

    # Manual completion: the workflow finishes, the experiment stays Running until deleted.
    finished = run.wait(
        lambda o: status_of(o).get("workflowStatus", {}).get("phase") == "Succeeded",
        what="the workflow to finish",
    )
    assert status_of(finished)["phase"] == "Running"
    assert status_of(run.assert_quiet("phase"))["phase"] == "Running"

    run.delete()
    run.wait_gone()
    assert run.labelled(GKE_CLUSTERS, NAMESPACE) == []
    assert run.labelled(APPLICATIONS, "argocd") == []
    assert run.labelled(WORKFLOWS, "argo-workflows") == []


def test_review_annotation_rejected(
    k8s: client.ApiClient, workflow_template: str, prefix: str
) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=True))
    run.wait_status("reviewPhase", "Pending")
    assert status_of(run.assert_quiet("reviewPhase"))["reviewPhase"] == "Pending"

    run.annotate(REVIEW_ANNOTATION, "rejected")

    run.wait_status("reviewPhase", "Rejected")
    assert any(e.reason == "PRClosed" for e in run.events())


def test_delete_while_review_pending_closes_the_pr(
    k8s: client.ApiClient, workflow_template: str, prefix: str
) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=True))
    pending = status_of(run.wait_status("reviewPhase", "Pending"))

    run.delete()
    run.wait_gone()

    closed = [e for e in run.events() if e.reason == "PRClosed"]
    assert closed
    assert f"#{pending['publishPRNumber']}" in closed[0].message


def test_missing_workflow_template_fails_the_run(k8s: client.ApiClient, prefix: str) -> None:
    doc = experiment_doc(prefix)
    doc["spec"]["workflow"]["template"] = f"{prefix}missing"
    run = Run.create(k8s, doc)

    failed = status_of(run.wait_terminal())

    assert failed["phase"] == "Failed"
    assert failed["workflowStatus"]["phase"] == "Error"
    (condition,) = [c for c in failed["conditions"] if c["type"] == "Failed"]
    assert condition["reason"] == "RunningFailed"
    assert f'"{prefix}missing" not found' in condition["message"]
