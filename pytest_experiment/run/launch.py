"""One selected experiment in a session: what it is (fixed) and what each stage made of it.

A ``Launch`` is created once per experiment file and never changes; the
stages of the run keep their state in its parts, each part written by one
module only and read by any:

- ``preflight`` by ``run.preflight``: the pre-flight verdicts and whether it may be applied;
- ``apply`` by ``run.launcher``: the instance of the current attempt, or why there is none;
- ``follow`` by ``run.follow``: the lifecycle verdict of that instance;
- ``failure`` by ``run.failure_capture``: what explained each instance that failed, read
  when the watch first showed it Failed;
- ``items`` by ``run.live_run``: what the plugin reported of the experiment's items;
- ``publish`` by ``run.publish``: the scored outcome and the auto-fix attempts;
- ``review`` by ``run.review_gate``: the review verdict.

An auto-fix re-run starts a new attempt: the launcher and the follow start
their parts afresh, the rest carry over.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult
from pytest_experiment.run.published import Attempt, Published


@dataclass(eq=False, kw_only=True)
class PreflightState:
    """Written by ``run.preflight``."""

    checks: dict[str, CheckResult] = field(default_factory=dict)
    """The verdict of each pre-flight item, once checked."""
    blocked: str | None = None
    """Why it is not applied (a skip reason naming the blocking item)."""


@dataclass(eq=False, kw_only=True)
class ApplyState:
    """Written by ``run.launcher``: the current attempt's instance."""

    experiment: Experiment | None = None
    """The file as this attempt applied it (an auto-fix re-run applies the rewritten file)."""
    instance: str = ""
    error: str | None = None
    """Why the create (or the attach) failed."""
    at: datetime | None = None
    queued: bool = False
    """Held back by ``--experiment-max-concurrent``: the launcher thread applies it, never
    the item that waits for it."""
    done: threading.Event = field(default_factory=threading.Event)
    """Set once the create has answered, either way."""
    sent: list[str] = field(default_factory=list)
    """The create label of every create this process sent for the launch: what its
    session-end sweep may call its own (xdist workers share one run label)."""
    unanswered: list[str] = field(default_factory=list)
    """The create labels of every attempt whose create may have made an instance the
    launch does not follow (its answer lost, and not exactly one found)."""


@dataclass(eq=False, kw_only=True)
class FollowState:
    """Written by ``run.follow``: what became of the current attempt's instance."""

    result: CheckResult | None = None
    """The lifecycle verdict, computed once however many items ask."""
    phase: str = ""
    """The last phase the harness saw, for cleanup reasons."""
    cut_short: bool = False
    """Its lifecycle item ended while it was unfinished (pytest-timeout, the operator down):
    the cleanup policy deletes it rather than keep it as a failure to look at."""


@dataclass(eq=False, kw_only=True)
class Capture:
    """What explained one failed instance, read once, when it was first seen Failed."""

    instance: str
    done: threading.Event = field(default_factory=threading.Event)
    """Set once the read has ended, either way."""
    read: bool = False
    """The read ended normally (each part of it may still say why it could not be read)."""
    reason: str | None = None
    """Why the run's Workflow failed (its failed step), when no condition says why."""
    details: tuple[str, ...] = ()
    """The diagnostics, as the lifecycle item shows them."""


@dataclass(eq=False, kw_only=True)
class FailureState:
    """Written by ``run.failure_capture``: one capture per failed instance of the launch
    (an auto-fix re-run is another instance), whoever reads it first."""

    captures: dict[str, Capture] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(eq=False, kw_only=True)
class ItemsState:
    """Written by ``run.live_run`` from what the plugin reports of the items."""

    named: bool = False
    """Test items name it (the ``experiment_run`` fixture alone does not)."""
    failed: bool = False
    done: bool = False
    """Its last selected item has run: an interrupt or ``-x`` after that loses nothing."""


@dataclass(eq=False, kw_only=True)
class PublishState:
    """Written by ``run.publish``."""

    outcome: Published | None = None
    """After Complete, for ``publish: true``: analyzer, scored results, gate."""
    attempts: list[Attempt] = field(default_factory=list)
    """Earlier runs an auto-fix replaced."""
    applied_fixes: list[str] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class ReviewState:
    """Written by ``run.review_gate``."""

    result: CheckResult | None = None


@dataclass(frozen=True, eq=False, kw_only=True)
class Launch:
    experiment: Experiment
    """The file as collected."""
    key: str
    """The experiment file's resolved path."""
    namespace: str
    attached: str | None = None
    """The instance given by ``--experiment-instance``; never created or deleted."""
    preflight: PreflightState = field(default_factory=PreflightState)
    apply: ApplyState = field(default_factory=ApplyState)
    follow: FollowState = field(default_factory=FollowState)
    failure: FailureState = field(default_factory=FailureState)
    items: ItemsState = field(default_factory=ItemsState)
    publish: PublishState = field(default_factory=PublishState)
    review: ReviewState = field(default_factory=ReviewState)

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def instance(self) -> str:
        """The current attempt's instance; empty until one is applied (or attached)."""
        return self.apply.instance

    @property
    def spec(self) -> Experiment:
        """The experiment the current instance runs: the collected file, or its rewrite."""
        return self.apply.experiment or self.experiment

    @property
    def created(self) -> bool:
        """This session created the current instance (so its cleanup policy applies)."""
        return bool(self.instance) and self.attached is None


__all__ = [
    "ApplyState",
    "Capture",
    "FailureState",
    "FollowState",
    "ItemsState",
    "Launch",
    "PreflightState",
    "PublishState",
    "ReviewState",
]
