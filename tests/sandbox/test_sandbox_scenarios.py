"""Each scenario produces the behaviour it promises, as the real operator shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.base.resources import (
    APPLICATIONS,
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    WORKFLOWS,
)
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.kube import wait_until
from pytest_experiment.sandbox.operator import FINALIZER
from pytest_experiment.sandbox.scenarios import DEFAULT_KEY, clear_scenario, set_scenario

from .lifecycle import (
    DECLARED,
    METRICS,
    Run,
    SetScenario,
    experiment_doc,
    pr_state,
    queries,
    status_of,
    summary,
    with_data,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("workflow_template")


def _ready_condition(claim: Obj) -> Obj:
    return dict({c["type"]: c for c in claim["status"]["conditions"]}["Ready"])


@pytest.mark.parametrize(
    ("scenario_name", "stays"),
    [("fail-pending", "Provisioning"), ("fail-provisioning", "Provisioning")],
)
def test_cluster_failure_leaves_the_experiment_stuck_with_the_target_failed(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario, scenario_name: str, stays: str
) -> None:
    scenario(prefix, scenario_name)
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    stuck = run.wait(
        lambda o: any(t.get("phase") == "Failed" for t in status_of(o).get("targets") or []),
        what="a Failed target",
    )

    assert status_of(stuck)["phase"] == stays
    (claim,) = run.claims()
    ready = _ready_condition(claim)
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileError")
    assert "googleapi: Error" in ready["message"]
    quiet = status_of(run.assert_quiet("phase"))
    assert quiet["phase"] == stays
    assert "conditions" not in quiet
    assert "completedAt" not in quiet
    assert run.phases() == ["Provisioning"]
    run.delete()
    run.wait_gone()
    assert run.claims() == []


def test_unhealthy_applications_leave_the_experiment_in_ready(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "fail-ready")
    run = Run.create(k8s, experiment_doc(prefix))

    stuck = run.wait(
        lambda o: any(t.get("phase") == "Failed" for t in status_of(o).get("targets") or []),
        what="a Failed target",
    )

    assert status_of(stuck)["phase"] == "Ready"
    apps = run.labelled(APPLICATIONS, "argocd")
    assert {a["status"]["health"]["status"] for a in apps} == {"Degraded"}
    assert status_of(run.assert_quiet("phase"))["phase"] == "Ready"
    run.delete()
    run.wait_gone()


def test_workflow_failure_fails_the_run_with_a_summary(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "fail-running", message="step k6-run failed: exit code 99")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("phase", "Running")
    (workflow,) = run.labelled(WORKFLOWS, "argo-workflows")
    failed = status_of(run.wait_settled())

    assert failed["phase"] == "Failed"
    assert failed["workflowStatus"]["phase"] == "Failed"
    # No condition says why: the reason is on the Workflow object.
    assert "conditions" not in failed
    assert (failed["analysisPhase"], failed["reviewPhase"]) == ("Skipped", "Skipped")
    assert "published" not in failed
    assert "hypothesisResult" not in failed
    document = summary(s3, run)
    assert document["phase"] == "Failed"
    assert document["workflow"]["phase"] == "Failed"
    # The workflow was deleted at cleanup; while it ran, it was there to read.
    assert workflow["metadata"]["name"] == f"{run.name}-validation"
    assert run.labelled(WORKFLOWS, "argo-workflows") == []


def test_fail_message_option(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "fail-provisioning", message="quota exhausted in us-central1")
    run = Run.create(k8s, experiment_doc(prefix))

    run.wait(
        lambda o: any(t.get("phase") == "Failed" for t in status_of(o).get("targets") or []),
        what="a Failed target",
    )

    (claim,) = run.claims()
    assert _ready_condition(claim)["message"] == "quota exhausted in us-central1"
    run.delete()
    run.wait_gone()


def test_stuck_pending_never_gets_a_phase(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "stuck-pending")
    run = Run.create(k8s, experiment_doc(prefix))

    run.wait(lambda o: FINALIZER in (o["metadata"].get("finalizers") or []), what="a finalizer")

    assert "phase" not in status_of(run.assert_quiet("phase"))
    run.delete()
    run.wait_gone()


@pytest.mark.parametrize("phase", ["Provisioning", "Ready", "Running"])
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
    assert status_of(run.wait_status("resourcesCleaned", True))["phase"] == "Complete"
    return run, summary(s3, run)


def test_no_custom_metrics(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    run, document = _complete_summary(k8s, s3, prefix, scenario, "no-custom-metrics")

    # Nothing was collected: no metrics section at all.
    assert "metrics" not in document
    assert document["hypothesis"]["machineVerdict"] == "insufficient"
    assert status_of(run.get())["hypothesisResult"] == "insufficient"


def test_cadvisor_only(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    _, document = _complete_summary(k8s, s3, prefix, scenario, "cadvisor-only")

    assert document["metrics"]["source"] == "target:cadvisor"
    pods = {"cpu_by_pod", "cpu_total", "memory_by_pod", "memory_total"}
    assert set(queries(document)) == pods | DECLARED
    assert with_data(document) == pods


def test_partial_metrics(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    _, document = _complete_summary(k8s, s3, prefix, scenario, "partial-metrics")

    collected = with_data(document)
    assert len(collected) == len(DECLARED) // 2
    assert set(queries(document)) == DECLARED
    missing = [queries(document)[name] for name in DECLARED - collected]
    assert all("data" not in query for query in missing)
    assert len([query for query in missing if "error" in query]) == 1


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
    assert all("passed" not in c for c in hypothesis["successCriteria"])
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
    criteria = document["hypothesis"]["successCriteria"]
    assert all(isinstance(c["actualValue"], str) and c["passed"] is True for c in criteria)
    for name in DECLARED:
        assert all(f"{point['value']:.2f}" != "0.00" for point in found[name]["data"])


@pytest.mark.parametrize(
    ("name", "reason", "message"),
    [
        ("analyzer-fail", "Failed", "Analyzer Job failed: "),
        ("analyzer-job-gone", "JobNotFound", "Analyzer Job experiment-analyzer-"),
    ],
)
def test_analyzer_failure_turns_complete_into_failed(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario, name: str, reason: str, message: str
) -> None:
    scenario(prefix, name)
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("analysisPhase", "Running")
    done = status_of(run.wait_settled())

    assert done["phase"] == "Failed"
    assert done["analysisPhase"] == "Failed"
    assert done["reviewPhase"] == "Skipped"
    assert run.phases()[-2:] == ["Complete", "Failed"]
    # As the real operator writes it: the condition first, the phase Failed a write later.
    first = next(status_of(o) for o in run.seen if status_of(o).get("analysisPhase") == "Failed")
    assert first["phase"] == "Complete"
    assert [c["reason"] for c in first["conditions"] if c["type"] == "AnalysisComplete"] == [reason]
    condition = run.condition("AnalysisComplete")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert condition["message"].startswith(message)
    jobs = client.BatchV1Api(k8s)
    if name == "analyzer-fail":
        job = jobs.read_namespaced_job(done["analysisJobName"], OPERATOR_NAMESPACE)
        assert job.status.failed == 1
    else:
        with pytest.raises(client.ApiException):
            jobs.read_namespaced_job(done["analysisJobName"], OPERATOR_NAMESPACE)


def test_analyzer_quick_jumps_from_pending_to_succeeded(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "analyzer-quick")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("reviewPhase", "Pending")

    phases = [status_of(o).get("analysisPhase") for o in run.seen]
    assert "Pending" in phases
    assert "Running" not in phases
    assert "analysis" in summary(s3, run)


def test_analyzer_timeout(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> None:
    scenario(prefix, "analyzer-timeout")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("analysisPhase", "Running")

    quiet = status_of(run.assert_quiet("analysisPhase"))
    assert quiet["analysisPhase"] == "Running"
    assert "reviewPhase" not in quiet
    run.delete()
    run.wait_gone()


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

    done = status_of(run.wait_settled())

    # PR creation failed: published stays false, and there is nothing to review.
    assert done["published"] is False
    assert (done["analysisPhase"], done["reviewPhase"]) == ("Skipped", "Skipped")
    for absent in ("publishBranch", "publishPRNumber", "publishPRURL"):
        assert absent not in done


def test_review_rejected_by_reviewer(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "review-rejected")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    run.wait_status("reviewPhase", "Pending")
    rejected = status_of(run.wait_status("reviewPhase", "Rejected"))

    number = rejected["publishPRNumber"]
    condition = run.condition("ReviewGate")
    assert condition is not None
    assert condition["message"] == f"PR #{number} closed after human rejection"
    assert pr_state(k8s, number) == "closed"


def test_quality_gate_recollects_until_the_data_arrives(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "quality-gate-recollect")
    run = Run.create(k8s, experiment_doc(prefix, publish=True))

    done = status_of(run.wait_status("reviewPhase", "Pending"))

    urls = [status_of(o).get("resultsURL") for o in run.seen]
    written = [i for i, url in enumerate(urls) if url]
    cleared = [i for i, url in enumerate(urls) if not url and i > written[0]]
    assert cleared, "resultsURL was never cleared while re-collecting"
    assert written[-1] > cleared[0], "resultsURL was not written again"
    recollecting = [
        status_of(o)["iterationStatus"]
        for o in run.seen
        if (status_of(o).get("iterationStatus") or {}).get("phase") == "Recollecting"
    ]
    assert recollecting[0]["currentIteration"] == 1
    gate = done["iterationStatus"]
    assert (gate["phase"], gate["currentIteration"]) == ("Passed", 1)
    assert [r["passed"] for r in gate["qualityResults"]] == [False, True]
    assert gate["qualityResults"][0]["missingMetrics"]
    assert done["phase"] == "Complete"
    assert done["published"] is True
    assert with_data(summary(s3, run)) == DECLARED


def test_quality_gate_exhausted_fails_the_run_unpublished(
    k8s: client.ApiClient, s3: S3Client, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "quality-gate-exhausted")
    doc = experiment_doc(prefix, publish=True)
    doc["spec"]["qualityGate"] = {"maxIterations": 2, "recollectDelaySeconds": 60}
    run = Run.create(k8s, doc)

    done = status_of(run.wait_settled())

    assert run.phases()[-2:] == ["Complete", "Failed"]
    assert done["phase"] == "Failed"
    gate = done["iterationStatus"]
    assert (gate["phase"], gate["currentIteration"], gate["maxIterations"]) == ("Exhausted", 2, 2)
    assert len(gate["qualityResults"]) == 3
    condition = run.condition("QualityGate")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "Exhausted")
    assert (done["analysisPhase"], done["reviewPhase"]) == ("Skipped", "Skipped")
    for absent in ("published", "publishPRNumber", "analysisJobName"):
        assert absent not in done
    assert summary(s3, run)["phase"] == "Failed"


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
    try:
        run = Run.create(k8s, experiment_doc(prefix))
        # The fault acting before it is cleared: what the harness reads (no ready replica),
        # and an instance left without a status while a later one went through its
        # whole lifecycle, with the readiness still held down after it.
        assert _ready_replicas(k8s) == 0
        assert "status" not in run.assert_quiet("phase")
        assert _ready_replicas(k8s) == 0
    finally:
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
    run.delete()
    run.wait_gone()


def test_scenario_keys_by_precedence(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(DEFAULT_KEY, "stuck-provisioning")
    scenario(prefix, "stuck-ready")
    by_prefix = Run.create(k8s, experiment_doc(prefix))
    by_default = Run.create(k8s, experiment_doc(f"other-{prefix}"))

    by_prefix.wait_status("phase", "Ready")
    by_default.wait_status("phase", "Provisioning")
    assert status_of(by_default.assert_quiet("phase"))["phase"] == "Provisioning"
    assert status_of(by_prefix.get())["phase"] == "Ready"
    for run in (by_prefix, by_default):
        run.delete()
        run.wait_gone()


def test_assert_quiet_fails_for_a_run_that_moves(k8s: client.ApiClient, prefix: str) -> None:
    # The harness itself: a happy run created just before its witness leaves Pending first.
    run = Run.create(k8s, experiment_doc(prefix))
    with pytest.raises(AssertionError, match="phase moved from "):
        run.assert_quiet("phase")
    run.delete()
    run.wait_gone()
