"""summary.json as a whole, in the order the real operator writes its keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.scenarios import ScenarioChoice
from pytest_experiment.sandbox.summary.criteria import hypothesis
from pytest_experiment.sandbox.summary.metrics import Collection, metrics_section
from pytest_experiment.sandbox.summary.values import parse_time, rfc3339

# The real operator's own table (on-demand USD per node-hour), as its source has it:
# anything else, an unset machineType included, is charged its fallback rate.
_HOURLY_USD = {
    "e2-medium": 0.0335,
    "e2-standard-2": 0.067,
    "e2-standard-4": 0.134,
    "e2-standard-8": 0.268,
    "n1-standard-1": 0.0475,
    "n1-standard-2": 0.095,
    "n1-standard-4": 0.19,
    "n2-standard-2": 0.0971,
    "n2-standard-4": 0.1942,
    "n2-standard-8": 0.3884,
}
_FALLBACK_HOURLY_USD = 0.1
# Preemptible (spot) machines are priced at a fifth of the on-demand rate.
_SPOT_FACTOR = 0.2


def cost_estimate(spec: Mapping[str, Any], *, hours: float) -> Obj:
    """Priced from the spec as the real operator prices it: GKE targets only, the spec's
    machineType (not the default GKE applies), nodeCount 0 or absent as 1."""
    per_target: dict[str, float] = {}
    for target in spec.get("targets") or []:
        cluster = (target or {}).get("cluster") or {}
        if cluster.get("type") != "gke":
            continue
        rate = _HOURLY_USD.get(str(cluster.get("machineType") or ""), _FALLBACK_HOURLY_USD)
        if cluster.get("preemptible"):
            rate *= _SPOT_FACTOR
        per_target[str(target.get("name"))] = rate * int(cluster.get("nodeCount") or 1) * hours
    return {
        "totalUSD": sum(per_target.values()),
        "durationHours": hours,
        "perTarget": per_target,
        "note": "Rough estimate based on on-demand GCE pricing; actual cost may differ.",
    }


def _targets(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[Obj]:
    declared_types = {
        str(t.get("name")): (t.get("cluster") or {}).get("type", "gke")
        for t in spec.get("targets") or []
        if isinstance(t, Mapping)
    }
    return [
        {
            "name": target.get("name"),
            "clusterName": target.get("clusterName"),
            "clusterType": declared_types.get(str(target.get("name")), "gke"),
            "machineType": target.get("machineType"),
            "nodeCount": target.get("nodeCount"),
            "components": list(target.get("components") or []),
        }
        for target in status.get("targets") or []
    ]


def build_summary(
    *,
    experiment: Mapping[str, Any],
    choice: ScenarioChoice,
    status: Mapping[str, Any],
    completed_at: datetime,
    time_scale: float,
    phase: str = "Complete",
    collection: int = 0,
    iteration_status: Mapping[str, Any] | None = None,
    legacy: bool = False,
) -> Obj:
    """The operator's summary.json for a finished (Complete or Failed) experiment.

    ``durationSeconds`` is wall time (it matches createdAt/completedAt); the
    cost is computed from the simulated duration (wall time / time scale) so
    it looks like a real run's. ``collection`` counts quality-gate re-collections.
    """
    meta = experiment.get("metadata") or {}
    spec = experiment.get("spec") or {}
    created_at = parse_time(str(meta.get("creationTimestamp")))
    workflow = status.get("workflowStatus") or {}
    completed_at = completed_at.replace(microsecond=0)
    run = Collection(
        instance=str(meta.get("name")),
        namespace=str(meta.get("namespace") or "experiments"),
        spec=spec,
        choice=choice,
        start=parse_time(str(workflow["startedAt"])) if workflow.get("startedAt") else created_at,
        end=completed_at,
        number=collection,
        legacy=legacy,
    )
    metrics = metrics_section(run, created_at=created_at)
    queries = (metrics or {}).get("queries") or {}
    elapsed = (completed_at - created_at).total_seconds()
    summary: Obj = {"name": run.instance}
    if "title" in spec:
        summary["title"] = spec["title"]
    summary["namespace"] = run.namespace
    if "description" in spec:
        summary["description"] = spec["description"]
    summary.update(
        createdAt=rfc3339(created_at),
        completedAt=rfc3339(completed_at),
        durationSeconds=elapsed,
        phase=phase,
    )
    keys = ("tags", "series") if legacy else ("tags",)
    summary.update({key: spec[key] for key in keys if key in spec})
    evaluated = hypothesis(spec, queries, choice, legacy=legacy)
    if evaluated is not None:
        summary["hypothesis"] = evaluated
    if "analyzerConfig" in spec:
        summary["analyzerConfig"] = spec["analyzerConfig"]
    summary["targets"] = _targets(spec, status)
    summary["workflow"] = {
        "name": workflow.get("name"),
        "template": (spec.get("workflow") or {}).get("template"),
        "phase": workflow.get("phase"),
        "startedAt": workflow.get("startedAt"),
        "finishedAt": workflow.get("finishedAt"),
    }
    if metrics is not None:
        summary["metrics"] = metrics
    if "codeSnippets" in spec:
        summary["codeSnippets"] = spec["codeSnippets"]
    simulated_hours = elapsed / max(time_scale, 1e-9) / 3600
    summary["costEstimate"] = cost_estimate(spec, hours=simulated_hours)
    if iteration_status:
        summary["iterationStatus"] = dict(iteration_status)
    return summary


def coverage(summary: Mapping[str, Any]) -> tuple[int, int]:
    """(queries with data, queries) as the quality gate counts them."""
    queries = (summary.get("metrics") or {}).get("queries") or {}
    return sum(1 for q in queries.values() if q.get("data")), len(queries)
