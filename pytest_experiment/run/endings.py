"""How a followed run ended, as a lifecycle verdict with what explains it.

Complete, Failed, a target the operator will not get past (stuck), deleted
before it finished: each verdict carries the run record the report shows
(instance, timeline, duration) and, for a failure, diagnostics gathered from
the cluster. The waiting itself, budgets and timeouts are ``run.follow``'s.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.resources import Labelled
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.base.views import meta
from pytest_experiment.core import lifecycle
from pytest_experiment.core.lifecycle import format_duration, phase_of, status
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import InstanceDeleted, Observed, WatchTimeout
from pytest_experiment.run import failure_capture
from pytest_experiment.run.contexts import RunContext, Watch
from pytest_experiment.run.diagnostics import failed_summary, gather
from pytest_experiment.run.launch import Launch

# How often the GKECluster claims of a provisioning instance are read: a cloud error shows
# there before (or without) the operator marking the target Failed. Kept slow so that a
# session's requests do not grow much with how long provisioning takes.
CLAIM_CHECK_INTERVAL = 15.0
# How long a finished instance is given to show completedAt (the real operator writes it,
# with hypothesisResult and resultsURL, in the reconcile after Complete or Failed) before
# the verdict goes without them.
_AFTER_END_WAIT = 10.0


class Endings:
    """The verdicts of one instance's lifecycle item, from what the watch observed."""

    def __init__(self, run: RunContext, launch: Launch, watcher: Watch, *, manual: bool) -> None:
        self.run = run
        self.launch = launch
        self.watcher = watcher
        self.options = run.options
        self.name = launch.name
        self.instance = launch.instance
        self.manual = manual
        self._claims_read_at: float | None = None

    def _timeline(self, observed: Observed) -> dict[str, str]:
        return {
            t.value: t.seen_at.isoformat(timespec="microseconds")
            for t in observed.timeline("phase")
            if t.observed
        }

    def _not_observed(self, observed: Observed) -> dict[str, dict[str, str]]:
        """Phases passed while the watch was down, with the outage they fell in."""
        return {
            t.value: {
                "from": t.missed.started.isoformat(timespec="microseconds"),
                "to": t.missed.ended.isoformat(timespec="microseconds"),
            }
            for t in observed.timeline("phase")
            if t.missed is not None
        }

    def run_record(self, observed: Observed, *, duration: float | None) -> dict[str, Any]:
        current = status(observed.obj)
        return {
            "instance": self.instance,
            "phase": phase_of(observed.obj) if not observed.deleted else "Deleted",
            "createdAt": meta(observed.obj).created,
            "completedAt": current.get("completedAt"),
            "durationSeconds": round(duration, 3) if duration is not None else None,
            "results": current.get("resultsURL"),
            "hypothesis": current.get("hypothesisResult"),
            "timeline": self._timeline(observed),
            **({"notObserved": missed} if (missed := self._not_observed(observed)) else {}),
        }

    def duration(self, observed: Observed, *, until: datetime | None = None) -> float | None:
        """The run's length on the harness's own clock, from the create it made to the last
        phase it saw (or ``until``). An attached instance started before the harness
        looked: its length comes from the server's timestamps, ``metadata.creationTimestamp``
        to ``status.completedAt`` (or ``until``), never from when the harness first saw it."""
        timeline = observed.timeline("phase")
        if not self.launch.created:
            total = lifecycle.run_total(observed.obj)
            if total is not None:
                return total
            created = lifecycle.parse_time(meta(observed.obj).created)
            if created is not None and until is not None and until >= created:
                return (until - created).total_seconds()
        start = self.launch.apply.at if self.launch.created else None
        start = start or (timeline[0].seen_at if timeline else None)
        end = until or (timeline[-1].seen_at if timeline else None)
        if start is None or end is None:
            return None
        return (end - start).total_seconds()

    def running_time(self, observed: Observed, *, until: datetime) -> float | None:
        """How long the instance has been Running, until ``until``: from when the watch saw
        it enter Running or, for an instance first seen already Running (attached), from
        when its workflow started (``status.workflowStatus.startedAt``) if that is earlier."""
        entered = observed.entered("Running")
        timeline = observed.timeline("phase")
        first_seen_running = bool(timeline) and timeline[0].value == "Running"
        started = lifecycle.workflow_started(observed.obj)
        if started is not None and (entered is None or (first_seen_running and started < entered)):
            entered = started
        return (until - entered).total_seconds() if entered is not None else None

    def diagnostics(self, observed: Observed) -> tuple[str, ...]:
        assert self.run.cluster is not None
        found = gather(
            self.run.cluster,
            self.instance,
            namespace=self.launch.namespace,
            experiment=observed.obj if not observed.deleted else None,
        )
        return tuple(found.render())

    # -- verdicts ---------------------------------------------------------------------

    def complete(self, observed: Observed) -> CheckResult:
        # Once the operator recorded the end: an attached run's length is completedAt's.
        observed = self._ended(observed)
        duration = self.duration(observed)
        hypothesis = status(observed.obj).get("hypothesisResult")
        record = self.run_record(observed, duration=duration)
        criteria = ((self.launch.spec.data.get("spec") or {}).get("hypothesis") or {}).get(
            "successCriteria"
        )
        return CheckResult(
            Status.PASS,
            f"Experiment {self.instance} completed in {format_duration(duration)}; "
            f"hypothesis: {hypothesis or ('not reported' if criteria else 'N/A (no criteria)')}",
            figures={
                "run": record,
                "durationSeconds": record["durationSeconds"],
                "hypothesisResult": hypothesis,
            },
        )

    def failed(self, observed: Observed) -> CheckResult:
        phases = [t.value for t in observed.timeline("phase")]
        phase = lifecycle.failed_in(
            phases[:-1] if phases[-1:] == ["Failed"] else phases, observed.obj
        )
        message = lifecycle.condition_message(observed.obj)
        assert self.run.cluster is not None
        # Read when the watch first showed it Failed, whichever item ran then: the
        # operator's cleanup deletes the Workflow (the reason) and the cloud objects soon
        # after.
        captured = failure_capture.explained(self.run.cluster, self.launch, observed.obj or {})
        if message is None:
            message = captured.reason or lifecycle.first_condition_message(observed.obj)
        self.run.log_toil(lifecycle.failed_toil(self.name, self.instance, phase, one_line(message)))
        details = [*captured.details, *self._failed_summary(observed)]
        # Once the operator recorded the end: an attached run's length is completedAt's.
        ended = self._ended(observed)
        return CheckResult(
            Status.FAIL,
            f"Experiment {self.instance} failed in {phase}: {one_line(message)}",
            details=tuple(details),
            figures={
                "run": self.run_record(ended, duration=self.duration(ended)),
                "failedIn": phase,
            },
        )

    def _ended(self, observed: Observed) -> Observed:
        """``observed`` once the operator has recorded the end (``completedAt``), within a
        short wait: the real operator writes it a reconcile after the phase."""
        if observed.deleted or status(observed.obj).get("completedAt"):
            return observed
        wait = min(_AFTER_END_WAIT, self.options.results_wait or _AFTER_END_WAIT)
        with contextlib.suppress(WatchTimeout, InstanceDeleted):
            self.watcher.wait_for(
                self.instance,
                lambda o: bool(status(o).get("completedAt")),
                timeout=wait,
                what="completedAt",
            )
        return self.watcher.observed(self.instance)

    def _failed_summary(self, observed: Observed) -> list[str]:
        """What the failed run's summary.json says, when the watch still has the run."""
        if observed.deleted or observed.obj is None:
            return []
        url = status(self._ended(observed).obj).get("resultsURL")
        declared = [m.name for m in self.launch.spec.metrics]
        return failed_summary(self.run.read_summary, str(url or ""), declared=declared)

    def failed_claim(self, obj: Obj | None, phase: str) -> lifecycle.StuckTarget | None:
        """A claim the cloud refused, read at most every ``CLAIM_CHECK_INTERVAL``."""
        if phase not in ("Pending", "Provisioning") or self.run.cluster is None:
            return None
        now = time.monotonic()
        if self._claims_read_at is not None and now - self._claims_read_at < CLAIM_CHECK_INTERVAL:
            return None
        self._claims_read_at = now
        try:
            claims = self.run.cluster.claims_named(lifecycle.claim_names(obj))
        except ClusterError:
            return None  # a diagnostic aid only: the budget still bounds the wait
        return lifecycle.failed_claim(claims, self.instance)

    def stuck(self, observed: Observed, phase: str, stuck: lifecycle.StuckTarget) -> CheckResult:
        """A target failed and the operator will not move on: fail now, not at the budget."""
        stuck = self._explain(observed.obj, stuck)
        self.run.log_toil(lifecycle.stuck_toil(self.name, self.instance, phase, stuck))
        return CheckResult(
            Status.FAIL,
            stuck.line(self.instance, phase),
            details=self.diagnostics(observed),
            figures={
                "run": self.run_record(observed, duration=None),
                "failedIn": phase,
                "stuckTarget": stuck.target,
            },
        )

    def _explain(self, obj: Obj | None, stuck: lifecycle.StuckTarget) -> lifecycle.StuckTarget:
        """The target's reason from its claim or applications when the status has none."""
        cluster = self.run.cluster
        if cluster is None or not stuck.unexplained:
            return stuck
        claims: list[Obj] = []
        applications: list[Obj] = []
        with contextlib.suppress(ClusterError):
            claims = cluster.list_claims(instance=self.instance, names=lifecycle.claim_names(obj))
        explained = lifecycle.explained(stuck, obj=obj, claims=claims)
        if explained is not stuck:
            return explained
        with contextlib.suppress(ClusterError):
            applications = cluster.list_labelled(Labelled.APPLICATIONS, instance=self.instance)
        return lifecycle.explained(stuck, obj=obj, applications=applications)

    def deleted(self, observed: Observed, phase: str) -> CheckResult:
        if self.manual and phase == "Running":
            now = datetime.now(UTC)
            running = self.running_time(observed, until=now)
            return CheckResult(
                Status.PASS,
                f"Experiment {self.instance} ended by deletion after "
                f"{format_duration(running)} Running (manual completion)",
                figures={
                    "run": self.run_record(observed, duration=self.duration(observed, until=now))
                },
            )
        self.run.log_toil(lifecycle.deleted_toil(self.name, self.instance, phase))
        return CheckResult(
            Status.FAIL,
            f"Experiment {self.instance} was deleted while {phase}, before it finished",
            details=self.diagnostics(observed),
            figures={"run": self.run_record(observed, duration=None)},
        )


__all__ = ["CLAIM_CHECK_INTERVAL", "Endings"]
