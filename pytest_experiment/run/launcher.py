"""Applying experiments: the create, the ``--experiment-max-concurrent`` queue, attaching.

Every experiment that may run is applied when the session starts, so they
run at the same time on the cluster; past ``--experiment-max-concurrent`` the
rest wait in a queue that a launcher thread drains as slots free. A slot
frees when the watch sees the instance finish or go. Each instance carries
this run's label, which is how cleanup finds one whose create an interrupt
swallowed, and a label of its own create: a create that may have been carried
out although it failed (its answer lost, a server error) is never sent again,
so the launcher looks for the instance by that label and follows it if the
create made exactly one.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pytest_experiment.base.errors import ClusterError, OutcomeUnknown
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lease, lifecycle
from pytest_experiment.core.lifecycle import shown_path
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.watch_state import Change
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.leases import LeaseKeeper
from pytest_experiment.run.ports import Cluster
from pytest_experiment.run.watches import Watches

RUN_LABEL = "pytest-experiment/run"
EXPERIMENT_LABEL = "pytest-experiment/experiment"
CREATE_LABEL = "pytest-experiment/create"
"""Unique to one create, so the instance of a create whose answer was lost is told
apart from an earlier attempt's and from another worker's."""
MANAGED_BY = dict([lease.MANAGED_BY])
# How often a queued item wakes to redraw its status line.
TICK = 0.5


class Launcher:
    """Creates the instances of one session, at most ``--experiment-max-concurrent`` at once."""

    def __init__(
        self,
        *,
        run_id: str,
        max_concurrent: int,
        cluster: Callable[[], Cluster | None],
        watches: Watches,
        leases: LeaseKeeper,
        say: Callable[[str], None],
        log_toil: Callable[[ToilRecord], None],
    ) -> None:
        self._run_id = run_id
        self._max_concurrent = max_concurrent
        self._cluster = cluster
        self._watches = watches
        self._leases = leases
        self._say = say
        self._log_toil = log_toil
        self._queue: list[Launch] = []
        self._slots = threading.Condition()
        self._active: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, ready: Sequence[Launch]) -> None:
        """Apply (or attach) every launch now, or queue it until a slot frees."""
        for launch in ready:
            if launch.attached is not None:
                self.attach(launch)
            elif self._has_slot():
                self.apply(launch)
            else:
                launch.apply.queued = True
                self._queue.append(launch)
                self._say(f"{launch.name}: queued ({self._limit()})")
        if self._queue:
            self._thread = threading.Thread(
                target=self._drain, name="experiment-launcher", daemon=True
            )
            self._thread.start()

    def applied(self, launch: Launch, *, waiting: Callable[[str], None]) -> None:
        """Return once ``launch`` is applied (or its create failed), applying it now unless
        the queue holds it; ``waiting`` is called with a status line while it is queued."""
        state = launch.apply
        if state.error is not None or state.done.is_set():
            return
        if not state.queued:
            if launch.attached is not None:
                self.attach(launch)
            else:
                self.apply(launch)
        while not state.done.wait(TICK):
            waiting(f"{launch.name}: queued ({self._limit()})")

    def apply(self, launch: Launch, experiment: Experiment | None = None) -> None:
        """Create an instance of ``experiment`` (the collected file by default) as the
        launch's current attempt."""
        cluster = self._cluster()
        assert cluster is not None
        state = launch.apply
        spec = experiment or state.experiment or launch.experiment
        state.experiment, state.instance, state.at, state.error = spec, "", None, None
        state.done.clear()
        try:
            # Pre-flight started it; a namespace that stopped answering since fails the
            # apply like a refused create, never the session.
            watcher = self._watches.watcher(launch.namespace)
        except ClusterError as exc:
            self._failed(launch, str(exc))
            return
        labels = {
            RUN_LABEL: self._run_id,
            EXPERIMENT_LABEL: label_value(launch.name),
            CREATE_LABEL: secrets.token_hex(4),
        }
        body = _body(
            spec.data,
            namespace=launch.namespace,
            labels=labels,
            annotations=self._leases.lease().annotations(),
        )
        # Recorded before sending: a create an interrupt cuts short is still this
        # process's to clean up.
        state.sent.append(labels[CREATE_LABEL])
        sent = datetime.now(UTC)
        how = ""
        try:
            instance = cluster.create_experiment(body, namespace=launch.namespace)
            at = datetime.now(UTC)
        except OutcomeUnknown as exc:
            instance = self._made_by(launch, exc, labels=labels)
            if not instance:
                return
            # Its budgets count from when the create was sent: when it answered is unknown.
            at = sent
            how = f": the create's answer was lost ({one_line(exc)}); found it by its labels"
        except ClusterError as exc:
            self._failed(launch, str(exc))
            return
        state.instance, state.at = instance, at
        self._leases.hold(launch.namespace, instance)
        with self._slots:
            self._active.add(instance)
        watcher.subscribe(instance, lambda change: self._watched(instance, change))
        self._say(f"Applied experiment: {instance} (from {shown_path(spec.path.parent)}/){how}")
        state.done.set()

    def _made_by(self, launch: Launch, lost: OutcomeUnknown, *, labels: Mapping[str, str]) -> str:
        """The instance a create whose outcome is unknown made, found by its labels; ""
        (and the launch failed) unless it made exactly one."""
        cluster = self._cluster()
        assert cluster is not None
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        try:
            found, _ = cluster.list_experiments(namespace=launch.namespace, label_selector=selector)
        except ClusterError as exc:
            why = f"looking for it by its labels failed: {one_line(exc)}"
        else:
            names = sorted(str(obj["metadata"]["name"]) for obj in found)
            if len(names) == 1:
                return names[0]
            why = (
                f"{len(names)} instances carry its labels ({', '.join(names)}); "
                "the session's cleanup decides what becomes of them"
                if names
                else f"no instance carries its labels ({selector})"
            )
        launch.apply.unanswered.append(labels[CREATE_LABEL])
        self._failed(launch, f"{lost}; {why}")
        return ""

    def _failed(self, launch: Launch, error: str) -> None:
        launch.apply.error = error
        self._log_toil(lifecycle.apply_toil(launch.name, one_line(error)))
        launch.apply.done.set()

    def attach(self, launch: Launch) -> None:
        """Follow the instance named by ``--experiment-instance`` instead of creating one."""
        cluster = self._cluster()
        assert cluster is not None
        assert launch.attached is not None
        state = launch.apply
        state.experiment = launch.experiment
        try:
            cluster.get_experiment(launch.attached, namespace=launch.namespace)
            self._watches.watcher(launch.namespace)
        except ClusterError as exc:
            state.error = f"--experiment-instance {launch.name}={launch.attached}: {exc}"
            state.done.set()
            return
        state.instance, state.at = launch.attached, datetime.now(UTC)
        self._say(f"Attached to experiment: {launch.instance} (for {launch.name})")
        state.done.set()

    def release(self, instance: str) -> None:
        """``instance`` no longer holds a slot."""
        with self._slots:
            if instance in self._active:
                self._active.discard(instance)
                self._slots.notify_all()

    def stop(self) -> None:
        """Apply nothing more from the queue."""
        self._stopping.set()
        with self._slots:
            self._slots.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _limit(self) -> str:
        return f"--experiment-max-concurrent {self._max_concurrent}"

    def _has_slot(self) -> bool:
        limit = self._max_concurrent
        with self._slots:
            return not limit or len(self._active) < limit

    def _watched(self, instance: str, change: Change) -> None:
        # On the watcher thread: only bookkeeping, so a finished run frees its slot.
        if change.kind == "DELETED" or lifecycle.is_terminal(change.obj):
            self.release(instance)

    def _drain(self) -> None:
        limit = self._max_concurrent
        while self._queue and not self._stopping.is_set():
            with self._slots:
                while limit and len(self._active) >= limit and not self._stopping.is_set():
                    self._slots.wait(1.0)
                if self._stopping.is_set():
                    return
                launch = self._queue.pop(0)
                # Held until the create returns, so the slot count includes it.
                self._active.add(f"<creating {launch.key}>")
            try:
                self.apply(launch)
            finally:
                self.release(f"<creating {launch.key}>")


def _body(
    data: Mapping[str, Any],
    *,
    namespace: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> Obj:
    """The Experiment to create: the file as written, with ``labels`` (for cleanup) and
    ``annotations`` (its owner lease)."""
    body = dict(data)
    meta = dict(body.get("metadata") or {})
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **MANAGED_BY, **labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    body["metadata"] = meta
    return body


def label_value(text: str) -> str:
    """``text`` as a valid label value (63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at
    both ends), so a directory name can label the instances made from it."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


__all__ = ["CREATE_LABEL", "EXPERIMENT_LABEL", "RUN_LABEL", "Launcher", "label_value"]
