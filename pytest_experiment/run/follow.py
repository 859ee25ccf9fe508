"""Following one instance through its lifecycle: the ``lifecycle`` item's wait and verdict.

The follower blocks on the namespace's shared watch (never a poll loop of
its own), reports each phase as it is entered, and holds each phase to its
budget: past it, ``--experiment-on-timeout`` fails, extends or aborts the run.
pytest-timeout's limit (a ``Deadline``) ends the wait the same way. How a run
that ended is judged is ``run.endings``'.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.resources import Labelled
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lifecycle
from pytest_experiment.core.lifecycle import format_duration, phase_of, status
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import InstanceDeleted, Observed, WatchTimeout
from pytest_experiment.run.contexts import FollowContext
from pytest_experiment.run.endings import Endings
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.operator_watch import OperatorWatch

# How often a waiting item wakes to redraw its progress line; the watch, not
# this tick, is what notices a transition.
TICK = 0.5
# How long the watch is given to deliver what a direct read shows, before a budget is
# declared spent; past it the read itself is taken.
CATCH_UP = 2.0


@dataclass(frozen=True, slots=True)
class Deadline:
    """pytest-timeout's limit for one item, taken over from its own timer."""

    at: float
    """``time.monotonic()`` when the item must end."""
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(at=time.monotonic() + seconds, seconds=seconds)


def verdict(
    run: FollowContext,
    launch: Launch,
    *,
    deadline: Deadline | None = None,
    before: Callable[[], CheckResult | None] = lambda: None,
) -> CheckResult:
    """The lifecycle verdict of ``launch``'s current instance; computed once, however many
    items ask. ``before`` makes sure there is an instance to follow, or says why not."""
    state = launch.follow
    if state.result is None:
        try:
            state.result = before() or Follower(run, launch, deadline=deadline).verdict()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            # pytest-timeout's failure, say: the items after this one must not wait again.
            state.result = CheckResult(
                Status.FAIL, f"stopped while following {launch.instance}: {one_line(exc)}"
            )
            raise
    return state.result


def follow_again(
    run: FollowContext, launch: Launch, *, before: Callable[[], CheckResult | None]
) -> CheckResult:
    """The verdict of the instance an auto-fix re-run applied in place of the last one."""
    state = launch.follow
    state.result, state.phase, state.cut_short = None, "", False
    return verdict(run, launch, before=before)


class Follower:
    """One lifecycle item's wait: budgets, reports on entering phases, the verdict."""

    def __init__(
        self, run: FollowContext, launch: Launch, *, deadline: Deadline | None = None
    ) -> None:
        self.run = run
        self.deadline = deadline
        self.launch = launch
        self.options = run.options
        self.watcher = run.watcher(launch.namespace)
        self.name = launch.name
        self.instance = launch.instance
        self.reported = 0
        self.manual = lifecycle.manual_completion(launch.spec.data.get("spec") or {})
        self.timed_out: set[str] = set()
        self.extensions: dict[str, int] = {}
        # The (phase, limit) whose spending was last checked against a direct read.
        self.checked: tuple[str, float | None] | None = None
        self.ends = Endings(run, launch, self.watcher, manual=self.manual)
        self.operator = OperatorWatch(run, launch)

    def verdict(self) -> CheckResult:
        while True:
            observed = self.watcher.observed(self.instance)
            self._report(observed)
            obj = observed.obj
            phase = phase_of(obj)
            self.launch.follow.phase = phase
            if observed.deleted:
                return self.ends.deleted(observed, phase)
            if phase == "Complete":
                return self.ends.complete(observed)
            if phase == "Failed":
                if "Complete" in [t.value for t in observed.timeline("phase")]:
                    # Turned Failed after Complete: the lifecycle stays as it was observed;
                    # the quality and review items report the turn.
                    return self.ends.complete(observed)
                return self.ends.failed(observed)
            stuck = lifecycle.failed_target(obj) or self.ends.failed_claim(obj, phase)
            if stuck is not None:
                return self.ends.stuck(observed, phase, stuck)
            silent = self.operator.down(obj, since=self._entered(observed, phase))
            if silent is not None:
                # Unfinished: the cleanup policy deletes it, so an operator that recovers
                # does not provision clusters for a run nobody follows.
                self.launch.follow.cut_short = True
                return self.operator.verdict(observed, self.ends, silent=silent)
            entered = self._entered(observed, phase)
            budget = self.options.budget(phase)
            extended = self.extensions.get(phase, 0)
            limit = budget * (1 + extended) if budget is not None else None
            elapsed = (datetime.now(UTC) - entered).total_seconds()
            left = None if self.deadline is None else self.deadline.at - time.monotonic()
            spent = (left is not None and left <= 0) or (limit is not None and elapsed >= limit)
            if spent and self.checked != (phase, limit):
                # A harness that was paused (a laptop asleep, a starved runner) wakes past
                # its budget with the watch behind: the instance may have moved on in time.
                # What waits on the watch, and one read of the instance, come first.
                self.checked = (phase, limit)
                self.watcher.catch_up(self.instance, timeout=CATCH_UP)
                continue
            if left is not None and left <= 0:
                return self._cut_short(observed, phase, elapsed)
            if limit is not None and elapsed >= limit:
                assert budget is not None
                if self.manual and phase == "Running":
                    return self._ended_by_budget(observed, budget)
                verdict = self._timeout(observed, phase, budget, elapsed)
                if verdict is not None:
                    return verdict
                continue
            self.run.out.status(
                lifecycle.progress_line(
                    name=self.name,
                    instance=self.instance,
                    phase=phase,
                    elapsed=elapsed,
                    budget=limit,
                )
            )
            wait = TICK if limit is None else max(0.0, min(TICK, limit - elapsed))
            if left is not None:
                wait = min(wait, left)
            with contextlib.suppress(WatchTimeout, InstanceDeleted):
                self.watcher.wait_for(
                    self.instance,
                    _left(phase),
                    timeout=wait,
                    what=f"leaving {phase} (or a target failing)",
                )
            self.run.flush()

    # -- what is reported -------------------------------------------------------

    def _report(self, observed: Observed) -> None:
        """Each phase entered is reported once, in order, with what it brings."""
        timeline = observed.timeline("phase")
        for transition in timeline[self.reported :]:
            self.reported += 1
            phase = transition.value
            self.run.out.clear()
            if transition.missed is not None:
                # It came and went while the watch was down: the operator keeps no history,
                # so there is nothing to show of it but that it happened.
                self.run.out.line(
                    f"{self.instance}: {phase} (not observed: {transition.missed.describe()})"
                )
                continue
            self.run.out.line(f"{self.instance}: {phase}")
            applications: list[Obj] | None = None
            error: str | None = None
            if phase == "Ready" and self.run.cluster is not None:
                try:
                    applications = self.run.cluster.list_labelled(
                        Labelled.APPLICATIONS, instance=self.instance
                    )
                except ClusterError as exc:
                    error = one_line(exc)
            for line in lifecycle.entering_lines(
                phase,
                observed.obj,
                namespace=self.launch.namespace,
                applications=applications,
                applications_error=error,
                manual=self.manual,
            ):
                self.run.out.line(f"  {line}")

    def _entered(self, observed: Observed, phase: str) -> datetime:
        return observed.entered(phase) or self.launch.apply.at or datetime.now(UTC)

    def _ended_by_budget(self, observed: Observed, budget: float) -> CheckResult:
        """A manual-completion run ends by deletion; ``--experiment-budget-running`` is the
        harness deleting it on the user's behalf."""
        assert self.run.cluster is not None
        workflow = status(observed.obj).get("workflowStatus") or {}
        state = workflow.get("phase") if isinstance(workflow, Mapping) else None
        now = datetime.now(UTC)
        running = self.ends.running_time(observed, until=now)
        duration = self.ends.duration(observed, until=now)
        try:
            # Requested here; "deleted" is said at cleanup, once the object is gone.
            self.run.request_delete(self.launch)
        except ClusterError as exc:
            return CheckResult(
                Status.FAIL,
                f"Experiment {self.instance}: --experiment-budget-running "
                f"({format_duration(budget)}) ended the run, but it could not be deleted: "
                f"{one_line(exc)}",
                figures={"run": self.ends.run_record(observed, duration=duration)},
            )
        # How it ended, for the summary: deleted by the run, not still Running.
        record = {
            **self.ends.run_record(observed, duration=duration),
            "phase": "Deleted",
            "endedBy": "budget",
        }
        return CheckResult(
            Status.PASS,
            f"Experiment {self.instance} ended by --experiment-budget-running "
            f"({format_duration(budget)}): deleted after {format_duration(running)} Running "
            f"(manual completion; workflow {state or '<no phase>'})",
            figures={"run": record, "endedBy": "budget"},
        )

    def _cut_short(self, observed: Observed, phase: str, elapsed: float) -> CheckResult:
        """pytest-timeout's limit reached: reported like a phase budget, and the instance,
        unfinished, is deleted at session end under on-success."""
        self.launch.follow.cut_short = True
        assert self.deadline is not None
        timeout = self.deadline.seconds
        self.run.log_toil(
            lifecycle.timeout_toil(self.name, self.instance, phase, timeout, by="pytest-timeout")
        )
        return CheckResult(
            Status.FAIL,
            f"pytest-timeout ({format_duration(timeout)}) for {self.instance}: still {phase} "
            f"after {format_duration(elapsed)} in {phase}",
            details=self.ends.diagnostics(observed),
            figures={"run": self.ends.run_record(observed, duration=None), "timedOutIn": phase},
        )

    def _timeout(
        self, observed: Observed, phase: str, budget: float, elapsed: float
    ) -> CheckResult | None:
        """A phase timeout: toil once per phase, then fail, extend or abort. None: keep waiting."""
        if phase not in self.timed_out:
            self.timed_out.add(phase)
            self.run.log_toil(lifecycle.timeout_toil(self.name, self.instance, phase, budget))
        action = self.options.on_timeout
        extended = self.extensions.get(phase, 0)
        if action == "extend" and extended < self.options.max_extensions:
            self.extensions[phase] = extended + 1
            self.run.out.clear()
            self.run.out.line(
                f"{self.instance}: {phase} outlived its budget of {format_duration(budget)}; "
                f"extending ({extended + 1}/{self.options.max_extensions})"
            )
            return None
        details = self.ends.diagnostics(observed)
        line = (
            f"{phase} timeout ({format_duration(budget)}) for {self.instance}: still {phase} "
            f"after {format_duration(elapsed)}"
        )
        if extended:
            line += f" ({extended} extension{'s' if extended > 1 else ''})"
        if action == "abort":
            try:
                self.run.request_delete(self.launch)
            except ClusterError as exc:
                line += f"; abort could not delete it: {one_line(exc)}"
            else:
                held = self.run.wait_gone(self.launch.namespace, self.instance)
                if held is None:
                    line += "; aborted: instance deleted"
                else:
                    line += f"; aborted: deletion requested but {held}"
        return CheckResult(
            Status.FAIL,
            line,
            details=details,
            figures={"run": self.ends.run_record(observed, duration=None), "timedOutIn": phase},
        )


def _left(phase: str) -> Callable[[Obj], bool]:
    """Wakes a waiting item when the phase moves, or when a target fails in it (the real
    operator's way of failing early leaves the phase where it is)."""
    return lambda current: (
        phase_of(current) != phase or lifecycle.failed_target(current) is not None
    )


__all__ = ["Deadline", "Follower", "follow_again", "verdict"]
