"""The toil a live run logs: one line per kind over the table in ``core.toil``.

Priorities and labels follow the seed's toil guide: priority 1 when the
experiment cannot run at all, 2 when it ran but failed or needed a hand,
3 when it completed with friction.
"""

from __future__ import annotations

from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.lifecycle.phases import FAILURE_CATEGORY, TIMEOUT_LABEL, Turn
from pytest_experiment.core.lifecycle.stuck import StuckTarget
from pytest_experiment.core.toil import ToilRecord, toil_record


def validation_toil(name: str, reason: str) -> ToilRecord:
    return toil_record("validation", name, reason=reason)


def missing_template_toil(name: str, template: str) -> ToilRecord:
    return toil_record("missing-template", name, template=template)


def operator_toil(name: str) -> ToilRecord:
    return toil_record("operator", name)


def unreachable_toil(name: str, error: str) -> ToilRecord:
    return toil_record("unreachable", name, error=error)


def apply_toil(name: str, error: str) -> ToilRecord:
    return toil_record("apply", name, error=error)


def timeout_toil(
    name: str, instance: str, phase: str, budget: float, *, by: str = ""
) -> ToilRecord:
    return toil_record(
        "timeout-by" if by else "timeout",
        name,
        instance=instance,
        phase=phase,
        budget=format_duration(budget),
        by=by,
        label=TIMEOUT_LABEL.get(phase, "operator"),
    )


def failed_toil(name: str, instance: str, phase: str, message: str) -> ToilRecord:
    label = FAILURE_CATEGORY.get(phase, "operator")
    return toil_record("failed", name, instance=instance, message=message, label=label)


def deleted_toil(name: str, instance: str, phase: str) -> ToilRecord:
    return toil_record("deleted", name, instance=instance, phase=phase)


def results_toil(name: str, instance: str, problem: str) -> ToilRecord:
    return toil_record("results", name, instance=instance, problem=problem)


def stuck_toil(name: str, instance: str, phase: str, stuck: StuckTarget) -> ToilRecord:
    return toil_record(
        "stuck",
        name,
        instance=instance,
        phase=phase,
        target=stuck.target,
        reason=stuck.reason,
        label=FAILURE_CATEGORY.get(phase, "crossplane"),
    )


def turn_toil(name: str, instance: str, turn: Turn) -> ToilRecord:
    label = "quality" if turn.type == "QualityGate" else "analyzer"
    return toil_record("turn", name, instance=instance, turn=turn.line(), label=label)
