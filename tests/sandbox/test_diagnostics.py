"""Diagnostics of an instance on the real sandbox: every part present or explained, objects
found under either label convention, and the Events of the instance and its objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from pytest_experiment.base.resources import GKE_CLUSTERS, WORKFLOWS
from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.edges.watch import ExperimentWatcher
from pytest_experiment.run.diagnostics import gather
from pytest_experiment.sandbox import Sandbox

from .lifecycle import NAMESPACE, OPERATOR_FLAVOURS, TIMEOUT, Run, experiment_doc, status_of

PARTS = [
    "conditions", "operator-logs", "workflows", "failed-pods", "gke-clusters", "applications",
    "events",
]  # fmt: skip
REAL_LABEL = "experiments.illm.io/experiment"
HUB_TARGET = {"name": "side", "cluster": {"type": "hub"}, "components": [{"app": "naive-db-fsync"}]}


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    connected = connect(kubeconfig=sandbox.kubeconfig)
    yield connected
    connected.close()


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_a_failing_provisioning_gives_every_part(
    cluster: Cluster, workflow_template: str, prefix: str, scenario: Any, flavour: str
) -> None:
    scenario(
        prefix, "fail-provisioning", message="Error 403: Insufficient regional quota",
        operator=flavour,
    )  # fmt: skip
    with ExperimentWatcher(cluster, namespace=NAMESPACE) as watcher:
        instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
        # The seeds' operator fails the experiment; the real one fails only the target.
        failed = watcher.wait_for(
            instance,
            lambda o: (
                status_of(o).get("phase") == "Failed"
                or any(t.get("phase") == "Failed" for t in status_of(o).get("targets") or [])
            ),
            timeout=TIMEOUT,
            what="a failure",
        )
    diagnostics = gather(cluster, instance, experiment=failed)
    assert [p.key for p in diagnostics.parts] == PARTS
    claims = diagnostics.part("gke-clusters")
    assert claims.error is None
    [claim] = claims.lines
    assert "Ready=False" in claim, claim
    assert claim.endswith("Error 403: Insufficient regional quota"), claim
    # The sandbox operator runs outside any pod: that part explains itself in one line.
    logs = diagnostics.part("operator-logs")
    assert logs.error is not None
    assert "no running pod of Deployment" in logs.error
    # Provisioning failed, so nothing was run.
    for key in ("workflows", "failed-pods"):
        assert diagnostics.part(key).error is None
        assert diagnostics.part(key).lines == ()
    assert diagnostics.part("events").error is None
    rendered = diagnostics.render()
    assert rendered[0] == f"diagnostics for {instance}:"
    assert any("unavailable: no running pod" in line for line in rendered)
    assert any(
        line.startswith("workflows (workflows in argo-workflows): none") for line in rendered
    )
    cluster.delete_experiment(instance, namespace=NAMESPACE)


def test_objects_under_the_real_labels_and_names_and_events_are_in_the_diagnostics(
    cluster: Cluster, k8s: client.ApiClient, workflow_template: str, prefix: str, scenario: Any
) -> None:
    """What the real hub has and the seeds' operator never made: a workflow labelled
    ``experiments.illm.io/experiment``, a claim found by its name ``<instance>-<target>``, and
    Events written by the controllers under the operator."""
    scenario(prefix, "stuck-provisioning")
    run = Run.create(k8s, experiment_doc(prefix, extra_targets=[HUB_TARGET]))
    run.wait_status("phase", "Provisioning")
    objects = client.CustomObjectsApi(k8s)
    workflow = f"{run.name}-validation"
    objects.create_namespaced_custom_object(
        WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural,
        {"apiVersion": WORKFLOWS.api_version, "kind": "Workflow",
         "metadata": {"name": workflow, "labels": {REAL_LABEL: run.name}},
         "spec": {}, "status": {"phase": "Failed", "message": "child exited 3"}},
    )  # fmt: skip
    # A hub target has no claim on the real hub: this name is free on both operators.
    claim = f"{run.name}-side"
    objects.create_namespaced_custom_object(
        GKE_CLUSTERS.group, GKE_CLUSTERS.version, NAMESPACE, GKE_CLUSTERS.plural,
        {"apiVersion": GKE_CLUSTERS.api_version, "kind": "GKECluster",
         "metadata": {"name": claim, "labels": {"experiments.illm.io/cluster": claim}},
         "spec": {}},
    )  # fmt: skip
    objects.patch_namespaced_custom_object_status(
        GKE_CLUSTERS.group, GKE_CLUSTERS.version, NAMESPACE, GKE_CLUSTERS.plural, claim,
        {"status": {"conditions": [{"type": "Ready", "status": "False",
                                    "reason": "ReconcileError", "message": "zone exhausted"}]}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    core = client.CoreV1Api(k8s)
    for namespace, kind, name, reason, message in (
        (NAMESPACE, "Experiment", run.name, "FailedCreate", "claim rejected by admission"),
        ("argo-workflows", "Workflow", workflow, "WorkflowFailed", "child exited 3"),
        ("argocd", "Application", "unrelated-app", "Synced", "not about this instance"),
    ):
        core.create_namespaced_event(
            namespace,
            {"metadata": {"generateName": f"{name}.", "namespace": namespace},
             "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
             "reason": reason, "message": message, "type": "Warning", "count": 2,
             "firstTimestamp": "2026-02-18T17:20:17Z", "lastTimestamp": "2026-02-18T17:20:18Z"},
        )  # fmt: skip
    try:
        diagnostics = gather(cluster, run.name)
        assert diagnostics.part("workflows").lines == (f"{workflow}: Failed: child exited 3",)
        claims = diagnostics.part("gke-clusters").lines
        assert f"{NAMESPACE}/{claim}: Ready=False (ReconcileError): zone exhausted" in claims
        events = diagnostics.part("events").lines
        assert f"Warning FailedCreate Experiment/{run.name}: claim rejected by admission (x2)" in (
            events
        )
        assert f"Warning WorkflowFailed Workflow/{workflow}: child exited 3 (x2)" in events
        assert not any("unrelated-app" in line for line in events)
    finally:
        objects.delete_namespaced_custom_object(
            WORKFLOWS.group, WORKFLOWS.version, "argo-workflows", WORKFLOWS.plural, workflow
        )
        objects.delete_namespaced_custom_object(
            GKE_CLUSTERS.group, GKE_CLUSTERS.version, NAMESPACE, GKE_CLUSTERS.plural, claim
        )
        run.delete()


def test_unreadable_parts_do_not_hide_the_others(cluster: Cluster) -> None:
    """An instance that does not exist: conditions cannot be read, the lists still run."""
    diagnostics = gather(cluster, "gone-zz9")
    conditions = diagnostics.part("conditions")
    assert conditions.error is not None
    assert "get Experiment experiments/gone-zz9" in conditions.error
    assert "not found" in conditions.error
    for key in ("workflows", "failed-pods", "gke-clusters", "applications", "events"):
        assert diagnostics.part(key).error is None
    assert len(diagnostics.render()) == 1 + len(PARTS)
