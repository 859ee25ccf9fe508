"""``Cluster`` against the real sandbox API server: domain errors, pre-flight reads, no secrets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pytest_experiment.base.errors import ClusterError, NotFound
from pytest_experiment.base.resources import Labelled
from pytest_experiment.core.schema import schema_from_crd
from pytest_experiment.edges.api_requests import RetryPolicy
from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.sandbox import Sandbox

from .lifecycle import NAMESPACE, experiment_doc


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    connected = connect(kubeconfig=sandbox.kubeconfig)
    yield connected
    connected.close()


def test_connect_names_context_and_server_and_never_the_token(
    sandbox: Sandbox, cluster: Cluster
) -> None:
    document = yaml.safe_load(sandbox.kubeconfig.read_text())
    assert cluster.endpoint.server == sandbox.server
    assert cluster.endpoint.context == document["current-context"]
    token = next(u["user"].get("token") for u in document["users"] if u["user"].get("token"))
    assert token not in cluster.describe()
    assert token not in repr(cluster)


def test_connect_honours_kubeconfig_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    connected = connect()
    try:
        assert connected.endpoint.server == sandbox.server
        assert connected.operator_ready_replicas() >= 0
    finally:
        connected.close()


def test_unknown_context_is_a_cluster_error_naming_it(sandbox: Sandbox) -> None:
    with pytest.raises(ClusterError, match="no-such-context"):
        connect(kubeconfig=sandbox.kubeconfig, context="no-such-context")


def test_unreachable_server_names_server_and_context(sandbox: Sandbox, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    document = yaml.safe_load(sandbox.kubeconfig.read_text())
    for entry in document["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(document))
    connected = connect(kubeconfig=kubeconfig, retry=RetryPolicy(attempts=2, first_delay=0.01))
    with pytest.raises(ClusterError) as caught:
        connected.operator_ready_replicas()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert document["current-context"] in message
    assert "Connection refused" in message
    assert "get Deployment experiment-operator-system/" in message
    assert isinstance(caught.value.__cause__, Exception)
    assert connected.requests["get"] == 2  # bounded: one retry, then the error


def test_missing_experiment_is_not_found(cluster: Cluster) -> None:
    with pytest.raises(
        NotFound, match=r"get Experiment experiments/nope-x1: .*not found"
    ) as caught:
        cluster.get_experiment("nope-x1", namespace=NAMESPACE)
    assert caught.value.status == 404
    assert cluster.delete_experiment("nope-x1", namespace=NAMESPACE) is False


def test_invalid_experiment_fails_at_once_with_the_api_message(cluster: Cluster) -> None:
    doc = experiment_doc("bad-")
    doc["spec"]["targets"] = "not a list"
    before = cluster.requests.get("create", 0)
    with pytest.raises(ClusterError) as caught:
        cluster.create_experiment(doc, namespace=NAMESPACE)
    assert caught.value.status == 422
    assert "spec.targets" in str(caught.value)
    assert str(caught.value).startswith("create Experiment bad-* in experiments: ")
    assert cluster.requests["create"] == before + 1  # a permanent 4xx is not retried


def test_create_get_annotate_delete(cluster: Cluster, workflow_template: str, prefix: str) -> None:
    instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
    assert instance.startswith(prefix)
    assert cluster.get_experiment(instance, namespace=NAMESPACE)["metadata"]["name"] == instance
    updated = cluster.annotate_experiment(
        instance, namespace=NAMESPACE, annotations={"example.com/note": "kept"}
    )
    assert updated["metadata"]["annotations"]["example.com/note"] == "kept"
    assert cluster.delete_experiment(instance, namespace=NAMESPACE) is True


def test_live_crd_feeds_the_schema(cluster: Cluster) -> None:
    crd = cluster.experiment_crd()
    assert crd is not None
    schema = schema_from_crd(crd)
    assert "spec" in schema["properties"]


def test_workflow_templates_exist_and_apply(cluster: Cluster, workflow_template: str) -> None:
    assert cluster.workflow_template_exists(workflow_template)
    name = "cluster-test-applied"
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": [{"name": "main"}]},
    }
    cluster.apply_workflow_template(doc)
    applied = cluster.apply_workflow_template(doc)  # applying again is not a conflict
    assert applied["metadata"]["name"] == name
    assert cluster.workflow_template_exists(name)
    assert not cluster.workflow_template_exists("no-such-template")


def test_operator_readiness_and_labelled_lists(cluster: Cluster) -> None:
    assert cluster.operator_ready_replicas() >= 1
    for kind in Labelled:
        assert cluster.list_labelled(kind, instance="nobody-has-this") == []


def test_closing_a_watch_its_reader_already_ended_is_quiet(cluster: Cluster) -> None:
    # Session end closes every watch from the main thread while its reader may just have
    # closed the socket itself: that must not turn an interrupt into an INTERNALERROR.
    _, version = cluster.list_experiments(namespace=NAMESPACE)
    stream = cluster.watch_experiments(
        namespace=NAMESPACE, resource_version=version, timeout_seconds=1
    )
    assert all(event["type"] for event in stream)  # ends when the server's timeout does
    stream.close()
    stream.close()
