"""The sandbox as one object: start, attach from another process, stop."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
from pytest_experiment.sandbox import assets as assets_module
from pytest_experiment.sandbox import control_plane, install
from pytest_experiment.sandbox.kube import api_client, wait_until
from pytest_experiment.sandbox.operator import DEFAULT_TIME_SCALE
from pytest_experiment.sandbox.processes import ProcessRecord, Supervisor, is_alive, log_tail
from pytest_experiment.sandbox.s3 import BUCKET, REGION, S3Launch, remove_sockets, s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Log = Callable[[str], None]

STATE_FILE = "state.json"
OPERATOR = "operator"
# Marks the operator Deployment unready when the operator process ends, however it ends.
WATCHDOG = "operator-watchdog"
STATE_VERSION = 1
# Stop order: nothing may write to the API once it is going away, and the API
# server hangs on shutdown without etcd. The watchdog outlives the operator
# so that a stopped operator is also seen as unready.
_STOP_STAGES = (
    (OPERATOR,),
    (WATCHDOG,),
    (control_plane.APISERVER, "seaweedfs"),
    (control_plane.ETCD,),
)


def default_state_dir() -> Path:
    """Where the CLI keeps its sandbox: ``$XDG_CACHE_HOME/pytest-experiment/sandbox``."""
    return assets_module.cache_root() / "sandbox"


CRD_ENV = "EXPERIMENT_SANDBOX_CRD"


def crd_from_env() -> Path | None:
    """The Experiment CRD file named by ``EXPERIMENT_SANDBOX_CRD``, if set."""
    value = os.environ.get(CRD_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _stderr(message: str) -> None:
    print(f"experiment-sandbox: {message}", file=sys.stderr, flush=True)


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
        owned: bool,
        owns_state_dir: bool,
        stop_at_exit: bool = False,
        grace_period: float,
    ) -> None:
        self.state_dir = state_dir
        self.kubeconfig = Path(state["kubeconfig"])
        self.s3_endpoint: str = state["s3Endpoint"]
        self.access_key: str = state["accessKey"]
        self.secret_key: str = state["secretKey"]
        self.bucket: str = state.get("bucket", BUCKET)
        self.time_scale = float(state["timeScale"])
        self.ports: dict[str, int] = {k: int(v) for k, v in state["ports"].items()}
        self.owned = owned
        self._state = dict(state)
        self._supervisor = supervisor
        self._owns_state_dir = owns_state_dir
        self._grace_period = grace_period
        self._stopped = False
        if owned and stop_at_exit:
            atexit.register(self.stop)

    @classmethod
    def attach(cls, state_dir: Path, *, grace_period: float = 3.0) -> Sandbox | None:
        """The sandbox recorded in ``state_dir`` if all its processes still run."""
        state = read_state(state_dir)
        if state is None:
            return None
        records = [ProcessRecord.from_json(p) for p in state.get("processes", [])]
        if not records or not all(is_alive(r) for r in records):
            return None
        return cls(
            state_dir=state_dir,
            state=state,
            supervisor=Supervisor(records),
            owned=False,
            owns_state_dir=False,
            grace_period=grace_period,
        )

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
        token = (self.state_dir / "tokens.csv").read_text().split(",", 1)[0]
        # The binary it was started from: the cache may not be findable from here
        # (a test that moved HOME, another user).
        recorded = self._state.get("apiserverBinary")
        binary = (
            Path(recorded)
            if recorded
            else assets_module.resolve_assets(install=False, log=lambda _: None).kube_apiserver
        )
        control_plane.restart_apiserver(
            self._supervisor,
            binary=binary,
            etcd_port=self.ports["etcd"],
            port=self.ports["apiserver"],
            state_dir=self.state_dir,
            token=token,
            timeout=timeout,
            watch_cache=bool(self._state.get("watchCache", True)),
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
        _write_state(self.state_dir, self._state)

    # -- lifecycle --------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process (SIGTERM, grace period, SIGKILL) and remove the state."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        errors: list[str] = []
        for stage in _STOP_STAGES:
            try:
                self._supervisor.stop(stage, grace=self._grace_period)
            except SandboxError as exc:
                errors.append(str(exc))
        _remove_state(self.state_dir, whole=self._owns_state_dir, state=self._state)
        if errors:
            raise SandboxError("; ".join(errors))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.owned:
            self.stop()


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return None
    return state


def _write_state(state_dir: Path, state: Mapping[str, Any]) -> None:
    path = state_dir / STATE_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state, indent=2))
    partial.chmod(0o600)
    partial.replace(path)


def _remove_state(state_dir: Path, *, whole: bool, state: Mapping[str, Any] | None) -> None:
    socket_dir = (state or {}).get("socketDir")
    if socket_dir and not Path(socket_dir).is_relative_to(state_dir):
        shutil.rmtree(socket_dir, ignore_errors=True)
    remove_sockets((state or {}).get("seaweedfsPorts", []))
    if whole:
        shutil.rmtree(state_dir, ignore_errors=True)
        return
    # A kept directory (the CLI's) keeps its logs for a post-mortem.
    for entry in state_dir.iterdir() if state_dir.is_dir() else []:
        if entry.name in ("logs", ".lock"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    # Two `up` in the same directory must not both start a sandbox.
    with (state_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stop_sandbox(state_dir: Path, *, grace_period: float = 3.0) -> bool:
    """Stop the sandbox recorded in ``state_dir``; returns whether one was running.

    Processes of a half-dead sandbox are stopped too, so nothing is left behind.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir):
        state = read_state(state_dir)
        if state is None:
            return False
        records = [ProcessRecord.from_json(p) for p in state.get("processes", [])]
        was_running = any(is_alive(r) for r in records)
        sandbox = Sandbox(
            state_dir=state_dir,
            state=state,
            supervisor=Supervisor(records),
            owned=False,
            owns_state_dir=False,
            grace_period=grace_period,
        )
        sandbox.stop()
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
    with _locked(state_dir):
        if reuse:
            existing = Sandbox.attach(state_dir, grace_period=config.grace_period)
            if existing is not None:
                log(f"reusing the sandbox running in {state_dir}")
                return existing
        previous = read_state(state_dir)
        if previous is not None:
            log(f"cleaning up a stopped sandbox in {state_dir}")
            stale = Supervisor(ProcessRecord.from_json(p) for p in previous.get("processes", []))
            for stage in _STOP_STAGES:
                stale.stop(stage, grace=config.grace_period)
        _remove_state(state_dir, whole=False, state=previous)
        supervisor = Supervisor()
        try:
            return _start(
                config, state_dir=state_dir, owns_dir=owns_dir, supervisor=supervisor, log=log
            )
        except BaseException:
            for stage in _STOP_STAGES:
                with contextlib.suppress(SandboxError):
                    supervisor.stop(stage, grace=config.grace_period)
            if owns_dir:
                shutil.rmtree(state_dir, ignore_errors=True)
            raise


def _start(
    config: SandboxConfig, *, state_dir: Path, owns_dir: bool, supervisor: Supervisor, log: Log
) -> Sandbox:
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
    plane = control_plane.start_apiserver(
        supervisor,
        binary=binaries.kube_apiserver,
        etcd_port=etcd_port,
        etcd_peer_port=etcd_peer,
        state_dir=state_dir,
        timeout=config.start_timeout,
        die_with_parent=die,
        watch_cache=config.watch_cache,
    )
    kubeconfig = state_dir / "kubeconfig"
    control_plane.write_kubeconfig(kubeconfig, plane)
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
        [
            sys.executable,
            "-m",
            "pytest_experiment.sandbox.operator",
            "--kubeconfig",
            str(kubeconfig),
            "--s3-endpoint",
            store.endpoint,
            "--time-scale",
            repr(config.time_scale),
        ],
        log=operator_log,
        env=operator_env,
        die_with_parent=die,
    )
    _wait_operator_ready(
        api, supervisor=supervisor, log_path=operator_log, timeout=config.start_timeout
    )
    supervisor.spawn(
        WATCHDOG,
        [
            sys.executable,
            "-m",
            "pytest_experiment.sandbox.operator",
            "--kubeconfig",
            str(kubeconfig),
            "--watch-pid",
            str(operator.pid),
        ],
        log=state_dir / "logs" / "operator-watchdog.log",
        env=operator_env,
        die_with_parent=die,
    )
    state = {
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
            "etcd": plane.etcd_port,
            "etcdPeer": plane.etcd_peer_port,
            "apiserver": plane.apiserver_port,
            "s3": store.port,
        },
        "processes": [r.to_json() for r in supervisor.records],
    }
    _write_state(state_dir, state)
    log(f"sandbox ready: {plane.server}, S3 {store.endpoint}, state in {state_dir}")
    return Sandbox(
        state_dir=state_dir,
        state=state,
        supervisor=supervisor,
        owned=True,
        owns_state_dir=owns_dir,
        stop_at_exit=config.stop_with_process,
        grace_period=config.grace_period,
    )


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
