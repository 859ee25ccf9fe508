"""How the older operator writes status: phase timestamps, its own conditions, and Events.

Every transition stamps ``phaseTimestamps`` and ``observedGeneration``, sets
``Progressing`` (and ``Complete`` or ``Failed`` at the end) and records a
Kubernetes Event, which the lab's current operator does not do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator.config import instance, meta, micros, now, seconds, status
from pytest_experiment.sandbox.operator.context import Ctx, Track

log = logging.getLogger("experiment-operator")


def set_stamped(ctx: Ctx, obj: Obj, track: Track, field: str, phase: str) -> None:
    stamps_field = f"{field}Timestamps"
    stamps = {**(status(obj).get(stamps_field) or {}), phase: micros(now())}
    ctx.patch_status(obj, {field: phase, stamps_field: stamps})
    track.enter(f"{field.removesuffix('Phase')}-{phase}")


def transition(
    ctx: Ctx,
    obj: Obj,
    track: Track,
    phase: str,
    *,
    message: str,
    conditions: Sequence[Obj] = (),
    **fields: Any,
) -> None:
    current = status(obj)
    entered = micros(now())
    stamps = {**(current.get("phaseTimestamps") or {}), phase: entered}
    terminal = phase in ("Complete", "Failed")
    generation = meta(obj).get("generation", 1)
    updates = [
        {"type": "Progressing", "status": "False" if terminal else "True", "reason": phase},
        *conditions,
    ]
    merged = {c.get("type"): dict(c) for c in current.get("conditions") or []}
    for update in updates:
        merged[update["type"]] = {
            **update,
            "message": message,
            "lastTransitionTime": seconds(now()),
            "observedGeneration": generation,
        }
    if terminal:
        fields.setdefault("completedAt", entered)
    ctx.patch_status(
        obj,
        {
            "phase": phase,
            "phaseTimestamps": stamps,
            "observedGeneration": generation,
            "conditions": list(merged.values()),
            **fields,
        },
    )
    track.enter(phase)
    log.info(
        "experiment=%s phase %s -> %s: %s", instance(obj), current.get("phase"), phase, message
    )
    event(ctx, obj, phase, message, warning=phase == "Failed")


def fail(ctx: Ctx, obj: Obj, track: Track, during: str, message: str, **fields: Any) -> None:
    failed = {"type": "Failed", "status": "True", "reason": f"{during}Failed"}
    transition(ctx, obj, track, "Failed", message=message, conditions=[failed], **fields)


def event(ctx: Ctx, obj: Obj, reason: str, message: str, *, warning: bool = False) -> None:
    m = meta(obj)
    at = seconds(now())
    body = {
        "metadata": {"generateName": f"{m['name']}.", "namespace": m["namespace"]},
        "involvedObject": {
            "apiVersion": EXPERIMENTS.api_version,
            "kind": "Experiment",
            "name": m["name"],
            "namespace": m["namespace"],
            "uid": m.get("uid"),
        },
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "source": {"component": "experiment-operator"},
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }
    try:
        ctx.core.create_namespaced_event(m["namespace"], body)
    except client.ApiException as exc:
        log.warning("experiment=%s event %s not recorded: %s", instance(obj), reason, exc)
