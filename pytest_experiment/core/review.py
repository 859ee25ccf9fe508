"""Review-gate and analyzer decisions over plain data.

No I/O: ``publishing`` reads the cluster, S3 and ``gh`` and asks these
functions what an observed status means, what to say and which toil to log.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.views import status
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.options import ReviewAction
from pytest_experiment.core.toil import ToilRecord, toil_record
from pytest_experiment.core.verdict import Status

REVIEW_ANNOTATION = "experiments.illm.io/review"
ANALYZER_DONE = ("Succeeded", "Failed", "Skipped")
# What each analyzer phase is reported as, once.
ANALYZER_LINES = {
    "Pending": "Analyzer job created, waiting for pod scheduling...",
    "Running": "Analyzer running...",
    "Succeeded": "Analysis complete! Results enriched with AI insights.",
    "Failed": "Analyzer failed.",
    "Skipped": "Analysis skipped (no analyzerConfig or empty sections).",
}
REVIEW_DONE = ("Approved", "Rejected")
_DECISION = {"approve": "approved", "reject": "rejected"}


@dataclass(frozen=True, kw_only=True)
class PullRequestRef:
    """What the operator's status says about the results PR."""

    number: int | None
    url: str
    branch: str

    @classmethod
    def of(cls, obj: Mapping[str, Any] | None) -> PullRequestRef:
        current = status(obj)
        number = current.get("publishPRNumber")
        return cls(
            number=number if isinstance(number, int) and not isinstance(number, bool) else None,
            url=str(current.get("publishPRURL") or ""),
            branch=str(current.get("publishBranch") or ""),
        )

    @property
    def name(self) -> str:
        return f"PR #{self.number}" if self.number is not None else "the PR"


# ReviewGate reasons with which the operator says GitHub refused what the review decided;
# the review stays Pending and the operator tries again at each review poll.
GITHUB_REFUSALS = {"MergeFailed": "merge", "CloseFailed": "close"}


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """GitHub refused the operator's merge or close of the results PR."""

    reason: str
    message: str

    def line(self) -> str:
        message = f": {self.message}" if self.message else ""
        return f"ReviewGate {self.reason}{message}"

    @property
    def action(self) -> str:
        return GITHUB_REFUSALS[self.reason]


def github_refusal(obj: Mapping[str, Any] | None) -> Refusal | None:
    """The ``ReviewGate`` ``MergeFailed``/``CloseFailed`` condition of a review still
    Pending, or None."""
    if review_phase(obj) != "Pending":
        return None
    for condition in status(obj).get("conditions") or []:
        if not isinstance(condition, Mapping) or condition.get("type") != "ReviewGate":
            continue
        reason = str(condition.get("reason") or "")
        if reason in GITHUB_REFUSALS and condition.get("status") != "True":
            message = " ".join(str(condition.get("message") or "").split())
            return Refusal(reason=reason, message=message)
    return None


def analysis_phase(obj: Mapping[str, Any] | None) -> str:
    return str(status(obj).get("analysisPhase") or "")


def review_phase(obj: Mapping[str, Any] | None) -> str:
    return str(status(obj).get("reviewPhase") or "")


def decision(option: ReviewAction, gate: Status | None) -> str | None:
    """The annotation value ``--experiment-review`` asks for; None leaves the PR open.

    ``auto`` approves only on a passing gate.
    """
    if option == "auto":
        return "approved" if gate is Status.PASS else None
    return _DECISION.get(option)


def annotate_commands(instance: str, namespace: str) -> list[str]:
    def command(value: str) -> str:
        # Pasted into a shell by a person: the instance and namespace are quoted.
        annotation = f"{REVIEW_ANNOTATION}={value}"
        return shlex.join(
            ["kubectl", "annotate", "experiment", instance, "-n", namespace, annotation]
        )

    return [f"To approve later: {command('approved')}", f"To reject later:  {command('rejected')}"]


def quality_line(gate: Status | None, figures: Mapping[str, Mapping[str, Any]]) -> str:
    """``Quality: PASS (3/3 metrics, AI verdict: confirmed)`` beside the PR."""
    if gate is None:
        return "Quality: N/A"
    notes = []
    metrics = figures.get("custom-metrics") or {}
    if "collected" in metrics and "declared" in metrics:
        notes.append(f"{metrics['collected']}/{metrics['declared']} metrics")
    verdict = (figures.get("ai-verdict") or {}).get("verdict")
    if verdict:
        notes.append(f"AI verdict: {verdict}")
    return f"Quality: {gate.name}" + (f" ({', '.join(notes)})" if notes else "")


def pr_outcome(review: str, *, merged_by_gh: bool = False, closed_by_gh: bool = False) -> str:
    """The PR's fate for the summary block's ``PR:`` line."""
    if review == "Approved" or merged_by_gh:
        return "Merged"
    if review == "Rejected" or closed_by_gh:
        return "Rejected"
    return "Open"


# -- toil -----------------------------------------------------------------------------------


def analyzer_failed_toil(name: str, instance: str) -> ToilRecord:
    return toil_record("analyzer-failed", name, instance=instance)


def analyzer_timeout_toil(name: str, instance: str, budget: float | None) -> ToilRecord:
    return toil_record("analyzer-timeout", name, instance=instance, budget=format_duration(budget))


def quality_gate_toil(name: str, instance: str, reason: str) -> ToilRecord:
    return toil_record("quality-gate", name, instance=instance, reason=reason)


def no_pr_toil(name: str, instance: str) -> ToilRecord:
    return toil_record("no-pr", name, instance=instance)


def review_toil(name: str, instance: str, problem: str) -> ToilRecord:
    return toil_record("review", name, instance=instance, problem=problem)


def github_toil(name: str, instance: str, refusal: Refusal) -> ToilRecord:
    """A review left Pending because GitHub refused the merge or close: GitHub's
    problem (a branch protection, a token's scope, a conflict), not the operator's."""
    return toil_record(
        "review-github", name, instance=instance, action=refusal.action, refusal=refusal.line()
    )
