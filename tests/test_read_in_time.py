"""What the live run reads in time on the in-memory cluster: a failed run's reason before
the operator's cleanup deletes it, whichever item runs then; the instance itself before
a review budget is declared spent."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes.cluster import FakeCluster, Script
from test_live_fake import NAMESPACE, QUICK, Make, session

from pytest_experiment.base.types import Obj
from pytest_experiment.core.review import REVIEW_ANNOTATION
from pytest_experiment.core.verdict import Status
from pytest_experiment.run import review_gate
from pytest_experiment.run.published import Published
from pytest_experiment.sandbox.operator.argo import failed_status

__all__ = ["session"]  # the fixture, used by name

STEP, MESSAGE = "run-k6", "Error (exit code 3)"
READ_WITHIN = 10.0


def _status(key: str, value: str) -> Callable[[Obj], bool]:
    return lambda obj: (obj.get("status") or {}).get(key) == value


def _failing(name: str) -> dict[str, object]:
    """What the real operator writes with the phase Failed: no condition, only the
    workflow's name and phase."""
    return {"workflowStatus": {"name": f"{name}-validation", "phase": "Failed"}}


def _failed_workflow(name: str) -> Obj:
    times = {"started_at": "2026-02-23T10:00:00Z", "finished_at": "2026-02-23T10:20:00Z"}
    return {
        "metadata": {"name": name, "namespace": "argo-workflows"},
        "status": failed_status(name, step=STEP, message=MESSAGE, **times),
    }


def test_a_failed_runs_reason_is_read_when_the_watch_first_shows_it_not_when_its_item_runs(
    session: Make,
) -> None:
    """The failed run's lifecycle item comes after the operator's cleanup deleted its
    Workflow (other items ran meanwhile): its headline still names the failed step, read
    once, in the background, when the watch first showed the run Failed."""
    cluster = FakeCluster(
        script=Script(phases=("Provisioning", "Ready", "Running", "Failed"), hold="Running",
                      final=_failing)
    )  # fmt: skip
    run = session(cluster)
    launch = run.live.add(run.experiment("failing"))
    run.live.start([launch])
    workflow = f"{launch.instance}-validation"
    cluster.workflows[workflow] = _failed_workflow(workflow)
    cluster.release(launch.instance)

    # No item follows the run; the operator's cleanup comes once the harness has read the
    # Workflow (or, without a read, after a while).
    with cluster.changed:
        cluster.changed.wait_for(lambda: workflow in cluster.workflow_reads, timeout=READ_WITHIN)
    capture = launch.failure.captures.get(launch.instance)
    if capture is not None:
        capture.done.wait(READ_WITHIN)
    reads = len(cluster.workflow_reads)
    del cluster.workflows[workflow]
    cluster.set_status(launch.instance, resourcesCleaned=True)

    verdict = run.live.follow(launch)

    assert verdict.status is Status.FAIL
    assert verdict.summary == (
        f"Experiment {launch.instance} failed in Running: workflow {workflow} Failed at step "
        f"{STEP}: {MESSAGE}"
    ), verdict.summary
    assert f"  {workflow}: Failed at step {STEP}: {MESSAGE}" in verdict.details, verdict.details
    # Read then, by the session's own (counted) requests, and not again by the item.
    assert set(cluster.workflow_reads) == {workflow}
    assert len(cluster.workflow_reads) == reads
    assert run.live.api_requests()["get"] >= reads


def test_a_run_that_failed_after_complete_is_not_read_as_a_failure(session: Make) -> None:
    """Complete, then Failed (a quality gate or analyzer turn): the quality items report
    the turn, and nothing is read in the background for it."""
    cluster = FakeCluster(script=Script(phases=("Running", "Complete", "Failed"), final=_failing))
    run = session(cluster)
    launch = run.live.add(run.experiment("turned"))
    run.live.start([launch])
    watcher = run.live.watcher(NAMESPACE)
    watcher.wait_for(launch.instance, _status("phase", "Failed"), timeout=5)

    assert run.live.follow(launch).status is Status.PASS
    assert cluster.workflow_reads == []
    assert launch.failure.captures == {}


PUBLISHED = {
    "resultsURL": "s3://results/x/",
    "analysisPhase": "Succeeded",
    "published": True,
    "publishPRNumber": 7,
    "publishPRURL": "https://github.com/illm-lab/benchmarks/pull/7",
    "reviewPhase": "Pending",
}


@pytest.mark.parametrize("paused_before", ["reviewPhase Pending", "the approval"])
def test_a_paused_harness_reads_the_instance_before_a_review_budget_is_spent(
    session: Make, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paused_before: str
) -> None:
    """The operator opens the review (or records the approval) while the harness is paused,
    its watch stream holding the events unread, and the harness wakes past
    --experiment-budget-review: one read of the instance comes before the budget is
    declared spent, for the wait for reviewPhase and for the wait for the decision."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no gh: the verdict comes from the status
    opened = paused_before == "the approval"
    final = PUBLISHED if opened else {k: v for k, v in PUBLISHED.items() if k != "reviewPhase"}
    cluster = FakeCluster(script=Script(final=lambda _: final))
    options = dataclasses.replace(QUICK, review="approve", budget_review=0.5)
    run = session(cluster, options)
    launch = run.live.add(run.experiment("reviewed"))
    run.live.start([launch])
    assert run.live.follow(launch).status is Status.PASS
    watcher = run.live.watcher(NAMESPACE)
    watcher.wait_for(launch.instance, _status("analysisPhase", "Succeeded"), timeout=5)
    if opened:
        watcher.wait_for(launch.instance, _status("reviewPhase", "Pending"), timeout=5)
    else:
        cluster.pause_watches()
        cluster.set_status(launch.instance, reviewPhase="Pending")

    def operator() -> None:
        # It merges the PR as soon as it sees the annotation, while the harness is paused.
        with cluster.changed:
            cluster.changed.wait_for(
                # The review annotation, not the owner lease that is there from the start.
                lambda: REVIEW_ANNOTATION in (
                    cluster.objects[(NAMESPACE, launch.instance)]["metadata"].get("annotations")
                    or {}),
                timeout=5,
            )  # fmt: skip
        cluster.pause_watches()
        cluster.set_status(launch.instance, reviewPhase="Approved")

    merging = threading.Thread(target=operator, daemon=True)
    merging.start()
    outcome = Published(instance=launch.instance, analyzer="Succeeded")
    verdict = review_gate.review(run.live, launch, outcome)
    merging.join(timeout=5)
    cluster.resume_watches()

    assert verdict.status is Status.PASS, verdict.summary
    assert verdict.summary == "Review: approved; PR #7 merged"
    assert not (run.root / "toil.jsonl").exists()
