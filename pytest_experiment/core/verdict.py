"""Verdicts: the four outcomes every validation rule and quality check returns.

Plain data with no pytest import, so rules and checks stay pure; the mapping
to pytest outcomes (PASS → passed, WARN → xfail, FAIL → failed, N/A → skipped)
lives in the collection module.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NA = "n-a"
    ERROR = "error"
    """Not a verdict: what the item needed from its environment could not be had."""

    @property
    def tag(self) -> str:
        """The scorecard tag, e.g. ``[PASS]`` or ``[N/A]``."""
        return "[N/A]" if self is Status.NA else f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a rule or check concluded.

    ``summary`` is the one-line scorecard text (without the tag); ``details``
    are the lines a user reads to act on it; ``figures`` are the numbers behind
    the verdict, written as JUnit properties and into the JSON report.
    ``blocked``: not judged at all, because an earlier step of the experiment
    failed (an N/A the quality gate is never decided on).
    """

    status: Status
    summary: str
    details: tuple[str, ...] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)
    blocked: bool = False

    @property
    def line(self) -> str:
        """The scorecard line: ``[WARN] Metrics source: target:cadvisor``."""
        return f"{self.status.tag} {self.summary}"


def blocked(summary: str) -> CheckResult:
    """An N/A because an earlier step of the experiment failed: ``summary`` says which."""
    return CheckResult(Status.NA, summary, blocked=True)


def gate(statuses: Iterable[Status]) -> Status:
    """The quality gate: any FAIL fails, else any WARN warns, else pass."""
    seen = set(statuses)
    if Status.FAIL in seen or Status.ERROR in seen:
        return Status.FAIL
    if Status.WARN in seen:
        return Status.WARN
    return Status.PASS


ADVISORY = frozenset({"reproducibility"})
"""Checks whose WARN does not hold the quality gate. The reproducibility check warns that a
run differs from the earlier ones, or that too little is known to say: news for a person,
not a defect of the run. A lab that gates on it makes a difference a FAIL
(``--experiment-reproducibility=fail``), which does hold the gate."""


def gated(check: str, status: Status) -> Status:
    """What ``check``'s ``status`` counts as in the quality gate."""
    return Status.PASS if check in ADVISORY and status is Status.WARN else status
