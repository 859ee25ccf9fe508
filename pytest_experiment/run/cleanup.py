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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.types import Obj
from pytest_experiment.core.lifecycle import (
    delete_command,
    format_duration,
    inspect_command,
    is_terminal,
    phase_of,
)
from pytest_experiment.core.review import PullRequestRef, review_phase
from pytest_experiment.core.verdict import Status
from pytest_experiment.core.watch_state import WatchTimeout
from pytest_experiment.edges.api_errors import NotFound
from pytest_experiment.run.diagnostics import one_line
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.launcher import CREATE_LABEL, EXPERIMENT_LABEL, RUN_LABEL
from pytest_experiment.run.protocols import SessionContext


@dataclass(frozen=True, kw_only=True)
class Cleanup:
    """What the session did with one instance (cleanup policy); every created instance gets one."""

    experiment: str
    instance: str
    action: str
    """``deleted`` (and gone), ``held`` (deletion requested, a finalizer still holds it),
    ``kept``, ``left`` (attached) or ``gone`` (already deleted)."""
    reason: str
    command: str = ""

    def line(self) -> str:
        text = f"{self.action} {self.instance} ({self.experiment}): {self.reason}"
        if not self.command:
            return text
        verb = "inspect" if self.action == "held" else "delete"
        return f"{text}; {verb} with: {self.command}"

    def as_json(self) -> dict[str, str]:
        return {
            "experiment": self.experiment,
            "instance": self.instance,
            "action": self.action,
            "reason": self.reason,
            "command": self.command,
        }


@dataclass(frozen=True, kw_only=True)
class _Deleting:
    """A deletion decided at session end, carried out once every decision is made."""

    experiment: str
    instance: str
    namespace: str
    reason: str
    pr: PullRequestRef | None = None

    @classmethod
    def of(cls, launch: Launch, *, reason: str, pr: PullRequestRef | None = None) -> _Deleting:
        return cls(
            experiment=launch.name,
            instance=launch.instance,
            namespace=launch.namespace,
            reason=reason,
            pr=pr,
        )


class Cleaner:
    """Decides and carries out what becomes of each instance; remembers what it deleted."""

    def __init__(self, run: SessionContext) -> None:
        self.run = run
        self.retired: list[Cleanup] = []
        """What became of the instances auto-fix re-runs replaced."""
        self._requested: set[str] = set()
        """Instances whose deletion has been asked for."""

    def finish(
        self, launches: Sequence[Launch], *, accounted: Iterable[str], namespaces: Iterable[str]
    ) -> list[Cleanup]:
        """Apply the cleanup policy to every instance of ``launches`` and to the strays of
        this run in their namespaces and ``namespaces`` that are not ``accounted`` for."""
        decided = [self._decide(launch) for launch in launches if launch.instance]
        decided += self._strays(launches, accounted=accounted, namespaces=namespaces)
        return [*self.retired, *(self._settle(entry) for entry in decided)]

    def _decide(self, launch: Launch) -> Cleanup | _Deleting:
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
        policy = self.run.options.cleanup
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
                    reason=_deleted_by_run(launch),
                )
            return Cleanup(
                experiment=name, instance=launch.instance, action="gone", reason="already deleted"
            )
        if requested:
            return _Deleting.of(launch, reason="deletion requested earlier in the run")
        result = launch.follow.result
        succeeded = (
            result is not None
            and result.status is Status.PASS
            and not launch.items.failed
            and (launch.items.done or not launch.items.named)
        )
        pr = _pending_pr(launch, current)
        if policy == "on-success" and pr is not None:
            # Deleting it would close the PR the review gate holds open.
            held = (
                f"review Pending: {pr.name} ({pr.url}) left open for review; "
                "deleting the instance closes it"
            )
            keep = held if succeeded else f"{_kept_reason(launch, current)}; {held}"
        elif (
            policy == "on-success"
            and not is_terminal(current)
            and (result is None or launch.follow.cut_short)
        ):
            # An unfinished instance holds cloud clusters that bill by the hour: a run
            # stopped by Ctrl-C, -x, a crash or a timeout must not leave them running.
            return _Deleting.of(
                launch,
                reason=f"unfinished ({phase_of(current)}) when the session ended; deleted so "
                "it holds no cloud resources (--experiment-cleanup=never keeps it)",
            )
        elif policy == "on-success" and not succeeded:
            keep = _kept_reason(launch, current)
        else:
            return _Deleting.of(
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
        if self.run.cluster is not None:
            try:
                return self.run.cluster.get_experiment(launch.instance, namespace=launch.namespace)
            except ClusterError:
                pass
        watcher = self.run.watching(launch.namespace)
        observed = watcher.observed(launch.instance) if watcher is not None else None
        return None if observed is None or observed.deleted else observed.obj

    def request_delete(self, launch: Launch) -> None:
        """Ask the API to delete the instance; ``wait_gone`` says when it has gone."""
        assert self.run.cluster is not None
        self.run.cluster.delete_experiment(launch.instance, namespace=launch.namespace)
        self._requested.add(launch.instance)

    def wait_gone(self, namespace: str, instance: str) -> str | None:
        """Wait, at most ``--experiment-budget-delete``, until a deleted instance has
        disappeared. None once it has; else why it is still there, for the report:
        "deleted" is only ever said of an instance the API no longer has."""
        wait = self.run.options.budget_delete or 0.0
        try:
            self.run.watcher(namespace).wait_deleted(instance, timeout=wait)
            return None
        except (WatchTimeout, ClusterError):
            # The watch may have been cut (an interrupt tearing the session down) or
            # lag: one direct read decides, so neither "deleted" nor "held" is a guess.
            pass
        cluster = self.run.cluster
        assert cluster is not None
        try:
            obj = cluster.get_experiment(instance, namespace=namespace)
        except NotFound:
            return None
        except ClusterError as exc:
            return f"could not confirm it is gone: {one_line(exc, limit=160)}"
        finalizers = ", ".join((obj.get("metadata") or {}).get("finalizers") or ())
        holder = f"finalizer {finalizers}" if finalizers else "the API server"
        return f"still held by {holder} after {format_duration(wait)}"

    def _settle(self, entry: Cleanup | _Deleting) -> Cleanup:
        """Carry out a decided deletion and say what became of the instance."""
        if isinstance(entry, Cleanup):
            return entry
        cluster = self.run.cluster
        assert cluster is not None
        if entry.instance not in self._requested:
            try:
                cluster.delete_experiment(entry.instance, namespace=entry.namespace)
            except ClusterError as exc:
                return Cleanup(
                    experiment=entry.experiment,
                    instance=entry.instance,
                    action="kept",
                    reason=f"delete failed: {one_line(exc, limit=160)}",
                    command=delete_command(entry.instance, entry.namespace),
                )
            self._requested.add(entry.instance)
        held = self.wait_gone(entry.namespace, entry.instance)
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
            entry = _Deleting.of(launch, pr=_pending_pr(launch, current), reason=reason)
            self.retired.append(self._settle(entry))

    def _strays(
        self, launches: Sequence[Launch], *, accounted: Iterable[str], namespaces: Iterable[str]
    ) -> list[Cleanup | _Deleting]:
        """Instances carrying this run's label that no launch of this process knows but one
        of its creates made (a worker's view), or any (the xdist controller's): a
        create whose answer an interrupt swallowed or that was lost and not found when
        looked for, or, on the xdist controller, what a worker created and did not
        account for (it was killed, or stopped before its cleanup). Deleted unless the
        policy is never."""
        cluster = self.run.cluster
        if cluster is None:
            return []
        known = {launch.instance for launch in launches} | set(accounted)
        unanswered = {create for launch in launches for create in launch.apply.unanswered}
        sent = {create for launch in launches for create in launch.apply.sent}
        found: list[Cleanup | _Deleting] = []
        for namespace in sorted({launch.namespace for launch in launches} | set(namespaces)):
            try:
                items = cluster.list_experiments(
                    namespace=namespace, label_selector=f"{RUN_LABEL}={self.run.run_id}"
                )[0]
            except ClusterError:
                continue
            for item in items:
                meta = item.get("metadata") or {}
                instance = str(meta.get("name"))
                if instance in known:
                    continue
                labels = meta.get("labels") or {}
                if not self.run.controller and labels.get(CREATE_LABEL) not in sent:
                    # Another xdist worker's (they share the run label): that worker,
                    # or the controller's sweep if it dies, accounts for it.
                    continue
                experiment = str(labels.get(EXPERIMENT_LABEL) or "?")
                why = (
                    "made by a create of this session whose answer was lost; not followed"
                    if labels.get(CREATE_LABEL) in unanswered
                    else None
                )
                found.append(self._stray(item, experiment=experiment, namespace=namespace, why=why))
        return found

    def _stray(
        self, obj: Obj, *, experiment: str, namespace: str, why: str | None
    ) -> Cleanup | _Deleting:
        """The policy for an instance no item of this process reported on: what a worker
        would have decided, from what the cluster shows (its items' outcomes are lost).
        ``why`` it is a stray, when the caller knows."""
        instance = str(obj["metadata"]["name"])
        if why is None:
            why = (
                "created by an xdist worker that stopped before its cleanup"
                if self.run.controller
                else "created as the session was interrupted"
            )
        policy = self.run.options.cleanup
        finished = is_terminal(obj)
        kept = None
        if policy == "never":
            kept = f"{why}; --experiment-cleanup=never"
        elif policy == "on-success" and finished:
            kept = f"{why}; {phase_of(obj)}, but not all its items ran"
        if kept is not None:
            return Cleanup(
                experiment=experiment,
                instance=instance,
                action="kept",
                reason=kept,
                command=delete_command(instance, namespace),
            )
        reason = (
            f"{why}; --experiment-cleanup={policy}"
            if finished
            else f"{why}; unfinished ({phase_of(obj)}), deleted so it holds no cloud resources"
        )
        return _Deleting(
            experiment=experiment, instance=instance, namespace=namespace, reason=reason
        )


def _deleted_by_run(launch: Launch) -> str:
    """Why the run itself deleted an instance, from its lifecycle verdict."""
    figures = launch.follow.result.figures if launch.follow.result is not None else {}
    if figures.get("endedBy") == "budget":
        return "deleted by the run: --experiment-budget-running ended the manual-completion run"
    if figures.get("timedOutIn"):
        return "deleted by the run: --experiment-on-timeout=abort"
    return "deleted by the run (--experiment-on-timeout=abort or --experiment-budget-running)"


def _kept_reason(launch: Launch, current: Obj | None) -> str:
    result = launch.follow.result
    if result is None:
        phase = phase_of(current) if current is not None else launch.follow.phase or "Pending"
        return f"not finished: the session stopped while it was {phase}"
    if result.status is not Status.PASS:
        return f"lifecycle {result.status.name}: {one_line(result.line, limit=160)}"
    if launch.items.failed:
        return "an item of this experiment failed"
    return "not all its items ran: the session stopped after its lifecycle passed"


def _pending_pr(launch: Launch, current: Obj | None) -> PullRequestRef | None:
    """The PR a published instance's Pending review gate holds open, or None."""
    if not launch.spec.publish or current is None or review_phase(current) != "Pending":
        return None
    pr = PullRequestRef.of(current)
    return pr if pr.url or pr.number is not None else None


__all__ = ["Cleaner", "Cleanup"]
