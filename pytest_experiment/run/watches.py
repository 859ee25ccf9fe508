"""The session's watches: one per namespace, started on first use, shared by every
instance in it, stopped at the session's end."""

from __future__ import annotations

from collections.abc import Callable

from pytest_experiment.core.watch_state import Change
from pytest_experiment.run.ports import Cluster, NamespaceWatch, WatchFactory


class Watches:
    def __init__(
        self,
        *,
        start: WatchFactory,
        cluster: Callable[[], Cluster | None],
        poll_interval: float,
        notify: Callable[[str], None],
        on_change: Callable[[Change], None],
    ) -> None:
        self._start = start
        self._cluster = cluster
        self._poll_interval = poll_interval
        # Outage lines reach the terminal through the item thread, with or without log_cli.
        self._notify = notify
        # Told every change of every namespace (a run seen Failed is explained at once,
        # whichever item is running).
        self._on_change = on_change
        self._watches: dict[str, NamespaceWatch] = {}

    def watcher(self, namespace: str) -> NamespaceWatch:
        """The one watch of ``namespace`` for the whole session, started on first use."""
        if namespace not in self._watches:
            cluster = self._cluster()
            assert cluster is not None
            watch = self._start(
                cluster,
                namespace=namespace,
                poll_interval=self._poll_interval,
                notify=self._notify,
            )
            watch.subscribe_all(self._on_change)
            self._watches[namespace] = watch
        return self._watches[namespace]

    def watching(self, namespace: str) -> NamespaceWatch | None:
        """The watch of ``namespace`` if one was started, without starting one."""
        return self._watches.get(namespace)

    def stop(self) -> None:
        for watch in self._watches.values():
            watch.stop()

    def stats(self) -> dict[str, int]:
        """What the watches cost, summed over the namespaces."""
        totals = {
            "namespaces": len(self._watches),
            "lists": 0,
            "watches": 0,
            "relists": 0,
            "outages": 0,
        }
        for watch in self._watches.values():
            stats = watch.stats
            totals["outages"] += stats.outages
            totals["lists"] += stats.lists
            totals["watches"] += stats.watches
            totals["relists"] += stats.relists
        return totals


__all__ = ["Watches"]
