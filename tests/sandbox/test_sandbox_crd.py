"""The sandbox's CRDs: real upstream experiments are accepted unchanged, bad ones rejected."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from pytest_experiment.base.resources import (
    APPLICATIONS,
    EXPERIMENTS,
    GKE_CLUSTERS,
    WORKFLOW_TEMPLATES,
    WORKFLOWS,
)
from pytest_experiment.sandbox import install
from pytest_experiment.sandbox.core import crd_from_env
from pytest_experiment.sandbox.scenarios import clear_scenario, set_scenario

from .lifecycle import NAMESPACE, experiment_doc

REPO_ROOT = Path(__file__).resolve().parents[2]


def _upstream() -> Path:
    configured = os.environ.get("EXPERIMENT_UPSTREAM")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "upstream"


def _upstream_experiments() -> list[Path]:
    return sorted((_upstream() / "experiments").glob("*/experiment.yaml"))


def _missing_from(expected: Any, actual: Any, path: str = "spec") -> list[str]:
    """Paths where ``actual`` lost or changed something of ``expected``.

    Extra keys in ``actual`` are allowed: the API server adds schema defaults.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key} pruned")
            else:
                problems.extend(_missing_from(value, actual[key], f"{path}.{key}"))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path} length"]
        return [
            problem
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for problem in _missing_from(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {expected!r} became {actual!r}"]


@pytest.mark.parametrize(
    "path", _upstream_experiments() or [None], ids=lambda p: p.parent.name if p else "absent"
)
def test_upstream_experiment_accepted_unchanged(k8s: client.ApiClient, path: Path | None) -> None:
    if path is None:
        pytest.skip(f"upstream corpus not found at {_upstream()} (set EXPERIMENT_UPSTREAM)")
    document = yaml.safe_load(path.read_text())
    document["metadata"]["namespace"] = NAMESPACE

    created = client.CustomObjectsApi(k8s).create_namespaced_custom_object(
        EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, document
    )
    read_back = client.CustomObjectsApi(k8s).get_namespaced_custom_object(
        EXPERIMENTS.group,
        EXPERIMENTS.version,
        NAMESPACE,
        EXPERIMENTS.plural,
        created["metadata"]["name"],
    )

    assert _missing_from(document["spec"], read_back["spec"]) == []
    assert created["metadata"]["name"].startswith(document["metadata"]["generateName"])
    client.CustomObjectsApi(k8s).delete_namespaced_custom_object(
        EXPERIMENTS.group,
        EXPERIMENTS.version,
        NAMESPACE,
        EXPERIMENTS.plural,
        created["metadata"]["name"],
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda spec: spec.pop("targets"), "spec.targets"),
        (lambda spec: spec["targets"][0]["cluster"].update(type="aks"), "spec.targets"),
        (lambda spec: spec["metrics"][0].update(name="Bad-Name"), "spec.metrics"),
        (lambda spec: spec["workflow"]["completion"].update(mode="sometimes"), "spec.workflow"),
    ],
    ids=["no-targets", "cluster-type", "metric-name", "completion-mode"],
)
def test_invalid_spec_rejected(k8s: client.ApiClient, mutate: Any, message: str) -> None:
    document = experiment_doc("invalid-")
    mutate(document["spec"])

    with pytest.raises(client.ApiException) as raised:
        client.CustomObjectsApi(k8s).create_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, document
        )

    assert raised.value.status == 422
    assert message in json.loads(raised.value.body)["message"]


def test_experiment_crd_shape(k8s: client.ApiClient) -> None:
    crd = client.ApiextensionsV1Api(k8s).read_custom_resource_definition(
        "experiments.experiments.illm.io"
    )
    (version,) = crd.spec.versions

    assert crd.spec.scope == "Namespaced"
    assert version.name == "v1alpha1"
    assert version.subresources.status == {}
    assert [c.name for c in version.additional_printer_columns] == [
        "Phase",
        "Targets",
        "Workflow",
        "Published",
        "Cleaned",
        "Analysis",
        "Review",
        "Results",
        "Age",
    ]
    schema = version.schema.open_apiv3_schema
    # A structural status schema, as the real CRD has: undeclared fields are pruned.
    assert schema.properties["status"].x_kubernetes_preserve_unknown_fields is None
    assert {"phase", "targets", "iterationStatus"} <= set(schema.properties["status"].properties)
    assert schema.properties["spec"].x_kubernetes_preserve_unknown_fields is None


@pytest.mark.parametrize(
    ("resource", "namespace"),
    [
        (WORKFLOW_TEMPLATES, "argo-workflows"),
        (WORKFLOWS, "argo-workflows"),
        (APPLICATIONS, "argocd"),
        (GKE_CLUSTERS, NAMESPACE),
    ],
    ids=lambda value: getattr(value, "plural", value),
)
def test_integration_crds_keep_every_field(
    k8s: client.ApiClient, resource: Any, namespace: str
) -> None:
    objects = client.CustomObjectsApi(k8s)
    kind = {
        "workflowtemplates": "WorkflowTemplate",
        "workflows": "Workflow",
        "applications": "Application",
        "gkeclusters": "GKECluster",
    }[resource.plural]
    body = {
        "apiVersion": resource.api_version,
        "kind": kind,
        "metadata": {"generateName": "crd-check-", "labels": {"experiment": "crd-check"}},
        "spec": {"anything": {"nested": [1, "two", {"three": True}]}},
    }

    created = objects.create_namespaced_custom_object(
        resource.group, resource.version, namespace, resource.plural, body
    )

    assert created["spec"] == body["spec"]
    objects.delete_namespaced_custom_object(
        resource.group,
        resource.version,
        namespace,
        resource.plural,
        created["metadata"]["name"],
    )


@pytest.mark.parametrize(
    "name", ["experiments", "argo-workflows", "argocd", "experiment-operator-system"]
)
def test_namespaces_exist(k8s: client.ApiClient, name: str) -> None:
    assert client.CoreV1Api(k8s).read_namespace(name).status.phase == "Active"


def _real_crd() -> Path:
    return _upstream() / "crds" / "experiments.illm.io_experiments.yaml"


_STRUCTURE = ("type", "format", "enum", "required", "items", "properties", "additionalProperties")


def _structure(node: Any) -> Any:
    """What makes a schema prune or reject: types, fields, enums, required (no descriptions)."""
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key in _STRUCTURE:
        if key not in node:
            continue
        value = node[key]
        if key == "properties":
            kept[key] = {name: _structure(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            kept[key] = _structure(value)
        else:
            kept[key] = sorted(value) if key in ("enum", "required") else value
    return kept


def _spec_schema(crd: Any) -> Any:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _status_schema(crd: Any) -> Any:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]


def test_bundled_status_schema_is_the_real_ones() -> None:
    if not _real_crd().is_file():
        pytest.skip(f"real CRD not found at {_real_crd()} (set EXPERIMENT_UPSTREAM)")
    bundled = install.experiment_crd(log=lambda _: None)
    real = install.read_crd(_real_crd())

    assert _structure(_status_schema(bundled)) == _structure(_status_schema(real))


def test_installed_crd_is_the_configured_one(k8s: client.ApiClient) -> None:
    configured = crd_from_env()
    expected = (
        install.read_crd(configured) if configured else install.experiment_crd(log=lambda _: None)
    )
    installed = client.ApiextensionsV1Api(k8s).read_custom_resource_definition(
        install.EXPERIMENT_CRD, _preload_content=False
    )
    served = json.loads(installed.data)

    assert _structure(_status_schema(served)) == _structure(_status_schema(expected))
    assert sorted(_spec_schema(served)["properties"]) == sorted(
        _spec_schema(expected)["properties"]
    )


def test_undeclared_status_fields_are_pruned(k8s: client.ApiClient, prefix: str) -> None:
    set_scenario(k8s, prefix, "stuck-pending")
    objects = client.CustomObjectsApi(k8s)
    try:
        created = objects.create_namespaced_custom_object(
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            NAMESPACE,
            EXPERIMENTS.plural,
            experiment_doc(prefix),
        )
        name = created["metadata"]["name"]
        patched = objects.patch_namespaced_custom_object_status(
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            NAMESPACE,
            EXPERIMENTS.plural,
            name,
            {
                "status": {
                    "phase": "Provisioning",
                    "phaseTimestamps": {"Provisioning": "2026-02-18T19:41:50Z"},
                    "observedGeneration": 1,
                    "analysisPhaseTimestamps": {"Pending": "2026-02-18T19:41:50Z"},
                    "costEstimate": {"totalUSD": 1.0},
                    "targets": [{"name": "app", "phase": "Failed", "reason": "quota"}],
                }
            },
            _content_type="application/merge-patch+json",
        )
        status = patched["status"]
        assert status["phase"] == "Provisioning"
        for pruned in (
            "phaseTimestamps",
            "observedGeneration",
            "analysisPhaseTimestamps",
            "costEstimate",
        ):
            assert pruned not in status
        assert status["targets"] == [{"name": "app", "phase": "Failed"}]
        objects.delete_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, name
        )
    finally:
        clear_scenario(k8s, prefix)
