"""Review-gate and analyzer decisions over plain data."""

from __future__ import annotations

import pytest

from pytest_experiment.core import review as rv
from pytest_experiment.core.options import ReviewAction
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.verdict import Status


@pytest.mark.parametrize(
    ("option", "gate", "wanted"),
    [
        ("approve", Status.FAIL, "approved"),
        ("reject", Status.PASS, "rejected"),
        ("skip", Status.PASS, None),
        ("auto", Status.PASS, "approved"),
        ("auto", Status.WARN, None),
        ("auto", Status.FAIL, None),
        ("auto", None, None),
    ],
)
def test_review_decision(option: ReviewAction, gate: Status | None, wanted: str | None) -> None:
    assert rv.decision(option, gate) == wanted


def test_pr_reference_reads_the_operator_status() -> None:
    obj = {
        "status": {
            "publishPRNumber": 12,
            "publishPRURL": "https://github.com/o/r/pull/12",
            "publishBranch": "results/x",
        }
    }
    pr = rv.PullRequestRef.of(obj)
    assert (pr.number, pr.url, pr.branch, pr.name) == (
        12,
        "https://github.com/o/r/pull/12",
        "results/x",
        "PR #12",
    )
    odd = rv.PullRequestRef.of({"status": {"publishPRNumber": "12", "publishPRURL": None}})
    assert (odd.number, odd.url, odd.name) == (None, "", "the PR")


def test_annotate_commands_are_the_seeds() -> None:
    assert rv.annotate_commands("kv-1", "experiments") == [
        "To approve later: kubectl annotate experiment kv-1 -n experiments "
        "experiments.illm.io/review=approved",
        "To reject later:  kubectl annotate experiment kv-1 -n experiments "
        "experiments.illm.io/review=rejected",
    ]


def test_quality_line_beside_the_pr() -> None:
    figures: dict[str, dict[str, object]] = {
        "custom-metrics": {"collected": 3, "declared": 4},
        "ai-verdict": {"verdict": "x"},
    }
    assert rv.quality_line(Status.WARN, figures) == "Quality: WARN (3/4 metrics, AI verdict: x)"
    assert rv.quality_line(None, {}) == "Quality: N/A"


@pytest.mark.parametrize(
    ("record", "priority", "labels"),
    [
        (rv.analyzer_failed_toil("kv", "kv-1"), 3, ("toil", "kv", "analyzer")),
        (rv.analyzer_timeout_toil("kv", "kv-1", 900), 3, ("toil", "kv", "analyzer", "timing")),
        (rv.quality_gate_toil("kv", "kv-1", "0/4"), 2, ("toil", "kv", "quality")),
        (rv.no_pr_toil("kv", "kv-1"), 3, ("toil", "kv", "operator")),
        (rv.review_toil("kv", "kv-1", "stuck"), 2, ("toil", "kv", "operator")),
    ],
)
def test_toil_follows_the_seed_guide(
    record: ToilRecord, priority: int, labels: tuple[str, ...]
) -> None:
    assert record.priority == priority
    assert record.labels == labels


def test_toil_titles_are_the_seeds() -> None:
    assert rv.analyzer_timeout_toil("kv", "kv-1", 900).title == "Analyzer timeout (15m) for kv-1"
    assert rv.no_pr_toil("kv", "kv-1").title == "No PR created for published experiment kv-1"
    assert rv.quality_gate_toil("kv", "kv-1", "Custom metrics: 0/4").title == (
        "Quality gate failed: kv-1 - Custom metrics: 0/4"
    )


def test_the_analyzer_is_done_once_it_succeeded_failed_or_was_skipped() -> None:
    assert set(rv.ANALYZER_DONE) == {"Succeeded", "Failed", "Skipped"}
    assert "Pending" not in rv.ANALYZER_DONE
    assert "Running" not in rv.ANALYZER_DONE


def test_each_analyzer_phase_is_reported_in_words() -> None:
    assert rv.ANALYZER_LINES == {
        "Pending": "Analyzer job created, waiting for pod scheduling...",
        "Running": "Analyzer running...",
        "Succeeded": "Analysis complete! Results enriched with AI insights.",
        "Failed": "Analyzer failed.",
        "Skipped": "Analysis skipped (no analyzerConfig or empty sections).",
    }


def test_the_metric_count_is_shown_only_with_both_collected_and_declared() -> None:
    both = {"custom-metrics": {"collected": 2, "declared": 3}}
    assert rv.quality_line(Status.PASS, both) == "Quality: PASS (2/3 metrics)"
    assert rv.quality_line(Status.PASS, {"custom-metrics": {"collected": 2}}) == "Quality: PASS"
    assert rv.quality_line(Status.PASS, {"custom-metrics": {"declared": 3}}) == "Quality: PASS"


def test_a_pending_review_leaves_the_pr_open_unless_github_merged_or_closed_it() -> None:
    assert rv.pr_outcome("Pending") == "Open"
    assert rv.pr_outcome("Approved") == "Merged"
    assert rv.pr_outcome("Rejected") == "Rejected"
    assert rv.pr_outcome("Pending", merged_by_gh=True) == "Merged"
    assert rv.pr_outcome("Pending", closed_by_gh=True) == "Rejected"
