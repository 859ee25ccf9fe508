"""The per-pod CPU and memory queries: cadvisor's view, and the older operator's extra section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.scenarios import ScenarioChoice
from pytest_experiment.sandbox.summary.values import rng, token

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


def _pods(instance: str, spec: Mapping[str, Any], *, workload: bool) -> list[str]:
    pods: list[str] = []
    seen: set[str] = set()
    for target in spec.get("targets") or []:
        for component in (target or {}).get("components") or []:
            app = str((component or {}).get("app") or "")
            if not app or app in seen:
                continue
            seen.add(app)
            generator = rng(instance, "pod", app)
            templates = _INFRA_COMPONENT_PODS.get(app)
            if templates is None:
                if workload:
                    pods.append(f"{app}-{token(generator, 10)}-{token(generator, 5)}")
                continue
            pods.extend(
                t.format(hash=token(generator, 10), suffix=token(generator, 5)) for t in templates
            )
    generator = rng(instance, "pod", "operator")
    pods.extend(
        t.format(hash=token(generator, 10), suffix=token(generator, 5)) for t in _ALWAYS_INFRA_PODS
    )
    return pods


def pod_queries(
    instance: str, spec: Mapping[str, Any], choice: ScenarioChoice, *, at: str, cadvisor: bool
) -> Obj:
    pods = _pods(instance, spec, workload=bool(choice.option("workloadPods", True)))

    def per_pod(kind: str, low: float, high: float) -> list[Obj]:
        return [
            {
                "labels": {"pod": pod},
                "timestamp": at,
                "value": round(rng(instance, kind, pod).uniform(low, high), 6),
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
