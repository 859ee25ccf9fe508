"""The summary.json the simulated operator publishes, shaped like the real ones.

Pure functions of (experiment, scenario, timestamps): values are drawn from a
generator seeded with the instance and metric names, so a run is reproducible.
Happy values are sized to render with two decimals in their unit and to
satisfy the success criteria, so a happy run passes every quality check.

The lab's current operator writes keys in a fixed order, second-precision
times, no ``data`` key on a query that returned nothing, and no ``metrics``
section when nothing was collected. ``legacy=True`` gives the older shape the
seeds describe (``series``, empty ``data`` lists, confirmed/rejected verdicts).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.scenarios import Scenario, ScenarioChoice

# Components that deploy monitoring plumbing, and the pods they show in cadvisor.
_INFRA_COMPONENT_PODS: Mapping[str, Sequence[str]] = {
    "kube-prometheus-stack": (
        "prometheus-kube-prometheus-stack-prometheus-0",
        "alertmanager-kube-prometheus-stack-alertmanager-0",
        "grafana-{hash}-{suffix}",
        "kube-state-metrics-{hash}-{suffix}",
        "node-exporter-{suffix}",
        "kube-prometheus-stack-operator-{hash}-{suffix}",
    ),
    "metrics-agent": ("alloy-{suffix}",),
    "metrics-egress": ("ts-vm-hub-{suffix}-0",),
}
_ALWAYS_INFRA_PODS = ("operator-{hash}-{suffix}",)
_LATENCY_SUFFIXES = ("_latency", "_p50", "_p90", "_p95", "_p99")
_HOURLY_USD = {
    "e2-medium": 0.0335,
    "e2-standard-2": 0.067,
    "e2-standard-4": 0.134,
    "e2-standard-8": 0.268,
    "n2-standard-4": 0.194,
    "n2-standard-8": 0.388,
    "c3-standard-4": 0.209,
    "c3-standard-8": 0.418,
}
_DEFAULT_HOURLY_USD = 0.1
# Preemptible (spot) machines are priced at a fifth of the on-demand rate.
_SPOT_FACTOR = 0.2
DEFAULT_ANALYZER_SECTIONS = (
    "abstract",
    "targetAnalysis",
    "performanceAnalysis",
    "metricInsights",
    "finopsAnalysis",
    "body",
    "feedback",
)
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def rfc3339(moment: datetime) -> str:
    """UTC at second precision, as the real operator writes every time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    # Kubernetes writes seconds ("…Z"), the operator microseconds; both parse here.
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def is_latency_metric(name: str) -> bool:
    return name.endswith(_LATENCY_SUFFIXES) or "latency" in name


def _rng(*parts: str) -> random.Random:
    return random.Random("\x00".join(parts))


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(length))


def _go_duration(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    text = f"{rest:.1f}s"
    if minutes or hours:
        text = f"{int(minutes)}m{text}"
    return f"{int(hours)}h{text}" if hours else text


def _value_range(metric: Mapping[str, Any]) -> tuple[float, float]:
    unit = str(metric.get("unit") or "").lower()
    name = str(metric.get("name") or "")
    if unit in ("s", "sec", "seconds") or (not unit and is_latency_metric(name)):
        return 0.012, 0.25
    if unit in ("ms", "milliseconds"):
        return 2.0, 250.0
    if unit in ("bytes", "b"):
        return 5e6, 5e8
    if unit == "cores":
        return 0.05, 2.0
    if unit in ("percent", "%"):
        return 1.0, 99.0
    if unit == "ratio" or name.endswith("_ratio"):
        return 0.05, 0.95
    if "/s" in unit or "throughput" in name or name.endswith("_rate"):
        return 100.0, 5000.0
    return 1.0, 1000.0


def _threshold(text: Any) -> float | None:
    match = re.match(r"\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)", str(text))
    return float(match.group(1)) if match else None


def _satisfying(operator: str, threshold: float) -> float:
    if operator in ("lt", "lte"):
        return threshold * 0.5 if threshold > 0 else threshold - 1.0
    return threshold * 1.5 if threshold > 0 else threshold + 1.0


def _passes(actual: float, operator: str, threshold: float) -> bool:
    return {
        "lt": actual < threshold,
        "lte": actual <= threshold,
        "gt": actual > threshold,
        "gte": actual >= threshold,
    }.get(operator, False)


def _substitute(query: str, *, instance: str, namespace: str, minutes: int) -> str:
    return (
        query.replace("$EXPERIMENT", instance)
        .replace("$NAMESPACE", namespace)
        .replace("$DURATION", f"{minutes}m")
    )


def _metric_names(spec: Mapping[str, Any]) -> list[str]:
    return [str(m.get("name")) for m in spec.get("metrics") or [] if isinstance(m, Mapping)]


def _every_other(names: Sequence[str]) -> set[str]:
    # Every other metric, starting with the second: about half, never all.
    return set(names[1::2])


def _empty_metric_names(
    spec: Mapping[str, Any], choice: ScenarioChoice, collection: int
) -> set[str]:
    names = _metric_names(spec)
    scenario = choice.scenario
    if scenario is Scenario.NO_CUSTOM_METRICS:
        return set(names)
    if scenario is Scenario.PARTIAL_METRICS:
        return _every_other(names)
    if scenario is Scenario.QUALITY_GATE_EXHAUSTED:
        return _every_other(names) or set(names)
    if scenario is Scenario.QUALITY_GATE_RECOLLECT:
        recovered = collection >= int(choice.option("recoverAfter", 1))
        return set() if recovered else (_every_other(names) or set(names))
    if scenario is Scenario.INTENT_GAP:
        group = intent_gap_group(spec, choice)
        return {
            str(m.get("name"))
            for m in spec.get("metrics") or []
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


def _pods(instance: str, spec: Mapping[str, Any], *, workload: bool) -> list[str]:
    pods: list[str] = []
    seen: set[str] = set()
    for target in spec.get("targets") or []:
        for component in (target or {}).get("components") or []:
            app = str((component or {}).get("app") or "")
            if not app or app in seen:
                continue
            seen.add(app)
            rng = _rng(instance, "pod", app)
            templates = _INFRA_COMPONENT_PODS.get(app)
            if templates is None:
                if workload:
                    pods.append(f"{app}-{_token(rng, 10)}-{_token(rng, 5)}")
                continue
            pods.extend(t.format(hash=_token(rng, 10), suffix=_token(rng, 5)) for t in templates)
    rng = _rng(instance, "pod", "operator")
    pods.extend(t.format(hash=_token(rng, 10), suffix=_token(rng, 5)) for t in _ALWAYS_INFRA_PODS)
    return pods


def _pod_queries(
    instance: str, spec: Mapping[str, Any], choice: ScenarioChoice, *, at: str, cadvisor: bool
) -> Obj:
    pods = _pods(instance, spec, workload=bool(choice.option("workloadPods", True)))

    def per_pod(kind: str, low: float, high: float) -> list[Obj]:
        return [
            {
                "labels": {"pod": pod},
                "timestamp": at,
                "value": round(_rng(instance, kind, pod).uniform(low, high), 6),
            }
            for pod in pods
        ]

    cpu = per_pod("cpu", 0.02, 1.5)
    memory = per_pod("memory", 2e7, 6e8)
    suffix = " (cadvisor)" if cadvisor else ""
    selector = f'namespace=~"{instance}", container!=""'
    return {
        "cpu_by_pod": {
            "query": "container_cpu_usage_seconds_total by pod" + suffix
            if cadvisor
            else f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{selector}}}[5m]))",
            "type": "instant",
            "unit": "cores",
            "description": "CPU usage by pod",
            "data": cpu,
        },
        "cpu_total": {
            "query": "sum(container_cpu_usage_seconds_total)" + suffix,
            "type": "instant",
            "unit": "cores",
            "description": "Total CPU usage",
            "data": [{"timestamp": at, "value": round(sum(p["value"] for p in cpu), 6)}],
        },
        "memory_by_pod": {
            "query": "container_memory_working_set_bytes by pod" + suffix
            if cadvisor
            else f"sum by (pod) (container_memory_working_set_bytes{{{selector}}})",
            "type": "instant",
            "unit": "bytes",
            "description": "Memory working set by pod",
            "data": memory,
        },
        "memory_total": {
            "query": "sum(container_memory_working_set_bytes)" + suffix,
            "type": "instant",
            "unit": "bytes",
            "description": "Total memory working set",
            "data": [{"timestamp": at, "value": round(sum(p["value"] for p in memory))}],
        },
    }


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


def _criteria_targets(spec: Mapping[str, Any]) -> dict[str, float]:
    """Metric name -> a value that meets its success criterion (happy path)."""
    wanted: dict[str, float] = {}
    for criterion in (spec.get("hypothesis") or {}).get("successCriteria") or []:
        threshold = _threshold((criterion or {}).get("value"))
        if threshold is not None:
            wanted[str(criterion.get("metric"))] = _satisfying(
                str(criterion.get("operator")), threshold
            )
    return wanted


def _declared_queries(
    *,
    instance: str,
    namespace: str,
    metrics: Sequence[Mapping[str, Any]],
    spec: Mapping[str, Any],
    choice: ScenarioChoice,
    start: datetime,
    end: datetime,
    collection: int,
    source: str,
    legacy: bool,
) -> Obj:
    empty = _empty_metric_names(spec, choice, collection)
    satisfying = _criteria_targets(spec)
    minutes = max(1, math.ceil((end - start).total_seconds() / 60))
    # `$NAMESPACE` is the instance's namespace on the target's own collector; the hub
    # fallback (and the older operator) substitute the CR's namespace, where no workload runs.
    substituted = namespace if legacy or source == "hub" else instance
    first_error = choice.scenario is Scenario.PARTIAL_METRICS and not legacy
    queries: Obj = {}
    for metric in metrics:
        name = str(metric.get("name"))
        raw_query = str(metric.get("query", ""))
        entry: Obj = {
            "query": _substitute(
                raw_query, instance=instance, namespace=substituted, minutes=minutes
            ),
            "type": str(metric.get("type") or "instant"),
        }
        unitless = choice.scenario is Scenario.UNITLESS_LATENCY and is_latency_metric(name)
        if metric.get("unit") and not unitless:
            entry["unit"] = metric["unit"]
        if metric.get("description"):
            entry["description"] = metric["description"]
        no_data = (
            name in empty
            or source == "cadvisor"
            or ("$NAMESPACE" in raw_query and substituted != instance)
        )
        if not no_data:
            entry["data"] = _series(
                instance, metric, entry["type"], start=start, end=end, pinned=satisfying.get(name)
            )
        elif legacy:
            entry["data"] = []
        elif first_error:
            entry["error"] = "bad_data: 1:1: parse error: unexpected end of input"
            first_error = False
        queries[name] = entry
    return queries


# Offsets around a pinned value that average to zero: the series' mean is the value.
_PINNED_SPREAD = (-0.04, 0.02, 0.03, -0.02, 0.01, 0.0)


def _series(
    instance: str,
    metric: Mapping[str, Any],
    kind: str,
    *,
    start: datetime,
    end: datetime,
    pinned: float | None,
) -> list[Obj]:
    rng = _rng(instance, "metric", str(metric.get("name")))
    low, high = _value_range(metric)
    if kind != "range":
        value = pinned if pinned is not None else rng.uniform(low, high)
        return [{"timestamp": rfc3339(end), "value": round(value, 6)}]
    points = len(_PINNED_SPREAD)
    step = (end - start) / (points - 1)
    if pinned is not None:
        values = [pinned * (1 + offset) for offset in _PINNED_SPREAD]
    else:
        values = [rng.uniform(low, high) for _ in range(points)]
    return [
        {"timestamp": rfc3339(start + step * i), "value": round(v, 6)} for i, v in enumerate(values)
    ]


def _numbers(query: Mapping[str, Any] | None) -> list[float]:
    return [
        float(point["value"])
        for point in (query or {}).get("data") or []
        if isinstance(point, Mapping) and isinstance(point.get("value"), int | float)
    ]


def compared_value(query: Mapping[str, Any] | None) -> float | None:
    """The value a criterion is compared with: the single instant point, else the mean."""
    values = _numbers(query)
    if not values:
        return None
    return values[0] if len(values) == 1 else sum(values) / len(values)


def _last_value(query: Mapping[str, Any] | None) -> float | None:
    values = _numbers(query)
    return values[-1] if values else None


def _hypothesis(
    spec: Mapping[str, Any], queries: Mapping[str, Any], choice: ScenarioChoice, *, legacy: bool
) -> Obj | None:
    declared = spec.get("hypothesis")
    if not isinstance(declared, Mapping):
        return None
    hypothesis: Obj = {
        key: declared[key] for key in ("claim", "questions", "focus") if key in declared
    }
    criteria = [c for c in declared.get("successCriteria") or [] if isinstance(c, Mapping)]
    if not criteria:
        return hypothesis
    evaluated: list[Obj] = []
    for criterion in criteria:
        query = queries.get(str(criterion.get("metric")))
        actual = _last_value(query) if legacy else compared_value(query)
        threshold = _threshold(criterion.get("value"))
        if choice.scenario is Scenario.INSUFFICIENT_VERDICT:
            actual = None
        entry: Obj = dict(criterion)
        if legacy:
            passes = None
            if actual is not None and threshold is not None:
                passes = _passes(actual, str(criterion.get("operator")), threshold)
            entry.update(passed=passes, actualValue=actual)
        elif actual is not None and threshold is not None:
            entry["passed"] = _passes(actual, str(criterion.get("operator")), threshold)
            entry["actualValue"] = f"{actual:.6g}"
        evaluated.append(entry)
    hypothesis["successCriteria"] = evaluated
    hypothesis["machineVerdict"] = (
        _legacy_verdict(evaluated, choice) if legacy else criteria_verdict(evaluated)
    )
    return hypothesis


def criteria_verdict(criteria: Sequence[Mapping[str, Any]]) -> str:
    """No criterion evaluable → insufficient; all evaluated and passed → validated;
    anything else (some missing, the rest passing, too) → invalidated."""
    results = [c.get("passed") for c in criteria]
    if all(r is None for r in results):
        return "insufficient"
    if all(r is True for r in results):
        return "validated"
    return "invalidated"


def _legacy_verdict(criteria: Sequence[Mapping[str, Any]], choice: ScenarioChoice) -> str:
    results = [c.get("passed") for c in criteria]
    if any(r is None for r in results):
        return "insufficient"
    if all(results):
        return str(choice.option("verdict", "confirmed"))
    return "rejected"


def _cost(spec: Mapping[str, Any], *, hours: float) -> Obj:
    per_target: dict[str, float] = {}
    for target in spec.get("targets") or []:
        cluster = (target or {}).get("cluster") or {}
        if cluster.get("type") != "gke":
            per_target[str(target.get("name"))] = 0.0
            continue
        rate = _HOURLY_USD.get(str(cluster.get("machineType") or "e2-medium"), _DEFAULT_HOURLY_USD)
        if cluster.get("preemptible"):
            rate *= _SPOT_FACTOR
        per_target[str(target.get("name"))] = rate * int(cluster.get("nodeCount") or 1) * hours
    return {
        "totalUSD": sum(per_target.values()),
        "durationHours": hours,
        "perTarget": per_target,
        "note": "Rough estimate based on on-demand GCE pricing; actual cost may differ.",
    }


def _metrics_section(
    *,
    experiment: Mapping[str, Any],
    choice: ScenarioChoice,
    start: datetime,
    end: datetime,
    collection: int,
    legacy: bool,
) -> Obj | None:
    meta = experiment.get("metadata") or {}
    spec = experiment.get("spec") or {}
    instance = str(meta.get("name"))
    namespace = str(meta.get("namespace") or "experiments")
    created_at = parse_time(str(meta.get("creationTimestamp")))
    collected = rfc3339(end)
    source = metrics_source(spec, choice)
    declared: Sequence[Mapping[str, Any]] = [
        m for m in spec.get("metrics") or [] if isinstance(m, Mapping)
    ]
    if not declared and source != "cadvisor" and not legacy:
        declared = _default_metrics(instance)
    queries: Obj = {}
    if legacy or source == "cadvisor":
        queries.update(
            _pod_queries(instance, spec, choice, at=collected, cadvisor=source == "cadvisor")
        )
    queries.update(
        _declared_queries(
            instance=instance,
            namespace=namespace,
            metrics=declared,
            spec=spec,
            choice=choice,
            start=start,
            end=end,
            collection=collection,
            source=source,
            legacy=legacy,
        )
    )
    if not legacy and not any("data" in q for q in queries.values()):
        return None
    labels = {
        "cadvisor": "target:cadvisor",
        "hub": "hub",
        "prometheus": f"target:{instance}/kube-prometheus-stack-prometheus",
    }
    elapsed = (end - created_at).total_seconds()
    return {
        "collectedAt": collected,
        "source": labels[source],
        "timeRange": {
            "start": rfc3339(created_at),
            "end": collected,
            "duration": _go_duration(elapsed),
            "stepSeconds": 0 if source == "cadvisor" else 60,
        },
        "queries": queries,
    }


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
    run_start = (
        parse_time(str(workflow.get("startedAt"))) if workflow.get("startedAt") else created_at
    )
    completed_at = completed_at.replace(microsecond=0)
    metrics = _metrics_section(
        experiment=experiment,
        choice=choice,
        start=run_start,
        end=completed_at,
        collection=collection,
        legacy=legacy,
    )
    queries = (metrics or {}).get("queries") or {}
    elapsed = (completed_at - created_at).total_seconds()
    summary: Obj = {"name": str(meta.get("name"))}
    if "title" in spec:
        summary["title"] = spec["title"]
    summary["namespace"] = str(meta.get("namespace") or "experiments")
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
    hypothesis = _hypothesis(spec, queries, choice, legacy=legacy)
    if hypothesis is not None:
        summary["hypothesis"] = hypothesis
    if "analyzerConfig" in spec:
        summary["analyzerConfig"] = spec["analyzerConfig"]
    declared_types = {
        str(t.get("name")): (t.get("cluster") or {}).get("type", "gke")
        for t in spec.get("targets") or []
        if isinstance(t, Mapping)
    }
    summary["targets"] = [
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
    summary["costEstimate"] = _cost(spec, hours=simulated_hours)
    if iteration_status:
        summary["iterationStatus"] = dict(iteration_status)
    return summary


def machine_verdict(summary: Mapping[str, Any]) -> str | None:
    verdict = (summary.get("hypothesis") or {}).get("machineVerdict")
    return str(verdict) if verdict else None


def coverage(summary: Mapping[str, Any]) -> tuple[int, int]:
    """(queries with data, queries) as the quality gate counts them."""
    queries = (summary.get("metrics") or {}).get("queries") or {}
    return sum(1 for q in queries.values() if q.get("data")), len(queries)


def _declared_coverage(spec: Mapping[str, Any], summary: Mapping[str, Any]) -> tuple[int, int]:
    queries = (summary.get("metrics") or {}).get("queries") or {}
    names = _metric_names(spec)
    with_data = sum(1 for n in names if (queries.get(n) or {}).get("data"))
    return with_data, len(names)


def build_analysis(
    *,
    spec: Mapping[str, Any],
    summary: Mapping[str, Any],
    choice: ScenarioChoice,
    generated_at: datetime,
    legacy: bool = False,
) -> Obj:
    """What the AI analyzer adds to summary.json under ``analysis``."""
    with_data, declared = _declared_coverage(spec, summary)
    claim = str((spec.get("hypothesis") or {}).get("claim") or "the experiment's claim")
    machine = machine_verdict(summary)
    supports, contradicts = ("confirmed", "rejected") if legacy else ("validated", "invalidated")
    if choice.option("aiVerdict"):
        verdict = str(choice.option("aiVerdict"))
    elif (declared and with_data * 2 < declared) or machine == "insufficient":
        verdict = "insufficient"
    elif machine in ("rejected", "invalidated"):
        verdict = contradicts
    else:
        verdict = supports
    if verdict == "insufficient":
        abstract = (
            "This experiment is insufficient to evaluate the hypothesis because "
            f"{declared - with_data} of {declared} declared metrics returned no data. "
            "Only infrastructure metrics are available, which cannot speak to the claim."
        )
    else:
        abstract = (
            f"The collected data {'supports' if verdict == supports else 'contradicts'} "
            f"the claim: {claim.rstrip('.')}. "
            f"{with_data} of {declared} declared metrics returned data."
        )
    sections = list((spec.get("analyzerConfig") or {}).get("sections") or DEFAULT_ANALYZER_SECTIONS)
    analysis: Obj = {"hypothesisVerdict": verdict, "abstract": abstract}
    queries = (summary.get("metrics") or {}).get("queries") or {}
    for section in sections:
        if section == "abstract":
            continue
        if section == "metricInsights":
            analysis[section] = {
                name: {
                    "summary": f"{name} settled at {_last_value(q)} {q.get('unit', '')}".rstrip()
                }
                for name, q in queries.items()
                if q.get("data") and not name.endswith(("_by_pod", "_total"))
            }
        elif section == "finopsAnalysis":
            total = (summary.get("costEstimate") or {}).get("totalUSD", 0.0)
            analysis[section] = {"summary": f"The run cost an estimated ${total:.3f}."}
        elif section == "body":
            analysis[section] = {
                "blocks": [
                    {"type": "text", "content": f"Sandbox analysis of {summary.get('name')}."}
                ]
            }
        else:
            analysis[section] = {
                "summary": f"{section} generated by the sandbox analyzer for {summary.get('name')}."
            }
    analysis["summary"] = abstract.split(". ")[0].rstrip(".") + "."
    analysis["generatedAt"] = generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    analysis["model"] = "sandbox-analyzer"
    return analysis
