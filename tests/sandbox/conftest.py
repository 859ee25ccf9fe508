"""Session fixtures for the sandbox tests: one sandbox per session (per xdist worker).

Every test under this directory is marked ``sandbox``; deselect them with
``-m 'not sandbox'`` on machines without the binaries.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fakes import FakeTools, install_fake_tools
from kubernetes import client

from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.scenarios import ScenarioChoice, clear_scenario, set_scenario

from .lifecycle import SetScenario, ensure_template, start_test_sandbox

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sandbox: needs the local sandbox (etcd, kube-apiserver, SeaweedFS binaries)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.sandbox)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A sandbox for the whole session, stopped (and its temp directory removed) at the end."""
    with start_test_sandbox() as running:
        yield running


@pytest.fixture(scope="session")
def k8s(sandbox: Sandbox) -> Iterator[client.ApiClient]:
    api = sandbox.api_client()
    yield api
    api.close()


@pytest.fixture(scope="session")
def s3(sandbox: Sandbox) -> S3Client:
    return sandbox.s3_client()


@pytest.fixture(scope="session")
def workflow_template(k8s: client.ApiClient) -> str:
    return ensure_template(k8s)


@pytest.fixture
def prefix() -> str:
    """A generateName nobody else uses, so a scenario applies to this test only."""
    return f"t{secrets.token_hex(3)}-"


@pytest.fixture
def scenario(k8s: client.ApiClient) -> Iterator[SetScenario]:
    """``scenario(generate_name, "fail-ready", message="…")``; cleared after the test."""
    keys: list[str] = []

    def choose(generate_name: str, name: str, **options: Any) -> ScenarioChoice:
        keys.append(generate_name)
        return set_scenario(k8s, generate_name, name, options=options)

    yield choose
    for key in keys:
        clear_scenario(k8s, key)


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    """Fake ``gh`` and ``bd`` first on PATH; their argv logs in the returned paths."""
    tools = install_fake_tools(tmp_path / "fake-bin", log_dir=tmp_path)
    monkeypatch.setenv("PATH", f"{tools.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    for name, value in tools.env().items():
        monkeypatch.setenv(name, value)
    return tools


@pytest.fixture
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    connected = connect(kubeconfig=sandbox.kubeconfig)
    yield connected
    connected.close()


@pytest.fixture
def s3_credentials(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's S3 keys in boto3's own chain, as a user's shell would have them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sandbox.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sandbox.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def no_bd(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH without any ``bd``, so toil goes to the JSON-lines file."""
    path = os.environ.get("PATH", "")
    kept = [d for d in path.split(os.pathsep) if d and not (Path(d) / "bd").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))
    assert shutil.which("bd") is None
