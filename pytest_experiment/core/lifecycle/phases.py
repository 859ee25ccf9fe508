"""Phases and status reads: where an instance is, how it failed, what its spec allows.

No I/O here: ``live`` feeds these functions the objects the watch saw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pytest_experiment.base.types import ObjView as Obj
from pytest_experiment.base.views import conditions, meta, status, targets

PHASES = ("Pending", "Provisioning", "Ready", "Running")
TERMINAL = ("Complete", "Failed")
# The component a stuck phase is waiting on: the toil label of its timeout.
TIMEOUT_LABEL = {
    "Pending": "crossplane",
    "Provisioning": "crossplane",
    "Ready": "argocd",
    "Running": "workflow",
}
# Where a failure in a phase comes from; anything else: operator.
FAILURE_CATEGORY = {"Provisioning": "crossplane", "Ready": "argocd", "Running": "workflow"}


def phase_of(obj: Obj | None) -> str:
    """The experiment's phase; an object the operator has not touched yet is Pending.

    The real operator never writes ``Pending``: a new experiment has no phase
    (or ``""``) until it starts provisioning, and both count as Pending.
    """
    return normal_phase(status(obj).get("phase"))


def normal_phase(value: Any) -> str:
    """A status phase as the harness reports it: absent or empty is Pending."""
    return str(value or "Pending")


def is_terminal(obj: Obj | None) -> bool:
    return phase_of(obj) in TERMINAL


def manual_completion(spec: Obj) -> bool:
    workflow = spec.get("workflow") if isinstance(spec.get("workflow"), Mapping) else {}
    completion = workflow.get("completion") if isinstance(workflow, Mapping) else None
    return isinstance(completion, Mapping) and completion.get("mode") == "manual"


def failed_in(timeline: Sequence[str], obj: Obj | None) -> str:
    """The phase an experiment failed in: the last one the watch saw before Failed.

    Only what the harness observed counts: the real CRD keeps no record of
    when each phase was entered. An instance first seen already Failed is
    placed by what its status still shows: a workflow means it ran, a
    target's phase where provisioning got to.
    """
    seen = [p for p in timeline if p in PHASES]
    if seen and seen[-1] != "Pending":
        return seen[-1]
    current = status(obj)
    workflow = current.get("workflowStatus")
    if isinstance(workflow, Mapping) and workflow.get("name"):
        return "Running"
    reported = targets(obj)
    if reported:
        return "Ready" if all(t.get("phase") == "Ready" for t in reported) else "Provisioning"
    return seen[-1] if seen else "Pending"


NO_CONDITION_MESSAGE = "no condition message"
"""What a line says when no condition explains a failure (wording only: code asks
``condition_message`` for None)."""


def condition_message(obj: Obj | None) -> str | None:
    """The message of the condition that explains a failure: ``Failed`` first, then any
    condition whose status is not the healthy one, then any message at all; None when no
    condition has one."""
    ranked = sorted(
        (c for c in conditions(obj) if c.get("message")),
        key=lambda c: (c.get("type") != "Failed", c.get("status") == "True"),
    )
    return " ".join(str(ranked[0]["message"]).split()) if ranked else None


def first_condition_message(obj: Obj | None) -> str:
    """``condition_message`` as a line shows it."""
    message = condition_message(obj)
    return NO_CONDITION_MESSAGE if message is None else message


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (second precision or finer, ``Z`` or an offset), else None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Go writes nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def workflow_started(obj: Obj | None) -> datetime | None:
    """``status.workflowStatus.startedAt``: when the run's workflow started, as the server
    recorded it (the operator enters Running as it submits the workflow)."""
    workflow = status(obj).get("workflowStatus")
    return parse_time(workflow.get("startedAt")) if isinstance(workflow, Mapping) else None


def run_total(obj: Obj | None) -> float | None:
    """Seconds from ``metadata.creationTimestamp`` to ``status.completedAt``, when both exist."""
    created = parse_time(meta(obj).created)
    completed = parse_time(status(obj).get("completedAt"))
    if created is None or completed is None or completed < created:
        return None
    return (completed - created).total_seconds()


# Conditions with which the real operator turns a Complete run Failed, and the
# reasons that mean it did.
TURN_CONDITIONS = {
    "QualityGate": frozenset({"Exhausted"}),
    "AnalysisComplete": frozenset({"Failed", "JobNotFound"}),
}


@dataclass(frozen=True, kw_only=True)
class Turn:
    """Why a Complete run turned Failed: the operator's condition."""

    type: str
    reason: str
    message: str

    def line(self) -> str:
        message = f": {self.message}" if self.message else ""
        return f"{self.type} {self.reason}{message}"


def turn_condition(obj: Obj | None) -> Turn | None:
    """The operator's condition that fails a Complete run (``QualityGate`` ``Exhausted``,
    ``AnalysisComplete`` ``Failed``/``JobNotFound``), whatever the phase says yet: the
    operator may write the phase Failed a status write after it."""
    for condition in status(obj).get("conditions") or []:
        if not isinstance(condition, Mapping):
            continue
        kind = str(condition.get("type") or "")
        reason = str(condition.get("reason") or "")
        if reason in TURN_CONDITIONS.get(kind, ()):
            return Turn(
                type=kind,
                reason=reason,
                message=" ".join(str(condition.get("message") or "").split()),
            )
    return None


def turned_failed(obj: Obj | None) -> Turn | None:
    """What explains a Failed phase reached after Complete (the operator's condition,
    else the phase itself with its first condition message); None while not Failed."""
    if phase_of(obj) != "Failed":
        return None
    found = turn_condition(obj)
    if found is not None:
        return found
    iteration = status(obj).get("iterationStatus")
    if isinstance(iteration, Mapping) and iteration.get("phase") == "Exhausted":
        return Turn(type="QualityGate", reason="Exhausted", message=_iteration_text(iteration))
    return Turn(type="phase", reason="Failed", message=first_condition_message(obj))


def _iteration_text(iteration: Obj) -> str:
    """What an exhausted gate tried, counted as the progress lines count it: the real
    operator's ``currentIteration`` 2 of ``maxIterations`` 2 is the first collection and
    two re-collections, not an "iteration 2 of 2"."""
    current, limit = iteration.get("currentIteration"), iteration.get("maxIterations")
    if not isinstance(current, int) or isinstance(current, bool):
        return ""
    again = current - _first_iteration(iteration, current)
    counted = isinstance(limit, int) and not isinstance(limit, bool)
    allowed = f" ({limit} allowed)" if counted else ""
    if again <= 0:
        return f"the first collection did not pass, no re-collection{allowed}"
    plural = "s" if again != 1 else ""
    return f"no collection passed: the first and {again} re-collection{plural}{allowed}"


# The quality gate's phases in which it has not decided yet: the resultsURL it shows may
# still be cleared for a re-collection.
_GATE_DECIDING = {"Evaluating": "evaluating", "Recollecting": "re-collecting"}


def quality_gate_deciding(obj: Obj | None) -> str | None:
    """``iterationStatus.phase`` while the quality gate has not decided (Evaluating,
    Recollecting), else None (Passed, Exhausted, or no gate)."""
    iteration = status(obj).get("iterationStatus")
    phase = iteration.get("phase") if isinstance(iteration, Mapping) else None
    return str(phase) if phase in _GATE_DECIDING else None


def results_final(obj: Obj | None) -> bool:
    """Whether ``status.resultsURL`` names the results the run ends with: written, and no
    quality gate still deciding over them. The real operator shows the URL of each
    collection a moment before its gate clears it to re-collect."""
    return bool(status(obj).get("resultsURL")) and quality_gate_deciding(obj) is None


def quality_gate_progress(obj: Obj | None, *, max_iterations: int | None = None) -> str | None:
    """``quality gate evaluating the first collection (up to 3 re-collections)``,
    ``quality gate re-collecting, re-collection 2 of 3``, ``quality gate evaluating
    re-collection 2 of 3`` while the operator's quality gate has not decided.

    The real operator counts from 0 (``currentIteration`` 0 is the first collection and
    ``maxIterations`` bounds the re-collections); an operator counting from 1 numbers its
    ``qualityResults`` from 1, and is read the same way."""
    deciding = quality_gate_deciding(obj)
    if deciding is None:
        return None
    iteration = status(obj).get("iterationStatus")
    assert isinstance(iteration, Mapping)
    doing = _GATE_DECIDING[deciding]
    current = iteration.get("currentIteration")
    limit = iteration.get("maxIterations") or max_iterations
    if not isinstance(current, int) or isinstance(current, bool):
        return f"quality gate {doing}"
    again = current - _first_iteration(iteration, current)
    if again <= 0 and deciding == "Evaluating":
        most = f" (up to {limit} re-collections)" if limit is not None else ""
        return f"quality gate evaluating the first collection{most}"
    of = f" of {limit}" if limit is not None else ""
    if deciding == "Recollecting":
        return f"quality gate re-collecting, re-collection {max(again, 1)}{of}"
    return f"quality gate evaluating re-collection {again}{of}"


def _first_iteration(iteration: Obj, current: int) -> int:
    """The number the operator gives its first collection: 0 (the real operator) or 1,
    as its ``qualityResults`` show; 0 when they do not say."""
    numbers = [
        number
        for r in iteration.get("qualityResults") or ()
        if isinstance(r, Mapping) and isinstance(number := r.get("iteration"), int)
    ]
    return 1 if current > 0 and numbers and min(numbers) == 1 else 0


def max_iterations(spec: Obj) -> int:
    """``spec.qualityGate.maxIterations`` (the CRD's default is 3)."""
    gate = spec.get("qualityGate")
    value = gate.get("maxIterations") if isinstance(gate, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 3


def recollect_delay(spec: Obj) -> float:
    """``spec.qualityGate.recollectDelaySeconds`` (the CRD's default is 120)."""
    gate = spec.get("qualityGate")
    value = gate.get("recollectDelaySeconds") if isinstance(gate, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return 120.0


def review_skipped_why(obj: Obj | None) -> str:
    """Why the operator skipped review: it opens one only for a published run with a PR."""
    current = status(obj)
    reasons = []
    if current.get("published") is not True:
        reasons.append("published: false")
    number = current.get("publishPRNumber")
    if not isinstance(number, int) or isinstance(number, bool):
        reasons.append("no PR number")
    return ", ".join(reasons) or "published with a PR, yet skipped by the operator"
