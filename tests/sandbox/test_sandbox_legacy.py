"""The legacy flavour keeps the seeds' conventions; some behaviour is compared across flavours."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.base.resources import (
    APPLICATIONS,
    GKE_CLUSTERS,
    OPERATOR_NAMESPACE,
    WORKFLOWS,
)
from pytest_experiment.sandbox.operator import REVIEW_ANNOTATION
from pytest_experiment.sandbox.scenarios import OPERATOR_FLAVOURS, flavour_options

from .lifecycle import NAMESPACE, Run, SetScenario, experiment_doc, status_of, summary

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("workflow_template")


def test_legacy_operator_keeps_the_seeds_conventions(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "legacy-operator")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    running = status_of(run.wait_status("phase", "Running"))
    claims = run.labelled(GKE_CLUSTERS, NAMESPACE, legacy=True)
    assert [c["metadata"]["name"] for c in claims] == [running["targets"][0]["clusterName"]]
    assert re.fullmatch(rf"illm-{run.name}-app-[0-9a-f]{{5}}", claims[0]["metadata"]["name"])
    assert run.labelled(APPLICATIONS, "argocd", legacy=True)
    assert run.labelled(APPLICATIONS, "argocd") == []
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows", legacy=True)
    assert workflow["metadata"]["name"] == f"{run.name}-validation"

    done = status_of(run.wait_status("reviewPhase", "Pending"))

    # A written Pending first, then the seeds' phase order.
    assert run.phases() == ["Pending", "Provisioning", "Ready", "Running", "Complete"]
    conditions = {c["type"]: c for c in done["conditions"]}
    assert conditions["Complete"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"
    # Both the bundled and the real CRD prune the legacy timestamp fields.
    for pruned in ("phaseTimestamps", "analysisPhaseTimestamps", "observedGeneration"):
        assert pruned not in done
    assert done["analysisJobName"] == f"{run.name}-analyzer"
    job = client.BatchV1Api(k8s).read_namespaced_job(f"{run.name}-analyzer", OPERATOR_NAMESPACE)
    assert job.metadata.labels["experiment"] == run.name
    assert done["publishBranch"] == f"results/{run.name}"
    assert done["hypothesisResult"] == "confirmed"
    assert done["resultsURL"] == f"s3://experiment-results/{run.name}/"
    document = summary(s3, run)
    assert document["hypothesis"]["machineVerdict"] == "confirmed"
    assert document["analysis"]["hypothesisVerdict"] == "confirmed"
    assert "cpu_by_pod" in document["metrics"]["queries"]
    reasons = {e.reason for e in run.events()}
    assert {"Pending", "Provisioning", "Ready", "Running", "Complete"} <= reasons
    # The workflow stays as a record until the experiment is deleted.
    assert run.labelled(WORKFLOWS, "argo-workflows", legacy=True)

    run.annotate(REVIEW_ANNOTATION, "approved")
    run.wait_status("reviewPhase", "Approved")
    assert any(e.reason == "PRMerged" for e in run.events())
    run.delete()
    run.wait_gone()
    assert run.labelled(WORKFLOWS, "argo-workflows", legacy=True) == []


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_cluster_failure_by_flavour(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario, flavour: str
) -> None:
    scenario(prefix, "fail-provisioning", **flavour_options(flavour))
    run = Run.create(k8s, experiment_doc(prefix))

    seen = run.wait(
        lambda o: any(t.get("phase") == "Failed" for t in status_of(o).get("targets") or []),
        what="a Failed target",
    )

    if flavour == "legacy":
        # The older operator fails the experiment itself.
        failed = status_of(run.wait_terminal())
        assert failed["phase"] == "Failed"
        (condition,) = [c for c in failed["conditions"] if c["type"] == "Failed"]
        assert condition["reason"] == "ProvisioningFailed"
    else:
        assert status_of(seen)["phase"] == "Provisioning"
        assert status_of(run.assert_quiet("phase"))["phase"] == "Provisioning"
    run.delete()
    run.wait_gone()


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_workflow_failure_fails_under_both_flavours(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario, flavour: str
) -> None:
    scenario(prefix, "fail-running", **flavour_options(flavour, message="exit code 3"))
    run = Run.create(k8s, experiment_doc(prefix))

    failed = status_of(run.wait_terminal())

    assert failed["phase"] == "Failed"
    assert failed["workflowStatus"]["phase"] == "Failed"
    conditions = [c["type"] for c in failed.get("conditions") or []]
    assert ("Failed" in conditions) == (flavour == "legacy")
    run.delete()
    run.wait_gone()
