"""Status conditions the real operator sets: QualityGate, AnalysisComplete, ReviewGate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator.config import meta, now, seconds, status
from pytest_experiment.sandbox.operator.context import Ctx

QUALITY_GATE = "QualityGate"
ANALYSIS_COMPLETE = "AnalysisComplete"
REVIEW_GATE = "ReviewGate"


def with_condition(
    obj: Mapping[str, Any], *, kind: str, true: bool, reason: str, message: str
) -> list[Obj]:
    """The experiment's conditions with ``kind`` set (its transition time kept if unchanged)."""
    current = [dict(c) for c in status(obj).get("conditions") or [] if isinstance(c, Mapping)]
    wanted = "True" if true else "False"
    previous = next((c for c in current if c.get("type") == kind), None)
    at = seconds(now())
    if previous is not None and previous.get("status") == wanted:
        at = str(previous.get("lastTransitionTime") or at)
    entry: Obj = {
        "type": kind,
        "status": wanted,
        "reason": reason,
        "message": message,
        "lastTransitionTime": at,
        "observedGeneration": int(meta(obj).get("generation") or 1),
    }
    return [*(c for c in current if c.get("type") != kind), entry]


def patch_with_condition(
    ctx: Ctx, obj: Obj, fields: Obj, *, kind: str, true: bool, reason: str, message: str
) -> None:
    """Write ``fields`` and set condition ``kind`` in the same status patch."""
    conditions = with_condition(obj, kind=kind, true=true, reason=reason, message=message)
    ctx.patch_status(obj, {**fields, "conditions": conditions})


def condition(obj: Mapping[str, Any], kind: str) -> Obj | None:
    for entry in status(obj).get("conditions") or []:
        if isinstance(entry, Mapping) and entry.get("type") == kind:
            return dict(entry)
    return None
