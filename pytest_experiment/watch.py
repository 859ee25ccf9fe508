"""One watch per namespace, shared by every experiment of the session (R31, P1, P2, S1).

``WatchState`` is the pure core: it applies list results and watch events to
the latest object per instance and records, per instance, when each new value
of a tracked status field (``phase``, ``analysisPhase``, ``reviewPhase``) was
first seen. It drops stale and duplicate events by resourceVersion, so a
re-list after ``410 Gone`` or a dropped stream neither misses a transition
nor reports one twice.

``ExperimentWatcher`` is the I/O around it: a thread that lists, watches from
the list's resourceVersion, re-watches when the server closes the stream and
re-lists on ``Gone`` or errors. Callers block in ``wait_for`` on a condition
variable; nothing polls while the watch is held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from pytest_experiment.cluster import Cluster, Gone, WatchStream
from pytest_experiment.errors import ClusterError, ExperimentError
from pytest_experiment.lifecycle import normal_phase

Obj = dict[str, Any]

TRACKED_FIELDS = ("phase", "analysisPhase", "reviewPhase")
# Statuses with which a server refuses the watch verb itself: follow by listing instead.
_WATCH_REFUSED = frozenset({403, 405})

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A tracked status field took a new value, first seen at ``seen_at`` (UTC)."""

    field: str
    value: str
    seen_at: datetime
    resource_version: str


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
            if transition.value == value:
                return transition.seen_at
        return None


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _newer(candidate: str, current: str) -> bool:
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

    def apply(self, kind: str, obj: Obj, *, seen_at: datetime) -> Change | None:
        """Apply one ADDED/MODIFIED/DELETED event; None when it changes nothing."""
        name = _name(obj)
        known = self._instances.get(name)
        if kind == "DELETED":
            if known is None or known.deleted:
                return None
            known.obj, known.deleted = obj, True
            return Change(instance=name, kind=kind, obj=obj)
        if known is not None and not _newer(_version(obj), _version(known.obj)):
            return None
        if known is None:
            known = self._instances[name] = _Instance(obj=obj)
        known.obj, known.deleted = obj, False
        status = obj.get("status") or {}
        new: list[Transition] = []
        for tracked in self._tracked:
            value = status.get(tracked)
            if tracked == "phase":
                # No phase yet is Pending: the real operator never writes the word, and
                # the harness times Pending from when it first saw the object.
                value = normal_phase(value)
            if value and known.values.get(tracked) != value:
                known.values[tracked] = str(value)
                new.append(
                    Transition(
                        field=tracked,
                        value=str(value),
                        seen_at=seen_at,
                        resource_version=_version(obj),
                    )
                )
        known.transitions.extend(new)
        return Change(instance=name, kind=kind, obj=obj, transitions=tuple(new))

    def relist(self, items: Iterable[Obj], *, seen_at: datetime) -> list[Change]:
        """Reconcile with a full list: apply what moved, delete what is gone."""
        changes: list[Change] = []
        listed: set[str] = set()
        for item in items:
            listed.add(_name(item))
            kind = "MODIFIED" if _name(item) in self._instances else "ADDED"
            change = self.apply(kind, item, seen_at=seen_at)
            if change is not None:
                changes.append(change)
        for name, known in self._instances.items():
            if name not in listed and not known.deleted:
                known.deleted = True
                changes.append(Change(instance=name, kind="DELETED", obj=known.obj))
        return changes

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


class WatchTimeout(ExperimentError):
    """``wait_for`` reached its deadline; ``observed`` is the last state seen."""

    def __init__(self, message: str, *, observed: Observed) -> None:
        self.observed = observed
        super().__init__(message)


class InstanceDeleted(ExperimentError):
    """The instance was deleted while someone waited for it to reach a state."""

    def __init__(self, message: str, *, observed: Observed) -> None:
        self.observed = observed
        super().__init__(message)


@dataclass(frozen=True, kw_only=True)
class WatchStats:
    """API requests the watcher made (P2) and how often it had to re-list (S1)."""

    lists: int
    watches: int
    relists: int
    errors: int


Subscriber = Callable[[Change], None]


class ExperimentWatcher:
    """Follows every Experiment in one namespace with a single list + watch."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        watch_timeout: int = 300,
        poll_interval: float = 2.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._watch_timeout = watch_timeout
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._state = WatchState()
        self._changed = threading.Condition()
        # Serialises deliveries so a new subscriber's replay never interleaves with live events.
        self._dispatch = threading.RLock()
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._relist_requested = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_error: ClusterError | None = None
        self._polling = False
        self._lists = self._watches = self._relists = self._errors = 0

    # -- lifecycle --------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> Self:
        """Start the thread; returns after the first list, or raises why it failed."""
        self._thread = threading.Thread(
            target=self._run, name=f"experiment-watch[{self._namespace}]", daemon=True
        )
        self._thread.start()
        if not self._synced.wait(timeout) or self._lists == 0:
            self.stop()
            raise self._last_error or ClusterError(
                f"list Experiments in {self._namespace}: no answer within {timeout:.0f}s "
                f"({self._cluster.describe()})"
            )
        return self

    def stop(self) -> None:
        self._stop.set()
        self._interrupt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def resync(self) -> None:
        """Drop the current stream and re-list (the path taken after ``410 Gone``)."""
        self._relist_requested.set()
        self._interrupt()

    # -- queries ----------------------------------------------------------------

    @property
    def stats(self) -> WatchStats:
        return WatchStats(
            lists=self._lists, watches=self._watches, relists=self._relists, errors=self._errors
        )

    def observed(self, instance: str) -> Observed:
        with self._changed:
            return self._state.observed(instance)

    def subscribe(self, instance: str, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` (on the watcher thread) for each change to ``instance``.

        A subscriber that joins late first gets one SYNC change carrying every
        transition seen so far. Returns the function that unsubscribes.
        """
        with self._dispatch:
            self._subscribers.setdefault(instance, []).append(callback)
            observed = self.observed(instance)
            if observed.obj is not None:
                callback(
                    Change(
                        instance=instance,
                        kind="DELETED" if observed.deleted else "SYNC",
                        obj=observed.obj,
                        transitions=observed.transitions,
                    )
                )

        def unsubscribe() -> None:
            with self._dispatch:
                callbacks = self._subscribers.get(instance, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    def wait_for(
        self, instance: str, predicate: Callable[[Obj], bool], *, timeout: float, what: str = ""
    ) -> Obj:
        """The instance's object once ``predicate`` holds for it.

        Raises ``WatchTimeout`` at the deadline and ``InstanceDeleted`` if the
        instance disappears first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                observed = self._state.observed(instance)
                if observed.obj is not None and not observed.deleted and predicate(observed.obj):
                    return observed.obj
                if observed.deleted:
                    raise InstanceDeleted(
                        f"{instance} was deleted while waiting for {what or 'a condition'}",
                        observed=observed,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    raise WatchTimeout(
                        self._timeout_message(observed, what, timeout), observed=observed
                    )
                self._changed.wait(remaining)

    def wait_deleted(self, instance: str, *, timeout: float) -> None:
        try:
            self.wait_for(instance, lambda _: False, timeout=timeout, what="deletion")
        except InstanceDeleted:
            return

    def _timeout_message(self, observed: Observed, what: str, timeout: float) -> str:
        if observed.obj is None:
            seen = "never seen"
        else:
            seen = f"last phase {normal_phase((observed.obj.get('status') or {}).get('phase'))}"
        error = f"; last watch error: {self._last_error}" if self._last_error else ""
        return (
            f"timed out after {timeout:.1f}s waiting for {observed.instance}: "
            f"{what or 'a condition'} ({seen}){error}"
        )

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                version = self._list()
                backoff = 0.1
                self._follow(version)
            except Gone:
                # Our resourceVersion was compacted away: the re-list picks up what we missed.
                self._relists += 1
            except ClusterError as exc:
                if self._stop.is_set():
                    return
                self._errors += 1
                self._last_error = exc
                self._synced.set()  # lets start() report the failure instead of waiting
                if exc.status in _WATCH_REFUSED and self._lists > 0:
                    self._polling = True
                _log.warning("watch of %s failed (%s); retrying", self._namespace, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _list(self) -> str:
        items, version = self._cluster.list_experiments(namespace=self._namespace)
        self._lists += 1
        self._relist_requested.clear()
        with self._changed:
            changes = self._state.relist(items, seen_at=datetime.now(UTC))
            self._changed.notify_all()
        self._deliver(changes)
        self._last_error = None
        self._synced.set()
        return version

    def _follow(self, version: str) -> None:
        """Watch from ``version`` until asked to re-list or stopped."""
        while not self._stop.is_set() and not self._relist_requested.is_set():
            if self._polling:
                # The server refuses watches: R31's fallback is a list every poll interval.
                self._stop.wait(self._poll_interval)
                return
            stream = self._cluster.watch_experiments(
                namespace=self._namespace,
                resource_version=version,
                timeout_seconds=self._watch_timeout,
            )
            self._watches += 1
            with self._stream_lock:
                self._stream = stream
            if self._stop.is_set() or self._relist_requested.is_set():
                stream.close()
            try:
                for event in stream:
                    obj: Obj = event.get("object") or {}
                    version = _version(obj) or version
                    if event.get("type") == "BOOKMARK":
                        continue
                    self._apply(str(event.get("type")), obj)
            finally:
                with self._stream_lock:
                    self._stream = None
        if self._relist_requested.is_set():
            self._relists += 1

    def _apply(self, kind: str, obj: Obj) -> None:
        seen_at = datetime.now(UTC)
        with self._changed:
            change = self._state.apply(kind, obj, seen_at=seen_at)
            if change is None:
                return
            self._changed.notify_all()
        self._deliver([change])

    def _deliver(self, changes: Iterable[Change]) -> None:
        with self._dispatch:
            for change in changes:
                for callback in list(self._subscribers.get(change.instance, ())):
                    try:
                        callback(change)
                    except Exception:
                        # A subscriber's bug must not stop the watch every other experiment shares.
                        _log.exception("subscriber for %s failed", change.instance)

    def _interrupt(self) -> None:
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()
