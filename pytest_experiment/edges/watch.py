"""One watch per namespace, shared by every experiment of the session.

``WatchState`` is the pure core: it applies list results and watch events to
the latest object per instance and records, per instance, when each new value
of a tracked status field (``phase``, ``analysisPhase``, ``reviewPhase``) was
first seen. It drops stale and duplicate events by resourceVersion, so a
re-list after ``410 Gone`` or a dropped stream neither misses a transition
nor reports one twice.

The real operator keeps no phase history, so a re-list after an outage can
only show where an instance is now. When it finds a later value than the last
one seen, the values that must have come between are recorded as transitions
that were *not observed*, with the outage they fell into, rather than silently
missing from the timeline.

``ExperimentWatcher`` is the I/O around it: a thread that lists, watches from
the list's resourceVersion, resumes the watch from the last version seen when
the stream ends or drops, and re-lists on ``Gone`` or when the API cannot be
reached. Each outage is announced once when it starts and once when the watch
is back, through the ``notify`` callback. Callers block in ``wait_for`` on a
condition variable; nothing polls while the watch is held.
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

from pytest_experiment.base.errors import ClusterError, ExperimentError
from pytest_experiment.core.lifecycle import normal_phase
from pytest_experiment.edges.cluster import Cluster, Gone, WatchStream

Obj = dict[str, Any]

TRACKED_FIELDS = ("phase", "analysisPhase", "reviewPhase")
# Statuses with which a server refuses the watch verb itself: follow by listing instead.
_WATCH_REFUSED = frozenset({403, 405})
# How long a resumed watch must hold without a 410 before the watch is announced back.
_RESUME_GRACE = 1.0

_log = logging.getLogger(__name__)

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

    def describe(self) -> str:
        span = f"{self.started:%H:%M:%S}–{self.ended:%H:%M:%S} UTC"
        if self.polled:
            return f"between two polls {span}"
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
                if outage is not None:
                    new.extend(
                        Transition(
                            field=tracked,
                            value=missed,
                            seen_at=seen_at,
                            resource_version=_version(obj),
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
                        resource_version=_version(obj),
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
    """API requests the watcher made, how often it re-listed (after ``410 Gone``, a
    dropped stream it could not resume, or an unreachable API) and how often the
    watch was lost."""

    lists: int
    watches: int
    relists: int
    errors: int
    outages: int = 0


Subscriber = Callable[[Change], None]
Notify = Callable[[str], None]


class _QuietRetries(logging.Filter):
    """Drops urllib3's per-attempt "Retrying (...)" warnings.

    The harness retries and backs off itself and says once when the API is
    lost and once when it is back; with ``log_cli`` on, urllib3 would
    otherwise print a warning for every attempt of every request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying (")


_QUIET_RETRIES = _QuietRetries()


def quiet_urllib3_retries() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if _QUIET_RETRIES not in logger.filters:
        logger.addFilter(_QUIET_RETRIES)


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M:%S}"


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:299] + "…"


class ExperimentWatcher:
    """Follows every Experiment in one namespace with a single list + watch.

    ``notify`` receives one line when the watch is lost and one when it is
    back (called on the watcher thread; the caller decides where it goes).
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        watch_timeout: int = 300,
        poll_interval: float = 2.0,
        max_backoff: float = 5.0,
        notify: Notify | None = None,
    ) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._watch_timeout = watch_timeout
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._notify = notify
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
        # When the watch was announced lost (None: it is up).
        self._down_since: datetime | None = None
        self._gone = False
        self._announce = threading.Lock()
        # Since when events may have gone unseen: set when the stream is lost, cleared
        # once a stream delivers again or a list has caught up.
        self._unseen_since: datetime | None = None
        self._last_list: datetime | None = None
        self._lists = self._watches = self._relists = self._errors = self._outages = 0

    # -- lifecycle --------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> Self:
        """Start the thread; returns after the first list, or raises why it failed."""
        quiet_urllib3_retries()
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
        if self._unseen_since is None:
            self._unseen_since = datetime.now(UTC)
        self._relist_requested.set()
        self._interrupt()

    # -- queries ----------------------------------------------------------------

    @property
    def stats(self) -> WatchStats:
        return WatchStats(
            lists=self._lists,
            watches=self._watches,
            relists=self._relists,
            errors=self._errors,
            outages=self._outages,
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
        # The version to resume watching from; None when only a (re-)list can tell.
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None or self._polling or self._relist_requested.is_set():
                    version = self._list()
                version = self._follow(version)
                backoff = 0.1
            except Gone as exc:
                # The history after our version is gone (compacted, or a restarted API
                # server's cache starts later): only a re-list can say where things are.
                self._gone = True
                self._lost(f"410 Gone ({_first_line(exc)}); re-listing")
                version = None
            except ClusterError as exc:
                if self._stop.is_set():
                    return
                self._errors += 1
                self._last_error = exc
                self._synced.set()  # lets start() report the failure instead of waiting
                if exc.status in _WATCH_REFUSED and self._lists > 0:
                    self._polling = True
                self._lost(_first_line(exc))
                if exc.status is not None:
                    # The API answered, and refused: resuming would only be refused again.
                    version = None
                # Unreachable: keep the version, so the watch resumes from it when the API
                # answers again and what happened meanwhile is replayed, not guessed.
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _lost(self, reason: str) -> None:
        """The watch stopped seeing events: say so once per outage."""
        if self._unseen_since is None:
            self._unseen_since = datetime.now(UTC)
        if self._down_since is not None:
            _log.debug("watch of %s still down: %s", self._namespace, reason)
            return
        if self._lists == 0 or self._stop.is_set():
            return  # start() reports a first failure; a stop is not an outage
        self._down_since = datetime.now(UTC)
        self._outages += 1
        line = (
            f"watch of Experiments in {self._namespace} lost at "
            f"{_clock(self._down_since)} UTC: {reason}; reconnecting"
        )
        _log.warning("%s", line)
        if self._notify is not None:
            self._notify(line)

    def _back(self, how: str) -> None:
        """The watch answers again: say so once per outage."""
        with self._announce:
            started, self._down_since = self._down_since, None
        if started is None:
            return
        self._last_error = None
        now = datetime.now(UTC)
        line = (
            f"watch of Experiments in {self._namespace} back at {_clock(now)} UTC "
            f"after {(now - started).total_seconds():.1f}s ({how})"
        )
        _log.warning("%s", line)
        if self._notify is not None:
            self._notify(line)

    def _list(self) -> str:
        items, version = self._cluster.list_experiments(namespace=self._namespace)
        now = datetime.now(UTC)
        outage: Outage | None = None
        if self._lists > 0:
            if self._polling:
                outage = Outage(started=self._last_list or now, ended=now, polled=True)
            else:
                self._relists += 1
                outage = Outage(started=self._unseen_since or now, ended=now)
            self._back("re-listed after 410 Gone" if self._gone else "re-listed")
        self._gone = False
        self._unseen_since = None
        self._lists += 1
        self._last_list = now
        self._relist_requested.clear()
        with self._changed:
            changes = self._state.relist(items, seen_at=now, outage=outage)
            self._changed.notify_all()
        self._deliver(changes)
        self._last_error = None
        self._synced.set()
        return version

    def _follow(self, version: str) -> str | None:
        """Watch from ``version`` until asked to re-list or stopped; the version reached.

        A stream that drops is resumed from the last version seen, which replays
        what happened meanwhile: nothing is missed and nothing is listed again.
        None: re-list first.
        """
        while not self._stop.is_set() and not self._relist_requested.is_set():
            if self._polling:
                # The server refuses watches: the fallback is a list every poll interval.
                self._stop.wait(self._poll_interval)
                return None
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
            # The server took the watch from our version: what happened meanwhile is
            # replayed. A 410 in the stream may still follow at once, so the recovery
            # is announced on the first event, or after a moment without one.
            confirm = threading.Timer(_RESUME_GRACE, self._back, args=("watch resumed",))
            confirm.daemon = True
            if self._down_since is not None:
                confirm.start()
            try:
                for event in stream:
                    if confirm.is_alive():
                        confirm.cancel()
                        self._back("watch resumed")
                    self._unseen_since = None
                    obj: Obj = event.get("object") or {}
                    version = _version(obj) or version
                    if event.get("type") == "BOOKMARK":
                        continue
                    self._apply(str(event.get("type")), obj)
            except Gone:
                raise
            except ClusterError as exc:
                if self._stop.is_set():
                    return version
                # The stream dropped (API restarted, connection cut): resume at once.
                self._errors += 1
                self._lost(_first_line(exc))
            finally:
                confirm.cancel()
                with self._stream_lock:
                    self._stream = None
        return None if self._relist_requested.is_set() else version

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
