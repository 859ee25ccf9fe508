"""Pure parts of the sandbox: schema conversion, scenario choice, summary building, ownership."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.core.cost import Bound, estimate
from pytest_experiment.core.options import Options
from pytest_experiment.core.prices import shipped_prices
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.sandbox import Sandbox, SandboxConfig, assets
from pytest_experiment.sandbox.install import load_experiment_schema, structural
from pytest_experiment.sandbox.processes import Supervisor
from pytest_experiment.sandbox.scenarios import (
    DEFAULT_KEY,
    Scenario,
    ScenarioChoice,
    choose,
    operator_down,
    parse_choice,
)
from pytest_experiment.sandbox.state import STATE_VERSION, read_state, write_state
from pytest_experiment.sandbox.summary import build_analysis, build_summary, intent_gap_group
from pytest_experiment.sandbox.summary.document import cost_estimate as summary_cost

from .lifecycle import METRICS, experiment_doc

PRESERVE = "x-kubernetes-preserve-unknown-fields"


def test_structural_keeps_types_and_validation() -> None:
    converted = structural(
        {
            "$id": "x",
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "b": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                "c": {"const": "fixed", "type": "string"},
                "d": {"type": "object", "additionalProperties": {"type": "string"}},
                "e": {"type": "array"},
                "f": {"anyOf": [{"required": ["x"]}], "type": "object", "properties": {}},
                "g": {"type": "object", "additionalProperties": False, "properties": {}},
                "h": {"description": "untyped"},
            },
        }
    )

    assert "$id" not in converted
    props = converted["properties"]
    assert props["a"] == {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5}
    assert props["b"] == {
        "type": "integer",
        "nullable": True,
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    assert props["c"] == {"type": "string", "enum": ["fixed"]}
    assert props["d"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["e"] == {"type": "array", "items": {PRESERVE: True}}
    assert "anyOf" not in props["f"]
    assert "additionalProperties" not in props["g"]
    assert props["h"] == {"description": "untyped", PRESERVE: True}


def test_project_schema_converts_without_preserving_spec() -> None:
    spec = load_experiment_schema()
    if spec is None:
        pytest.skip("pytest_experiment/schemas/experiment.schema.json not present")

    converted = structural(spec)

    assert converted["type"] == "object"
    assert PRESERVE not in converted
    assert {"targets", "workflow", "metrics", "hypothesis"} <= set(converted["properties"])
    text = json.dumps(converted)
    for keyword in ('"$schema"', '"anyOf"', '"oneOf"', '"const"', '"$ref"'):
        assert keyword not in text


def test_parse_choice_plain_and_json() -> None:
    assert parse_choice("fail-ready") == ScenarioChoice(scenario=Scenario.FAIL_READY)
    choice = parse_choice('{"scenario": "intent-gap", "group": "hdb"}')
    assert choice.scenario is Scenario.INTENT_GAP
    assert choice.option("group") == "hdb"
    assert parse_choice(choice.encode()) == choice
    assert choice.fails_in is None
    assert parse_choice("fail-provisioning").fails_in == "Provisioning"
    assert parse_choice("stuck-running").stuck_in == "Running"


@pytest.mark.parametrize("bad", ["explode", '{"scenario": 3}', "{not json", "[1]"])
def test_parse_choice_rejects(bad: str) -> None:
    with pytest.raises(SandboxError):
        parse_choice(bad)


def test_choose_precedence() -> None:
    data = {"db-fvm-abcde": "fail-ready", "db-fvm-": "stuck-ready", DEFAULT_KEY: "no-pr"}

    assert choose(data, instance="db-fvm-abcde", generate_name="db-fvm-").scenario is (
        Scenario.FAIL_READY
    )
    assert choose(data, instance="db-fvm-zzzzz", generate_name="db-fvm-").scenario is (
        Scenario.STUCK_READY
    )
    assert choose(data, instance="x-1", generate_name="x-").scenario is Scenario.NO_PR
    assert choose({}, instance="x-1", generate_name=None).scenario is Scenario.HAPPY
    assert operator_down({"a-": "operator-down", "b-": "garbage"})
    assert not operator_down({"a-": "happy"})


def _experiment(**overrides: Any) -> dict[str, Any]:
    doc = experiment_doc("unit-", publish=True, **overrides)
    doc["metadata"].update(name="unit-abcde", creationTimestamp="2026-02-18T19:41:50Z")
    return doc


def _status(start: datetime) -> dict[str, Any]:
    return {
        "targets": [
            {
                "name": "app",
                "clusterName": "illm-unit-abcde-app-12345",
                "machineType": "e2-standard-4",
                "nodeCount": 1,
                "components": ["naive-db-fsync"],
            }
        ],
        "workflowStatus": {
            "name": "unit-abcde-validation",
            "phase": "Succeeded",
            "startedAt": (start + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
            "finishedAt": (start + timedelta(minutes=40)).isoformat().replace("+00:00", "Z"),
        },
    }


def test_summary_is_deterministic_and_costed() -> None:
    start = datetime(2026, 2, 18, 19, 41, 50, tzinfo=UTC)
    end = start + timedelta(seconds=2)
    arguments: dict[str, Any] = {
        "experiment": _experiment(),
        "choice": ScenarioChoice(),
        "status": _status(start),
        "completed_at": end,
        "time_scale": 0.001,
    }

    first = build_summary(**arguments)

    assert first == build_summary(**arguments)
    assert first["durationSeconds"] == 2.0
    # 2 s at scale 0.001 is 2000 s simulated on a spot e2-standard-4 (0.2x on-demand).
    assert first["costEstimate"]["totalUSD"] == pytest.approx(0.134 * 0.2 * 2000 / 3600)
    assert first["targets"][0]["clusterType"] == "gke"


def test_summary_cost_is_priced_as_the_real_operator_and_the_harness_prices_it(
    tmp_path: Path,
) -> None:
    # An unset machineType and one off the operator's table are charged its $0.10/h
    # fallback; a hub target is not listed. The harness's estimate prices the same spec
    # at the same hourly rate, so a sandbox run's estimate sits next to a comparable cost.
    targets = [
        {"name": "app", "cluster": {"type": "gke", "preemptible": True, "nodeCount": 2}},
        {"name": "db", "cluster": {"type": "gke", "machineType": "c3-standard-4"}},
        {"name": "hub", "cluster": {"type": "hub"}},
    ]
    cost = summary_cost({"targets": targets}, hours=0.5)
    assert cost["perTarget"] == pytest.approx({"app": 0.1 * 0.2 * 2 * 0.5, "db": 0.1 * 0.5})
    spec = {"targets": [targets[0], targets[2]]}
    path = tmp_path / "e" / "experiment.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"kind": "Experiment", "spec": spec}))
    experiment = Experiment.from_source(read_source(path))
    estimated = estimate(experiment, prices=shipped_prices(), bound=Bound.of(Options(), experiment))
    assert estimated.hourly == pytest.approx(summary_cost(spec, hours=1.0)["totalUSD"])


def test_intent_gap_defaults_to_last_declared_group() -> None:
    spec = _experiment()["spec"]
    assert (
        intent_gap_group(spec, ScenarioChoice(scenario=Scenario.INTENT_GAP))
        == (METRICS[-1]["group"])
    )
    assert intent_gap_group({"metrics": []}, ScenarioChoice()) is None


def test_workload_pods_option_leaves_only_infrastructure() -> None:
    start = datetime(2026, 2, 18, 19, 41, 50, tzinfo=UTC)
    document = build_summary(
        experiment=_experiment(),
        choice=ScenarioChoice(scenario=Scenario.CADVISOR_ONLY, options={"workloadPods": False}),
        status=_status(start),
        completed_at=start + timedelta(seconds=2),
        time_scale=0.001,
    )

    pods = [d["labels"]["pod"] for d in document["metrics"]["queries"]["cpu_by_pod"]["data"]]
    assert pods
    assert not [p for p in pods if p.startswith(("naive-db", "db-benchmark"))]


def test_analysis_sections_follow_analyzer_config() -> None:
    start = datetime(2026, 2, 18, 19, 41, 50, tzinfo=UTC)
    doc = _experiment()
    doc["spec"]["analyzerConfig"] = {"sections": ["abstract", "metricInsights", "glossary"]}
    document = build_summary(
        experiment=doc,
        choice=ScenarioChoice(),
        status=_status(start),
        completed_at=start + timedelta(seconds=2),
        time_scale=0.001,
    )

    analysis = build_analysis(
        spec=doc["spec"], summary=document, choice=ScenarioChoice(), generated_at=start
    )

    assert set(analysis) == {
        "hypothesisVerdict",
        "abstract",
        "metricInsights",
        "glossary",
        "summary",
        "generatedAt",
        "model",
    }
    assert analysis["hypothesisVerdict"] == "validated"
    assert all(isinstance(analysis[s], dict) for s in ("metricInsights", "glossary"))
    override = build_analysis(
        spec=doc["spec"],
        summary=document,
        choice=ScenarioChoice(options={"aiVerdict": "invalidated"}),
        generated_at=start,
    )
    assert override["hypothesisVerdict"] == "invalidated"
    legacy = build_analysis(
        spec=doc["spec"], summary=document, choice=ScenarioChoice(), generated_at=start, legacy=True
    )
    assert legacy["hypothesisVerdict"] == "confirmed"


def _fake_binaries(directory: Path, names: tuple[str, ...] = ("etcd", "kube-apiserver")) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        binary = directory / name
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)


def test_kubebuilder_assets_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_binaries(tmp_path / "envtest")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "envtest"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    found = assets.resolve_assets(install=False)

    assert found.etcd == tmp_path / "envtest" / "etcd"
    assert found.kube_apiserver == tmp_path / "envtest" / "kube-apiserver"
    assert found.weed.name == "weed"


def test_cache_used_when_kubebuilder_assets_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_binaries(tmp_path / "envtest", ("etcd",))
    _fake_binaries(tmp_path / "cache" / "pytest-experiment" / "bin")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "envtest"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    found = assets.resolve_assets(install=False, log=lambda _: None)

    assert found.etcd.parent == tmp_path / "cache" / "pytest-experiment" / "bin"


def test_missing_assets_name_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))

    with pytest.raises(SandboxError, match="experiment-sandbox install"):
        assets.resolve_assets(install=False)


def _recorded_state(state_dir: Path) -> dict[str, Any]:
    return {
        "kubeconfig": str(state_dir / "kubeconfig"),
        "s3Endpoint": "http://127.0.0.1:1",
        "accessKey": "a",
        "secretKey": "s",
        "timeScale": 0.001,
        "ports": {"apiserver": 1},
    }


def test_the_starter_owns_the_sandbox_and_its_temporary_directory(tmp_path: Path) -> None:
    state_dir = tmp_path / "made-for-it"
    (state_dir / "logs").mkdir(parents=True)
    started = Sandbox(
        state_dir=state_dir,
        state=_recorded_state(state_dir),
        supervisor=Supervisor(),
        started=SandboxConfig(stop_with_process=False),
    )
    assert started.owned
    with started:
        pass
    assert not state_dir.exists()


def test_an_adopted_sandbox_is_not_stopped_on_exit_and_its_stop_keeps_the_logs(
    tmp_path: Path,
) -> None:
    (tmp_path / "logs").mkdir()
    write_state(tmp_path, {"version": STATE_VERSION, **_recorded_state(tmp_path)})
    adopted = Sandbox(state_dir=tmp_path, state=_recorded_state(tmp_path), supervisor=Supervisor())
    assert not adopted.owned
    with adopted:
        pass
    assert read_state(tmp_path) is not None
    adopted.stop()
    assert read_state(tmp_path) is None
    assert (tmp_path / "logs").is_dir()
