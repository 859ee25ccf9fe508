"""What the watch knows about each instance: the pure core of following Experiments.

``WatchState`` applies list results and watch events to the latest object per
instance and records, per instance, when each new value of a tracked status
field (``phase``, ``analysisPhase``, ``reviewPhase``) was first seen. It drops
stale and duplicate events by resourceVersion, so a re-list after ``410 Gone``
or a dropped stream neither misses a transition nor reports one twice.

The real operator keeps no phase history, so a re-list after an outage can
only show where an instance is now. When it finds a later value than the last
one seen, the values that must have come between are recorded as transitions
that were *not observed*, with the outage they fell into, rather than silently
missing from the timeline. No I/O, no threads, no clock of its own: the
caller says when each thing was seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pytest_experiment.base import views
from pytest_experiment.base.errors import ExperimentError
from pytest_experiment.base.types import Obj, ObjView
from pytest_experiment.base.views import meta
from pytest_experiment.core.lifecycle import normal_phase

TRACKED_FIELDS = ("phase", "analysisPhase", "reviewPhase")

# Status values an instance must have passed through to reach another one, in order,
# as the real operator writes them. ``Pending`` is absent from the phase chain: the
# operator never writes it, so it is never inferred. The analyzer may jump from
# Pending straight to its end (a 30 s poll can miss Running), so only Pending is
# certain before Running, Succeeded or Failed; Skipped is written without a job.
_PHASE_CHAIN = ("Provisioning", "Ready", "Running", "Complete")
_REQUIRED_BEFORE: dict[str, dict[str, tuple[str, ...]]] = {
    "phase": {
        **{value: _PHASE_CHAIN[:i] for i, value in enumerate(_PHASE_CHAIN)},
        "Failed": ("Provisioning", "Ready", "Running"),
    },
    "analysisPhase": {
        "Running": ("Pending",),
        "Succeeded": ("Pending",),
        "Failed": ("Pending",),
    },
    "reviewPhase": {
        "Approved": ("Pending",),
        "Rejected": ("Pending",),
    },
}


def skipped_values(field: str, before: str | None, after: str) -> tuple[str, ...]:
    """Values of ``field`` that must have come between ``before`` and ``after``.

    Only what the operator always writes on the way is returned; a jump that
    can happen without anything in between (Running → Failed, analyzer
    Pending → Succeeded) yields nothing.
    """
    required = _REQUIRED_BEFORE.get(field, {}).get(after, ())
    if before in required:
        return required[required.index(before) + 1 :]
    if before and before in _REQUIRED_BEFORE.get(field, {}):
        # ``before`` is itself past (or beside) everything ``after`` needs.
        passed = set(_REQUIRED_BEFORE[field][before]) | {before}
        return tuple(value for value in required if value not in passed)
    return required


@dataclass(frozen=True, kw_only=True)
class Outage:
    """A span in which the watch saw nothing: from when it was lost to the re-list."""

    started: datetime
    ended: datetime
    polled: bool = False
    read: bool = False
    """Revealed by a direct read the watch had not caught up with (the harness was paused,
    or its watch lagged), not by a re-list."""

    def describe(self) -> str:
        span = f"{self.started:%H:%M:%S}–{self.ended:%H:%M:%S} UTC"
        if self.polled:
            return f"between two polls {span}"
        if self.read:
            return f"not delivered by the watch {span}; found by a direct read"
        return f"the watch was down {span}"


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A tracked status field took a new value, first seen at ``seen_at`` (UTC).

    ``missed`` is set when the value was never seen: it came and went during
    that outage, and ``seen_at`` is then when the re-list revealed it.
    """

    field: str
    value: str
    seen_at: datetime
    resource_version: str
    missed: Outage | None = None

    @property
    def observed(self) -> bool:
        return self.missed is None


@dataclass(frozen=True, kw_only=True)
class Change:
    """What one event (or re-list) did to one instance.

    ``kind`` is ADDED, MODIFIED, DELETED, or SYNC for the replay a new
    subscriber gets.
    """

    instance: str
    kind: str
    obj: Obj
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything the watch knows about one instance."""

    instance: str
    obj: Obj | None
    deleted: bool
    transitions: tuple[Transition, ...]

    def timeline(self, field: str = "phase") -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.field == field)

    def entered(self, value: str, field: str = "phase") -> datetime | None:
        """When ``field`` last took ``value``, as the watch first saw it."""
        for transition in reversed(self.timeline(field)):
            if transition.value == value and transition.observed:
                return transition.seen_at
        return None


def _name(obj: ObjView) -> str:
    return meta(obj).name


def object_version(obj: ObjView) -> str:
    """The object's resourceVersion, or "" when it has none."""
    return meta(obj).resource_version


def newer(candidate: str, current: str) -> bool:
    """Whether ``candidate`` is a later resourceVersion than ``current``.

    resourceVersions are opaque by contract but etcd revisions in practice;
    comparing them numerically is what drops a stale event replayed by a
    re-list. Non-numeric versions fall back to "different means newer".
    """
    try:
        return int(candidate) > int(current)
    except ValueError:
        return candidate != current


@dataclass
class _Instance:
    obj: Obj
    deleted: bool = False
    transitions: list[Transition] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


class WatchState:
    """Latest object and transition list per instance; no I/O, no threads."""

    def __init__(self, *, tracked: Iterable[str] = TRACKED_FIELDS) -> None:
        self._tracked = tuple(tracked)
        self._instances: dict[str, _Instance] = {}

    def apply(
        self, kind: str, obj: Obj, *, seen_at: datetime, outage: Outage | None = None
    ) -> Change | None:
        """Apply one ADDED/MODIFIED/DELETED event; None when it changes nothing.

        ``outage``: the event ends a span the watch did not see, so values that
        must have come in between are recorded as missed in it.
        """
        name = _name(obj)
        known = self._instances.get(name)
        if kind == "DELETED":
            if known is None or known.deleted:
                return None
            known.obj, known.deleted = obj, True
            return Change(instance=name, kind=kind, obj=obj)
        if known is not None and not newer(object_version(obj), object_version(known.obj)):
            return None
        if known is None:
            known = self._instances[name] = _Instance(obj=obj)
        known.obj, known.deleted = obj, False
        status = views.status(obj)
        new: list[Transition] = []
        for tracked in self._tracked:
            value = status.get(tracked)
            if tracked == "phase":
                # No phase yet is Pending: the real operator never writes the word, and
                # the harness times Pending from when it first saw the object.
                value = normal_phase(value)
            if value and known.values.get(tracked) != value:
                if outage is not None:
                    new.extend(
                        Transition(
                            field=tracked,
                            value=missed,
                            seen_at=seen_at,
                            resource_version=object_version(obj),
                            missed=outage,
                        )
                        for missed in skipped_values(tracked, known.values.get(tracked), str(value))
                    )
                known.values[tracked] = str(value)
                new.append(
                    Transition(
                        field=tracked,
                        value=str(value),
                        seen_at=seen_at,
                        resource_version=object_version(obj),
                    )
                )
        known.transitions.extend(new)
        return Change(instance=name, kind=kind, obj=obj, transitions=tuple(new))

    def relist(
        self, items: Iterable[Obj], *, seen_at: datetime, outage: Outage | None = None
    ) -> list[Change]:
        """Reconcile with a full list: apply what moved, delete what is gone.

        ``outage``: the span since the watch last saw events (None for the
        first list, which reports where instances already were, not a gap).
        """
        changes: list[Change] = []
        listed: set[str] = set()
        for item in items:
            listed.add(_name(item))
            kind = "MODIFIED" if _name(item) in self._instances else "ADDED"
            change = self.apply(kind, item, seen_at=seen_at, outage=outage)
            if change is not None:
                changes.append(change)
        for name, known in self._instances.items():
            if name not in listed and not known.deleted:
                known.deleted = True
                changes.append(Change(instance=name, kind="DELETED", obj=known.obj))
        return changes

    def instances(self) -> list[str]:
        """Every instance seen, gone or not, in the order first seen."""
        return list(self._instances)

    def replay(self, instance: str) -> Change | None:
        """All that was seen of ``instance`` as one change, for a subscriber that joins
        late: SYNC with every transition, or DELETED once it is gone; None if never seen."""
        known = self._instances.get(instance)
        if known is None:
            return None
        return Change(
            instance=instance,
            kind="DELETED" if known.deleted else "SYNC",
            obj=known.obj,
            transitions=tuple(known.transitions),
        )

    def observed(self, instance: str) -> Observed:
        known = self._instances.get(instance)
        if known is None:
            return Observed(instance=instance, obj=None, deleted=False, transitions=())
        return Observed(
            instance=instance,
            obj=known.obj,
            deleted=known.deleted,
            transitions=tuple(known.transitions),
        )


class _WaitEnded(ExperimentError):
    """A wait on the watch ended without its condition; ``observed`` is the last state seen."""

    def __init__(self, message: str, *, observed: Observed) -> None:
        self.observed = observed
        super().__init__(message)


class WatchTimeout(_WaitEnded):
    """``wait_for`` reached its deadline."""


class InstanceDeleted(_WaitEnded):
    """The instance was deleted while someone waited for it to reach a state."""
