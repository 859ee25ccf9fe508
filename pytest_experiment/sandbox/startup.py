"""Starting a sandbox's processes in order, and stopping them in the reverse one.

SeaweedFS is spawned first and waited for last (it is the slowest), etcd and
kube-apiserver in between, then the installed objects, the simulated operator
and its watchdog. What comes back is the state another process needs to find
them again.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
from pytest_experiment.sandbox import assets as assets_module
from pytest_experiment.sandbox import control_plane, install
from pytest_experiment.sandbox.assets import Log
from pytest_experiment.sandbox.kube import api_client, wait_until
from pytest_experiment.sandbox.operator import DEFAULT_TIME_SCALE
from pytest_experiment.sandbox.processes import Supervisor, log_tail
from pytest_experiment.sandbox.s3 import BUCKET, WEED, S3Launch
from pytest_experiment.sandbox.state import STATE_VERSION

OPERATOR = "operator"
# Marks the operator Deployment unready when the operator process ends, however it ends.
WATCHDOG = "operator-watchdog"
# Stop order: nothing may write to the API once it is going away, and the API
# server hangs on shutdown without etcd. The watchdog outlives the operator
# so that a stopped operator is also seen as unready.
STOP_STAGES = (
    (OPERATOR,),
    (WATCHDOG,),
    (control_plane.APISERVER, WEED),
    (control_plane.ETCD,),
)


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How to start a sandbox.

    ``state_dir`` None means a fresh temporary directory that ``stop()``
    removes. ``stop_with_process`` ties the sandbox to the starting process:
    stopped at interpreter exit, and killed by the kernel if the process
    dies without exiting cleanly (tests); the CLI turns it off so the sandbox
    outlives ``experiment-sandbox up``.
    """

    state_dir: Path | None = None
    time_scale: float = DEFAULT_TIME_SCALE
    grace_period: float = 3.0
    start_timeout: float = 60.0
    install_assets: bool = True
    stop_with_process: bool = True
    # The Experiment CRD to install (e.g. the lab's real one); None: the bundled CRD.
    crd: Path | None = None
    # False: kube-apiserver serves watches straight from etcd (fault tests of compaction).
    watch_cache: bool = True


def stop_processes(supervisor: Supervisor, *, grace: float) -> list[str]:
    """Stop every stage, even after one fails; returns what went wrong."""
    errors: list[str] = []
    for stage in STOP_STAGES:
        try:
            supervisor.stop(stage, grace=grace)
        except SandboxError as exc:
            errors.append(str(exc))
    return errors


def _operator_argv(kubeconfig: Path, *flags: str) -> list[str]:
    module = "pytest_experiment.sandbox.operator"
    return [sys.executable, "-m", module, "--kubeconfig", str(kubeconfig), *flags]


def launch(
    config: SandboxConfig, *, state_dir: Path, supervisor: Supervisor, log: Log
) -> dict[str, Any]:
    """Start everything into ``supervisor``; returns the sandbox's state (not yet written)."""
    binaries = assets_module.resolve_assets(install=config.install_assets, log=log)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    die = config.stop_with_process
    s3 = S3Launch(supervisor, binary=binaries.weed, state_dir=state_dir, die_with_parent=die)
    s3.spawn()
    log("starting etcd")
    etcd_port, etcd_peer = control_plane.start_etcd(
        supervisor,
        binary=binaries.etcd,
        state_dir=state_dir,
        timeout=config.start_timeout,
        die_with_parent=die,
    )
    log("starting kube-apiserver")
    apiserver = control_plane.Apiserver(
        binary=binaries.kube_apiserver,
        etcd_port=etcd_port,
        state_dir=state_dir,
        watch_cache=config.watch_cache,
    )
    apiserver_port = control_plane.start_apiserver(
        supervisor, apiserver, timeout=config.start_timeout, die_with_parent=die
    )
    kubeconfig = state_dir / "kubeconfig"
    control_plane.write_kubeconfig(kubeconfig, apiserver, port=apiserver_port)
    api = api_client(kubeconfig)
    log("installing CRDs, namespaces and the operator Deployment")
    install.install(api, log=log, timeout=config.start_timeout, crd=config.crd)
    log("waiting for SeaweedFS S3")
    store = s3.wait(timeout=config.start_timeout)
    log("starting the simulated operator")
    operator_log = state_dir / "logs" / "operator.log"
    operator_env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": store.access_key,
        "AWS_SECRET_ACCESS_KEY": store.secret_key,
        "PYTHONUNBUFFERED": "1",
    }
    operator = supervisor.spawn(
        OPERATOR,
        _operator_argv(
            kubeconfig, "--s3-endpoint", store.endpoint, "--time-scale", repr(config.time_scale)
        ),
        log=operator_log,
        env=operator_env,
        die_with_parent=die,
    )
    _wait_operator_ready(
        api, supervisor=supervisor, log_path=operator_log, timeout=config.start_timeout
    )
    supervisor.spawn(
        WATCHDOG,
        _operator_argv(kubeconfig, "--watch-pid", str(operator.pid)),
        log=state_dir / "logs" / "operator-watchdog.log",
        env=operator_env,
        die_with_parent=die,
    )
    return {
        "version": STATE_VERSION,
        "startedAt": datetime.now(UTC).isoformat(),
        "timeScale": config.time_scale,
        "crd": str(config.crd) if config.crd else None,
        "watchCache": config.watch_cache,
        "apiserverBinary": str(binaries.kube_apiserver),
        "kubeconfig": str(kubeconfig),
        "s3Endpoint": store.endpoint,
        "accessKey": store.access_key,
        "secretKey": store.secret_key,
        "bucket": BUCKET,
        "socketDir": str(store.socket_dir),
        "seaweedfsPorts": list(store.all_ports),
        "ports": {
            "etcd": etcd_port,
            "etcdPeer": etcd_peer,
            "apiserver": apiserver_port,
            "s3": store.port,
        },
        "processes": [r.to_json() for r in supervisor.records],
    }


def _wait_operator_ready(
    api: client.ApiClient, *, supervisor: Supervisor, log_path: Path, timeout: float
) -> None:
    deployments = client.AppsV1Api(api)

    def ready(objects: dict[str, Any]) -> bool:
        if not supervisor.alive(OPERATOR):
            raise SandboxError(f"the simulated operator exited:\n{log_tail(log_path)}")
        return any(
            ((o.get("status") or {}).get("readyReplicas") or 0) >= 1 for o in objects.values()
        )

    try:
        wait_until(
            lambda **kw: deployments.list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
            ready,
            timeout=timeout,
            what="the simulated operator to report ready",
            field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
        )
    except SandboxError as exc:
        raise SandboxError(f"{exc}\noperator log:\n{log_tail(log_path)}") from exc
