"""What explains a failed run, read the moment the watch first shows it Failed.

The real operator deletes a failed run's Argo Workflow (whose failed step is the only
reason it gives) and its cloud objects at cleanup, 15 to 30 s after the phase Failed.
The run's ``lifecycle`` item may come much later, after other experiments' items, so
the session reads the reason and the diagnostics in the background as soon as a watch
of the session shows the phase, whichever item is running, and keeps them for that
item. Each failed instance is read once, by the background reader or by its item if
that comes first, at most ``READERS`` at a time, through the session's cluster (so its
requests are counted with the session's).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pytest_experiment.base.types import Obj
from pytest_experiment.core.lifecycle import condition_message, phase_of
from pytest_experiment.core.watch_state import Change
from pytest_experiment.run.diagnostics import gather, workflow_reason
from pytest_experiment.run.launch import Capture, Launch
from pytest_experiment.run.ports import Cluster

READERS = 2
"""Failed instances read at the same time; the others wait their turn."""
WAIT = 60.0
"""How long a lifecycle item waits for a read begun in the background before it reads
for itself (a read is a few requests, each bounded by the API session's timeouts)."""

_log = logging.getLogger(__name__)


def _claim(launch: Launch, instance: str) -> tuple[Capture, bool]:
    """The capture of ``instance``, and whether the caller is the one to read it."""
    state = launch.failure
    with state.lock:
        found = state.captures.get(instance)
        if found is not None:
            return found, False
        capture = state.captures[instance] = Capture(instance=instance)
        return capture, True


def _read(cluster: Cluster, launch: Launch, capture: Capture, obj: Obj) -> None:
    """Fill ``capture`` from the cluster, ``obj`` being the instance seen Failed."""
    try:
        reason = None
        if condition_message(obj) is None:
            # The real operator writes no condition on a failed workflow: Argo has the reason.
            reason = workflow_reason(cluster, obj)
        found = gather(cluster, capture.instance, namespace=launch.namespace, experiment=obj)
        capture.reason, capture.details = reason, tuple(found.render())
        capture.read = True
    finally:
        capture.done.set()


def explained(cluster: Cluster, launch: Launch, obj: Obj) -> Capture:
    """What explains the failure of the launch's instance (``obj``, seen Failed): read in
    the background when the watch first showed it (waited for while under way), else
    read now."""
    capture, mine = _claim(launch, launch.instance)
    if not mine and capture.done.wait(WAIT) and capture.read:
        return capture
    if not mine:
        # The background read failed or hangs: this item reads for itself.
        capture = Capture(instance=launch.instance)
    _read(cluster, launch, capture, obj)
    return capture


class FailureCapture:
    """The session's background reader, subscribed to every watch the session starts."""

    def __init__(
        self,
        *,
        cluster: Callable[[], Cluster | None],
        launch_of: Callable[[str], Launch | None],
    ) -> None:
        self._cluster = cluster
        self._launch_of = launch_of
        self._slots = threading.BoundedSemaphore(READERS)
        self._completed: set[str] = set()

    def seen(self, change: Change) -> None:
        """A change the watch applied (on its thread): an instance of the session seen
        Failed for the first time is read in the background. Returns at once."""
        if any(t.field == "phase" and t.value == "Complete" for t in change.transitions):
            # Failed after Complete is a turn the quality items report, not a failure to
            # explain; nothing of it is deleted before they read it.
            self._completed.add(change.instance)
        if change.kind == "DELETED" or phase_of(change.obj) != "Failed":
            return
        if change.instance in self._completed:
            return
        launch = self._launch_of(change.instance)
        cluster = self._cluster()
        if launch is None or cluster is None or launch.follow.result is not None:
            # Not this session's, or its lifecycle verdict is already given.
            return
        capture, mine = _claim(launch, change.instance)
        if not mine:
            return
        threading.Thread(
            target=self._background,
            args=(cluster, launch, capture, change.obj),
            name=f"failure-capture[{change.instance}]",
            daemon=True,
        ).start()

    def _background(self, cluster: Cluster, launch: Launch, capture: Capture, obj: Obj) -> None:
        with self._slots:
            try:
                _read(cluster, launch, capture, obj)
            except Exception:
                # The item reads for itself when this one did not finish.
                _log.debug("reading why %s failed", capture.instance, exc_info=True)


__all__ = ["READERS", "WAIT", "FailureCapture", "explained"]
