"""Following the analyzer after Complete: its phases, its budgets, its Job when it fails.

The operator runs an analyzer Job once the results are in; its outcome
(Succeeded, Failed, Skipped, Timeout) feeds the ``ai-verdict`` check. Followed
on the namespace's shared watch like the lifecycle: nothing here polls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from pytest_experiment.base import views
from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lifecycle
from pytest_experiment.core import review as rv
from pytest_experiment.core.lifecycle import format_duration, phase_of, status
from pytest_experiment.core.watch_state import InstanceDeleted, WatchTimeout
from pytest_experiment.run.contexts import RunContext
from pytest_experiment.run.launch import Launch

TICK = 0.5
# How long the watch is given to deliver what one direct read shows, before a budget is
# declared spent.
CATCH_UP = 2.0


class Analyzer:
    """The analyzer of one launch's current instance."""

    def __init__(self, run: RunContext, launch: Launch) -> None:
        self.run = run
        self.launch = launch

    def say(self, text: str) -> None:
        self.run.out.clear()
        self.run.out.line(text)

    def outcome(self, *, results_seen: datetime | None) -> tuple[str, tuple[str, ...]]:
        """The analyzer's outcome (Succeeded, Failed, Skipped, Timeout, Deleted) and the lines
        that explain it. Its start budget runs from ``results_seen``, when the results
        were in (else from Complete)."""
        launch, live = self.launch, self.run
        watcher = live.watcher(launch.namespace)
        instance, name = launch.instance, launch.name
        reported = 0
        complete_at = results_seen or watcher.observed(instance).entered("Complete")
        checked: str | None = None
        while True:
            observed = watcher.observed(instance)
            timeline = observed.timeline("analysisPhase")
            for transition in timeline[reported:]:
                reported += 1
                if transition.missed is not None:
                    self.say(
                        f"{instance}: analyzer {transition.value} "
                        f"(not observed: {transition.missed.describe()})"
                    )
                    continue
                self.say(f"{instance}: analyzer {transition.value}")
                self.run.out.line(f"  {rv.ANALYZER_LINES.get(transition.value, transition.value)}")
                if transition.value == "Running" and live.verbose:
                    for line in self._job_log(instance, lines=10):
                        self.run.out.line(f"    {line}")
            if observed.deleted:
                return "Deleted", (f"{instance} was deleted before the analyzer finished",)
            phase = rv.analysis_phase(observed.obj)
            now = datetime.now(UTC)
            if phase not in rv.ANALYZER_DONE and phase_of(observed.obj) == "Failed":
                # The operator gave up on the analysis (its Job is gone, say): the turn
                # to Failed says why, and there is nothing left to wait for.
                return phase or "Skipped", ()
            if phase in rv.ANALYZER_DONE:
                if phase == "Failed":
                    return phase, tuple(self._job_report(instance))
                return phase, ()
            if not phase and lifecycle.quality_gate_deciding(observed.obj):
                # The quality gate is deciding again: the operator starts the analyzer only
                # once it passed, so its start clock has not begun.
                complete_at = now
            since: datetime = (timeline[0].seen_at if timeline else complete_at) or now
            if not phase:
                budget, label = self.run.options.budget_analyzer_start, "not started"
            else:
                budget, label = self.run.options.budget_analyzer, phase
            elapsed = (now - since).total_seconds()
            if budget is not None and elapsed >= budget and checked != phase:
                # A harness that was paused wakes past the budget with the watch behind.
                checked = phase
                watcher.catch_up(instance, timeout=CATCH_UP)
                continue
            if budget is not None and elapsed >= budget:
                if not phase:
                    # No analysisPhase within the budget: the operator never created a job,
                    # so there is no analysis to wait for.
                    self.say(f"{instance}: analyzer never started; counted as Skipped")
                    return "Skipped", (
                        f"status.analysisPhase stayed empty {format_duration(budget)} "
                        "after Complete",
                    )
                live.log_toil(rv.analyzer_timeout_toil(name, instance, budget))
                self.say(f"{instance}: analyzer timeout ({format_duration(budget)}) in {phase}")
                return "Timeout", (
                    f"analyzer still {phase} after {format_duration(elapsed)}",
                    *self._job_report(instance),
                )
            against = f" / {format_duration(budget)}" if budget is not None else ""
            self.run.out.status(
                f"{name} ({instance}): analyzer {label} {format_duration(elapsed)}{against}"
            )
            wait = TICK if budget is None else max(0.0, min(TICK, budget - elapsed))
            with contextlib.suppress(WatchTimeout, InstanceDeleted):
                watcher.wait_for(instance, _left(phase), timeout=wait, what="the analyzer")
            live.flush()

    def _job_name(self, instance: str) -> str | None:
        """The analyzer Job's name as the status gives it, else None (it is looked up)."""
        observed = self.run.watcher(self.launch.namespace).observed(instance)
        named = status(observed.obj).get("analysisJobName")
        return str(named) if named else None

    def _job_log(self, instance: str, *, lines: int, job: str | None = None) -> list[str]:
        assert self.run.cluster is not None
        try:
            if job is None:
                job, _ = self.run.cluster.analyzer_job(instance, named=self._job_name(instance))
            return self.run.cluster.job_log_tail(job, lines=lines) or ["(no log lines)"]
        except ClusterError as exc:
            return [f"logs unavailable: {one_line(exc)}"]

    def _job_report(self, instance: str) -> list[str]:
        """The job's state and log tail (seed step 6, on Failed); each part best effort."""
        assert self.run.cluster is not None
        lines = []
        job: str | None = None
        try:
            job, found = self.run.cluster.analyzer_job(instance, named=self._job_name(instance))
            conditions = [
                f"{c.get('type')}"
                + (f" ({c.get('reason')}: {c.get('message')})" if c.get("reason") else "")
                for c in views.conditions(found)
                if c.get("status") == "True"
            ]
            lines.append(
                f"job {job}: " + (", ".join(conditions) if conditions else "no finished condition")
            )
        except ClusterError as exc:
            lines.append(f"analyzer job: unavailable: {one_line(exc)}")
            lines.append("log: logs unavailable: no analyzer Job to read")
            return lines
        lines += [f"log: {line}" for line in self._job_log(instance, lines=50, job=job)]
        return lines

    # -- gate failure: report, suggest, apply -----------------------------------------


def _left(phase: str) -> Callable[[Obj], bool]:
    return lambda obj: rv.analysis_phase(obj) != phase or phase_of(obj) == "Failed"


__all__ = ["Analyzer"]
