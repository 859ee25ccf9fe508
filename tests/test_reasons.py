"""Reasons read off what the operator and Argo write, over plain data: a failed
Workflow's failed step, and GitHub's refusal in the ReviewGate condition."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_experiment.core import argo
from pytest_experiment.core import review as rv
from pytest_experiment.sandbox.operator.argo import failed_status, node_id

Node = dict[str, Any]


def node(name: str, kind: str, phase: str, *, children: tuple[str, ...] = (), **more: Any) -> Node:
    return {"name": name, "displayName": name, "type": kind, "phase": phase,
            "children": list(children), **more}  # fmt: skip


def test_the_sandboxs_failed_workflow_is_read_as_its_failed_step() -> None:
    status = failed_status(
        "wf", step="run-k6", message="Error (exit code 1)", started_at="t0", finished_at="t1"
    )
    workflow = {"status": status}
    assert status["message"] == f"child '{node_id('wf', 'wf[0].run-k6')}' failed"
    assert argo.workflow_reason("wf", workflow) == (
        "workflow wf Failed at step run-k6: Error (exit code 1)"
    )


def test_the_named_child_is_followed_down_to_the_step_that_failed_it() -> None:
    # Argo names the nested Steps node; the reason is on the Pod under it, not on the
    # other failed Pod the message does not name.
    workflow = {"status": {"phase": "Failed", "message": "child 'inner' failed", "nodes": {
        "root": node("root", "Steps", "Failed", children=("inner", "other")),
        "inner": node("inner", "Steps", "Failed", message="child 'pod' failed",
                      children=("ok", "pod")),
        "ok": node("ok", "Pod", "Succeeded"),
        "pod": node("load", "Pod", "Failed", templateName="k6-run", message="OOMKilled"),
        "other": node("cleanup", "Pod", "Error", message="pod deleted", finishedAt="0"),
    }}}  # fmt: skip
    assert argo.describe(workflow) == "Failed at step load (template k6-run): OOMKilled"


def test_a_retried_step_is_explained_by_its_last_attempt() -> None:
    workflow = {"status": {"phase": "Failed", "message": "child 'retry' failed", "nodes": {
        "retry": node("step", "Retry", "Failed", message="No more retries left",
                      children=("a0", "a1")),
        "a0": node("step(0)", "Pod", "Failed", message="Error (exit code 2)"),
        "a1": node("step(1)", "Pod", "Failed", message="Error (exit code 3)"),
    }}}  # fmt: skip
    assert argo.describe(workflow) == "Failed at step step(1): Error (exit code 3)"


def test_without_a_named_node_the_first_failed_leaf_to_finish_is_the_step() -> None:
    workflow = {"status": {"phase": "Error", "message": "something else", "nodes": {
        "root": node("root", "DAG", "Error", children=("late", "early")),
        "late": node("late", "Pod", "Failed", message="second", finishedAt="2026-01-01T00:00:09Z"),
        "early": node("early", "Pod", "Error", message="first", finishedAt="2026-01-01T00:00:01Z"),
    }}}  # fmt: skip
    assert argo.describe(workflow) == "Error at step early: first"


def test_the_first_leaf_to_finish_is_chosen_by_time_and_one_without_a_time_is_last() -> None:
    workflow = {"status": {"phase": "Error", "message": "something else", "nodes": {
        "root": node("root", "DAG", "Error", children=("a-open", "b-late", "z-early")),
        "a-open": node("open", "Pod", "Failed", message="no time"),
        "b-late": node("late", "Pod", "Error", message="second", finishedAt="2026-01-01T09:00Z"),
        "z-early": node("early", "Pod", "Error", message="first", finishedAt="2026-01-01T01:00Z"),
    }}}  # fmt: skip
    assert argo.describe(workflow) == "Error at step early: first"


def test_under_a_node_that_is_not_a_retry_the_first_failed_child_is_followed() -> None:
    workflow = {"status": {"phase": "Failed", "message": "child 'root' failed", "nodes": {
        "root": node("root", "Steps", "Failed", children=("one", "two")),
        "one": node("one", "Pod", "Failed", message="first"),
        "two": node("two", "Pod", "Failed", message="second"),
    }}}  # fmt: skip
    assert argo.describe(workflow) == "Failed at step one: first"


@pytest.mark.parametrize(
    ("status", "described"),
    [
        ({"phase": "Failed", "message": "child 'gone' failed"}, "Failed: child 'gone' failed"),
        ({"phase": "Succeeded", "nodes": {"p": node("p", "Pod", "Failed", message="x")}},
         "Succeeded"),
        ({"message": "waiting"}, "<no phase>: waiting"),
        ({"phase": "Failed", "nodes": {"p": node("p", "Pod", "Failed")}},
         "Failed at step p: no message"),
    ],
)  # fmt: skip
def test_argos_own_message_is_given_only_when_no_failed_step_is_listed(
    status: dict[str, Any], described: str
) -> None:
    assert argo.describe({"status": status}) == described


def test_a_deleted_workflow_says_whether_the_status_records_the_cleanup() -> None:
    assert argo.deleted("Failed", cleaned=True) == (
        "Failed; its failed step cannot be read: the operator deleted it at cleanup"
    )
    assert argo.deleted("", cleaned=False) == (
        "<no phase>; its failed step cannot be read: it is already deleted "
        "(the operator deletes it at cleanup)"
    )


def _gate(reason: str, *, phase: str = "Pending", state: str = "False") -> dict[str, Any]:
    message = "Failed to merge PR #7:\n  405 Pull Request is not mergeable"
    condition = {"type": "ReviewGate", "status": state, "reason": reason, "message": message}
    # Another condition type with the same reason is not the review gate's.
    other = {"type": "AnalysisComplete", "status": "False", "reason": "MergeFailed"}
    return {"status": {"reviewPhase": phase, "conditions": [other, condition]}}


def test_githubs_refusal_is_read_from_the_review_gate_condition_of_a_pending_review() -> None:
    refusal = rv.github_refusal(_gate("MergeFailed"))
    assert refusal == rv.Refusal(
        reason="MergeFailed", message="Failed to merge PR #7: 405 Pull Request is not mergeable"
    )
    assert refusal.line() == (
        "ReviewGate MergeFailed: Failed to merge PR #7: 405 Pull Request is not mergeable"
    )
    assert rv.github_refusal(_gate("CloseFailed")).action == "close"  # type: ignore[union-attr]
    # Not a refusal: waiting for a person, a resolved review, a condition that is True.
    assert rv.github_refusal(_gate("AwaitingReview")) is None
    assert rv.github_refusal(_gate("MergeFailed", phase="Approved")) is None
    assert rv.github_refusal(_gate("MergeFailed", state="True")) is None


def test_githubs_refusal_is_githubs_toil_not_the_operators() -> None:
    refusal = rv.Refusal(reason="CloseFailed", message="Failed to close PR #7: 403")
    record = rv.github_toil("web", "web-x1", refusal)
    assert record.title == (
        "GitHub refused to close the results PR of web-x1: "
        "ReviewGate CloseFailed: Failed to close PR #7: 403"
    )
    assert (record.priority, record.labels) == (2, ("toil", "web", "github"))
