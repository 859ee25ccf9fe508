"""What publishing one run produced: the scored results, the gate, the auto-fix attempts.

Written by ``run.publish``; the quality and review items read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_experiment.core import gate
from pytest_experiment.core.gate import RootCause
from pytest_experiment.core.lifecycle import Turn
from pytest_experiment.core.verdict import CheckResult, Status


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One run of the experiment inside the auto-fix loop."""

    number: int
    instance: str
    gate: str
    fixes: tuple[str, ...] = ()
    """Fixes applied after this attempt, before the next."""
    outcome: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "instance": self.instance,
            "gate": self.gate,
            "fixes": list(self.fixes),
            "outcome": self.outcome,
        }


@dataclass(kw_only=True)
class Published:
    """What the quality and review items of one published experiment report."""

    instance: str
    results: tuple[tuple[str, CheckResult], ...] | None = None
    problem: str = ""
    """Why there are no results to score (``results`` is None)."""
    absent: str = ""
    """Why the run has no results by design (a manual-completion run ended by deletion):
    its quality items are N/A, not errors."""
    decision: gate.GateDecision | None = None
    analyzer: str = ""
    analyzer_details: tuple[str, ...] = ()
    results_url: str = ""
    summary: Mapping[str, Any] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    diff: str = ""
    """The fix as a unified diff: suggested, or what apply wrote."""
    fix_problems: list[str] = field(default_factory=list)
    stopped: str = ""
    """Why the auto-fix loop ended without a passing gate, when it ran."""
    rerun_failed: bool = False
    """An auto-fix re-run did not complete: these are the previous attempt's results."""
    turn: Turn | None = None
    """The run turned Failed after Complete (quality gate exhausted, analyzer failed)."""
    turn_details: tuple[str, ...] = ()
    """What the failed run's summary says, when the turn left one."""

    def turn_line(self) -> str:
        return (
            f"{self.instance} turned Failed after Complete: {self.turn.line()}"
            if self.turn is not None
            else ""
        )

    def unscored(self) -> CheckResult:
        """A quality item's verdict when there are no results to score."""
        if self.turn is not None:
            return CheckResult(
                Status.FAIL,
                f"{self.turn_line()}; no results to score",
                details=((self.problem,) if self.problem else ()) + self.turn_details,
            )
        return CheckResult(Status.NA, f"no summary: {self.absent or self.problem}")

    @property
    def phase(self) -> str | None:
        """The phase the run ended in, when the results do not say it: Failed after a turn."""
        return "Failed" if self.turn is not None else None

    @property
    def gate(self) -> Status | None:
        return self.decision.gate if self.decision is not None else None

    def causes_of(self, check: str) -> list[RootCause]:
        """The gate's root causes found by ``check``."""
        if self.decision is None:
            return []
        return [c for c in self.decision.causes if c.check == check]

    def gate_record(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "gate": decision.gate.value if decision else None,
            "rootCauses": [
                {"check": c.check, "message": c.message, "fix": c.fix}
                for c in (decision.causes if decision else ())
            ],
            "escalation": decision.escalation if decision else None,
            "attempts": [a.as_json() for a in self.attempts],
            "fixDiff": self.diff,
            "fixProblems": list(self.fix_problems),
            "stopped": self.stopped,
        }


__all__ = ["Attempt", "Published"]
