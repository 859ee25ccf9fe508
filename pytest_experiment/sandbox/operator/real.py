"""The lab's current operator, as OPERATOR-FACTS describes it: one reconcile step."""

from __future__ import annotations

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator import phases, results, review
from pytest_experiment.sandbox.operator.config import FINALIZER, meta, publishes, status
from pytest_experiment.sandbox.operator.context import Ctx, Track


def reconcile(ctx: Ctx, obj: Obj, track: Track) -> None:
    if meta(obj).get("deletionTimestamp"):
        review.finalize(ctx, obj, track)
        return
    finalizers = list(meta(obj).get("finalizers") or [])
    if FINALIZER not in finalizers:
        if not review.released(obj):
            ctx.set_finalizers(obj, [*finalizers, FINALIZER])
        return
    phase = status(obj).get("phase") or ""
    if phase in ("", "Pending"):
        phases.start(ctx, obj, track)
    elif phase == "Provisioning":
        phases.provisioning(ctx, obj, track)
    elif phase == "Ready":
        phases.ready(ctx, obj, track)
    elif phase == "Running":
        phases.running(ctx, obj, track)
    elif phase in ("Complete", "Failed"):
        _finished(ctx, obj, track)


def _finished(ctx: Ctx, obj: Obj, track: Track) -> None:
    if not results.after_workflow(ctx, obj, track):
        return
    current = status(obj)
    if current.get("phase") == "Complete" and publishes(obj) and current.get("published"):
        if not review.analysis(ctx, obj, track):
            return
        review.review(ctx, obj, track)
    if review.released(obj):
        finalizers = list(meta(obj).get("finalizers") or [])
        ctx.set_finalizers(obj, [f for f in finalizers if f != FINALIZER])
