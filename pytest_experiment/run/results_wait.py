"""Waiting for a published run's final results, as the real operator writes them.

The operator marks a run Complete before its results are uploaded; once they
are, ``status.resultsURL`` names them. While its quality gate decides
(``iterationStatus`` Evaluating or Recollecting) the URL of a collection is
shown a moment and then cleared to re-collect, 120 s later by default: only a
decided gate names the results the run ends with, and only then does the
operator start the analyzer. A manual-completion run ends by deletion and has
no results at all.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pytest_experiment.base.types import Obj
from pytest_experiment.core import lifecycle
from pytest_experiment.core.lifecycle import Turn, format_duration, phase_of, status
from pytest_experiment.core.watch_state import InstanceDeleted, WatchTimeout
from pytest_experiment.run.contexts import RunContext
from pytest_experiment.run.launch import Launch

TICK = 0.5
CATCH_UP = 2.0
"""How long the watch is given to deliver what one direct read shows, before the wait is
declared over."""


@dataclass(frozen=True, kw_only=True)
class ResultsWait:
    """How the wait for the final results ended."""

    settled: bool
    """The gate decided, the run turned Failed, or the instance is gone; False: the wait
    ran out first."""
    at: datetime
    """When it ended: the analyzer's clocks start here."""
    waited: float
    """Seconds waited, re-collections included."""


def await_results(run: RunContext, launch: Launch) -> ResultsWait:
    """Wait for the final ``status.resultsURL`` within ``--experiment-results-wait``,
    showing the quality gate's progress. Each new gate phase or iteration restarts the
    wait, and while the gate re-collects its delay is allowed on top: a gate that is
    moving is not cut off, one that stalls is."""
    watcher = run.watcher(launch.namespace)
    instance, name = launch.instance, launch.name
    budget = run.options.results_wait
    spec = launch.spec.data.get("spec") or {}
    limit = lifecycle.max_iterations(spec)
    delay = lifecycle.recollect_delay(spec)
    begun = started = time.monotonic()
    shown: str | None = None
    caught_up = settled = False

    def done(current: Obj | None) -> bool:
        return (
            lifecycle.results_final(current)
            or phase_of(current) != "Complete"
            or lifecycle.turn_condition(current) is not None
        )

    while True:
        observed = watcher.observed(instance)
        obj = observed.obj
        if observed.deleted or done(obj):
            settled = True
            break
        progress = lifecycle.quality_gate_progress(obj, max_iterations=limit)
        if progress != shown:
            shown, caught_up = progress, False
            started = time.monotonic()
            if progress:
                run.out.clear()
                run.out.line(f"{instance}: {progress}")
        elapsed = time.monotonic() - started
        allowed = budget + delay if budget is not None and shown else budget
        if allowed is not None and elapsed >= allowed:
            if not caught_up:
                # A harness that was paused wakes past the wait with the watch behind.
                caught_up = True
                watcher.catch_up(instance, timeout=CATCH_UP)
                continue
            break  # reading the summary then says what is missing
        against = f" / {format_duration(allowed)}" if allowed is not None else ""
        run.out.status(
            f"{name} ({instance}): {shown or 'waiting for status.resultsURL'} "
            f"{format_duration(elapsed)}{against}"
        )
        wait = TICK if allowed is None else max(0.0, min(TICK, allowed - elapsed))

        def moved(current: Obj, seen: str | None = shown) -> bool:
            return (
                done(current)
                or lifecycle.quality_gate_progress(current, max_iterations=limit) != seen
            )

        with contextlib.suppress(WatchTimeout, InstanceDeleted):
            watcher.wait_for(instance, moved, timeout=wait, what="status.resultsURL")
        run.flush()
    return ResultsWait(settled=settled, at=datetime.now(UTC), waited=time.monotonic() - begun)


def turn(run: RunContext, launch: Launch) -> Turn | None:
    """Why the Complete run is now Failed, or None while it is not. The operator's
    condition counts as soon as it is written: the phase may follow a write later."""
    observed = run.watcher(launch.namespace).observed(launch.instance)
    if observed.deleted:
        return None
    return lifecycle.turned_failed(observed.obj) or lifecycle.turn_condition(observed.obj)


def manual_absence(run: RunContext, launch: Launch) -> str:
    """Why a manual-completion run has no results (it ended by deletion while Running, and
    the operator writes no summary.json for it), or "" for any other run."""
    observed = run.watcher(launch.namespace).observed(launch.instance)
    if not lifecycle.manual_completion(launch.spec.data.get("spec") or {}):
        return ""
    if lifecycle.is_terminal(observed.obj) or status(observed.obj).get("resultsURL"):
        return ""
    return (
        f"{launch.instance} is a manual-completion run that ended by deletion: "
        "the operator writes no summary.json for it"
    )


__all__ = ["ResultsWait", "await_results", "manual_absence", "turn"]
