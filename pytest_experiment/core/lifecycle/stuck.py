"""Stuck targets: a target the operator will never recover, and why, from its claim or apps.

The real operator never fails an experiment in Provisioning or Ready: a
cluster or application error marks only the target, and the experiment waits
with no deadline of its own. These read what it left behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_experiment.base.types import ObjView as Obj
from pytest_experiment.base.views import condition, meta, status, targets
from pytest_experiment.core.lifecycle.phases import condition_message, phase_of

# Crossplane Ready reasons that only mean "not yet": anything else with Ready False is
# the cloud refusing the cluster, which no amount of waiting mends.
_CLAIM_WAITING = frozenset({"", "Creating", "Deleting", "Unavailable", "Available"})
NO_REASON = "no reason in the status"
"""What a line says of a failed target the status gives no reason for (wording only:
code reads ``StuckTarget.unexplained``)."""


@dataclass(frozen=True, kw_only=True)
class StuckTarget:
    """A target the operator will never recover: it leaves the experiment waiting forever."""

    target: str
    reason: str
    source: str
    """Where the harness read it: ``status.targets`` or the GKECluster claim's name."""
    unexplained: bool = False
    """The experiment's status gives no reason: its claim or applications may."""

    def line(self, instance: str, phase: str) -> str:
        return (
            f"Experiment {instance} stuck in {phase}: target {self.target} Failed "
            f"({self.source}): {self.reason}"
        )


def failed_target(obj: Obj | None) -> StuckTarget | None:
    """The first target whose ``phase`` is Failed while the experiment has not failed.

    The real operator never fails an experiment in Provisioning or Ready: a
    cluster or application error marks only the target, and the experiment
    waits with no deadline of its own.
    """
    if phase_of(obj) not in ("Pending", "Provisioning", "Ready"):
        return None
    for target in targets(obj):
        if target.get("phase") == "Failed":
            reason = _target_reason(target, obj)
            cluster = target.get("clusterName")
            return StuckTarget(
                target=str(target.get("name") or "<unnamed>"),
                reason=(
                    reason
                    if reason is not None
                    else f"{NO_REASON}; see its cluster claim {cluster}"
                    if cluster
                    else NO_REASON
                ),
                source="status.targets",
                unexplained=reason is None,
            )
    return None


def _target_reason(target: Obj, obj: Obj | None) -> str | None:
    """Why a target failed, as far as the experiment's own status says; None when it
    does not say."""
    for key in ("message", "reason", "error"):
        if target.get(key):
            return " ".join(str(target[key]).split())
    return condition_message(obj)


def claim_names(obj: Obj | None) -> list[str]:
    """The GKECluster claims an instance's targets use: ``<instance>-<target>`` (and what
    the status names, for operators that name them otherwise)."""
    instance = meta(obj).name
    names: list[str] = []
    spec = (obj or {}).get("spec")
    spec_targets = spec.get("targets") if isinstance(spec, Mapping) else None
    for target in spec_targets or []:
        if isinstance(target, Mapping) and target.get("name") and instance:
            names.append(f"{instance}-{target['name']}")
    for target in targets(obj):
        cluster = str(target.get("clusterName") or "")
        if cluster and cluster != "hub" and cluster not in names:
            names.append(cluster)
    return names


def claim_target(claim: Obj, instance: str) -> str:
    name = meta(claim).name
    target = meta(claim).labels.get("experiments.illm.io/target")
    if target:
        return str(target)
    return name.removeprefix(f"{instance}-") if name.startswith(f"{instance}-") else name


def failed_claim(claims: Sequence[Obj], instance: str) -> StuckTarget | None:
    """A GKECluster claim whose Ready condition is False for a reason that will not pass."""
    for claim in claims:
        ready = condition(claim, "Ready")
        if ready is None or ready.get("status") != "False":
            continue
        reason = str(ready.get("reason") or "")
        if reason in _CLAIM_WAITING:
            continue
        message = " ".join(str(ready.get("message") or "").split())
        name = meta(claim).name
        return StuckTarget(
            target=claim_target(claim, instance),
            reason=f"{reason}: {message}" if message else reason,
            source=f"GKECluster {name} Ready=False",
        )
    return None


def explained(
    stuck: StuckTarget,
    *,
    obj: Obj | None,
    claims: Sequence[Obj] = (),
    applications: Sequence[Obj] = (),
) -> StuckTarget:
    """``stuck`` with the reason the real operator keeps off the experiment: the Ready
    condition of the target's claim, else the health of its applications."""
    if not stuck.unexplained:
        return stuck
    instance = meta(obj).name
    cluster = next(
        (str(t.get("clusterName") or "") for t in targets(obj) if t.get("name") == stuck.target),
        "",
    )
    for claim in claims:
        name = meta(claim).name
        if name != cluster and claim_target(claim, instance) != stuck.target:
            continue
        ready = condition(claim, "Ready")
        if ready is not None and ready.get("status") == "False" and ready.get("message"):
            message = " ".join(str(ready["message"]).split())
            reason = f" ({ready['reason']})" if ready.get("reason") else ""
            return StuckTarget(
                target=stuck.target,
                reason=f"GKECluster {name} Ready=False{reason}: {message}",
                source=stuck.source,
            )
    for app in applications:
        if meta(app).labels.get("experiments.illm.io/target") not in (None, stuck.target):
            continue
        health = status(app).get("health") or {}
        if health.get("status") not in (None, "Healthy", "Progressing"):
            app_name = meta(app).raw.get("name")
            message = " ".join(str(health.get("message") or "").split())
            text = f"application {app_name} health {health.get('status')}"
            return StuckTarget(
                target=stuck.target,
                reason=f"{text}: {message}" if message else text,
                source=stuck.source,
            )
    return stuck
