"""Why an instance is deleted or kept at session end, in words, from its launch and
how the API holds it now (``run.cleanup`` decides, this says why)."""

from __future__ import annotations

from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.core.lifecycle import phase_of
from pytest_experiment.core.review import PullRequestRef, review_phase
from pytest_experiment.core.verdict import Status
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.published import Published


def deleted_by_run(launch: Launch) -> str:
    """Why the run itself deleted an instance, from its lifecycle verdict."""
    figures = launch.follow.result.figures if launch.follow.result is not None else {}
    if figures.get("endedBy") == "budget":
        return "deleted by the run: --experiment-budget-running ended the manual-completion run"
    if figures.get("timedOutIn"):
        return "deleted by the run: --experiment-on-timeout=abort"
    return "deleted by the run (--experiment-on-timeout=abort or --experiment-budget-running)"


def kept_reason(launch: Launch, current: Obj | None) -> str:
    """Why an instance the on-success policy keeps is kept: its run did not pass."""
    result = launch.follow.result
    if result is None:
        phase = phase_of(current) if current is not None else launch.follow.phase or "Pending"
        return f"not finished: the session stopped while it was {phase}"
    if result.status is not Status.PASS:
        return f"lifecycle {result.status.name}: {one_line(result.line, limit=160)}"
    if launch.items.failed:
        return "an item of this experiment failed"
    if outcome := gate_failed(launch):
        # Under -k the selected checks may all pass: the gate is decided on every check.
        return f"quality gate FAIL (decided on all {len(outcome.results or ())} checks)"
    return "not all its items ran: the session stopped after its lifecycle passed"


def gate_failed(launch: Launch) -> Published | None:
    """The run's outcome when its quality gate, decided on every check, failed."""
    outcome = launch.publish.outcome
    return outcome if outcome is not None and outcome.gate is Status.FAIL else None


def pending_pr(launch: Launch, current: Obj | None) -> PullRequestRef | None:
    """The PR a published instance's Pending review gate holds open, or None."""
    if not launch.spec.publish or current is None or review_phase(current) != "Pending":
        return None
    pr = PullRequestRef.of(current)
    return pr if pr.url or pr.number is not None else None
