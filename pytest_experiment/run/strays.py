"""Strays: instances carrying this run's label that no launch of this process knows.

A create whose answer an interrupt swallowed, or that was lost and not found
when looked for; on the xdist controller, what a worker created and did not
account for (it was killed, or stopped before its cleanup). Each gets the
cleanup policy, decided from what the cluster shows of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.base.types import Obj
from pytest_experiment.base.views import meta
from pytest_experiment.core.lifecycle import delete_command, is_terminal, phase_of
from pytest_experiment.core.options import CleanupPolicy
from pytest_experiment.run.cleanup_record import Cleanup, Deleting
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.launcher import CREATE_LABEL, EXPERIMENT_LABEL, RUN_LABEL
from pytest_experiment.run.ports import Cluster
from pytest_experiment.run.role import Role


def strays(
    cluster: Cluster | None,
    launches: Sequence[Launch],
    *,
    accounted: Iterable[str],
    namespaces: Iterable[str],
    role: Role,
    policy: CleanupPolicy,
) -> list[tuple[str, Cleanup | Deleting]]:
    """Instances carrying this run's label that no launch of this process knows but one
    of its creates made (a worker's view), or any (the xdist controller's): a
    create whose answer an interrupt swallowed or that was lost and not found when
    looked for, or, on the xdist controller, what a worker created and did not
    account for (it was killed, or stopped before its cleanup). Deleted unless the
    policy is never."""
    if cluster is None:
        return []
    known = {launch.instance for launch in launches} | set(accounted)
    unanswered = {create for launch in launches for create in launch.apply.unanswered}
    sent = {create for launch in launches for create in launch.apply.sent}
    found: list[tuple[str, Cleanup | Deleting]] = []
    for namespace in sorted({launch.namespace for launch in launches} | set(namespaces)):
        try:
            items = cluster.list_experiments(
                namespace=namespace, label_selector=f"{RUN_LABEL}={role.run_id}"
            )[0]
        except ClusterError:
            continue
        for item in items:
            instance = str(meta(item).raw.get("name"))
            if instance in known:
                continue
            labels = meta(item).labels
            if not role.controller and labels.get(CREATE_LABEL) not in sent:
                # Another xdist worker's (they share the run label): that worker,
                # or the controller's sweep if it dies, accounts for it.
                continue
            experiment = str(labels.get(EXPERIMENT_LABEL) or "?")
            why = (
                "made by a create of this session whose answer was lost; not followed"
                if labels.get(CREATE_LABEL) in unanswered
                else None
            )
            found.append(
                (
                    namespace,
                    _stray(
                        item,
                        instance=instance,
                        experiment=experiment,
                        namespace=namespace,
                        why=why,
                        controller=role.controller,
                        policy=policy,
                    ),
                )
            )
    return found


def _stray(
    obj: Obj,
    *,
    instance: str,
    experiment: str,
    namespace: str,
    why: str | None,
    controller: bool,
    policy: CleanupPolicy,
) -> Cleanup | Deleting:
    """The policy for an instance no item of this process reported on: what a worker
    would have decided, from what the cluster shows (its items' outcomes are lost).
    ``why`` it is a stray, when the caller knows."""
    if why is None:
        why = (
            "created by an xdist worker that stopped before its cleanup"
            if controller
            else "created as the session was interrupted"
        )
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
    return Deleting(experiment=experiment, instance=instance, namespace=namespace, reason=reason)


__all__ = ["strays"]
