"""Lifecycle decisions over plain data (apply, follow, toil): no cluster, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_experiment.base.errors import ResultsError
from pytest_experiment.core import lifecycle
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.edges.results import summary_location


def obj(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-lat-abc12"}, "status": status}


def test_an_untouched_object_is_pending() -> None:
    assert lifecycle.phase_of({"metadata": {"name": "x"}}) == "Pending"
    assert lifecycle.phase_of(None) == "Pending"
    assert lifecycle.is_terminal(obj(phase="Failed"))
    assert not lifecycle.is_terminal(obj(phase="Running"))


@pytest.mark.parametrize(
    ("timeline", "current", "expected"),
    [
        (["Pending", "Provisioning", "Ready"], {}, "Ready"),
        # First seen already Failed: placed by what the status still shows.
        ([], {"workflowStatus": {"name": "wf", "phase": "Failed"}}, "Running"),
        ([], {"targets": [{"name": "app", "phase": "Failed"}]}, "Provisioning"),
        (["Pending"], {"targets": [{"name": "app", "phase": "Ready"}]}, "Ready"),
        ([], {}, "Pending"),
        (["Pending"], {}, "Pending"),
        # A pruned phaseTimestamps is never read.
        ([], {"phaseTimestamps": {"Running": "2026-02-18T17:31:49Z"}}, "Pending"),
    ],
)
def test_failed_in_uses_what_the_watch_saw_never_phase_timestamps(
    timeline: list[str], current: dict[str, Any], expected: str
) -> None:
    assert lifecycle.failed_in(timeline, obj(phase="Failed", **current)) == expected


def test_first_condition_message_prefers_the_failed_condition() -> None:
    conditions = [
        {"type": "Progressing", "status": "False", "message": "Failed"},
        {"type": "Failed", "status": "True", "message": 'quota\n "CPUS" exceeded'},
    ]
    assert lifecycle.first_condition_message(obj(conditions=conditions)) == 'quota "CPUS" exceeded'
    assert lifecycle.first_condition_message(obj()) == "no condition message"


def test_progress_line_shows_elapsed_against_budget() -> None:
    line = lifecycle.progress_line(
        name="web-latency", instance="web-lat-abc12", phase="Provisioning", elapsed=42,
        budget=1200,
    )  # fmt: skip
    assert line == "web-latency (web-lat-abc12): Provisioning 42s / 20m"
    unlimited = lifecycle.progress_line(
        name="w", instance="i", phase="Running", elapsed=5, budget=None
    )
    assert unlimited == "w (i): Running 5s"


def test_entering_provisioning_names_each_target_and_cluster() -> None:
    current = obj(targets=[{"name": "app", "phase": "Provisioning", "clusterName": "illm-x"}])
    lines = lifecycle.entering_lines("Provisioning", current, namespace="experiments")
    assert lines == ["target app: Provisioning (cluster: illm-x)"]


def test_entering_ready_lists_applications_or_says_why_not() -> None:
    apps = [
        {
            "metadata": {"name": "web-app"},
            "status": {"health": {"status": "Healthy"}, "sync": {"status": "Synced"}},
        }
    ]
    lines = lifecycle.entering_lines("Ready", obj(), namespace="experiments", applications=apps)
    assert lines == ["application web-app: health Healthy, sync Synced"]
    failed = lifecycle.entering_lines(
        "Ready", obj(), namespace="experiments", applications_error="forbidden"
    )
    assert failed == ["ArgoCD applications: unavailable: forbidden"]


def test_entering_running_in_manual_mode_gives_the_command_that_ends_it() -> None:
    current = obj(workflowStatus={"name": "wf-1", "phase": "Running"})
    lines = lifecycle.entering_lines("Running", current, namespace="experiments", manual=True)
    assert lines[0] == "workflow wf-1 (Running)"
    assert lines[-1] == "Use: kubectl delete experiment web-lat-abc12 -n experiments"
    auto = lifecycle.entering_lines("Running", current, namespace="experiments")
    assert len(auto) == 1


def test_manual_completion_reads_the_spec() -> None:
    assert lifecycle.manual_completion({"workflow": {"completion": {"mode": "manual"}}})
    assert not lifecycle.manual_completion({"workflow": {"completion": {"mode": "workflow"}}})
    assert not lifecycle.manual_completion({})


@pytest.mark.parametrize(
    ("phase", "label"),
    [("Pending", "crossplane"), ("Provisioning", "crossplane"), ("Ready", "argocd"),
     ("Running", "workflow")],
)  # fmt: skip
def test_timeout_toil_follows_the_seed(phase: str, label: str) -> None:
    record = lifecycle.timeout_toil("web-latency", "web-lat-abc12", phase, 1200)
    assert record.title == f"{phase} timeout (20m) for web-lat-abc12"
    assert record.priority == 2
    assert record.labels == ("toil", "web-latency", "timing", label)


@pytest.mark.parametrize(
    ("phase", "label"),
    [("Pending", "operator"), ("Provisioning", "crossplane"), ("Ready", "argocd"),
     ("Running", "workflow")],
)  # fmt: skip
def test_failure_toil_category_by_phase(phase: str, label: str) -> None:
    record = lifecycle.failed_toil("web-latency", "web-lat-abc12", phase, "boom")
    assert record.title == "Experiment failed: web-lat-abc12 - boom"
    assert (record.priority, record.labels[-1]) == (2, label)


def test_priorities_of_the_seed_guide() -> None:
    assert lifecycle.operator_toil("e").priority == 1
    assert lifecycle.operator_toil("e").labels == ("toil", "e", "operator")
    assert lifecycle.missing_template_toil("e", "t").labels == ("toil", "e", "workflow", "config")
    assert lifecycle.missing_template_toil("e", "t").title == "Missing WorkflowTemplate: t for e"
    assert lifecycle.validation_toil("e", "bad").title == "Validation failed: e - bad"
    assert lifecycle.apply_toil("e", "denied").priority == 1
    assert lifecycle.unreachable_toil("e", "refused").priority == 1


@pytest.mark.parametrize(
    ("url", "bucket", "key"),
    [
        (
            "s3://experiment-results/web-lat-abc12/",
            "experiment-results",
            "web-lat-abc12/summary.json",
        ),
        (
            "s3://experiment-results/web-lat-abc12",
            "experiment-results",
            "web-lat-abc12/summary.json",
        ),
        ("s3://b/x/summary.json", "b", "x/summary.json"),
    ],
)
def test_summary_location(url: str, bucket: str, key: str) -> None:
    where = summary_location(url)
    assert (where.bucket, where.key) == (bucket, key)


def test_summary_location_refuses_other_schemes() -> None:
    with pytest.raises(ResultsError, match="not an s3:// URL"):
        summary_location("https://example.com/x")


# -- the real operator (absent phase, stuck targets, formats, turns after Complete) --------


@pytest.mark.parametrize("phase", [None, "", "Pending"])
def test_absent_empty_and_pending_are_all_pending(phase: str | None) -> None:
    current = obj() if phase is None else obj(phase=phase)
    assert lifecycle.phase_of(current) == "Pending"


def test_a_failed_target_is_stuck_while_the_experiment_provisions() -> None:
    current = obj(
        phase="Provisioning",
        targets=[
            {"name": "app", "phase": "Provisioning", "clusterName": "web-lat-abc12-app"},
            {"name": "db", "phase": "Failed", "clusterName": "web-lat-abc12-db"},
        ],
    )
    stuck = lifecycle.failed_target(current)
    assert stuck is not None
    assert stuck.target == "db"
    assert stuck.source == "status.targets"
    # The real status carries no reason on a target: the harness says where to look.
    assert stuck.reason == "no reason in the status; see its cluster claim web-lat-abc12-db"
    assert stuck.line("web-lat-abc12", "Provisioning") == (
        "Experiment web-lat-abc12 stuck in Provisioning: target db Failed (status.targets): "
        "no reason in the status; see its cluster claim web-lat-abc12-db"
    )


def test_a_failed_target_takes_its_message_or_a_condition() -> None:
    with_message = obj(phase="Ready", targets=[{"name": "app", "phase": "Failed", "message": "x"}])
    assert lifecycle.failed_target(with_message).reason == "x"  # type: ignore[union-attr]
    conditions = [{"type": "Progressing", "status": "False", "message": "quota exceeded"}]
    with_condition = obj(
        phase="Provisioning", targets=[{"name": "app", "phase": "Failed"}], conditions=conditions
    )
    assert lifecycle.failed_target(with_condition).reason == "quota exceeded"  # type: ignore[union-attr]


@pytest.mark.parametrize("key", ["message", "reason", "error"])
def test_a_failed_targets_own_words_are_its_reason(key: str) -> None:
    target = {"name": "a", "phase": "Failed", key: "quota\n exceeded"}
    stuck = lifecycle.failed_target(obj(phase="Provisioning", targets=[target]))
    assert stuck is not None
    assert stuck.reason == "quota exceeded"


def test_a_failed_target_without_a_name_is_said_to_be_unnamed() -> None:
    stuck = lifecycle.failed_target(obj(phase="Ready", targets=[{"phase": "Failed"}]))
    assert stuck is not None
    assert stuck.target == "<unnamed>"


@pytest.mark.parametrize("phase", ["Pending", "Provisioning", "Ready"])
def test_a_failed_target_is_stuck_in_every_phase_before_running(phase: str) -> None:
    stuck = lifecycle.failed_target(obj(phase=phase, targets=[{"name": "a", "phase": "Failed"}]))
    assert stuck is not None
    assert (stuck.target, stuck.source) == ("a", "status.targets")


@pytest.mark.parametrize("phase", ["Running", "Complete", "Failed"])
def test_a_failed_target_is_not_stuck_once_the_experiment_moved_on(phase: str) -> None:
    assert (
        lifecycle.failed_target(obj(phase=phase, targets=[{"name": "a", "phase": "Failed"}]))
        is None
    )
    assert lifecycle.failed_target(obj(targets=[{"name": "a", "phase": "Ready"}])) is None


def claim(name: str, reason: str, status: str = "False", message: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"experiments.illm.io/cluster": name}},
        "status": {
            "conditions": [
                {"type": "Synced", "status": "True"},
                {"type": "Ready", "status": status, "reason": reason, "message": message},
            ]
        },
    }


def test_a_claim_failing_for_a_terminal_reason_is_stuck_a_creating_one_is_not() -> None:
    instance = "web-lat-abc12"
    assert lifecycle.failed_claim([claim(f"{instance}-app", "Creating")], instance) is None
    assert lifecycle.failed_claim([claim(f"{instance}-app", "Available", "True")], instance) is None
    stuck = lifecycle.failed_claim(
        [
            claim(f"{instance}-app", "Creating"),
            claim(f"{instance}-db", "ReconcileError", message="Error 403:\n quota"),
        ],
        instance,
    )
    assert stuck is not None
    assert (stuck.target, stuck.reason) == ("db", "ReconcileError: Error 403: quota")
    assert stuck.source == f"GKECluster {instance}-db Ready=False"


@pytest.mark.parametrize(
    "first",
    [("Available", "True"), ("Creating", "False"), ("Creating", "Unknown")],
    ids=["healthy", "still-creating", "unknown"],
)
def test_a_refused_claim_is_found_after_claims_that_are_fine(first: tuple[str, str]) -> None:
    # Any claim may come first: one that is fine must not end the search, or the run
    # waits out its whole budget for a cluster the cloud has already refused.
    instance = "web-lat-abc12"
    claims = [
        claim(f"{instance}-app", *first),
        claim(f"{instance}-db", "ReconcileError", message="quota"),
    ]
    stuck = lifecycle.failed_claim(claims, instance)
    assert stuck is not None
    assert (stuck.target, stuck.reason) == ("db", "ReconcileError: quota")


def test_claim_names_follow_the_real_operator_and_the_status() -> None:
    current = {
        "metadata": {"name": "i1"},
        "spec": {"targets": [{"name": "app"}, {"name": "hubbed"}]},
        "status": {"targets": [{"name": "app", "clusterName": "illm-i1-app-x"},
                               {"name": "hubbed", "clusterName": "hub"}]},
    }  # fmt: skip
    assert lifecycle.claim_names(current) == ["i1-app", "i1-hubbed", "illm-i1-app-x"]


def test_claim_names_need_a_named_target_and_a_named_instance() -> None:
    targets = {"spec": {"targets": [{"name": "app"}, {"cluster": {}}, "db"]}}
    assert lifecycle.claim_names({"metadata": {"name": "i1"}, **targets}) == ["i1-app"]
    assert lifecycle.claim_names({"metadata": {}, **targets}) == []


@pytest.mark.parametrize("reason", ["", "Creating", "Deleting", "Unavailable", "Available"])
def test_a_claim_not_ready_for_a_passing_reason_is_not_stuck(reason: str) -> None:
    assert lifecycle.failed_claim([claim("i1-app", reason)], "i1") is None


def test_a_claim_without_a_ready_condition_is_not_stuck() -> None:
    bare = {"metadata": {"name": "i1-app"}, "status": {"conditions": [{"type": "Synced"}]}}
    assert lifecycle.failed_claim([bare, {"metadata": {"name": "i1-db"}}], "i1") is None


def test_a_refused_claim_names_the_target_its_label_gives() -> None:
    # The label wins over the name: a claim the operator named otherwise still names its target.
    refused = claim("illm-i1-x7", "ReconcileError", message="quota")
    refused["metadata"]["labels"]["experiments.illm.io/target"] = "app"
    stuck = lifecycle.failed_claim([refused], "i1")
    assert stuck is not None
    assert (stuck.target, stuck.source) == ("app", "GKECluster illm-i1-x7 Ready=False")
    unlabelled = lifecycle.failed_claim([claim("i1-db", "ReconcileError")], "i1")
    assert unlabelled is not None
    assert unlabelled.target == "db"


def test_a_stuck_target_is_explained_by_the_claim_its_cluster_name_names() -> None:
    # Claims named otherwise than <instance>-<target>, unlabelled: only the status's
    # clusterName of this very target ties one to it.
    current = {
        "metadata": {"name": "i1"},
        "status": {"phase": "Provisioning", "targets": [
            {"name": "db", "phase": "Ready", "clusterName": "illm-db-x"},
            {"name": "app", "phase": "Failed", "clusterName": "illm-app-y"},
        ]},
    }  # fmt: skip
    stuck = lifecycle.failed_target(current)
    assert stuck is not None
    claims = [
        claim("illm-db-x", "ReconcileError", message="not this one"),
        claim("illm-app-y", "ReconcileError", message="quota CPUS"),
    ]
    explained = lifecycle.explained(stuck, obj=current, claims=claims)
    assert explained.reason == "GKECluster illm-app-y Ready=False (ReconcileError): quota CPUS"


def test_a_reason_in_the_status_is_kept_as_it_is() -> None:
    current = {
        "metadata": {"name": "i1"},
        "status": {"phase": "Provisioning",
                   "targets": [{"name": "app", "phase": "Failed", "message": "quota"}]},
    }  # fmt: skip
    stuck = lifecycle.failed_target(current)
    assert stuck is not None
    refused = claim("i1-app", "ReconcileError", message="other words")
    assert lifecycle.explained(stuck, obj=current, claims=[refused]) is stuck


def failed_app() -> tuple[dict[str, Any], lifecycle.StuckTarget]:
    """Instance i1 in Provisioning with its target app Failed and no reason given."""
    current = {
        "metadata": {"name": "i1"},
        "status": {"phase": "Provisioning", "targets": [{"name": "app", "phase": "Failed"}]},
    }
    stuck = lifecycle.failed_target(current)
    assert stuck is not None
    return current, stuck


def test_only_a_claim_refused_with_a_message_explains_a_stuck_target() -> None:
    current, stuck = failed_app()
    for fine in (claim("i1-app", "Available", "True", message="ok"), claim("i1-app", "X")):
        assert lifecycle.explained(stuck, obj=current, claims=[fine]) is stuck


def test_a_stuck_target_is_explained_by_its_own_applications_only() -> None:
    current, stuck = failed_app()

    def app(name: str, target: str, health: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": {"experiments.illm.io/target": target}},
            "status": {"health": {"status": health}},
        }

    others = [
        app("i1-db-x", "db", "Degraded"),
        app("i1-app-ok", "app", "Healthy"),
        app("i1-app-new", "app", "Progressing"),
    ]
    assert lifecycle.explained(stuck, obj=current, applications=others) is stuck
    ours = lifecycle.explained(
        stuck, obj=current, applications=[*others, app("i1-app-y", "app", "Missing")]
    )
    assert ours.reason == "application i1-app-y health Missing"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-18T17:20:17Z", datetime(2026, 2, 18, 17, 20, 17, tzinfo=UTC)),
        ("2026-02-18T18:02:38.108816586Z", datetime(2026, 2, 18, 18, 2, 38, 108816, tzinfo=UTC)),
        ("2026-02-18T18:02:38+01:00", datetime(2026, 2, 18, 17, 2, 38, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_time_reads_rfc3339_at_any_precision(text: Any, expected: datetime | None) -> None:
    assert lifecycle.parse_time(text) == expected


def test_run_total_is_creation_to_completed_at() -> None:
    current = {
        "metadata": {"creationTimestamp": "2026-02-18T17:20:17Z"},
        "status": {"completedAt": "2026-02-18T18:02:38.108816586Z"},
    }
    assert lifecycle.run_total(current) == pytest.approx(2541.108816)
    assert lifecycle.run_total({"metadata": {}, "status": {}}) is None


def test_a_turn_after_complete_names_the_condition() -> None:
    exhausted = obj(
        phase="Failed",
        conditions=[
            {"type": "QualityGate", "status": "False", "reason": "Exhausted",
             "message": "coverage 0.25 below 0.8 after 3 iterations"},
        ],
        iterationStatus={"phase": "Exhausted", "currentIteration": 3},
    )  # fmt: skip
    turn = lifecycle.turned_failed(exhausted)
    assert turn is not None
    assert turn.line() == "QualityGate Exhausted: coverage 0.25 below 0.8 after 3 iterations"
    job_gone = obj(
        phase="Failed",
        conditions=[{"type": "AnalysisComplete", "status": "False", "reason": "JobNotFound"}],
    )
    assert lifecycle.turned_failed(job_gone).line() == "AnalysisComplete JobNotFound"  # type: ignore[union-attr]
    # Only the iteration status says so: still reported.
    bare = obj(phase="Failed", iterationStatus={"phase": "Exhausted", "currentIteration": 2,
                                                "maxIterations": 2})  # fmt: skip
    assert lifecycle.turned_failed(bare).line() == (  # type: ignore[union-attr]
        "QualityGate Exhausted: no collection passed: the first and 2 re-collections (2 allowed)"
    )
    # An operator counting its collections from 1 numbers its results from 1.
    from_one = obj(phase="Failed", iterationStatus={
        "phase": "Exhausted", "currentIteration": 2, "maxIterations": 2,
        "qualityResults": [{"iteration": 1}, {"iteration": 2}],
    })  # fmt: skip
    assert lifecycle.turned_failed(from_one).line() == (  # type: ignore[union-attr]
        "QualityGate Exhausted: no collection passed: the first and 1 re-collection (2 allowed)"
    )
    none_allowed = obj(phase="Failed", iterationStatus={
        "phase": "Exhausted", "currentIteration": 0, "maxIterations": 0,
    })  # fmt: skip
    assert lifecycle.turned_failed(none_allowed).line() == (  # type: ignore[union-attr]
        "QualityGate Exhausted: the first collection did not pass, no re-collection (0 allowed)"
    )
    assert lifecycle.turned_failed(obj(phase="Complete")) is None
    # No condition says why: the phase itself, with the first condition message.
    assert lifecycle.turned_failed(obj(phase="Failed")) == lifecycle.Turn(
        type="phase", reason="Failed", message="no condition message"
    )
    other = obj(phase="Failed", conditions=[{"type": "Failed", "message": "target  gone"}])
    assert lifecycle.turned_failed(other) == lifecycle.Turn(
        type="phase", reason="Failed", message="target gone"
    )


def _results(*iterations: int) -> list[dict[str, Any]]:
    return [{"iteration": n, "coverage": 0.5, "passed": False} for n in iterations]


@pytest.mark.parametrize(
    ("iteration", "line"),
    [
        # The real operator counts from 0: currentIteration is the re-collections so far,
        # maxIterations (3 by default) the most it makes.
        ({"phase": "Evaluating", "currentIteration": 0, "qualityResults": _results(0)},
         "quality gate evaluating the first collection (up to 3 re-collections)"),
        ({"phase": "Recollecting", "currentIteration": 1, "qualityResults": _results(0)},
         "quality gate re-collecting, re-collection 1 of 3"),
        ({"phase": "Evaluating", "currentIteration": 1, "qualityResults": _results(0, 1)},
         "quality gate evaluating re-collection 1 of 3"),
        ({"phase": "Recollecting", "currentIteration": 2, "maxIterations": 2},
         "quality gate re-collecting, re-collection 2 of 2"),
        ({"phase": "Evaluating", "currentIteration": 0},
         "quality gate evaluating the first collection (up to 3 re-collections)"),
        # An operator counting from 1 numbers its quality results from 1: read alike.
        ({"phase": "Evaluating", "currentIteration": 1, "qualityResults": _results(1)},
         "quality gate evaluating the first collection (up to 3 re-collections)"),
        ({"phase": "Recollecting", "currentIteration": 2, "qualityResults": _results(1)},
         "quality gate re-collecting, re-collection 1 of 3"),
        ({"phase": "Evaluating", "currentIteration": 2, "qualityResults": _results(1, 2)},
         "quality gate evaluating re-collection 1 of 3"),
        ({"phase": "Recollecting"}, "quality gate re-collecting"),
    ],
)  # fmt: skip
def test_quality_gate_progress_names_the_collection_whichever_way_the_operator_counts(
    iteration: dict[str, Any], line: str
) -> None:
    assert lifecycle.quality_gate_progress(obj(iterationStatus=iteration), max_iterations=3) == (
        line
    )


def test_quality_gate_progress_is_said_only_while_the_gate_decides() -> None:
    assert lifecycle.quality_gate_progress(obj(iterationStatus={"phase": "Passed"})) is None
    assert lifecycle.quality_gate_progress(obj()) is None
    assert lifecycle.max_iterations({"qualityGate": {"maxIterations": 5}}) == 5
    assert lifecycle.max_iterations({}) == 3


@pytest.mark.parametrize(
    ("iteration", "url", "deciding", "final"),
    [
        # The real operator shows a collection's URL while its gate evaluates it, then
        # clears it to re-collect: neither names the results the run ends with.
        ({"phase": "Evaluating", "currentIteration": 0}, "s3://r/i/", "Evaluating", False),
        ({"phase": "Recollecting", "currentIteration": 1}, None, "Recollecting", False),
        ({"phase": "Passed", "currentIteration": 1}, "s3://r/i/", None, True),
        ({"phase": "Exhausted", "currentIteration": 3}, "s3://r/i/", None, True),
        (None, "s3://r/i/", None, True),  # no gate (an older operator, or none declared)
        (None, None, None, False),
    ],
)
def test_only_a_decided_quality_gate_makes_the_results_final(
    iteration: dict[str, Any] | None, url: str | None, deciding: str | None, final: bool
) -> None:
    current = obj(phase="Complete", resultsURL=url, iterationStatus=iteration)
    assert lifecycle.quality_gate_deciding(current) == deciding
    assert lifecycle.results_final(current) is final


def test_the_turn_condition_counts_before_the_phase_turns() -> None:
    """The operator may write the AnalysisComplete condition a status write before Failed."""
    condition = {"type": "AnalysisComplete", "reason": "JobNotFound", "message": "Job  gone"}
    complete = obj(phase="Complete", conditions=[condition])
    assert lifecycle.turned_failed(complete) is None
    assert lifecycle.turn_condition(complete) == lifecycle.Turn(
        type="AnalysisComplete", reason="JobNotFound", message="Job gone"
    )
    succeeded = {"type": "AnalysisComplete", "reason": "Succeeded", "message": "done"}
    assert lifecycle.turn_condition(obj(phase="Complete", conditions=[succeeded])) is None


def test_the_workflows_start_is_read_from_the_status() -> None:
    started = obj(workflowStatus={"name": "w", "startedAt": "2026-02-23T10:00:05Z"})
    assert lifecycle.workflow_started(started) == datetime(2026, 2, 23, 10, 0, 5, tzinfo=UTC)
    assert lifecycle.workflow_started(obj(workflowStatus={"name": "w"})) is None
    assert lifecycle.workflow_started(obj()) is None


def test_review_skipped_names_why() -> None:
    assert lifecycle.review_skipped_why(obj(published=False)) == "published: false, no PR number"
    assert lifecycle.review_skipped_why(obj(published=True)) == "no PR number"


def test_a_failed_runs_summary_says_which_metrics_arrived_and_the_workflow_phase() -> None:
    summary = {
        "phase": "Failed",
        "workflow": {"name": "i-validation", "phase": "Failed"},
        "metrics": {
            "source": "target:cadvisor",
            "timeRange": {"duration": "43m26.8s"},
            "queries": {
                "cpu_total": {"data": [{"value": "1"}]},
                "p99": {"error": "bad query"},
                "tput": {},
            },
        },
    }
    assert lifecycle.failed_summary_lines(summary, declared=["p99", "tput", "lat"]) == [
        "summary.json phase: Failed",
        "workflow i-validation: Failed",
        "metrics from target:cadvisor over 43m27s: 1 with data (cpu_total)",
        "metrics without data: p99, tput, lat",
    ]
    assert lifecycle.failed_summary_lines({"phase": "Failed"})[-1] == (
        "metrics: none collected (no metrics section)"
    )


def test_a_stuck_target_is_explained_by_its_claim_or_its_applications() -> None:
    current = {
        "metadata": {"name": "i1"},
        "status": {"phase": "Provisioning",
                   "targets": [{"name": "app", "phase": "Failed", "clusterName": "i1-app"}]},
    }  # fmt: skip
    stuck = lifecycle.failed_target(current)
    assert stuck is not None
    by_claim = lifecycle.explained(
        stuck, obj=current, claims=[claim("i1-app", "ReconcileError", message="quota CPUS")]
    )
    assert by_claim.reason == "GKECluster i1-app Ready=False (ReconcileError): quota CPUS"
    degraded = {
        "metadata": {"name": "i1-app", "labels": {"experiments.illm.io/target": "app"}},
        "status": {"health": {"status": "Degraded", "message": "timed out progressing"}},
    }
    by_app = lifecycle.explained(stuck, obj=current, applications=[degraded])
    assert by_app.reason == "application i1-app health Degraded: timed out progressing"
    assert lifecycle.explained(stuck, obj=current) is stuck


def test_a_stuck_target_without_a_cluster_name_is_explained_by_its_claims_name() -> None:
    # Before the operator records the target's clusterName, the claim is found by the
    # name the operator gives it, <instance>-<target>; the cloud's refusal must not be lost.
    current, stuck = failed_app()
    other = claim("i1-db", "ReconcileError", message="not this one")
    refused = claim("i1-app", "ReconcileError", message="quota CPUS")
    explained = lifecycle.explained(stuck, obj=current, claims=[other, refused])
    assert explained.reason == "GKECluster i1-app Ready=False (ReconcileError): quota CPUS"
    assert explained.target == "app"


def test_recollect_delay_defaults_as_the_crd() -> None:
    assert lifecycle.recollect_delay({}) == 120.0
    assert lifecycle.recollect_delay({"qualityGate": {"recollectDelaySeconds": 30}}) == 30.0
    assert lifecycle.recollect_delay({"qualityGate": {"recollectDelaySeconds": True}}) == 120.0


STUCK = lifecycle.StuckTarget(target="db", reason="quota", source="status.targets")
GATE_TURN = lifecycle.Turn(type="QualityGate", reason="Exhausted", message="iteration 3 of 3")


@pytest.mark.parametrize(
    ("record", "title", "priority", "categories"),
    [
        (lifecycle.validation_toil("e", "bad"), "Validation failed: e - bad", 2, ("config",)),
        (lifecycle.missing_template_toil("e", "t"), "Missing WorkflowTemplate: t for e", 2,
         ("workflow", "config")),
        (lifecycle.operator_toil("e"), "Operator unhealthy at experiment start: e", 1,
         ("operator",)),
        (lifecycle.unreachable_toil("e", "refused"),
         "Cluster unreachable at experiment start: e - refused", 1, ("networking",)),
        (lifecycle.apply_toil("e", "denied"), "Apply failed: e - denied", 1, ("config",)),
        (lifecycle.timeout_toil("e", "e-1", "Ready", 600), "Ready timeout (10m) for e-1", 2,
         ("timing", "argocd")),
        (lifecycle.timeout_toil("e", "e-1", "Running", 90, by="pytest-timeout"),
         "pytest-timeout (1m30s) in Running for e-1", 2, ("timing", "workflow")),
        (lifecycle.timeout_toil("e", "e-1", "Complete", 60), "Complete timeout (1m) for e-1", 2,
         ("timing", "operator")),
        (lifecycle.failed_toil("e", "e-1", "Complete", "boom"), "Experiment failed: e-1 - boom",
         2, ("operator",)),
        (lifecycle.deleted_toil("e", "e-1", "Ready"), "Experiment deleted while Ready: e-1", 2,
         ("operator",)),
        (lifecycle.results_toil("e", "e-1", "no summary"),
         "No results to score for e-1: no summary", 3, ("quality",)),
        (lifecycle.stuck_toil("e", "e-1", "Provisioning", STUCK),
         "Target db failed, e-1 stuck in Provisioning - quota", 2, ("crossplane",)),
        (lifecycle.stuck_toil("e", "e-1", "Pending", STUCK),
         "Target db failed, e-1 stuck in Pending - quota", 2, ("crossplane",)),
        (lifecycle.turn_toil("e", "e-1", GATE_TURN),
         "Experiment turned Failed after Complete: e-1 - QualityGate Exhausted: iteration 3 of 3",
         2, ("quality",)),
        (lifecycle.turn_toil("e", "e-1", lifecycle.Turn(type="AnalysisComplete",
                                                        reason="Failed", message="")),
         "Experiment turned Failed after Complete: e-1 - AnalysisComplete Failed", 2,
         ("analyzer",)),
    ],
)  # fmt: skip
def test_every_lifecycle_toil_record_is_the_seeds(
    record: ToilRecord, title: str, priority: int, categories: tuple[str, ...]
) -> None:
    assert (record.title, record.priority, record.labels) == (
        title,
        priority,
        ("toil", "e", *categories),
    )


def test_a_field_with_braces_is_text_not_a_template() -> None:
    record = lifecycle.validation_toil("e", "spec.x: {name} {0} {missing}")
    assert record.title == "Validation failed: e - spec.x: {name} {0} {missing}"


# -- phases, read alone ---------------------------------------------------------------------


def test_complete_and_failed_are_the_terminal_phases() -> None:
    assert lifecycle.is_terminal(obj(phase="Complete"))
    assert lifecycle.is_terminal(obj(phase="Failed"))
    assert not lifecycle.is_terminal(obj(phase="Running"))
    assert not lifecycle.is_terminal(obj())


def test_an_analysis_that_failed_or_lost_its_job_turns_a_complete_run_failed() -> None:
    for reason in ("Failed", "JobNotFound"):
        condition = {"type": "AnalysisComplete", "reason": reason, "message": "x"}
        turn = lifecycle.turn_condition(obj(phase="Complete", conditions=[condition]))
        assert turn is not None
        assert turn.line() == f"AnalysisComplete {reason}: x"
    fine = {"type": "AnalysisComplete", "reason": "Succeeded", "message": "x"}
    assert lifecycle.turn_condition(obj(phase="Complete", conditions=[fine])) is None


def test_an_exhausted_gate_without_an_iteration_count_says_nothing_more() -> None:
    turn = lifecycle.turned_failed(obj(phase="Failed", iterationStatus={"phase": "Exhausted"}))
    assert turn is not None
    assert turn.message == ""
    assert turn.line() == "QualityGate Exhausted"


def test_a_recollect_delay_of_zero_is_kept() -> None:
    assert lifecycle.recollect_delay({"qualityGate": {"recollectDelaySeconds": 0}}) == 0.0
    assert lifecycle.recollect_delay({"qualityGate": {"recollectDelaySeconds": -1}}) == 120.0
    assert lifecycle.recollect_delay({}) == 120.0


def test_a_time_with_an_upper_or_lower_case_z_is_utc() -> None:
    expected = datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC)
    assert lifecycle.parse_time("2026-12-07T10:00:00.123456789Z") == expected
    assert lifecycle.parse_time("2026-12-07t10:00:00.123456789z") == expected
    assert lifecycle.parse_time("2026-12-07T11:00:00.123456+01:00") == expected


def test_an_unhealthy_condition_explains_before_a_healthy_one() -> None:
    healthy = {"type": "Ready", "status": "True", "message": "all good"}
    unhealthy = {"type": "Synced", "status": "False", "message": "cannot  sync"}
    assert lifecycle.condition_message(obj(conditions=[healthy, unhealthy])) == "cannot sync"
    failed = {"type": "Failed", "status": "True", "message": "it broke"}
    assert lifecycle.condition_message(obj(conditions=[unhealthy, failed])) == "it broke"


def test_the_inspect_command_reads_the_instance_as_yaml() -> None:
    assert lifecycle.inspect_command("web-lat-abc12", "experiments") == (
        "kubectl get experiment web-lat-abc12 -n experiments -o yaml"
    )


def test_provisioning_without_targets_says_none_are_reported_yet() -> None:
    assert lifecycle.entering_lines("Provisioning", obj(), namespace="experiments") == [
        "no targets reported yet"
    ]


def test_an_application_without_health_or_sync_shows_them_unknown() -> None:
    app = {"metadata": {"name": "web-lat-abc12-app"}, "status": {}}
    up = {
        "metadata": {"name": "web-lat-abc12-db"},
        "status": {"health": {"status": "Healthy"}, "sync": {"status": "Synced"}},
    }
    assert lifecycle.entering_lines(
        "Ready", obj(), namespace="experiments", applications=[app, up]
    ) == [
        "application web-lat-abc12-app: health <unknown>, sync <unknown>",
        "application web-lat-abc12-db: health Healthy, sync Synced",
    ]


def test_a_running_line_names_the_workflow_and_its_phase_or_says_neither_is_known() -> None:
    assert lifecycle.entering_lines("Running", obj(), namespace="experiments") == [
        "workflow <none yet> (<no phase>)"
    ]
    running = obj(workflowStatus={"name": "web-lat-abc12-wf", "phase": "Running"})
    assert lifecycle.entering_lines("Running", running, namespace="experiments") == [
        "workflow web-lat-abc12-wf (Running)"
    ]


def test_a_query_with_an_error_counts_as_without_data_in_a_failed_summary() -> None:
    summary = {
        "phase": "Failed",
        "metrics": {
            "queries": {
                "good": {"data": [{"value": 1}]},
                "broken": {"data": [{"value": 1}], "error": "bad query"},
                "empty": {"data": []},
            }
        },
    }
    assert lifecycle.failed_summary_lines(summary) == [
        "summary.json phase: Failed",
        "metrics: 1 with data (good)",
        "metrics without data: broken, empty",
    ]
