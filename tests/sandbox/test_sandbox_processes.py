"""Process handling: grace period, process groups, port retries, CLI up/down/status, Python API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.sandbox import Sandbox, SandboxConfig, install, start_sandbox
from pytest_experiment.sandbox.kube import wait_until
from pytest_experiment.sandbox.processes import (
    PortInUse,
    ProcessRecord,
    Supervisor,
    free_ports,
    is_alive,
    wait_ready,
    with_fresh_ports,
)
from pytest_experiment.sandbox.state import read_state

IGNORES_SIGTERM = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if len(sys.argv) > 1:
    child = os.fork()
    if child == 0:
        print("grandchild", os.getpid(), flush=True)
        while True:
            time.sleep(60)
    if sys.argv[1] == "leader-obeys":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
print("ready", flush=True)
while True:
    time.sleep(60)
"""


def _log_says(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text()


def _spawn_stubborn(tmp_path: Path, *, fork: str = "") -> tuple[Supervisor, Path]:
    supervisor = Supervisor()
    log = tmp_path / "stubborn.log"
    argv = [sys.executable, "-c", IGNORES_SIGTERM] + ([fork] if fork else [])
    child = supervisor.spawn("stubborn", argv, log=log)
    wait_ready(
        name="stubborn",
        child=child,
        log=log,
        probe=lambda: _log_says(log, "ready") and (not fork or _log_says(log, "grandchild")),
        timeout=20,
    )
    return supervisor, log


def test_sigterm_ignored_then_killed_after_grace(tmp_path: Path) -> None:
    supervisor, _ = _spawn_stubborn(tmp_path)
    record = supervisor.get("stubborn")
    assert record is not None

    started = time.monotonic()
    supervisor.stop(["stubborn"], grace=0.5)
    elapsed = time.monotonic() - started

    assert 0.5 <= elapsed < 5
    assert not is_alive(record)


@pytest.mark.parametrize("leader", ["ignores", "leader-obeys"])
def test_stop_reaches_the_whole_process_group(tmp_path: Path, leader: str) -> None:
    # A child that ignores SIGTERM is killed even when its leader obeyed and exited,
    # and stop() returns only once it is gone.
    supervisor, log = _spawn_stubborn(tmp_path, fork=leader)
    grandchild = int(log.read_text().split("grandchild")[1].split()[0])

    supervisor.stop(["stubborn"], grace=0.2)

    stat = Path(f"/proc/{grandchild}/stat")
    assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"


def test_record_survives_json_and_rejects_reused_pids(tmp_path: Path) -> None:
    supervisor, _ = _spawn_stubborn(tmp_path)
    record = supervisor.get("stubborn")
    assert record is not None
    copy = ProcessRecord.from_json(record.to_json())
    impostor = ProcessRecord(
        name=record.name, pid=record.pid, start_ticks=record.start_ticks + 1, log=record.log
    )

    assert is_alive(copy)
    assert not is_alive(impostor)
    Supervisor([copy]).stop(["stubborn"], grace=0.2)
    assert not is_alive(record)


def test_bind_failure_is_reported_as_port_in_use(tmp_path: Path) -> None:
    supervisor = Supervisor()
    log = tmp_path / "bind.log"
    argv = [sys.executable, "-c", "print('listen tcp 127.0.0.1:1: bind: address already in use')"]
    child = supervisor.spawn("binder", argv, log=log)

    with pytest.raises(PortInUse):
        wait_ready(name="binder", child=child, log=log, probe=lambda: False, timeout=20)


def test_crash_is_reported_with_the_log_tail(tmp_path: Path) -> None:
    supervisor = Supervisor()
    log = tmp_path / "crash.log"
    child = supervisor.spawn(
        "crasher", [sys.executable, "-c", "raise SystemExit('boom: bad flag')"], log=log
    )

    with pytest.raises(SandboxError, match="boom: bad flag"):
        wait_ready(name="crasher", child=child, log=log, probe=lambda: False, timeout=20)


def test_fresh_ports_retried_after_a_lost_race() -> None:
    attempts: list[list[int]] = []

    def start(ports: list[int]) -> int:
        attempts.append(ports)
        if len(attempts) == 1:
            raise PortInUse("taken")
        return ports[0]

    assert with_fresh_ports(3, start) == attempts[1][0]
    assert len(attempts) == 2
    assert all(len(set(ports)) == 3 for ports in attempts)


def test_fresh_ports_give_up() -> None:
    def start(ports: list[int]) -> int:
        raise PortInUse(f"taken {ports}")

    with pytest.raises(PortInUse):
        with_fresh_ports(1, start, attempts=3)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8


def _cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_experiment.sandbox.cli",
            *args,
            "--state-dir",
            str(state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _exports(stdout: str) -> dict[str, str]:
    pairs = [line.removeprefix("export ").split("=", 1) for line in stdout.splitlines()]
    return dict(pairs)


def test_cli_up_twice_reuses_and_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "cli-sandbox"
    crd = tmp_path / "experiment-crd.yaml"
    crd.write_text(yaml.safe_dump(install.experiment_crd(log=lambda _: None)))
    first = _cli(state_dir, "up", "--grace-period", "1", "--crd", str(crd))
    assert first.returncode == 0, first.stderr
    assert f"installing the Experiment CRD from {crd}" in first.stderr
    exported = _exports(first.stdout)
    assert set(exported) >= {
        "KUBECONFIG",
        "EXPERIMENT_S3_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    state = read_state(state_dir)
    assert state is not None
    assert state["crd"] == str(crd)
    records = [ProcessRecord.from_json(p) for p in state["processes"]]
    assert {r.name for r in records} == {
        "etcd",
        "kube-apiserver",
        "seaweedfs",
        "operator",
        "operator-watchdog",
    }
    try:
        second = _cli(state_dir, "up")
        assert second.returncode == 0, second.stderr
        assert "reusing" in second.stderr
        assert _exports(second.stdout) == exported
        assert read_state(state_dir) == state

        status = _cli(state_dir, "status")
        assert status.returncode == 0
        assert _exports(status.stdout) == exported
        assert all(is_alive(r) for r in records)
    finally:
        down = _cli(state_dir, "down", "--grace-period", "1")
    assert down.returncode == 0, down.stderr
    assert not any(is_alive(r) for r in records)
    assert _cli(state_dir, "status").returncode == 1
    assert read_state(state_dir) is None
    assert (state_dir / "logs" / "kube-apiserver.log").exists()
    leftovers = [
        path
        for port in state["seaweedfsPorts"]
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")
    ]
    assert leftovers == []


def test_python_api_context_manager_and_attach(tmp_path: Path) -> None:
    config = SandboxConfig(state_dir=tmp_path / "api-sandbox", grace_period=1.0)
    with start_sandbox(config) as sandbox:
        assert sandbox.owned
        pids = sandbox.pids
        attached = Sandbox.attach(tmp_path / "api-sandbox")
        assert attached is not None
        assert not attached.owned
        assert attached.pids == pids
        assert attached.kubeconfig == sandbox.kubeconfig
        assert sandbox.running()
        assert sandbox.env()["KUBECONFIG"] == str(sandbox.kubeconfig)
        assert os.stat(sandbox.kubeconfig).st_mode & 0o077 == 0
        buckets = sandbox.s3_client().list_buckets()["Buckets"]
        assert "experiment-results" in [b["Name"] for b in buckets]
        state = read_state(sandbox.state_dir)
        assert state is not None
        records = [ProcessRecord.from_json(p) for p in state["processes"]]
    assert not any(is_alive(r) for r in records)
    assert not sandbox.running()
    assert Sandbox.attach(tmp_path / "api-sandbox") is None


def _ready_replicas_become(sandbox: Sandbox, wanted: int) -> None:
    api = sandbox.api_client()
    try:
        wait_until(
            lambda **kw: client.AppsV1Api(api).list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
            lambda objects: any(
                int((o.get("status") or {}).get("readyReplicas") or 0) == wanted
                for o in objects.values()
            ),
            timeout=15,
            what=f"the operator Deployment to report {wanted} ready replicas",
            field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
        )
    finally:
        api.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_operator_deployment_follows_the_operator_process(
    tmp_path: Path, sig: signal.Signals
) -> None:
    with start_sandbox(SandboxConfig(state_dir=tmp_path / "sb", grace_period=1.0)) as sandbox:
        cluster = connect(kubeconfig=sandbox.kubeconfig)
        try:
            # What preflight[operator] reads.
            assert cluster.operator_ready_replicas() == 1

            os.kill(sandbox.pids["operator"], sig)

            _ready_replicas_become(sandbox, 0)
            assert cluster.operator_ready_replicas() == 0
        finally:
            cluster.close()


def test_a_crd_file_without_the_experiment_crd_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")

    with pytest.raises(SandboxError, match=r"experiments\.experiments\.illm\.io"):
        install.read_crd(other)
    with pytest.raises(SandboxError, match="cannot read"):
        install.read_crd(tmp_path / "missing.yaml")
