"""The CI recipes (``docs/ci/``) against the sandbox's kube-apiserver: the Job and what it
needs are accepted by a server-side dry run, as ``kubectl create --dry-run=server`` sends
it, and the workflow's kubeconfig step, run by bash, lets the harness in as the runner."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, utils
from kubernetes.config import new_client_from_config
from recipes import (
    JOB,
    JOB_SETUP,
    RBAC,
    RUNNER_TOKEN,
    documents,
    load_workflow,
    secret_from_setup_comment,
    step,
)

from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.sandbox import Sandbox

from .rbac import install_runner


def ensure_namespace(k8s: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(k8s).create_namespace(client.V1Namespace(metadata={"name": name}))
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def dry_run_create(k8s: client.ApiClient, doc: dict[str, Any]) -> list[Any]:
    """What the server answers to creating ``doc`` with ``dryRun=All``: the object as it
    would be stored (admission and validation ran, nothing was written)."""
    created: list[Any] = utils.create_from_dict(k8s, doc, dry_run="All")
    return created


def test_the_job_and_what_it_needs_pass_a_server_side_dry_run(k8s: client.ApiClient) -> None:
    # The role (its Namespace created for real: a dry run of objects in a namespace
    # needs the namespace).
    rbac = documents(RBAC)
    [namespace] = [d["metadata"]["name"] for d in rbac if d["kind"] == "Namespace"]
    ensure_namespace(k8s, namespace)
    for doc in rbac:
        if doc["kind"] != "Namespace":
            dry_run_create(k8s, doc)
    [claim] = dry_run_create(k8s, documents(JOB_SETUP)[0])
    assert claim.metadata.name == "experiment-reports"
    # The Secret, as `kubectl create secret generic … --from-literal=…` makes it.
    documented = secret_from_setup_comment()
    keys: list[str] = documented["keys"]
    [secret] = dry_run_create(
        k8s,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": documented["name"], "namespace": documented["namespace"]},
            "type": "Opaque",
            "data": {key: base64.b64encode(b"x").decode() for key in keys},
        },
    )
    assert sorted(secret.data) == sorted(keys)
    [token] = dry_run_create(k8s, documents(RUNNER_TOKEN)[0])
    assert token.type == "kubernetes.io/service-account-token"
    # The Job: generateName, so only create takes it; the server names it.
    [job_doc] = documents(JOB)
    [job] = dry_run_create(k8s, job_doc)
    assert job.metadata.name.startswith("experiments-")
    assert job.metadata.namespace == namespace
    container = job.spec.template.spec.containers[0]
    assert [m.mount_path for m in container.volume_mounts] == ["/git", "/reports"]
    # Nothing was written.
    jobs = client.BatchV1Api(k8s).list_namespaced_job(namespace).items
    assert [j.metadata.name for j in jobs if j.metadata.name == job.metadata.name] == []


def test_a_job_with_a_volume_it_does_not_declare_is_refused(k8s: client.ApiClient) -> None:
    # The dry run does validate: the recipe as it was wrote to /reports with no volume,
    # and a mount of an undeclared volume is refused outright.
    [job_doc] = documents(JOB)
    ensure_namespace(k8s, job_doc["metadata"]["namespace"])
    job_doc["spec"]["template"]["spec"]["volumes"] = [
        v for v in job_doc["spec"]["template"]["spec"]["volumes"] if v["name"] != "reports"
    ]
    with pytest.raises(utils.FailToCreateError) as failed:
        dry_run_create(k8s, job_doc)
    [refusal] = failed.value.api_exceptions
    assert refusal.status == 422
    causes = json.loads(refusal.body)["details"]["causes"]
    assert {
        "reason": "FieldValueNotFound",
        "message": 'Not found: "reports"',
        "field": "spec.template.spec.containers[0].volumeMounts[1].name",
    } in causes


def test_the_workflow_kubeconfig_step_lets_the_harness_in_as_the_runner(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    runner = install_runner(k8s, sandbox, tmp_path / "runner")
    server = yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    script = step(load_workflow(), "Write the kubeconfig")["run"]
    github_env = tmp_path / "github-env"
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        env={
            "PATH": "/usr/bin:/bin",
            "RUNNER_TEMP": str(temp),
            "GITHUB_ENV": str(github_env),
            "HUB_SERVER": server,
            "HUB_CA": base64.b64encode(runner.ca_file.read_bytes()).decode(),
            "HUB_TOKEN": runner.token,
        },
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    [line] = github_env.read_text().splitlines()
    name, _, value = line.partition("=")
    assert name == "KUBECONFIG"
    kubeconfig = Path(value)
    assert kubeconfig.stat().st_mode & 0o077 == 0, "the token file is the runner's alone"
    # The harness's own loader, then a request that needs the runner's role.
    cluster = connect(kubeconfig=kubeconfig)
    try:
        cluster.list_experiments(namespace="experiments")
    finally:
        cluster.close()
    # As whom: the runner, not an admin (a request outside its role names it).
    api = new_client_from_config(config_file=str(kubeconfig))
    try:
        with pytest.raises(client.ApiException) as refused:
            client.CoreV1Api(api).list_namespace()
    finally:
        api.close()
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert f'User "{runner.user}" cannot list resource "namespaces"' in message
