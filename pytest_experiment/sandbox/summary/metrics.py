"""summary.json's ``metrics`` section: where the operator collects from, what each query holds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.scenarios import Scenario, ScenarioChoice
from pytest_experiment.sandbox.summary.criteria import criteria_targets
from pytest_experiment.sandbox.summary.pods import pod_queries
from pytest_experiment.sandbox.summary.values import (
    go_duration,
    is_latency_metric,
    rfc3339,
    series,
)

_SOURCE_LABELS = {
    "cadvisor": "target:cadvisor",
    "hub": "hub",
    "prometheus": "target:{instance}/kube-prometheus-stack-prometheus",
}


@dataclass(frozen=True, kw_only=True)
class Collection:
    """One metrics collection of one instance: what every query is built from."""

    spec: Mapping[str, Any]
    choice: ScenarioChoice
    instance: str
    namespace: str
    start: datetime
    end: datetime
    # Quality-gate re-collections done before this one.
    number: int
    legacy: bool

    @property
    def source(self) -> str:
        return metrics_source(self.spec, self.choice)


def metric_names(spec: Mapping[str, Any]) -> list[str]:
    return [str(m.get("name")) for m in spec.get("metrics") or [] if isinstance(m, Mapping)]


def _every_other(names: Sequence[str]) -> set[str]:
    # Every other metric, starting with the second: about half, never all.
    return set(names[1::2])


def _empty_metric_names(run: Collection) -> set[str]:
    names = metric_names(run.spec)
    choice = run.choice
    scenario = choice.scenario
    if scenario is Scenario.NO_CUSTOM_METRICS:
        return set(names)
    if scenario is Scenario.PARTIAL_METRICS:
        return _every_other(names)
    if scenario is Scenario.QUALITY_GATE_EXHAUSTED:
        return _every_other(names) or set(names)
    if scenario is Scenario.QUALITY_GATE_RECOLLECT:
        recovered = run.number >= int(choice.option("recoverAfter", 1))
        return set() if recovered else (_every_other(names) or set(names))
    if scenario is Scenario.INTENT_GAP:
        group = intent_gap_group(run.spec, choice)
        return {
            str(m.get("name"))
            for m in run.spec.get("metrics") or []
            if isinstance(m, Mapping) and m.get("group") == group
        }
    return set()


def _components(spec: Mapping[str, Any]) -> set[str]:
    return {
        str(c.get("app"))
        for t in spec.get("targets") or []
        if isinstance(t, Mapping)
        for c in t.get("components") or []
        if isinstance(c, Mapping)
    }


def metrics_source(spec: Mapping[str, Any], choice: ScenarioChoice) -> str:
    """Where the operator collects from: ``prometheus`` on the target, the ``hub``
    (metrics-agent + metrics-egress), or the target's ``cadvisor`` as a fallback."""
    if choice.scenario is Scenario.CADVISOR_ONLY:
        return "cadvisor"
    apps = _components(spec)
    if "kube-prometheus-stack" in apps:
        return "prometheus"
    if {"metrics-agent", "metrics-egress"} <= apps:
        return "hub"
    return "cadvisor"


def intent_gap_group(spec: Mapping[str, Any], choice: ScenarioChoice) -> str | None:
    """The group ``intent-gap`` empties: the ``group`` option, else the last declared group."""
    chosen = choice.option("group")
    if chosen:
        return str(chosen)
    groups = [m.get("group") for m in spec.get("metrics") or [] if isinstance(m, Mapping)]
    declared = [str(g) for g in groups if g]
    return declared[-1] if declared else None


def _default_metrics(instance: str) -> list[Obj]:
    """The four range queries the operator runs when an experiment declares no metrics."""
    selector = f'experiment="{instance}"'
    return [
        {
            "name": "cpu_usage",
            "query": f"sum(rate(container_cpu_usage_seconds_total{{{selector}}}[1m]))",
            "type": "range",
            "unit": "cores",
            "description": "Total CPU usage",
        },
        {
            "name": "memory_usage",
            "query": f"sum(container_memory_working_set_bytes{{{selector}}})",
            "type": "range",
            "unit": "bytes",
            "description": "Total memory working set",
        },
        {
            "name": "network_receive",
            "query": f"sum(rate(container_network_receive_bytes_total{{{selector}}}[1m]))",
            "type": "range",
            "unit": "bytes/s",
            "description": "Network received",
        },
        {
            "name": "network_transmit",
            "query": f"sum(rate(container_network_transmit_bytes_total{{{selector}}}[1m]))",
            "type": "range",
            "unit": "bytes/s",
            "description": "Network transmitted",
        },
    ]


def _substitute(query: str, *, instance: str, namespace: str, minutes: int) -> str:
    return (
        query.replace("$EXPERIMENT", instance)
        .replace("$NAMESPACE", namespace)
        .replace("$DURATION", f"{minutes}m")
    )


def _declared_queries(run: Collection, metrics: Sequence[Mapping[str, Any]]) -> Obj:
    empty = _empty_metric_names(run)
    pinned = criteria_targets(run.spec)
    minutes = max(1, math.ceil((run.end - run.start).total_seconds() / 60))
    source = run.source
    # `$NAMESPACE` is the instance's namespace on the target's own collector; the hub
    # fallback (and the older operator) substitute the CR's namespace, where no workload runs.
    substituted = run.namespace if run.legacy or source == "hub" else run.instance
    first_error = run.choice.scenario is Scenario.PARTIAL_METRICS and not run.legacy
    queries: Obj = {}
    for metric in metrics:
        name = str(metric.get("name"))
        raw_query = str(metric.get("query", ""))
        entry: Obj = {
            "query": _substitute(
                raw_query, instance=run.instance, namespace=substituted, minutes=minutes
            ),
            "type": str(metric.get("type") or "instant"),
        }
        unitless = run.choice.scenario is Scenario.UNITLESS_LATENCY and is_latency_metric(name)
        if metric.get("unit") and not unitless:
            entry["unit"] = metric["unit"]
        if metric.get("description"):
            entry["description"] = metric["description"]
        no_data = (
            name in empty
            or source == "cadvisor"
            or ("$NAMESPACE" in raw_query and substituted != run.instance)
        )
        if not no_data:
            entry["data"] = series(
                run.instance,
                metric,
                entry["type"],
                start=run.start,
                end=run.end,
                pinned=pinned.get(name),
            )
        elif run.legacy:
            entry["data"] = []
        elif first_error:
            entry["error"] = "bad_data: 1:1: parse error: unexpected end of input"
            first_error = False
        queries[name] = entry
    return queries


def metrics_section(run: Collection, *, created_at: datetime) -> Obj | None:
    """The section, or None when the current operator collected nothing (it then writes none)."""
    collected = rfc3339(run.end)
    source = run.source
    declared: Sequence[Mapping[str, Any]] = [
        m for m in run.spec.get("metrics") or [] if isinstance(m, Mapping)
    ]
    if not declared and source != "cadvisor" and not run.legacy:
        declared = _default_metrics(run.instance)
    queries: Obj = {}
    if run.legacy or source == "cadvisor":
        queries.update(
            pod_queries(
                run.instance, run.spec, run.choice, at=collected, cadvisor=source == "cadvisor"
            )
        )
    queries.update(_declared_queries(run, declared))
    if not run.legacy and not any("data" in q for q in queries.values()):
        return None
    elapsed = (run.end - created_at).total_seconds()
    return {
        "collectedAt": collected,
        "source": _SOURCE_LABELS[source].format(instance=run.instance),
        "timeRange": {
            "start": rfc3339(created_at),
            "end": collected,
            "duration": go_duration(elapsed),
            "stepSeconds": 0 if source == "cadvisor" else 60,
        },
        "queries": queries,
    }
