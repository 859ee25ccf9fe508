"""Session end: the cleanup policy for every instance the session created, and the strays.

``--experiment-cleanup`` decides, per instance, from a fresh read of it:
on-success deletes what passed and what is unfinished (it holds cloud
clusters), keeps what failed and what holds a review PR open; always
deletes everything; never keeps everything. Instances carrying this run's
label that no launch knows (a create an interrupt swallowed, what a killed
xdist worker left) get the same policy. Every deletion is requested first and
waited for afterwards, so N instances whose finalizers take a minute each
cost one minute, not N. "deleted" is only ever said of an instance the API
no longer has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from pytest_experiment.base.errors import ClusterError, NotFound, PermissionDenied
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.base.views import meta
from pytest_experiment.core.lifecycle import (
    delete_command,
    format_duration,
    inspect_command,
    is_terminal,
    phase_of,
)
from pytest_experiment.core.options import Options
from pytest_experiment.core.verdict import Status
from pytest_experiment.core.watch_state import WatchTimeout
from pytest_experiment.run.cleanup_reasons import (
    deleted_by_run,
    gate_failed,
    kept_reason,
    pending_pr,
)
from pytest_experiment.run.cleanup_record import Cleanup, Deleting
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.leases import LeaseKeeper
from pytest_experiment.run.ports import Cluster
from pytest_experiment.run.role import Role
from pytest_experiment.run.strays import strays
from pytest_experiment.run.watches import Watches


class Cleaner:
    """Decides and carries out what becomes of each instance; remembers what it deleted."""

    def __init__(
        self,
        *,
        options: Options,
        role: Role,
        cluster: Callable[[], Cluster | None],
        watches: Watches,
        leases: LeaseKeeper,
    ) -> None:
        self._options = options
        self._role = role
        self._cluster = cluster
        self._watches = watches
        self._leases = leases
        self.retired: list[Cleanup] = []
        """What became of the instances auto-fix re-runs replaced."""
        self._requested: set[str] = set()
        """Instances whose deletion has been asked for."""

    def finish(
        self, launches: Sequence[Launch], *, accounted: Iterable[str], namespaces: Iterable[str]
    ) -> list[Cleanup]:
        """Apply the cleanup policy to every instance of ``launches`` and to the strays of
        this run in their namespaces and ``namespaces`` that are not ``accounted`` for."""
        decided = [
            (launch.namespace, self._decide(launch)) for launch in launches if launch.instance
        ]
        decided += strays(
            self._cluster(),
            launches,
            accounted=accounted,
            namespaces=namespaces,
            role=self._role,
            policy=self._options.cleanup,
        )
        # Every delete is asked for before any is waited on: the finalizers then tear the
        # instances down together, within one --experiment-budget-delete for them all.
        requested = [(namespace, self._request(entry)) for namespace, entry in decided]
        until = self.deadline()
        settled = [
            self._lease_after(namespace, self._settle(entry, until=until))
            for namespace, entry in requested
        ]
        return [*self.retired, *settled]

    def deadline(self) -> float:
        """The monotonic time by which deletions asked for now must be seen through."""
        return time.monotonic() + (self._options.budget_delete or 0.0)

    def _lease_after(self, namespace: str, cleanup: Cleanup) -> Cleanup:
        """The owner lease once the instance is decided: ended, with the reason, when it
        is kept on purpose (it is no orphan); otherwise no longer renewed (deleted, going,
        or kept only because the delete failed: a later session then sweeps it)."""
        leases = self._leases
        cleanup = replace(cleanup, namespace=namespace)
        if cleanup.action != "kept" or cleanup.error or not self._role.ends_leases:
            # An xdist worker stops renewing and leaves the end to the controller, which
            # alone reports the decision: should the controller die, the lease runs out.
            leases.drop(namespace, cleanup.instance)
            return cleanup
        failed = leases.end(
            namespace, cleanup.instance, reason=f"run {self._role.run_id}: {cleanup.reason}"
        )
        if failed is None:
            return cleanup
        return replace(
            cleanup,
            reason=f"{cleanup.reason}; its owner lease could not be ended ({failed}), so a "
            "later session will take it for an orphan",
        )

    def _decide(self, launch: Launch) -> Cleanup | Deleting:
        name = launch.name
        command = delete_command(launch.instance, launch.namespace)
        requested = launch.instance in self._requested
        if launch.attached is not None and not requested:
            return Cleanup(
                experiment=name,
                instance=launch.instance,
                action="left",
                reason="attached with --experiment-instance; not created by this run",
            )
        policy = self._options.cleanup
        if policy == "never" and not requested:
            return Cleanup(
                experiment=name,
                instance=launch.instance,
                action="kept",
                reason="--experiment-cleanup=never",
                command=command,
            )
        # Read afresh: whether it is finished, still there (a deletion the finalizer holds),
        # or holding a PR open decides what happens to it.
        current = self._current(launch)
        if current is None:
            if requested:
                # The run deleted it itself (abort, the running budget of a manual run),
                # attached or not.
                return Cleanup(
                    experiment=name,
                    instance=launch.instance,
                    action="deleted",
                    reason=deleted_by_run(launch),
                )
            return Cleanup(
                experiment=name, instance=launch.instance, action="gone", reason="already deleted"
            )
        if requested:
            return Deleting.of(launch, reason="deletion requested earlier in the run")
        result = launch.follow.result
        succeeded = (
            result is not None
            and result.status is Status.PASS
            and not launch.items.failed
            and gate_failed(launch) is None
            and (launch.items.done or not launch.items.named)
        )
        pr = pending_pr(launch, current)
        if policy == "on-success" and pr is not None:
            # Deleting it would close the PR the review gate holds open.
            held = (
                f"review Pending: {pr.name} ({pr.url}) left open for review; "
                "deleting the instance closes it"
            )
            keep = held if succeeded else f"{kept_reason(launch, current)}; {held}"
        elif (
            policy == "on-success"
            and not is_terminal(current)
            and (result is None or launch.follow.cut_short)
        ):
            # An unfinished instance holds cloud clusters that bill by the hour: a run
            # stopped by Ctrl-C, -x, a crash or a timeout must not leave them running.
            return Deleting.of(
                launch,
                reason=f"unfinished ({phase_of(current)}) when the session ended; deleted so "
                "it holds no cloud resources (--experiment-cleanup=never keeps it)",
            )
        elif policy == "on-success" and not succeeded:
            keep = kept_reason(launch, current)
        else:
            return Deleting.of(
                launch, pr=pr, reason="passed" if succeeded else f"--experiment-cleanup={policy}"
            )
        return Cleanup(
            experiment=name, instance=launch.instance, action="kept", reason=keep, command=command
        )

    def _current(self, launch: Launch) -> Obj | None:
        """The instance as the API holds it now, else as the watch last saw it; None once gone.

        Read afresh because an interrupt can land between an operator's patch and the
        watch event that reports it.
        """
        cluster = self._cluster()
        if cluster is not None:
            try:
                return cluster.get_experiment(launch.instance, namespace=launch.namespace)
            except ClusterError:
                pass
        watcher = self._watches.watching(launch.namespace)
        observed = watcher.observed(launch.instance) if watcher is not None else None
        return None if observed is None or observed.deleted else observed.obj

    def request_delete(self, launch: Launch) -> None:
        """Ask the API to delete the instance; ``wait_gone`` says when it has gone."""
        cluster = self._cluster()
        assert cluster is not None
        cluster.delete_experiment(launch.instance, namespace=launch.namespace)
        self._requested.add(launch.instance)

    def wait_gone(self, namespace: str, instance: str, *, until: float | None = None) -> str | None:
        """Wait until a deleted instance has disappeared, at most until the monotonic time
        ``until`` (by default ``--experiment-budget-delete`` from now). None once it has;
        else why it is still there, for the report: "deleted" is only ever said of an
        instance the API no longer has."""
        wait = self._options.budget_delete or 0.0
        left = wait if until is None else max(0.0, until - time.monotonic())
        try:
            self._watches.watcher(namespace).wait_deleted(instance, timeout=left)
            return None
        except (WatchTimeout, ClusterError):
            # The watch may have been cut (an interrupt tearing the session down) or
            # lag: one direct read decides, so neither "deleted" nor "held" is a guess.
            pass
        cluster = self._cluster()
        assert cluster is not None
        try:
            obj = cluster.get_experiment(instance, namespace=namespace)
        except NotFound:
            return None
        except ClusterError as exc:
            return f"could not confirm it is gone: {one_line(exc, limit=160)}"
        finalizers = ", ".join(meta(obj).finalizers)
        holder = f"finalizer {finalizers}" if finalizers else "the API server"
        return f"still held by {holder} after {format_duration(wait)}"

    def _request(self, entry: Cleanup | Deleting) -> Cleanup | Deleting:
        """Ask for a decided deletion; what became of the instance if the delete failed."""
        if isinstance(entry, Cleanup) or entry.instance in self._requested:
            return entry
        cluster = self._cluster()
        assert cluster is not None
        try:
            cluster.delete_experiment(entry.instance, namespace=entry.namespace)
        except ClusterError as exc:
            # Whole: a 403 names the identity and the permission the role lacks.
            how = "refused" if isinstance(exc, PermissionDenied) else "failed"
            return Cleanup(
                experiment=entry.experiment,
                instance=entry.instance,
                action="kept",
                reason=f"delete {how}: {one_line(exc, limit=1000)}",
                command=delete_command(entry.instance, entry.namespace),
                error=True,
            )
        self._requested.add(entry.instance)
        return entry

    def _settle(self, entry: Cleanup | Deleting, *, until: float) -> Cleanup:
        """Wait, until the monotonic time ``until``, for a requested deletion and say what
        became of the instance."""
        if isinstance(entry, Cleanup):
            return entry
        held = self.wait_gone(entry.namespace, entry.instance, until=until)
        if held is not None:
            reason = f"{entry.reason}; deletion requested but {held}"
            if entry.pr is not None:
                reason += f"; {entry.pr.name} ({entry.pr.url}) may still be open"
            return Cleanup(
                experiment=entry.experiment,
                instance=entry.instance,
                action="held",
                reason=reason,
                command=inspect_command(entry.instance, entry.namespace),
            )
        reason = entry.reason
        if entry.pr is not None:
            # The operator closes the PR before it lets a Pending-review instance go.
            reason += (
                f"; review was Pending: the operator closed {entry.pr.name} ({entry.pr.url}) "
                "as it deleted the instance"
            )
        return Cleanup(
            experiment=entry.experiment, instance=entry.instance, action="deleted", reason=reason
        )

    def retire(self, launch: Launch, *, reason: str) -> None:
        """Delete the instance an auto-fix replaces, waiting for the operator to let it go."""
        current = self._current(launch)
        if current is None:
            self.retired.append(
                Cleanup(
                    experiment=launch.name,
                    instance=launch.instance,
                    action="gone",
                    reason="already deleted",
                )
            )
        else:
            entry = Deleting.of(launch, pr=pending_pr(launch, current), reason=reason)
            settled = self._settle(self._request(entry), until=self.deadline())
            self.retired.append(self._lease_after(launch.namespace, settled))


__all__ = ["Cleaner", "Cleanup"]
