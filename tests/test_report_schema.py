"""The JSON report: schemaVersion, a per-instance phase timeline, a shipped JSON Schema,
and one property naming convention (camelCase) shared with JUnit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from pytest_experiment.reporting import report as report_module


def test_the_json_report_follows_its_shipped_schema(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    pytester.runpytest(
        "experiments", "--experiment-results=experiments/site/data", "--experiment-report=r.json"
    )
    report = json.loads((pytester.path / "r.json").read_text())
    schema = json.loads(report_module.REPORT_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["schemaVersion"] == report_module.SCHEMA_VERSION
    instances = [i for e in report["experiments"] for i in e["instances"]]
    assert instances
    assert all(i["timeline"] == {} for i in instances)  # offline: no phase was observed
    figures = [f for i in instances for c in i["checks"] for f in c["figures"]]
    assert "workloadPods" in figures
    assert not [f for f in figures if "_" in f]


def test_the_schema_rejects_a_report_that_breaks_the_convention() -> None:
    schema = json.loads(report_module.REPORT_SCHEMA.read_text())
    finding = {"check": "x", "verdict": "pass", "summary": "[PASS] x", "details": []}
    bad = {
        "schemaVersion": report_module.SCHEMA_VERSION, "session": {}, "toil": [], "cleanup": [],
        "experiments": [{
            "name": "e", "path": "e/experiment.yaml", "intent": {}, "validation": [
                {**finding, "figures": {"workload_pods": 1}}
            ], "preflight": [], "instances": [],
        }],
    }  # fmt: skip
    with pytest.raises(jsonschema.ValidationError, match="workload_pods"):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_property_names_are_converted_once_and_only_names() -> None:
    assert report_module.property_name("workload_pods") == "workloadPods"
    assert report_module.property_name("prURL") == "prURL"
    assert report_module.property_name("latency_without_seconds") == "latencyWithoutSeconds"
    # In the order seen, whatever order the keys arrived in.
    seen = report_module.timeline_of(
        {
            "timeline": {
                "Running": "2026-01-01T00:00:09+00:00",
                "Pending": "2026-01-01T00:00:01+00:00",
            }
        }
    )
    assert list(seen) == ["Pending", "Running"]
    assert report_module.timeline_of({}) == {}
