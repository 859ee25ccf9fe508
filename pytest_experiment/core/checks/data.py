"""Data-quality checks: did the declared metrics arrive, from where, and do they render.

Each check is a pure function of a ``CheckInput`` that returns a
``CheckResult`` whose summary is the seed's scorecard wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_experiment.core.checks.reading import (
    CheckInput,
    declared_metrics,
    gap_kind,
    mapping,
    not_measurable,
    point_value,
    queries_of,
    shown_names,
    type_name,
)
from pytest_experiment.core.spec import LATENCY_SUFFIXES
from pytest_experiment.core.verdict import CheckResult, Status

CADVISOR = "target:cadvisor"
INFRA_PREFIXES = (
    "prometheus-",
    "alertmanager-",
    "grafana-",
    "kube-state-metrics-",
    "node-exporter-",
    "kube-prometheus-stack-",
    "alloy-",
    "ts-vm-hub-",
    "tailscale-operator-",
    "operator-",
)


def custom_metrics(inp: CheckInput) -> CheckResult:
    """Every ``spec.metrics[]`` name has a query with data (``has_data``)."""
    declared = declared_metrics(inp.experiment)
    if not declared:
        return CheckResult(
            Status.PASS, "Custom metrics: none defined", figures={"collected": 0, "declared": 0}
        )
    queries, reason = queries_of(inp.summary)
    if queries is None:
        return not_measurable("Custom metrics", reason, declared=len(declared))
    if reason:  # nothing was collected at all: each metric is missing for that one reason
        gaps = dict.fromkeys(declared, reason)
        kinds = dict.fromkeys(declared, "empty")
    else:
        gaps = {name: gap for name in declared if (gap := inp.data_gap(name))}
        kinds = {name: gap_kind(queries.get(name)) for name in gaps}
    collected = len(declared) - len(gaps)
    if not gaps:
        status = Status.PASS
    elif collected == 0:
        status = Status.FAIL
    else:
        status = Status.WARN
    figures: dict[str, Any] = {
        "collected": collected,
        "declared": len(declared),
        "missing": list(gaps),
        # What kind of gap each is (absent, error, empty), so no reader parses the details.
        "gaps": kinds,
        # Every declared name, so a report can draw which arrived beside which did not.
        "metrics": declared,
    }
    if reason:
        figures["reason"] = reason
    return CheckResult(
        status,
        f"Custom metrics: {collected}/{len(declared)} collected"
        + (f" ({reason})" if reason else ""),
        details=tuple(f"{name}: {gap}" for name, gap in gaps.items()),
        figures=figures,
    )


def metrics_source(inp: CheckInput) -> CheckResult:
    """``target:cadvisor`` means the operator fell back to infrastructure metrics only."""
    custom = len(declared_metrics(inp.experiment))
    metrics = mapping(inp.summary.get("metrics")) if isinstance(inp.summary, Mapping) else None
    source = metrics.get("source") if metrics is not None else None
    figures = {"source": source, "custom_metrics": custom}
    if source is None or source == "":
        where = "summary has no metrics section" if metrics is None else "no metrics.source"
        return CheckResult(Status.NA, f"Metrics source: not reported ({where})", figures=figures)
    if not isinstance(source, str):
        return CheckResult(
            Status.WARN, f"Metrics source: unreadable ({type_name(source)})", figures=figures
        )
    if source == CADVISOR and custom:
        return CheckResult(
            Status.WARN,
            f"Metrics source: {CADVISOR} (no custom metric pipeline)",
            details=(
                f"{custom} custom metrics are defined, but only cadvisor infrastructure "
                "metrics were collected: the operator could not reach the target's "
                "Prometheus or the hub VictoriaMetrics.",
            ),
            figures=figures,
        )
    return CheckResult(Status.PASS, f"Metrics source: {source}", figures=figures)


def _pods(inp: CheckInput, queries: Mapping[str, Any]) -> list[str]:
    """Pods named by points that carry a value: a pod seen only in NaN or null
    points, or in a query that errored, was not measured."""
    pods: set[str] = set()
    for name, entry in queries.items():
        if inp.data_gap(name):
            continue
        for point in entry["data"]:
            if point_value(point) is None:
                continue
            labels = point.get("labels") if isinstance(point, Mapping) else None
            pod = labels.get("pod") if isinstance(labels, Mapping) else None
            if isinstance(pod, str) and pod:
                pods.add(pod)
    return sorted(pods)


def workload_pods(inp: CheckInput) -> CheckResult:
    """At least one non-infrastructure pod shows up in pod-level query data."""
    queries, reason = queries_of(inp.summary)
    pods = _pods(inp, queries) if queries is not None else []
    if not pods:
        why = f" — {reason}" if reason else ""
        return CheckResult(Status.NA, f"Workload pods: no pod-level metrics{why}")
    infra = [p for p in pods if p.startswith(INFRA_PREFIXES)]
    workload = [p for p in pods if not p.startswith(INFRA_PREFIXES)]
    counts = f"{len(infra)} infrastructure, {len(workload)} workload"
    details = (
        f"infrastructure: {', '.join(infra) or 'none'}",
        f"workload: {', '.join(workload) or 'none'}",
    )
    figures = {
        "infrastructure": len(infra),
        "workload": len(workload),
        "infrastructure_pods": infra,
        "workload_pods": workload,
    }
    if not workload:
        return CheckResult(
            Status.FAIL,
            f"Workload pods: {counts} (no workload pods visible in metrics)",
            details,
            figures,
        )
    return CheckResult(
        Status.PASS, f"Workload pods: {counts} ({shown_names(workload)})", details, figures
    )


def presentation(inp: CheckInput) -> CheckResult:
    """Metrics with data render sensibly on the site: units on latencies, no false 0.00."""
    queries, reason = queries_of(inp.summary)
    if reason:
        return CheckResult(Status.NA, f"Presentation: nothing to render — {reason}")
    assert queries is not None
    spec_units = {m.name: m.unit for m in inp.experiment.metrics}
    shown = [(str(name), entry) for name, entry in queries.items() if not inp.data_gap(name)]
    if not shown:
        return CheckResult(Status.NA, "Presentation: no metrics with data")
    bad: dict[str, list[str]] = {}
    unitless: list[str] = []
    zero: list[str] = []
    for name, entry in shown:
        unit = entry.get("unit")
        unit = unit if isinstance(unit, str) else spec_units.get(name, "")
        found: list[str] = []
        if name.endswith(LATENCY_SUFFIXES) and unit != "seconds":
            unitless.append(name)
            found.append(f"latency metric without unit: seconds (unit: {unit or 'none'})")
        # The site shows the first sample of a series with two decimals in its unit,
        # so a NaN or null there is printed as such even when later points are fine.
        point = entry["data"][0]
        value = point_value(point)
        if value is None:
            raw = point.get("value") if isinstance(point, Mapping) else point
            found.append(f"first value {raw!r} is not a finite number")
        elif value != 0 and f"{abs(value):.2f}" == "0.00":
            zero.append(name)
            found.append(f"{value:g} {unit}".rstrip() + " renders as 0.00")
        if found:
            bad[name] = found
    ok = len(shown) - len(bad)
    return CheckResult(
        Status.WARN if bad else Status.PASS,
        f"Presentation: {ok}/{len(shown)} metrics render correctly",
        details=tuple(f"{name}: {'; '.join(problems)}" for name, problems in bad.items()),
        figures={
            "render_ok": ok,
            "with_data": len(shown),
            "latency_without_seconds": unitless,
            "renders_as_zero": zero,
        },
    )
