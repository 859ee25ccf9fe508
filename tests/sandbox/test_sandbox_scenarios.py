"""Each scenario (R123) produces the observable behaviour it promises."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.sandbox.kube import APPLICATIONS, GKE_CLUSTERS, WORKFLOWS, Obj, wait_until
from pytest_experiment.sandbox.scenarios import (
    DEFAULT_KEY,
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    clear_scenario,
    set_scenario,
)

from .lifecycle import (
    DECLARED,
    METRICS,
    NAMESPACE,
    Run,
    SetScenario,
    experiment_doc,
    queries,
    status_of,
    summary,
    with_data,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("workflow_template")


@pytest.mark.parametrize("phase", ["Pending", "Provisioning", "Ready", "Running"])
def test_fail_in_phase(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario, phase: str
) -> None:
    scenario(prefix, f"fail-{phase.lower()}")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    failed = status_of(run.wait_terminal())

    assert failed["phase"] == "Failed"
    assert phase in failed["phaseTimestamps"]
    assert failed["completedAt"] == failed["phaseTimestamps"]["Failed"]
    (condition,) = [c for c in failed["conditions"] if c["type"] == "Failed"]
    assert condition["status"] == "True"
    assert condition["reason"] == f"{phase}Failed"
    assert condition["message"]
    assert "resultsURL" not in failed
    assert "analysisPhase" not in failed
    if phase == "Provisioning":
        (claim,) = run.labelled(GKE_CLUSTERS, NAMESPACE)
        ready = {c["type"]: c for c in claim["status"]["conditions"]}["Ready"]
        assert ready["status"] == "False"
        assert ready["message"] == condition["message"]
    if phase == "Ready":
        apps = run.labelled(APPLICATIONS, "argocd")
        assert {a["status"]["health"]["status"] for a in apps} == {"Degraded"}
    if phase == "Running":
        (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
        assert workflow["status"]["phase"] == "Failed"
        assert failed["workflowStatus"]["phase"] == "Failed"


def test_fail_message_option(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "fail-provisioning", message="quota exhausted in us-central1")
    run = Run.create(k8s, experiment_doc(prefix))

    failed = status_of(run.wait_terminal())

    (condition,) = [c for c in failed["conditions"] if c["type"] == "Failed"]
    assert condition["message"] == "quota exhausted in us-central1"


@pytest.mark.parametrize("phase", ["Pending", "Provisioning", "Ready", "Running"])
def test_stuck_in_phase(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario, phase: str
) -> None:
    scenario(prefix, f"stuck-{phase.lower()}")
    run = Run.create(k8s, experiment_doc(prefix))

    run.wait_status("phase", phase)

    assert status_of(run.assert_quiet("phase"))["phase"] == phase
    run.delete()
    run.wait_gone()


def _complete_summary(
    k8s: client.ApiClient,
    s3: S3Client,
    prefix: str,
    scenario: SetScenario,
    name: str,
    **options: object,
) -> tuple[Run, Obj]:
    scenario(prefix, name, **options)
    run = Run.create(k8s, experiment_doc(prefix))
    assert status_of(run.wait_terminal())["phase"] == "Complete"
    return run, summary(s3, run)


def test_no_custom_metrics(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    run, document = _complete_summary(k8s, s3, prefix, scenario, "no-custom-metrics")

    found = queries(document)
    assert set(found) >= DECLARED
    assert all(found[name]["data"] == [] for name in DECLARED)
    assert found["cpu_by_pod"]["data"]
    assert document["hypothesis"]["machineVerdict"] == "insufficient"
    assert status_of(run.get())["hypothesisResult"] == "insufficient"


def test_cadvisor_only(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    _, document = _complete_summary(k8s, s3, prefix, scenario, "cadvisor-only")

    assert document["metrics"]["source"] == "target:cadvisor"
    assert set(queries(document)) == {"cpu_by_pod", "cpu_total", "memory_by_pod", "memory_total"}


def test_partial_metrics(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    _, document = _complete_summary(k8s, s3, prefix, scenario, "partial-metrics")

    collected = with_data(document) & DECLARED
    assert len(collected) == len(DECLARED) // 2
    assert set(queries(document)) >= DECLARED


@pytest.mark.parametrize(("group", "expected_empty"), [(None, "hdb"), ("fsync", "fsync")])
def test_intent_gap(
    k8s: client.ApiClient,
    s3: S3Client,
    prefix: str,
    scenario: SetScenario,
    group: str | None,
    expected_empty: str,
) -> None:
    options = {"group": group} if group else {}
    _, document = _complete_summary(k8s, s3, prefix, scenario, "intent-gap", **options)

    empty = DECLARED - with_data(document)
    assert empty == {m["name"] for m in METRICS if m["group"] == expected_empty}


def test_insufficient_verdict(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    run, document = _complete_summary(k8s, s3, prefix, scenario, "insufficient-verdict")

    hypothesis = document["hypothesis"]
    assert hypothesis["machineVerdict"] == "insufficient"
    assert all(c["passed"] is None for c in hypothesis["successCriteria"])
    assert with_data(document) >= DECLARED
    assert status_of(run.get())["hypothesisResult"] == "insufficient"


def test_unitless_latency(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    _, document = _complete_summary(k8s, s3, prefix, scenario, "unitless-latency")

    found = queries(document)
    for name in ("fsync_write_p99", "hdb_write_p99", "hdb_write_latency"):
        assert "unit" not in found[name]
    assert found["fsync_write_throughput"]["unit"] == "ops/s"
    assert with_data(document) >= DECLARED


def test_happy_values_render_and_range_queries_have_series(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    _, document = _complete_summary(k8s, s3, prefix, scenario, "happy")

    found = queries(document)
    assert len(found["hdb_write_latency"]["data"]) > 1
    for name in DECLARED:
        assert all(f"{point['value']:.2f}" != "0.00" for point in found[name]["data"])


def test_analyzer_fail(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "analyzer-fail")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("analysisPhase", "Failed")
    done = status_of(run.wait_status("reviewPhase", "Pending"))

    assert "Running" in done["analysisPhaseTimestamps"]
    job = client.BatchV1Api(k8s).read_namespaced_job(done["analysisJobName"], OPERATOR_NAMESPACE)
    assert job.status.failed == 1


def test_analyzer_timeout(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "analyzer-timeout")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("analysisPhase", "Running")

    quiet = status_of(run.assert_quiet("analysisPhase"))
    assert quiet["analysisPhase"] == "Running"
    assert "reviewPhase" not in quiet


def test_analyzer_skip(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "analyzer-skip")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    done = status_of(run.wait_status("reviewPhase", "Pending"))

    assert done["analysisPhase"] == "Skipped"
    assert "analysisJobName" not in done
    assert "analysis" not in summary(s3, run)


def test_analyzer_flags_missing_data(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "no-custom-metrics")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("analysisPhase", "Succeeded")

    analysis = summary(s3, run)["analysis"]
    assert analysis["hypothesisVerdict"] == "insufficient"
    assert analysis["abstract"].startswith("This experiment is insufficient")


def test_no_pr(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "no-pr")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    done = status_of(run.wait_status("reviewPhase", "Pending"))

    assert done["published"] is True
    for absent in ("publishBranch", "publishPRNumber", "publishPRURL"):
        assert absent not in done


def test_review_rejected_by_reviewer(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "review-rejected")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("reviewPhase", "Pending")
    rejected = status_of(run.wait_status("reviewPhase", "Rejected"))

    assert set(rejected["reviewPhaseTimestamps"]) == {"Pending", "Rejected"}
    assert any(e.reason == "PRClosed" for e in run.events())


def _ready_replicas(k8s: client.ApiClient) -> int:
    deployment = client.AppsV1Api(k8s).read_namespaced_deployment(
        OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
    )
    return int(deployment.status.ready_replicas or 0)


def test_operator_down(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "operator-down")
    # Visible as soon as set_scenario returns: a pre-flight check right after must see it.
    assert _ready_replicas(k8s) == 0
    run = Run.create(k8s, experiment_doc(prefix))

    quiet = run.assert_quiet("phase")

    assert "status" not in quiet
    assert "finalizers" not in quiet["metadata"]
    run.delete()
    run.wait_gone()


def test_operator_back_after_operator_down(k8s: client.ApiClient, prefix: str) -> None:
    set_scenario(k8s, prefix, "operator-down")
    clear_scenario(k8s, prefix)

    wait_until(
        lambda **kw: client.AppsV1Api(k8s).list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
        lambda objects: any(
            (o.get("status") or {}).get("readyReplicas") == 1 for o in objects.values()
        ),
        timeout=30,
        what="the operator to report ready again",
        field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
    )


def test_scenario_keys_by_precedence(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(DEFAULT_KEY, "stuck-pending")
    scenario(prefix, "fail-pending")
    by_prefix = Run.create(k8s, experiment_doc(prefix))
    by_default = Run.create(k8s, experiment_doc(f"other-{prefix}"))

    assert status_of(by_prefix.wait_terminal())["phase"] == "Failed"
    by_default.wait_status("phase", "Pending")
    assert status_of(by_default.assert_quiet("phase"))["phase"] == "Pending"
    by_default.delete()
    by_default.wait_gone()
