"""summary.json as the real operator writes it (pure: no sandbox needed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.sandbox.scenarios import (
    OPERATOR_FLAVOURS,
    Scenario,
    ScenarioChoice,
    flavour_choice,
    flavour_options,
    parse_choice,
)
from pytest_experiment.sandbox.summary import (
    build_summary,
    compared_value,
    criteria_verdict,
)

from .lifecycle import experiment_doc

START = datetime(2026, 2, 18, 19, 41, 50, tzinfo=UTC)
ORDER = [
    "name",
    "title",
    "namespace",
    "description",
    "createdAt",
    "completedAt",
    "durationSeconds",
    "phase",
    "tags",
    "hypothesis",
    "analyzerConfig",
    "targets",
    "workflow",
    "metrics",
    "codeSnippets",
    "costEstimate",
    "iterationStatus",
    "analysis",
]
SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _experiment(**overrides: Any) -> dict[str, Any]:
    doc = experiment_doc("unit-", publish=True, **overrides)
    doc["metadata"].update(name="unit-abcde", creationTimestamp="2026-02-18T19:41:50Z")
    doc["spec"].update(
        description="d", tags=["t"], series="s", analyzerConfig={"sections": ["abstract"]}
    )
    return doc


def _status() -> dict[str, Any]:
    return {
        "targets": [
            {
                "name": "app",
                "clusterName": "unit-abcde-app",
                "machineType": "e2-standard-4",
                "nodeCount": 1,
                "components": ["Deployment/naive-db-fsync"],
            }
        ],
        "workflowStatus": {
            "name": "unit-abcde-validation",
            "phase": "Succeeded",
            "startedAt": "2026-02-18T19:51:50Z",
            "finishedAt": "2026-02-18T20:21:50Z",
        },
    }


def _summary(scenario: Scenario = Scenario.HAPPY, **kwargs: Any) -> dict[str, Any]:
    experiment = kwargs.pop("experiment", None) or _experiment()
    return build_summary(
        experiment=experiment,
        choice=ScenarioChoice(scenario=scenario, options=kwargs.pop("options", {})),
        status=_status(),
        completed_at=START + timedelta(minutes=42, seconds=3, microseconds=512),
        time_scale=1.0,
        **kwargs,
    )


def _queries(document: dict[str, Any]) -> dict[str, Any]:
    return dict(document["metrics"]["queries"])


def test_keys_in_the_real_order_without_series_and_at_second_precision() -> None:
    document = _summary(iteration_status={"phase": "Passed", "currentIteration": 0})

    present = [key for key in ORDER if key in document]
    assert list(document) == present
    assert "series" not in document
    for stamp in (
        document["createdAt"],
        document["completedAt"],
        document["metrics"]["collectedAt"],
    ):
        assert SECONDS.match(stamp), stamp
    for query in _queries(document).values():
        for point in query.get("data", []):
            assert SECONDS.match(point["timestamp"])
    assert document["iterationStatus"]["phase"] == "Passed"


def test_target_prometheus_queries_are_exactly_the_declared_metrics() -> None:
    document = _summary()

    assert set(_queries(document)) == {m["name"] for m in _experiment()["spec"]["metrics"]}
    assert not {"cpu_by_pod", "cpu_total", "memory_by_pod", "memory_total"} & set(
        _queries(document)
    )
    assert document["metrics"]["source"] == "target:unit-abcde/kube-prometheus-stack-prometheus"


def test_cadvisor_fallback_has_pod_queries_and_declared_ones_without_data() -> None:
    document = _summary(Scenario.CADVISOR_ONLY)
    queries = _queries(document)

    assert {"cpu_by_pod", "cpu_total", "memory_by_pod", "memory_total"} <= set(queries)
    assert document["metrics"]["source"] == "target:cadvisor"
    declared = [m["name"] for m in _experiment()["spec"]["metrics"]]
    assert all("data" not in queries[name] for name in declared)


def test_empty_query_has_no_data_key_and_a_failed_one_an_error() -> None:
    queries = _queries(_summary(Scenario.PARTIAL_METRICS))

    empty = [name for name, query in queries.items() if "data" not in query]
    assert empty
    assert not [q for q in queries.values() if q.get("data") == []]
    errors = [name for name, query in queries.items() if "error" in query]
    assert len(errors) == 1
    assert errors[0] in empty


def test_no_metrics_section_when_nothing_was_collected() -> None:
    document = _summary(Scenario.NO_CUSTOM_METRICS)

    assert "metrics" not in document
    assert document["costEstimate"]["totalUSD"] > 0


def test_namespace_placeholder_is_the_instance_on_a_target_collector() -> None:
    metric = {"name": "ns_rate", "query": 'sum(rate(x{namespace="$NAMESPACE"}[5m]))'}
    experiment = _experiment(metrics=[metric], criteria=False)

    target = _queries(_summary(experiment=experiment))["ns_rate"]
    assert target["query"] == 'sum(rate(x{namespace="unit-abcde"}[5m]))'
    assert target["data"]

    legacy = _queries(_summary(experiment=experiment, legacy=True))["ns_rate"]
    assert legacy["query"] == 'sum(rate(x{namespace="experiments"}[5m]))'
    assert legacy["data"] == []


def test_criteria_use_the_mean_and_a_string_actual_value() -> None:
    document = _summary()
    queries = _queries(document)
    criteria = {c["metric"]: c for c in document["hypothesis"]["successCriteria"]}

    for name, criterion in criteria.items():
        assert isinstance(criterion["actualValue"], str)
        assert float(criterion["actualValue"]) == pytest.approx(
            compared_value(queries[name]), rel=1e-5
        )
        assert criterion["passed"] is True
    assert document["hypothesis"]["machineVerdict"] == "validated"


def test_compared_value_is_the_single_point_else_the_mean() -> None:
    assert compared_value({"data": [{"value": 3.0}]}) == 3.0
    assert compared_value({"data": [{"value": 1.0}, {"value": 2.0}, {"value": 6.0}]}) == 3.0
    assert compared_value({"query": "q"}) is None


def test_unevaluable_criteria_leave_passed_absent() -> None:
    document = _summary(Scenario.INSUFFICIENT_VERDICT)

    for criterion in document["hypothesis"]["successCriteria"]:
        assert "passed" not in criterion
        assert "actualValue" not in criterion
    assert document["hypothesis"]["machineVerdict"] == "insufficient"


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        ([None, None], "insufficient"),
        ([True, True], "validated"),
        ([True, False], "invalidated"),
        ([True, None], "invalidated"),
    ],
)
def test_verdict_rules(results: list[bool | None], verdict: str) -> None:
    criteria = [{} if r is None else {"passed": r} for r in results]
    assert criteria_verdict(criteria) == verdict


def test_failed_run_summary_says_failed() -> None:
    assert _summary(phase="Failed")["phase"] == "Failed"


def test_cost_estimate_prices_preemptible_at_a_fifth() -> None:
    cost = _summary()["costEstimate"]

    assert set(cost) == {"totalUSD", "durationHours", "perTarget", "note"}
    hours = (42 * 60 + 3) / 3600
    assert cost["totalUSD"] == pytest.approx(0.134 * 0.2 * hours)


def test_quality_gate_scenarios_miss_data_until_recovered() -> None:
    first = _summary(Scenario.QUALITY_GATE_RECOLLECT, collection=0)
    second = _summary(Scenario.QUALITY_GATE_RECOLLECT, collection=1)
    exhausted = _summary(Scenario.QUALITY_GATE_EXHAUSTED, collection=5)

    assert [q for q in _queries(first).values() if "data" not in q]
    assert all("data" in q for q in _queries(second).values())
    assert [q for q in _queries(exhausted).values() if "data" not in q]


def test_legacy_shape_keeps_the_seeds_conventions() -> None:
    document = _summary(legacy=True)

    assert document["series"] == "s"
    assert "cpu_by_pod" in _queries(document)
    assert document["hypothesis"]["machineVerdict"] == "confirmed"
    assert all(
        isinstance(c["actualValue"], float) for c in document["hypothesis"]["successCriteria"]
    )


def test_flavour_helpers() -> None:
    assert OPERATOR_FLAVOURS == ("real", "legacy")
    assert flavour_choice("legacy", "fail-running").flavour == "legacy"
    assert flavour_choice("real").flavour == "real"
    assert flavour_options("legacy", message="x") == {"message": "x", "operator": "legacy"}
    assert parse_choice("legacy-operator").flavour == "legacy"
    assert parse_choice('{"scenario": "fail-ready", "operator": "legacy"}').flavour == "legacy"
    with pytest.raises(SandboxError, match="flavour"):
        parse_choice('{"scenario": "happy", "operator": "ancient"}')
