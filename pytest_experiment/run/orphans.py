"""The sweep of orphans: instances whose owner lease expired (``core.lease``).

At the start of a live session (and with ``--experiment-sweep`` in any
session) every instance the harness created in the session's namespaces is
listed; those whose lease expired are said, with who made them and how old
they are, and get the cleanup policy: deleted under ``on-success`` and
``always`` (nobody is left to decide they should be kept), listed with the
command to delete them under ``never``. Deletions are requested at the start
and confirmed at the end of the session, so the sweep never holds up the run;
"deleted" is said only once the API no longer has the instance. A refused
delete is an error, as at cleanup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.errors import ClusterError, NotFound, PermissionDenied
from pytest_experiment.base.text import one_line
from pytest_experiment.core.lease import MANAGED_BY, Orphan, orphans
from pytest_experiment.core.lifecycle import delete_command, inspect_command
from pytest_experiment.core.options import Options
from pytest_experiment.run.cleanup import Cleaner, Cleanup
from pytest_experiment.run.launcher import EXPERIMENT_LABEL
from pytest_experiment.run.leases import server_now
from pytest_experiment.run.ports import Cluster


@dataclass(frozen=True, kw_only=True)
class Swept:
    """What the sweep did with one orphan."""

    orphan: Orphan
    cleanup: Cleanup

    def line(self) -> str:
        return f"{self.cleanup.line()} [in {self.orphan.namespace}]"

    def as_json(self) -> dict[str, Any]:
        owner = self.orphan.lease.owner
        return {
            **self.cleanup.as_json(),
            "namespace": self.orphan.namespace,
            "run": owner.run,
            "host": owner.host,
            "pid": owner.pid,
            "ageSeconds": self.orphan.age,
            "leaseExpiredSeconds": round(self.orphan.expired_for, 3),
        }


class Sweeper:
    """Finds the orphans when the session starts; says what became of them when it ends."""

    def __init__(
        self,
        *,
        options: Options,
        run_id: str,
        cluster: Callable[[], Cluster | None],
        say: Callable[[str], None],
        cleaner: Cleaner,
    ) -> None:
        self._options = options
        self._run_id = run_id
        self._cluster = cluster
        self._say = say
        self._cleaner = cleaner
        self._decided: list[Swept] = []
        self._deleting: list[Orphan] = []
        self._swept: set[str] = set()

    def start(self, namespaces: Iterable[str]) -> None:
        """List every namespace not swept yet, say each orphan and request its deletion
        (unless the policy is never)."""
        cluster = self._cluster()
        if cluster is None:
            return
        attached = set(dict(self._options.instance).values())
        policy = self._options.cleanup
        for namespace in sorted(set(namespaces) - self._swept):
            self._swept.add(namespace)
            try:
                items, _ = cluster.list_experiments(
                    namespace=namespace, label_selector="=".join(MANAGED_BY)
                )
            except ClusterError as exc:
                self._say(f"Orphans in {namespace} not looked for: {one_line(exc)}")
                continue
            found = orphans(
                items,
                namespace=namespace,
                now=server_now(cluster),
                own_run=self._run_id,
                attached=attached,
                experiment_label=EXPERIMENT_LABEL,
            )
            for orphan in found:
                self._start_one(orphan, policy=policy)

    def _start_one(self, orphan: Orphan, *, policy: str) -> None:
        cluster = self._cluster()
        assert cluster is not None
        head = f"Orphan {orphan.instance} ({orphan.experiment}, {orphan.namespace})"
        why = f"owner lease expired: {orphan.describe()}"
        command = delete_command(orphan.instance, orphan.namespace)
        if policy == "never":
            self._say(f"{head}: {why}; kept (--experiment-cleanup=never); delete with: {command}")
            self._decided.append(
                self._record(orphan, "kept", f"{why}; --experiment-cleanup=never", command)
            )
            return
        try:
            cluster.delete_experiment(orphan.instance, namespace=orphan.namespace)
        except ClusterError as exc:
            how = "refused" if isinstance(exc, PermissionDenied) else "failed"
            self._say(f"{head}: {why}; the delete was {how}: {one_line(exc, limit=1000)}")
            self._decided.append(
                self._record(
                    orphan,
                    "kept",
                    f"{why}; delete {how}: {one_line(exc, limit=1000)}",
                    command,
                    error=True,
                )
            )
            return
        self._say(f"{head}: {why}; deleting it (--experiment-cleanup={policy})")
        self._deleting.append(orphan)

    def finish(self) -> list[Swept]:
        """What became of every orphan: its deletion confirmed (or found held) now."""
        policy = self._options.cleanup
        until = self._cleaner.deadline()  # one budget for them all: they go together
        for orphan in self._deleting:
            why = f"owner lease expired: {orphan.describe()}; --experiment-cleanup={policy}"
            held = (
                None
                if self._gone(orphan)
                else self._cleaner.wait_gone(orphan.namespace, orphan.instance, until=until)
            )
            if held is None:
                self._decided.append(self._record(orphan, "deleted", why))
            else:
                self._decided.append(
                    self._record(
                        orphan,
                        "held",
                        f"{why}; deletion requested but {held}",
                        inspect_command(orphan.instance, orphan.namespace),
                    )
                )
        self._deleting = []
        return sorted(self._decided, key=lambda s: (s.orphan.namespace, s.orphan.instance))

    def _gone(self, orphan: Orphan) -> bool:
        """Already gone: asked once, since a watch started after it went never sees it go."""
        cluster = self._cluster()
        assert cluster is not None
        try:
            cluster.get_experiment(orphan.instance, namespace=orphan.namespace)
        except NotFound:
            return True
        except ClusterError:
            return False  # the wait decides, and says why if it cannot
        return False

    @staticmethod
    def _record(
        orphan: Orphan, action: str, reason: str, command: str = "", *, error: bool = False
    ) -> Swept:
        return Swept(
            orphan=orphan,
            cleanup=Cleanup(
                experiment=orphan.experiment,
                instance=orphan.instance,
                action=action,
                reason=reason,
                command=command,
                error=error,
            ),
        )


__all__ = ["Sweeper", "Swept"]
