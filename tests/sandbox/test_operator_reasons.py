"""Reasons as the real operator and its store give them, against the sandbox: a
summary.json cut short in transit, a review the operator cannot merge or close, a
failed Argo Workflow (its failed step, or the Workflow already deleted at cleanup).

Instances are driven by hand (the ``by_hand`` prefix, which the simulated operator
leaves alone) where the order of events is the point, each step taken once the
pytest run, watched line by line, has reached it; by the simulated operator where
it reproduces the behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.base.resources import WORKFLOWS
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.operator import REVIEW_ANNOTATION
from pytest_experiment.sandbox.operator.argo import failed_status, node_id

from .lifecycle import BUCKET, Run, SetScenario, experiment_doc, pr_state, status_of
from .runs import LiveProcess, exists, write
from .test_real_operator import by_hand, patch_status, put_summary, seconds, toil

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")
__all__ = ["by_hand"]  # the fixture, used by name


# -- a summary.json cut short in transit -------------------------------------------------


def test_a_summary_cut_short_in_transit_is_read_again_within_the_results_wait(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, s3: S3Client,
    by_hand: str,
) -> None:  # fmt: skip
    run = Run.create(k8s, experiment_doc(by_hand, publish=True))
    url = put_summary(s3, run.name)
    key = f"{run.name}/summary.json"
    whole = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    # What a store that sends no checksum can hand over: the first half of the object.
    s3.put_object(Bucket=BUCKET, Key=key, Body=whole[: len(whole) // 2])
    patch_status(k8s, run.name, {
        "phase": "Complete", "completedAt": seconds(), "resultsURL": url,
        "hypothesisResult": "validated", "published": False, "analysisPhase": "Skipped",
        "reviewPhase": "Skipped",
    })  # fmt: skip
    write(pytester, "cut", experiment_doc(by_hand, publish=True))
    live = LiveProcess(
        pytester, sandbox, f"--experiment-instance=cut={run.name}", "--experiment-results-wait=2m"
    )
    try:
        # The harness has read the truncated object and says it will read it again...
        said = live.wait_line(f"s3://{BUCKET}/{key} is not JSON: *")
        assert said.endswith("; reading it again (for up to 120s)"), said
        # ...and the next read gets the whole of it.
        s3.put_object(Bucket=BUCKET, Key=key, Body=whole)
        code, report, text = live.finish()
    finally:
        run.delete()
    [instance] = report["experiments"][0]["instances"]
    checks = {c["check"]: c["verdict"] for c in instance["checks"]}
    # Scored: the verdicts of the whole summary (its presentation warns), no error.
    assert checks == {
        "custom-metrics": "pass", "metrics-source": "pass", "machine-verdict": "pass",
        "workload-pods": "n-a", "presentation": "warn", "intent-coverage": "pass",
        "ai-verdict": "n-a", "reproducibility": "n-a",
    }, text  # fmt: skip
    assert instance["gate"] == "warn", text
    assert [t["title"] for t in toil(report) if t["title"].startswith("No results")] == []
    assert code == pytest.ExitCode.OK, text


# -- a review GitHub will not merge or close ---------------------------------------------

GITHUB = "https://api.github.com/repos/illm-lab/benchmarks/pulls/{n}"


def review_gate(obj: Obj) -> Obj:
    return next(
        (c for c in status_of(obj).get("conditions") or [] if c.get("type") == "ReviewGate"), {}
    )


def test_the_sandbox_operator_retries_a_merge_github_refused_at_its_review_poll(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    """Refused three times with the same error: the second and third refusals change
    nothing in the status, so only the operator's own timer brings the next attempt."""
    scenario(prefix, "review-merge-failed", recoverAfter=3)
    run = Run.create(k8s, experiment_doc(prefix, publish=True))
    number = status_of(run.wait_status("reviewPhase", "Pending"))["publishPRNumber"]
    run.annotate(REVIEW_ANNOTATION, "approved")

    refused = run.wait(lambda o: review_gate(o).get("reason") == "MergeFailed", what="MergeFailed")
    # GitHub said no: the review stays Pending, the condition carries GitHub's error.
    assert status_of(refused)["reviewPhase"] == "Pending"
    assert review_gate(refused)["status"] == "False"
    assert review_gate(refused)["message"] == (
        f"Failed to merge PR #{number}: PUT {GITHUB.format(n=number)}/merge: "
        "405 Pull Request is not mergeable []"
    )
    # Tried again at each review poll; the fourth attempt merges.
    approved = run.wait_status("reviewPhase", "Approved")
    assert review_gate(approved)["reason"] == "Approved"
    assert pr_state(k8s, number) == "merged"
    run.delete()
    run.wait_gone()


@pytest.mark.parametrize(
    ("action", "refusing", "reason", "verb", "error"),
    [
        ("approve", "review-merge-failed", "MergeFailed", "merge",
         "PUT " + GITHUB + "/merge: 405 Pull Request is not mergeable []"),
        ("reject", "review-close-failed", "CloseFailed", "close",
         "PATCH " + GITHUB + ": 403 Resource not accessible by integration []"),
    ],
)  # fmt: skip
def test_a_review_github_refuses_names_the_condition_while_it_waits_and_in_the_fail(
    pytester: pytest.Pytester, sandbox: Sandbox, prefix: str, scenario: SetScenario,
    action: str, refusing: str, reason: str, verb: str, error: str,
) -> None:  # fmt: skip
    scenario(f"{prefix}gh-", refusing)
    write(pytester, "refused", experiment_doc(f"{prefix}gh-", publish=True))
    live = LiveProcess(
        pytester, sandbox, f"--experiment-review={action}", "--experiment-budget-review=15s",
        "--experiment-cleanup=always",
    )  # fmt: skip
    said = live.wait_line("*: review Pending: ReviewGate *")
    code, report, text = live.finish()
    [instance] = report["experiments"][0]["instances"]
    name, number = instance["instance"], instance["review"]["figures"]["prNumber"]
    refusal = f"ReviewGate {reason}: Failed to {verb} PR #{number}: {error.format(n=number)}"
    # Said while the harness waits, before the item ends...
    assert said == f"{name}: review Pending: {refusal}; the operator retries it", text
    ended = live.lines.index(live.wait_line("experiments/refused/*::review FAILED*"))
    assert live.lines.index(said) < ended, text
    # ...and in the FAIL, where the budget ran out.
    decided = {"approve": "approved", "reject": "rejected"}[action]
    assert instance["review"]["summary"] == (
        f"[FAIL] Review: reviewPhase still Pending 15s after annotated {decided}: {refusal}"
    ), text
    assert instance["review"]["figures"]["reviewGate"] == refusal
    # GitHub's problem, not the operator's.
    records = [t for t in toil(report) if name in t["title"]]
    assert [(t["title"], t["labels"]) for t in records] == [
        (f"GitHub refused to {verb} the results PR of {name}: {refusal}",
         ["toil", "refused", "github"]),
    ], records  # fmt: skip
    assert code == pytest.ExitCode.TESTS_FAILED, text


# -- a failed Argo Workflow ----------------------------------------------------------------


def test_the_sandbox_operator_fails_a_workflow_as_argo_does_generic_message_failed_step_node(
    k8s: client.ApiClient, prefix: str, scenario: SetScenario
) -> None:
    scenario(prefix, "fail-running", step="run-k6", message="Error (exit code 3)")
    run = Run.create(k8s, experiment_doc(prefix))
    name = f"{run.name}-validation"
    (workflow,) = run.wait_labelled(
        WORKFLOWS, "argo-workflows",
        lambda found: any((w.get("status") or {}).get("phase") == "Failed" for w in found),
        what="the Workflow Failed",
    )  # fmt: skip
    argo = workflow["status"]
    pod = node_id(name, f"{name}[0].run-k6")
    # Argo's own message names a node, not a reason...
    assert argo["message"] == f"child '{pod}' failed"
    # ...the failed step's node has it.
    assert argo["nodes"][pod] == {
        **argo["nodes"][pod],
        "type": "Pod", "displayName": "run-k6", "templateName": "run-k6", "phase": "Failed",
        "message": "Error (exit code 3)",
    }  # fmt: skip
    assert argo["nodes"][name]["type"] == "Steps"
    assert {n["phase"] for n in argo["nodes"].values()} == {"Failed"}
    # And cleanup deletes it, a reconcile after the experiment turned Failed.
    run.wait_labelled(WORKFLOWS, "argo-workflows", lambda found: not found, what="deleted")
    assert status_of(run.wait_settled())["phase"] == "Failed"
    run.delete()
    run.wait_gone()


def _workflow(k8s: client.ApiClient, instance: str) -> str:
    name = f"{instance}-validation"
    client.CustomObjectsApi(k8s).create_namespaced_custom_object(
        WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural,
        {"apiVersion": WORKFLOWS.api_version, "kind": "Workflow",
         "metadata": {"name": name, "labels": {"experiments.illm.io/experiment": instance}},
         "spec": {"workflowTemplateRef": {"name": "validate"}},
         "status": {"phase": "Running", "startedAt": seconds()}},
    )  # fmt: skip
    return name


def _patch_workflow(k8s: client.ApiClient, name: str, state: Obj) -> None:
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object(
        WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural, name,
        {"status": state}, _content_type="application/merge-patch+json",
    )  # fmt: skip


def _delete_workflow(k8s: client.ApiClient, name: str) -> None:
    client.CustomObjectsApi(k8s).delete_namespaced_custom_object(
        WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural, name
    )


def test_a_failed_workflow_is_explained_by_its_failed_step_not_argos_child_failed(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, by_hand: str,
) -> None:  # fmt: skip
    write(pytester, "broken", experiment_doc(by_hand))
    live = LiveProcess(pytester, sandbox)
    instance = live.wait_line("Applied experiment: *").split()[2]
    workflow = _workflow(k8s, instance)
    try:
        patch_status(k8s, instance, {
            "phase": "Running", "workflowStatus": {"name": workflow, "phase": "Running"},
        })  # fmt: skip
        live.wait_line(f"{instance}: Running")
        # What Argo writes when the step run-k6 fails, then the operator's copy of its phase.
        _patch_workflow(k8s, workflow, failed_status(
            workflow, step="run-k6", message="Error (exit code 1)", started_at=seconds(),
            finished_at=seconds(),
        ))  # fmt: skip
        patch_status(k8s, instance, {
            "phase": "Failed", "workflowStatus": {"name": workflow, "phase": "Failed"},
        })  # fmt: skip
        code, report, text = live.finish()
    finally:
        _delete_workflow(k8s, workflow)
        Run(api=k8s, name=instance).delete()
    assert code == pytest.ExitCode.TESTS_FAILED, text
    reason = f"workflow {workflow} Failed at step run-k6: Error (exit code 1)"
    lifecycle = report["experiments"][0]["instances"][0]["lifecycle"]
    assert lifecycle["summary"] == f"[FAIL] Experiment {instance} failed in Running: {reason}"
    assert f"  {workflow}: Failed at step run-k6: Error (exit code 1)" in lifecycle["details"]
    assert "child '" not in text
    [record] = toil(report)
    assert record["title"] == f"Experiment failed: {instance} - {reason}"


def test_a_workflow_the_operator_already_deleted_at_cleanup_is_said_so_not_not_found(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, by_hand: str,
) -> None:  # fmt: skip
    write(pytester, "cleaned", experiment_doc(by_hand))
    live = LiveProcess(pytester, sandbox)
    instance = live.wait_line("Applied experiment: *").split()[2]
    workflow = _workflow(k8s, instance)
    patch_status(k8s, instance, {
        "phase": "Running", "workflowStatus": {"name": workflow, "phase": "Running"},
    })  # fmt: skip
    live.wait_line(f"{instance}: Running")
    # The harness sees the Failed run only after the operator's cleanup (its watch lagged
    # or it was paused): the Workflow, and the reason on it, are gone.
    _delete_workflow(k8s, workflow)
    try:
        patch_status(k8s, instance, {
            "phase": "Failed", "completedAt": seconds(), "resourcesCleaned": True,
            "workflowStatus": {"name": workflow, "phase": "Failed"},
        })  # fmt: skip
        code, report, text = live.finish()
    finally:
        Run(api=k8s, name=instance).delete()
    assert code == pytest.ExitCode.TESTS_FAILED, text
    gone = "Failed; its failed step cannot be read: the operator deleted it at cleanup"
    lifecycle = report["experiments"][0]["instances"][0]["lifecycle"]
    assert lifecycle["summary"] == (
        f"[FAIL] Experiment {instance} failed in Running: workflow {workflow} {gone}"
    )
    assert f"  {workflow}: {gone}" in lifecycle["details"]
    assert "not found" not in text.lower()


def test_a_failed_runs_reason_is_read_before_cleanup_though_its_item_runs_after_it(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, workflow_template: str,
    prefix: str, scenario: SetScenario,
) -> None:  # fmt: skip
    """Several experiments; the failed one's items come last (its file is collected
    last). The simulated operator deletes its Workflow at cleanup, at the real operator's
    timing, while the items of a manual-completion run still wait: its lifecycle item,
    run after that, names the failed step all the same, read when the watch first showed
    the run Failed."""
    scenario(f"{prefix}a-", "happy")
    scenario(f"{prefix}b-", "happy")
    scenario(f"{prefix}z-", "fail-running", step="run-k6", message="Error (exit code 3)")
    write(pytester, "a-manual", experiment_doc(f"{prefix}a-", mode="manual"))
    write(pytester, "b-passing", experiment_doc(f"{prefix}b-"))
    write(pytester, "z-failing", experiment_doc(f"{prefix}z-"))
    live = LiveProcess(pytester, sandbox)
    manual = Run(api=k8s, name=live.wait_line("Applied experiment: * (from *a-manual/)").split()[2])
    failing = Run(
        api=k8s, name=live.wait_line("Applied experiment: * (from *z-failing/)").split()[2]
    )
    try:
        # The operator's cleanup, a while after the phase Failed: the Workflow is gone...
        failing.wait(
            lambda o: status_of(o).get("resourcesCleaned") is True, what="cleanup", timeout=90
        )
        assert failing.labelled(WORKFLOWS, "argo-workflows") == []
        # ...and the manual run's lifecycle item still waits, so nothing after it has run.
        assert not any("z-failing" in line and "::" in line for line in live.lines), live.lines
        manual.delete()  # a person ends the manual-completion run; the items go on
        code, report, text = live.finish()
    finally:
        for run in (manual, failing):
            if exists(k8s, run.name):
                run.delete()
    assert code == pytest.ExitCode.TESTS_FAILED, text
    workflow = f"{failing.name}-validation"
    [lifecycle] = [
        i["lifecycle"] for e in report["experiments"] if e["name"] == "z-failing"
        for i in e["instances"]
    ]  # fmt: skip
    assert lifecycle["summary"] == (
        f"[FAIL] Experiment {failing.name} failed in Running: workflow {workflow} Failed at "
        "step run-k6: Error (exit code 3)"
    ), text
    assert f"  {workflow}: Failed at step run-k6: Error (exit code 3)" in lifecycle["details"]
