"""Lifecycle decisions over plain data (§4, §10): no cluster, milliseconds."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_experiment import lifecycle
from pytest_experiment.errors import ResultsError
from pytest_experiment.results import summary_location


def obj(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-lat-abc12"}, "status": status}


def test_an_untouched_object_is_pending() -> None:
    assert lifecycle.phase_of({"metadata": {"name": "x"}}) == "Pending"
    assert lifecycle.phase_of(None) == "Pending"
    assert lifecycle.is_terminal(obj(phase="Failed"))
    assert not lifecycle.is_terminal(obj(phase="Running"))


@pytest.mark.parametrize(
    ("timeline", "stamps", "expected"),
    [
        (["Pending", "Provisioning", "Ready"], {}, "Ready"),
        ([], {"Pending": "t", "Provisioning": "t", "Failed": "t"}, "Provisioning"),
        ([], {}, "Pending"),
        (["Pending"], {"Running": "t"}, "Pending"),
    ],
)
def test_failed_in_prefers_what_the_watch_saw(
    timeline: list[str], stamps: dict[str, str], expected: str
) -> None:
    assert lifecycle.failed_in(timeline, obj(phaseTimestamps=stamps)) == expected


def test_first_condition_message_prefers_the_failed_condition() -> None:
    conditions = [
        {"type": "Progressing", "status": "False", "message": "Failed"},
        {"type": "Failed", "status": "True", "message": 'quota\n "CPUS" exceeded'},
    ]
    assert lifecycle.first_condition_message(obj(conditions=conditions)) == 'quota "CPUS" exceeded'
    assert lifecycle.first_condition_message(obj()) == "no condition message"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "no limit"), (1.0, "1s"), (2.5, "2.5s"), (45, "45s"), (1200, "20m"), (90, "1m30s"),
     (5400, "1h30m"), (3600, "1h")],
)  # fmt: skip
def test_format_duration(seconds: float | None, text: str) -> None:
    assert lifecycle.format_duration(seconds) == text


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
