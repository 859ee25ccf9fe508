"""R35 diagnostics for a failed instance on the real sandbox: every part present or explained."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_experiment.cluster import Cluster, connect
from pytest_experiment.diagnostics import gather
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.watch import ExperimentWatcher

from .lifecycle import NAMESPACE, TIMEOUT, experiment_doc

PARTS = ["conditions", "operator-logs", "workflows", "failed-pods", "gke-clusters", "applications"]


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    connected = connect(kubeconfig=sandbox.kubeconfig)
    yield connected
    connected.close()


def test_failed_provisioning_gives_every_part(
    cluster: Cluster, workflow_template: str, prefix: str, scenario: Any
) -> None:
    scenario(prefix, "fail-provisioning", message="Error 403: Insufficient regional quota")
    with ExperimentWatcher(cluster, namespace=NAMESPACE) as watcher:
        instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
        failed = watcher.wait_for(
            instance,
            lambda o: (o.get("status") or {}).get("phase") == "Failed",
            timeout=TIMEOUT,
            what="Failed",
        )
    diagnostics = gather(cluster, instance, experiment=failed)
    assert [p.key for p in diagnostics.parts] == PARTS
    conditions = diagnostics.part("conditions")
    assert any(
        line.startswith("Failed=True (ProvisioningFailed): Error 403") for line in conditions.lines
    )
    claims = diagnostics.part("gke-clusters")
    assert claims.error is None
    assert [line.split(": ", 1)[1] for line in claims.lines] == [
        "Ready=False (ReconcileError): Error 403: Insufficient regional quota"
    ]
    # The sandbox operator runs outside any pod: that part explains itself in one line.
    logs = diagnostics.part("operator-logs")
    assert logs.error is not None
    assert "no running pod of Deployment" in logs.error
    # Provisioning failed, so nothing was deployed or run.
    for key in ("workflows", "failed-pods", "applications"):
        assert diagnostics.part(key).error is None
        assert diagnostics.part(key).lines == ()
    rendered = diagnostics.render()
    assert rendered[0] == f"diagnostics for {instance}:"
    assert any("unavailable: no running pod" in line for line in rendered)
    assert any(
        line.startswith("workflows (workflows in argo-workflows): none") for line in rendered
    )
    cluster.delete_experiment(instance, namespace=NAMESPACE)


def test_unreadable_parts_do_not_hide_the_others(cluster: Cluster) -> None:
    """An instance that does not exist: conditions cannot be read, the lists still run."""
    diagnostics = gather(cluster, "gone-zz9")
    conditions = diagnostics.part("conditions")
    assert conditions.error is not None
    assert "get Experiment experiments/gone-zz9" in conditions.error
    assert "not found" in conditions.error
    for key in ("workflows", "failed-pods", "gke-clusters", "applications"):
        assert diagnostics.part(key).error is None
    assert len(diagnostics.render()) == 1 + len(PARTS)
