"""The simulated operator behaves as the lab's real one: observed through the API and S3."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.base.resources import APPLICATIONS, OPERATOR_NAMESPACE, WORKFLOWS
from pytest_experiment.sandbox.operator import FINALIZER, REVIEW_ANNOTATION

from .lifecycle import (
    BUCKET,
    DECLARED,
    Run,
    experiment_doc,
    pr_state,
    s3_document,
    status_of,
    summary,
    with_data,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Every status field the real CRD declares; the API server prunes anything else.
DECLARED_STATUS = {
    "analysisJobName",
    "analysisPhase",
    "reviewPhase",
    "hypothesisResult",
    "completedAt",
    "conditions",
    "phase",
    "published",
    "resourcesCleaned",
    "resultsURL",
    "publishBranch",
    "publishPRNumber",
    "publishPRURL",
    "iterationStatus",
    "targets",
    "tutorialStatus",
    "workflowStatus",
}
REAL_CONDITIONS = {"QualityGate", "AnalysisComplete", "ReviewGate"}
SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MANAGED_BY = {"app.kubernetes.io/managed-by": "experiment-operator"}

pytestmark = pytest.mark.usefixtures("workflow_template")


def _first_index(run: Run, predicate: object) -> int:
    assert callable(predicate)
    return next(i for i, obj in enumerate(run.seen) if predicate(status_of(obj)))


def test_happy_published_run_as_the_real_operator(
    k8s: client.ApiClient, s3: S3Client, prefix: str
) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    review = run.wait_status("reviewPhase", "Pending")
    status = status_of(review)

    # Phases: never a written Pending; the phase is absent until Provisioning.
    assert run.phases() == ["Provisioning", "Ready", "Running", "Complete"]
    assert "phase" not in status_of(run.seen[0])
    for seen in run.seen:
        assert set(status_of(seen)) <= DECLARED_STATUS
    assert FINALIZER in review["metadata"]["finalizers"]
    # workflowStatus is first written with phase Pending, then copied from Argo.
    pending_workflow = _first_index(
        run, lambda s: (s.get("workflowStatus") or {}).get("phase") == "Pending"
    )
    running_workflow = _first_index(
        run, lambda s: (s.get("workflowStatus") or {}).get("phase") == "Running"
    )
    assert pending_workflow < running_workflow
    # Complete is visible before resultsURL (a later status write).
    complete = _first_index(run, lambda s: s.get("phase") == "Complete")
    assert "resultsURL" not in status_of(run.seen[complete])
    assert "completedAt" not in status_of(run.seen[complete])
    results = _first_index(run, lambda s: bool(s.get("resultsURL")))
    assert results > complete
    cleaned = _first_index(run, lambda s: s.get("resourcesCleaned") is True)
    assert cleaned > results

    assert SECONDS.match(status["completedAt"])
    assert status["resultsURL"] == f"s3://experiment-results/{run.name}/"
    assert status["hypothesisResult"] == "validated"
    assert status["iterationStatus"]["phase"] == "Passed"
    assert status["iterationStatus"]["currentIteration"] == 0
    assert status["workflowStatus"]["name"] == f"{run.name}-validation"
    assert status["workflowStatus"]["phase"] == "Succeeded"
    (target,) = status["targets"]
    assert target["clusterName"] == f"{run.name}-app"
    assert (target["machineType"], target["nodeCount"], target["phase"]) == (
        "e2-standard-4",
        1,
        "Ready",
    )
    assert "Deployment/naive-db-fsync" in target["components"]
    assert all(re.match(r"^[A-Z][A-Za-z]+/[a-z0-9-]+$", c) for c in target["components"])
    assert target["deployedLayers"] == ["infra", "obs", "workload"]
    assert target["appsCreated"] is True

    assert status["published"] is True
    assert status["publishBranch"] == f"experiment/{run.name}"
    assert isinstance(status["publishPRNumber"], int)
    assert status["publishPRURL"].endswith(f"/pull/{status['publishPRNumber']}")
    assert pr_state(k8s, status["publishPRNumber"]) == "open"
    assert status["analysisPhase"] == "Succeeded"
    assert status["analysisJobName"] == f"experiment-analyzer-{run.name}"
    job = client.BatchV1Api(k8s).read_namespaced_job(status["analysisJobName"], OPERATOR_NAMESPACE)
    assert job.metadata.labels == {"app": "experiment-analyzer", "experiment": run.name}
    assert job.status.succeeded == 1
    # (ttlSecondsAfterFinished is set too, but kube-apiserver 1.20 drops it: alpha gate.)
    assert job.spec.backoff_limit == 1

    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) <= REAL_CONDITIONS
    assert conditions["AnalysisComplete"]["status"] == "True"
    assert conditions["AnalysisComplete"]["reason"] == "Succeeded"
    gate = conditions["ReviewGate"]
    assert (gate["status"], gate["reason"]) == ("False", "AwaitingReview")
    assert f"kubectl annotate experiment {run.name}" in gate["message"]
    assert f"{REVIEW_ANNOTATION}=approved" in gate["message"]
    assert run.events() == []

    document = summary(s3, run)
    assert document["phase"] == "Complete"
    assert with_data(document) == DECLARED
    assert document["analysis"]["hypothesisVerdict"] == "validated"
    snapshot = s3_document(s3, f"{run.name}/metrics-snapshot.json")
    assert snapshot["queries"].keys() == document["metrics"]["queries"].keys()

    # Cleanup deleted the claims, the applications and the workflow.
    assert run.claims() == []
    assert run.labelled(APPLICATIONS, "argocd") == []
    assert run.labelled(WORKFLOWS, "argo-workflows") == []

    run.annotate(REVIEW_ANNOTATION, "approved")
    approved = run.wait(
        lambda o: (
            status_of(o).get("reviewPhase") == "Approved"
            and FINALIZER not in (o["metadata"].get("finalizers") or [])
        ),
        what="approval and the finalizer released",
    )
    decided = {c["type"]: c for c in status_of(approved)["conditions"]}["ReviewGate"]
    number = status["publishPRNumber"]
    assert (decided["status"], decided["reason"]) == ("True", "Approved")
    assert decided["message"] == f"PR #{number} merged after human approval"
    assert pr_state(k8s, number) == "merged"
    assert run.events() == []

    run.delete()
    run.wait_gone()


def test_unpublished_run_skips_analysis_and_review_and_lets_go(
    k8s: client.ApiClient, s3: S3Client, prefix: str
) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=False, criteria=False))

    done = status_of(run.wait_settled())

    assert done["phase"] == "Complete"
    assert (done["analysisPhase"], done["reviewPhase"]) == ("Skipped", "Skipped")
    assert done["resourcesCleaned"] is True
    for absent in ("published", "publishPRNumber", "iterationStatus", "hypothesisResult"):
        assert absent not in done
    assert "machineVerdict" not in summary(s3, run)["hypothesis"]
    # Released right after cleanup: deleting is immediate.
    run.delete()
    run.wait_gone()


def test_objects_named_and_labelled_as_the_real_operator(
    k8s: client.ApiClient, prefix: str
) -> None:
    hub = {"name": "loadgen", "cluster": {"type": "hub"}, "components": [{"app": "k6"}]}
    run = Run.create(k8s, experiment_doc(prefix, extra_targets=[hub], mode="manual"))

    provisioning = status_of(run.wait_status("phase", "Provisioning"))
    targets = {t["name"]: t for t in provisioning["targets"]}
    assert targets["loadgen"]["clusterName"] == "hub"
    assert targets["app"]["clusterName"] == f"{run.name}-app"
    (claim,) = run.claims()
    assert claim["metadata"]["name"] == f"{run.name}-app"
    assert claim["metadata"]["labels"] == {
        **MANAGED_BY,
        "experiments.illm.io/cluster": f"{run.name}-app",
    }
    assert claim["spec"]["machineType"] == "e2-standard-4"

    run.wait_status("phase", "Running")
    apps = {
        a["metadata"]["name"]: a["metadata"]["labels"] for a in run.labelled(APPLICATIONS, "argocd")
    }
    assert set(apps) == {
        f"{run.name}-app-infra",
        f"{run.name}-app-obs",
        f"{run.name}-app",
        f"{run.name}-loadgen",
    }
    assert apps[f"{run.name}-app-obs"] == {
        **MANAGED_BY,
        "experiments.illm.io/experiment": run.name,
        "experiments.illm.io/target": "app",
        "experiments.illm.io/layer": "obs",
    }
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
    assert workflow["metadata"]["name"] == f"{run.name}-validation"
    assert workflow["spec"]["serviceAccountName"] == "argo-workflow"
    assert {"name": "duration", "value": "30m"} in workflow["spec"]["arguments"]["parameters"]
    assert run.labelled(WORKFLOWS, "argo-workflows", legacy=True) == []

    # Manual completion: the workflow succeeds, the experiment stays Running until deleted.
    finished = run.wait(
        lambda o: status_of(o).get("workflowStatus", {}).get("phase") == "Succeeded",
        what="the workflow to finish",
    )
    assert status_of(finished)["phase"] == "Running"
    assert status_of(run.assert_quiet("phase"))["phase"] == "Running"
    assert "resultsURL" not in status_of(run.get())

    run.delete()
    run.wait_gone()
    assert run.claims() == []
    assert run.labelled(APPLICATIONS, "argocd") == []
    assert run.labelled(WORKFLOWS, "argo-workflows") == []
    assert run.events() == []


def test_review_rejected_by_annotation(k8s: client.ApiClient, prefix: str) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=True))
    number = status_of(run.wait_status("reviewPhase", "Pending"))["publishPRNumber"]
    assert status_of(run.assert_quiet("reviewPhase"))["reviewPhase"] == "Pending"

    run.annotate(REVIEW_ANNOTATION, "rejected")

    run.wait_status("reviewPhase", "Rejected")
    decided = run.condition("ReviewGate")
    assert decided is not None
    assert (decided["status"], decided["reason"]) == ("False", "Rejected")
    assert decided["message"] == f"PR #{number} closed after human rejection"
    assert pr_state(k8s, number) == "closed"
    run.wait_settled()


def test_delete_while_review_pending_closes_the_pr(k8s: client.ApiClient, prefix: str) -> None:
    run = Run.create(k8s, experiment_doc(prefix, publish=True))
    number = status_of(run.wait_status("reviewPhase", "Pending"))["publishPRNumber"]

    run.delete()
    run.wait_gone()

    assert pr_state(k8s, number) == "closed"
    with pytest.raises(client.ApiException) as missing:
        client.BatchV1Api(k8s).read_namespaced_job(
            f"experiment-analyzer-{run.name}", OPERATOR_NAMESPACE
        )
    assert missing.value.status == 404


def test_missing_template_runs_an_inline_workflow_to_complete(
    k8s: client.ApiClient, s3: S3Client, prefix: str
) -> None:
    doc = experiment_doc(prefix)
    doc["spec"]["workflow"]["template"] = f"{prefix}missing"
    run = Run.create(k8s, doc)

    run.wait_status("phase", "Running")
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
    assert "workflowTemplateRef" not in workflow["spec"]
    names = [t["name"] for t in workflow["spec"]["templates"]]
    assert "echo" in names
    assert "wait" not in names

    done = status_of(run.wait_settled())
    assert done["phase"] == "Complete"
    assert done["workflowStatus"]["phase"] == "Succeeded"
    assert summary(s3, run)["workflow"]["template"] == f"{prefix}missing"


def test_missing_template_in_manual_mode_waits_at_a_suspend_step(
    k8s: client.ApiClient, s3: S3Client, prefix: str
) -> None:
    doc = experiment_doc(prefix, mode="manual")
    doc["spec"]["workflow"]["template"] = f"{prefix}missing"
    run = Run.create(k8s, doc)

    run.wait_status("phase", "Running")
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
    suspend = [t for t in workflow["spec"]["templates"] if "suspend" in t]
    assert [t["name"] for t in suspend] == ["wait"]
    run.wait(
        lambda o: status_of(o).get("workflowStatus", {}).get("phase") == "Succeeded",
        what="the inline workflow's steps to finish",
    )
    assert status_of(run.assert_quiet("phase"))["phase"] == "Running"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{run.name}/")
    assert listed.get("KeyCount", 0) == 0

    run.delete()
    run.wait_gone()
