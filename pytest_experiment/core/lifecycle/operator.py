"""An operator that is not running: an instance it never wrote a status for.

The pre-flight only warns when the operator Deployment has no ready replica
(it may recover). An instance the operator has not touched has no status at
all; once it has had none for ``--experiment-budget-operator`` and the
Deployment still has no ready replica, waiting out the Pending budget (20
minutes by default) would only delay the same answer.
"""

from __future__ import annotations

from pytest_experiment.base.resources import OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
from pytest_experiment.base.types import ObjView as Obj
from pytest_experiment.base.views import status
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.toil import ToilRecord, toil_record

DEPLOYMENT = f"{OPERATOR_NAMESPACE}/{OPERATOR_DEPLOYMENT}"


def untouched(obj: Obj | None) -> bool:
    """The operator has written nothing to the instance's status (not even a phase)."""
    return not status(obj)


def operator_down_line(instance: str, *, silent: float, budget: float) -> str:
    return (
        f"Operator down: no status on {instance} after {format_duration(silent)} "
        f"(--experiment-budget-operator {format_duration(budget)}) and Deployment "
        f"{DEPLOYMENT} has no ready replica; check it with: kubectl get deployment "
        f"{OPERATOR_DEPLOYMENT} -n {OPERATOR_NAMESPACE}"
    )


def operator_down_toil(name: str, instance: str, *, silent: float) -> ToilRecord:
    return toil_record("operator-down", name, instance=instance, silent=format_duration(silent))


__all__ = [
    "DEPLOYMENT",
    "operator_down_line",
    "operator_down_toil",
    "untouched",
]
