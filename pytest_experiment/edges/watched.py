"""What one namespace's watch has delivered, and the waits on it.

``Watched`` holds the pure ``WatchState`` (in the core) behind a condition
variable: callers block in ``wait_for`` until a change makes their condition
hold, and subscribers are called with each change in order. ``ExperimentWatcher``
(``edges.watch``) is the thread that feeds it from the API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.types import Obj
from pytest_experiment.core.lifecycle import normal_phase
from pytest_experiment.core.watch_state import (
    Change,
    InstanceDeleted,
    Observed,
    WatchState,
    WatchTimeout,
)

# The longest single wait on the condition variable (an infinite one overflows).
_LONGEST_WAIT = 3600.0

_log = logging.getLogger(__name__)

Subscriber = Callable[[Change], None]


class Watched:
    """The instances of one namespace as the watch last delivered them."""

    def __init__(self) -> None:
        self._state = WatchState()
        self._changed = threading.Condition()
        # Serialises deliveries so a new subscriber's replay never interleaves with live events.
        self._dispatch = threading.RLock()
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._everyone: list[Subscriber] = []
        self._stop = threading.Event()
        self._last_error: ClusterError | None = None
        # When the watch last delivered anything: where a span it did not deliver begins.
        self._last_event: datetime | None = None

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
            with self._changed:
                replay = self._state.replay(instance)
            if replay is not None:
                callback(replay)

        def unsubscribe() -> None:
            with self._dispatch:
                callbacks = self._subscribers.get(instance, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    def subscribe_all(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` (on the thread that applied it) for each change to any instance
        of the namespace, after one SYNC change for each instance seen so far. Returns the
        function that unsubscribes."""
        with self._dispatch:
            self._everyone.append(callback)
            with self._changed:
                replays = [self._state.replay(name) for name in self._state.instances()]
            for replay in replays:
                if replay is not None:
                    callback(replay)

        def unsubscribe() -> None:
            with self._dispatch:
                if callback in self._everyone:
                    self._everyone.remove(callback)

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
                # Without a limit (a budget of none) the wait is endless, in slices a
                # condition variable accepts.
                self._changed.wait(min(remaining, _LONGEST_WAIT))

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

    def _apply(self, kind: str, obj: Obj) -> None:
        seen_at = self._last_event = datetime.now(UTC)
        with self._changed:
            change = self._state.apply(kind, obj, seen_at=seen_at)
            if change is None:
                return
            self._changed.notify_all()
        self._deliver([change])

    def _deliver(self, changes: Iterable[Change]) -> None:
        with self._dispatch:
            for change in changes:
                callbacks = [*self._subscribers.get(change.instance, ()), *self._everyone]
                for callback in callbacks:
                    try:
                        callback(change)
                    except Exception:
                        # A subscriber's bug must not stop the watch every other experiment shares.
                        _log.exception("subscriber for %s failed", change.instance)
