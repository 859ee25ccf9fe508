"""Holding the owner lease of every instance this process created (``core.lease``).

Each instance is created with a lease whose deadline is ``--experiment-lease``
ahead; a background thread moves the deadline forward every third of that,
one annotation patch per instance, until the session decides what becomes of
the instance: deleted (nothing to hold), or kept on purpose (the lease is
ended and the reason written). A serial session and every xdist worker hold
the leases of what they created; the xdist controller creates nothing.

Deadlines are on the API server's clock when the cluster can tell it
(``run.ports.Clocked``, from the ``Date`` of its answers), so a runner whose
clock is off does not write a deadline that others read as already passed, or
judge another's live lease expired; another cluster (an in-memory one) is
judged on the local clock.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pytest_experiment.base.errors import ClusterError, NotFound
from pytest_experiment.base.text import one_line
from pytest_experiment.core.lease import RENEW_FRACTION, Lease, Owner, ended, renewal
from pytest_experiment.run.ports import Clocked, Cluster


def this_process(run_id: str) -> Owner:
    return Owner(run=run_id, host=socket.gethostname(), pid=os.getpid())


def server_now(cluster: Cluster | None) -> datetime:
    """Now on the API server's clock where the cluster can tell it, else the local clock."""
    return cluster.server_now() if isinstance(cluster, Clocked) else datetime.now(UTC)


class LeaseKeeper:
    """The leases of this process's instances, renewed until each is decided."""

    def __init__(
        self,
        *,
        owner: Owner,
        duration: float,
        cluster: Callable[[], Cluster | None],
        say: Callable[[str], None],
    ) -> None:
        self.owner = owner
        self.duration = duration
        self._cluster = cluster
        self._say = say
        self._held: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # One patch at a time: a renewal must never land after the lease was ended.
        self._patching = threading.Lock()
        self._unrenewed: set[tuple[str, str]] = set()
        """Instances whose last renewal failed (said once, until one succeeds)."""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def lease(self) -> Lease:
        """A lease from now, for an instance about to be created."""
        return Lease(owner=self.owner, expires=self._deadline())

    def _deadline(self) -> datetime:
        return server_now(self._cluster()) + timedelta(seconds=self.duration)

    def hold(self, namespace: str, instance: str) -> None:
        """Renew ``instance``'s lease from now on."""
        with self._lock:
            self._held.add((namespace, instance))
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._renew_until_stopped, name="experiment-leases", daemon=True
                )
                self._thread.start()

    def drop(self, namespace: str, instance: str) -> None:
        """Stop renewing (the instance is gone, or going)."""
        with self._lock:
            self._held.discard((namespace, instance))

    def end(self, namespace: str, instance: str, *, reason: str) -> str | None:
        """End the lease of an instance kept on purpose, writing why; None once done, else
        why it could not be (a later session will then take it for an orphan)."""
        cluster = self._cluster()
        with self._patching:
            self.drop(namespace, instance)
            if cluster is None:
                return "no cluster to write to"
            try:
                cluster.annotate_experiment(
                    instance, namespace=namespace, annotations=ended(one_line(reason, limit=500))
                )
            except NotFound:
                return None
            except ClusterError as exc:
                return one_line(exc, limit=500)
        return None

    def stop(self) -> None:
        """Renew nothing more."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def renew(self) -> None:
        """Move the deadline of every held lease forward, now."""
        with self._lock:
            held = sorted(self._held)
        cluster = self._cluster()
        if cluster is None:
            return
        for key in held:
            namespace, instance = key
            with self._patching:
                with self._lock:
                    if key not in self._held:
                        continue  # decided meanwhile
                try:
                    cluster.annotate_experiment(
                        instance, namespace=namespace, annotations=renewal(self._deadline())
                    )
                except NotFound:
                    self.drop(namespace, instance)
                    continue
                except ClusterError as exc:
                    if key not in self._unrenewed:
                        self._unrenewed.add(key)
                        self._say(
                            f"{instance}: its owner lease could not be renewed ({one_line(exc)}); "
                            f"trying again every {self.interval:.0f}s"
                        )
                    continue
            self._unrenewed.discard(key)

    @property
    def interval(self) -> float:
        return self.duration / RENEW_FRACTION

    def _renew_until_stopped(self) -> None:
        while not self._stopping.wait(self.interval):
            self.renew()


__all__ = ["LeaseKeeper", "server_now", "this_process"]
