"""One watch per namespace, shared by every experiment of the session.

``ExperimentWatcher`` is the I/O around the pure ``WatchState`` (in the core): a
thread that lists, watches from the list's resourceVersion, resumes the watch
from the last version seen when the stream ends or drops, and re-lists on
``Gone`` or when the API cannot be reached. Each outage is announced once when
it starts and once when the watch is back, through the ``notify`` callback.
Callers block in ``wait_for`` (``edges.watched``) on a condition variable;
nothing polls while the watch is held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, Self

from pytest_experiment.base.backoff import Backoff
from pytest_experiment.base.errors import ClusterError, Gone, NotFound
from pytest_experiment.base.types import Obj
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.watch_state import (
    Observed,
    Outage,
    newer,
    object_version,
)
from pytest_experiment.edges.outages import OutageNotice
from pytest_experiment.edges.watched import Watched

# Statuses with which a server refuses the watch verb itself: follow by listing instead.
_WATCH_REFUSED = frozenset({403, 405})
# How long a resumed watch must hold without a 410 before the watch is announced back.
_RESUME_GRACE = 1.0

_log = logging.getLogger(__name__)


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


Notify = Callable[[str], None]


class Stream(Protocol):
    def __iter__(self) -> Iterator[Obj]: ...

    def close(self) -> None: ...


class Listing(Protocol):
    """What the watcher needs of a cluster (``edges.cluster.Cluster`` is one). A
    ``watch_experiments`` method is used when the cluster has one; without it the
    namespace is listed every poll interval, as when the server refuses to watch."""

    def describe(self) -> str: ...

    def list_experiments(
        self, *, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]: ...

    def get_experiment(self, name: str, *, namespace: str) -> Obj: ...


Watch = Callable[..., Stream]


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:299] + "…"


class ExperimentWatcher(Watched):
    """Follows every Experiment in one namespace with a single list + watch.

    ``notify`` receives one line when the watch is lost and one when it is
    back, or one when the server refuses to watch and it polls instead (called on the
    watcher thread; the caller decides where it goes).
    """

    def __init__(
        self,
        cluster: Listing,
        *,
        namespace: str,
        watch_timeout: int = 300,
        poll_interval: float = 2.0,
        max_backoff: float = 5.0,
        notify: Notify | None = None,
    ) -> None:
        self._cluster = cluster
        self._watch: Watch | None = getattr(cluster, "watch_experiments", None)
        self._namespace = namespace
        self._watch_timeout = watch_timeout
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        super().__init__()
        self._synced = threading.Event()
        self._relist_requested = threading.Event()
        self._stream: Stream | None = None
        self._stream_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # A cluster with no watch is polled from the start; one that refuses to watch,
        # once it has refused.
        self._polling = self._watch is None
        self._notify = notify
        self._outage = OutageNotice(notify=notify, log=_log)
        self._gone = False
        # Since when events may have gone unseen: set when the stream is lost, cleared
        # once a stream delivers again or a list has caught up.
        self._unseen_since: datetime | None = None
        self._last_list: datetime | None = None
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

    def __exit__(self, *exc: object) -> None:
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
            outages=self._outage.count,
        )

    def catch_up(self, instance: str, *, timeout: float) -> Observed:
        """What the watch knows of ``instance`` once it has caught up with one direct read.

        A paused process (a laptop asleep, a starved CI runner, ``kill -STOP``) wakes
        with events unread on its stream, so what the watch holds may be any age. One
        GET says where the instance is now; the watch is given ``timeout`` to deliver
        what led there, so each phase keeps when it was seen. What it has not delivered
        by then is taken from the read, the phases in between recorded as not observed.
        A read that fails leaves the watch as it is.
        """
        try:
            current: Obj | None = self._cluster.get_experiment(instance, namespace=self._namespace)
        except NotFound:
            current = None
        except ClusterError as exc:
            _log.debug("direct read of %s failed: %s", instance, exc)
            return self.observed(instance)

        def caught(observed: Observed) -> bool:
            if current is None:
                return observed.deleted or observed.obj is None
            if observed.obj is None:
                return False
            return observed.deleted or not newer(
                object_version(current), object_version(observed.obj)
            )

        deadline = time.monotonic() + timeout
        with self._changed:
            while not caught(observed := self._state.observed(instance)):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    break
                self._changed.wait(remaining)
            else:
                return observed
            now = datetime.now(UTC)
            if current is None:
                assert observed.obj is not None
                change = self._state.apply("DELETED", observed.obj, seen_at=now)
            else:
                outage = Outage(started=self._last_event or now, ended=now, read=True)
                change = self._state.apply("MODIFIED", current, seen_at=now, outage=outage)
            self._changed.notify_all()
            observed = self._state.observed(instance)
        if change is not None:
            self._deliver([change])
        return observed

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        # Jittered: every session watching a restarted API server must not return at once.
        retries = Backoff(
            first=min(0.1, self._max_backoff), cap=self._max_backoff, jitter=0.5
        ).retries(stop=self._stop)
        # The version to resume watching from; None when only a (re-)list can tell.
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None or self._polling or self._relist_requested.is_set():
                    version = self._list()
                version = self._follow(version)
                retries.reset()
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
                if exc.status in _WATCH_REFUSED and self._lists > 0 and not self._polling:
                    # Not an outage: the API answers, it only refuses this verb for good.
                    # The list just before the watch is fresh: the first poll is one
                    # interval later, as every poll after it.
                    self._refused(_first_line(exc))
                    version = None
                    self._stop.wait(self._poll_interval)
                    continue
                self._lost(_first_line(exc))
                if exc.status is not None:
                    # The API answered, and refused: resuming would only be refused again.
                    version = None
                # Unreachable: keep the version, so the watch resumes from it when the API
                # answers again and what happened meanwhile is replayed, not guessed.
                retries.pause()

    def _lost(self, reason: str) -> None:
        """The watch stopped seeing events: say so once per outage."""
        if self._unseen_since is None:
            self._unseen_since = datetime.now(UTC)
        if self._outage.down:
            _log.debug("watch of %s still down: %s", self._namespace, reason)
            return
        if self._lists == 0 or self._stop.is_set():
            return  # start() reports a first failure; a stop is not an outage
        self._outage.lost(
            lambda at: (
                f"watch of Experiments in {self._namespace} lost at "
                f"{at:%H:%M:%S} UTC: {reason}; reconnecting"
            )
        )

    def _refused(self, reason: str) -> None:
        """The server refuses the watch verb: list every poll interval from now on, and say
        so once (a refusal is no outage to announce lost and back again)."""
        self._polling = True
        line = (
            f"watch of Experiments in {self._namespace} refused ({reason}); "
            f"polling every {format_duration(self._poll_interval)}"
        )
        _log.warning("%s", line)
        if self._notify is not None:
            self._notify(line)

    def _back(self, how: str) -> None:
        """The watch answers again: say so once per outage."""
        if self._outage.back(
            lambda at, seconds: (
                f"watch of Experiments in {self._namespace} back at "
                f"{at:%H:%M:%S} UTC after {seconds:.1f}s ({how})"
            )
        ):
            self._last_error = None

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
        self._last_list = self._last_event = now
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
            assert self._watch is not None  # polling when there is none
            stream = self._watch(
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
            if self._outage.down:
                confirm.start()
            try:
                for event in stream:
                    if confirm.is_alive():
                        confirm.cancel()
                        self._back("watch resumed")
                    self._unseen_since = None
                    obj: Obj = event.get("object") or {}
                    version = object_version(obj) or version
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

    def _interrupt(self) -> None:
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()
