"""A lifecycle item waiting on an instance the operator never touched: is the operator down?

While the instance has no status, the operator Deployment's readiness is read
once ``--experiment-budget-operator`` has passed since the apply, and again
each time as much more has passed (never on every wake-up). No ready replica
then fails the lifecycle naming the Deployment; the instance, unfinished, is
deleted at session end under the cleanup policy (``on-success`` and
``always``). A Deployment that cannot be read says nothing either way: the
Pending budget stays the deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.types import Obj
from pytest_experiment.core.lifecycle.operator import (
    operator_down_line,
    operator_down_toil,
    untouched,
)
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import Observed
from pytest_experiment.run.contexts import FollowContext
from pytest_experiment.run.endings import Endings
from pytest_experiment.run.launch import Launch


class OperatorWatch:
    def __init__(self, run: FollowContext, launch: Launch) -> None:
        self.run = run
        self.launch = launch
        self.budget = run.options.budget_operator
        self._next = self.budget
        """The silence, in seconds, at which the Deployment is read next."""

    def silent(self, since: datetime) -> float:
        return (datetime.now(UTC) - (self.launch.apply.at or since)).total_seconds()

    def down(self, obj: Obj | None, *, since: datetime) -> float | None:
        """How long the instance has had no status, once the operator is found down then;
        None otherwise. ``since``: when the watch first saw it (for an attached instance)."""
        if self.budget is None or self._next is None or self.run.cluster is None:
            return None
        silent = self.silent(since)
        if not untouched(obj) or silent < self._next:
            return None
        self._next = silent + self.budget
        try:
            ready = self.run.cluster.operator_ready_replicas()
        except ClusterError:
            return None
        return silent if not ready else None

    def verdict(self, observed: Observed, ends: Endings, *, silent: float) -> CheckResult:
        assert self.budget is not None
        launch = self.launch
        self.run.log_toil(operator_down_toil(launch.name, launch.instance, silent=silent))
        return CheckResult(
            Status.FAIL,
            operator_down_line(launch.instance, silent=silent, budget=self.budget),
            details=ends.diagnostics(observed),
            figures={"run": ends.run_record(observed, duration=None), "operatorDown": True},
        )


__all__ = ["OperatorWatch"]
