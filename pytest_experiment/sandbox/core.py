"""The sandbox as one object: start, attach from another process, stop."""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.sandbox import assets as assets_module
from pytest_experiment.sandbox import control_plane
from pytest_experiment.sandbox.assets import Log
from pytest_experiment.sandbox.kube import api_client
from pytest_experiment.sandbox.processes import Supervisor, is_alive
from pytest_experiment.sandbox.s3 import BUCKET, REGION, s3_client
from pytest_experiment.sandbox.startup import SandboxConfig, launch, stop_processes
from pytest_experiment.sandbox.state import (
    locked,
    process_records,
    read_state,
    remove_state,
    write_state,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


CRD_ENV = "EXPERIMENT_SANDBOX_CRD"

__all__ = [
    "CRD_ENV",
    "Sandbox",
    "SandboxConfig",
    "crd_from_env",
    "default_state_dir",
    "start_sandbox",
    "stop_sandbox",
]


def default_state_dir() -> Path:
    """Where the CLI keeps its sandbox: ``$XDG_CACHE_HOME/pytest-experiment/sandbox``."""
    return assets_module.cache_root() / "sandbox"


def crd_from_env() -> Path | None:
    """The Experiment CRD file named by ``EXPERIMENT_SANDBOX_CRD``, if set."""
    value = os.environ.get(CRD_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _stderr(message: str) -> None:
    print(f"experiment-sandbox: {message}", file=sys.stderr, flush=True)


class Sandbox:
    """A running sandbox: local kube-apiserver + etcd, SeaweedFS S3, simulated operator.

    Obtain one with ``start_sandbox()`` or ``Sandbox.attach(state_dir)``.
    As a context manager it stops the sandbox on exit if this object started it.
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        state: Mapping[str, Any],
        supervisor: Supervisor,
        grace_period: float = 3.0,
        started: SandboxConfig | None = None,
    ) -> None:
        """``started``: the config this process started the sandbox with, which makes it
        the owner; None for a sandbox another process started."""
        self.state_dir = state_dir
        self.kubeconfig = Path(state["kubeconfig"])
        self.s3_endpoint: str = state["s3Endpoint"]
        self.access_key: str = state["accessKey"]
        self.secret_key: str = state["secretKey"]
        self.bucket: str = state.get("bucket", BUCKET)
        self.time_scale = float(state["timeScale"])
        self.ports: dict[str, int] = {k: int(v) for k, v in state["ports"].items()}
        self.owned = started is not None
        self._state = dict(state)
        self._supervisor = supervisor
        # A temporary directory made for this sandbox goes with it.
        self._owns_state_dir = started is not None and started.state_dir is None
        self._grace_period = started.grace_period if started is not None else grace_period
        self._stopped = False
        if started is not None and started.stop_with_process:
            atexit.register(self.stop)

    @classmethod
    def _adopt(cls, state_dir: Path, state: Mapping[str, Any], *, grace_period: float) -> Sandbox:
        """A sandbox another process started, known from its state file."""
        supervisor = Supervisor(process_records(state))
        return cls(
            state_dir=state_dir, state=state, supervisor=supervisor, grace_period=grace_period
        )

    @classmethod
    def attach(cls, state_dir: Path, *, grace_period: float = 3.0) -> Sandbox | None:
        """The sandbox recorded in ``state_dir`` if all its processes still run."""
        state = read_state(state_dir)
        if state is None:
            return None
        sandbox = cls._adopt(state_dir, state, grace_period=grace_period)
        return sandbox if sandbox.running() else None

    # -- access ---------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def operator_log(self) -> Path:
        return self.state_dir / "logs" / "operator.log"

    @property
    def pids(self) -> dict[str, int]:
        return {r.name: r.pid for r in self._supervisor.records}

    def api_client(self) -> client.ApiClient:
        """A new ApiClient for this sandbox (the process-global config is untouched)."""
        return api_client(self.kubeconfig)

    def s3_client(self) -> S3Client:
        return s3_client(
            endpoint=self.s3_endpoint, access_key=self.access_key, secret_key=self.secret_key
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point kubectl, boto3 and the plugin at this sandbox."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "EXPERIMENT_S3_ENDPOINT": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    def export_lines(self) -> str:
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env().items())

    def running(self) -> bool:
        records = self._supervisor.records
        return bool(records) and all(is_alive(r) for r in records)

    # -- faults ---------------------------------------------------------------
    # What a bad day does to a hub, on demand, so tests can prove the harness survives it.

    def restart_apiserver(self, *, timeout: float = 60.0) -> int:
        """SIGKILL kube-apiserver and start it again (same port, certificates, token and
        etcd); returns once it is ready, with its new pid."""
        # The binary it was started from: the cache may not be findable from here
        # (a test that moved HOME, another user).
        recorded = self._state.get("apiserverBinary")
        binary = (
            Path(recorded)
            if recorded
            else assets_module.resolve_assets(install=False, log=lambda _: None).kube_apiserver
        )
        apiserver = control_plane.Apiserver(
            binary=binary,
            etcd_port=self.ports["etcd"],
            state_dir=self.state_dir,
            watch_cache=bool(self._state.get("watchCache", True)),
        )
        control_plane.restart_apiserver(
            self._supervisor, apiserver, port=self.ports["apiserver"], timeout=timeout
        )
        self._record_processes()
        return self.pids[control_plane.APISERVER]

    def kill(self, name: str) -> None:
        """SIGKILL one component (``operator``, ``seaweedfs``…) and wait until it is gone."""
        self._supervisor.kill(name)
        self._record_processes()

    def pause(self, *names: str) -> None:
        """SIGSTOP components: they keep their sockets and answer nothing."""
        for name in names:
            self._supervisor.signal(name, signal.SIGSTOP)

    def resume(self, *names: str) -> None:
        for name in names:
            self._supervisor.signal(name, signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self, *names: str) -> Iterator[None]:
        """Components frozen for the block, thawed however it ends."""
        self.pause(*names)
        try:
            yield
        finally:
            self.resume(*names)

    def _record_processes(self) -> None:
        self._state["processes"] = [r.to_json() for r in self._supervisor.records]
        write_state(self.state_dir, self._state)

    # -- lifecycle --------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process (SIGTERM, grace period, SIGKILL) and remove the state."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        errors = stop_processes(self._supervisor, grace=self._grace_period)
        remove_state(self.state_dir, whole=self._owns_state_dir, state=self._state)
        if errors:
            raise SandboxError("; ".join(errors))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.stop()


def stop_sandbox(state_dir: Path, *, grace_period: float = 3.0) -> bool:
    """Stop the sandbox recorded in ``state_dir``; returns whether one was running.

    Processes of a half-dead sandbox are stopped too, so nothing is left behind.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with locked(state_dir):
        state = read_state(state_dir)
        if state is None:
            return False
        was_running = any(is_alive(r) for r in process_records(state))
        Sandbox._adopt(state_dir, state, grace_period=grace_period).stop()
        return was_running


def start_sandbox(
    config: SandboxConfig | None = None, *, reuse: bool = False, log: Log = _stderr
) -> Sandbox:
    """Start a sandbox (or, with ``reuse``, attach to the one running in ``config.state_dir``).

    Raises ``SandboxError`` with the failing component's log tail; whatever
    was started by then is stopped again.
    """
    config = config or SandboxConfig()
    owns_dir = config.state_dir is None
    state_dir = (
        Path(tempfile.mkdtemp(prefix="experiment-sandbox-"))
        if config.state_dir is None
        else config.state_dir.expanduser().resolve()
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    with locked(state_dir):
        if reuse:
            existing = Sandbox.attach(state_dir, grace_period=config.grace_period)
            if existing is not None:
                log(f"reusing the sandbox running in {state_dir}")
                return existing
        previous = read_state(state_dir)
        if previous is not None:
            log(f"cleaning up a stopped sandbox in {state_dir}")
            stale = Supervisor(process_records(previous))
            errors = stop_processes(stale, grace=config.grace_period)
            if errors:
                raise SandboxError("; ".join(errors))
        remove_state(state_dir, whole=False, state=previous)
        supervisor = Supervisor()
        try:
            state = launch(config, state_dir=state_dir, supervisor=supervisor, log=log)
            write_state(state_dir, state)
            sandbox = Sandbox(
                state_dir=state_dir, state=state, supervisor=supervisor, started=config
            )
        except BaseException:
            stop_processes(supervisor, grace=config.grace_period)
            if owns_dir:
                shutil.rmtree(state_dir, ignore_errors=True)
            raise
        log(f"sandbox ready: {sandbox.server}, S3 {sandbox.s3_endpoint}, state in {state_dir}")
        return sandbox
