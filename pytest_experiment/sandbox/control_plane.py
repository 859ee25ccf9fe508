"""etcd + kube-apiserver on loopback, and the kubeconfig that reaches them."""

from __future__ import annotations

import base64
import re
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.sandbox.processes import Supervisor, with_fresh_ports

ETCD = "etcd"
APISERVER = "kube-apiserver"
ADMIN_USER = "sandbox-admin"
CONTEXT = "experiment-sandbox"


def _http_ok(url: str, *, token: str | None = None) -> bool:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    # Readiness only: the serving certificate does not exist until the server
    # has started, and this talks to a process we just launched on loopback.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_etcd(
    supervisor: Supervisor,
    *,
    binary: Path,
    state_dir: Path,
    timeout: float,
    die_with_parent: bool,
) -> tuple[int, int]:
    """Start etcd; returns (client port, peer port)."""
    log = state_dir / "logs" / "etcd.log"

    def start(ports: list[int]) -> tuple[int, int]:
        client_url = f"http://127.0.0.1:{ports[0]}"
        peer_url = f"http://127.0.0.1:{ports[1]}"
        argv = [
            str(binary),
            "--name=sandbox",
            f"--data-dir={state_dir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=sandbox={peer_url}",
            "--log-level=warn",
        ]
        supervisor.start(
            ETCD,
            argv,
            log=log,
            probe=lambda: _http_ok(f"{client_url}/health"),
            timeout=timeout,
            die_with_parent=die_with_parent,
        )
        return ports[0], ports[1]

    return with_fresh_ports(2, start)


def _service_account_keys(state_dir: Path) -> tuple[Path, Path]:
    private, public = state_dir / "sa.key", state_dir / "sa.pub"
    try:
        subprocess.run(
            ["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SandboxError(f"cannot generate service-account keys with openssl: {exc}") from exc
    return private, public


def _apiserver_version(binary: Path) -> tuple[int, int]:
    """(major, minor) of a kube-apiserver binary, e.g. (1, 20) for Debian's build."""
    try:
        output = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"cannot run {binary} --version: {exc}") from exc
    match = re.search(r"v(\d+)\.(\d+)", output)
    if match is None:
        raise SandboxError(f"unrecognised kube-apiserver version: {output.strip()!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True, kw_only=True)
class Apiserver:
    """kube-apiserver as started from a state directory (token file, keys, certificates):
    the same on a first start and on a restart after a crash."""

    binary: Path
    etcd_port: int
    state_dir: Path
    # False: watches are served from etcd, so etcd's compaction ends a client's history.
    watch_cache: bool = True

    @property
    def tokens(self) -> Path:
        return self.state_dir / "tokens.csv"

    @property
    def certificates(self) -> Path:
        return self.state_dir / "certs"

    def token(self) -> str:
        """The admin's bearer token, the first field of the token file."""
        return self.tokens.read_text().split(",", 1)[0]

    def spawn(
        self, supervisor: Supervisor, *, port: int, timeout: float, die_with_parent: bool
    ) -> None:
        # The insecure port is gone (and its flag rejected) from 1.24; envtest
        # assets in KUBEBUILDER_ASSETS are usually newer than Debian's 1.20.
        legacy_flags = ["--insecure-port=0"] if _apiserver_version(self.binary) < (1, 24) else []
        state_dir = self.state_dir
        argv = [
            str(self.binary),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            *legacy_flags,
            f"--cert-dir={self.certificates}",
            f"--token-auth-file={self.tokens}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={state_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={state_dir / 'sa.key'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--profiling=false",
            *([] if self.watch_cache else ["--watch-cache=false"]),
        ]
        token = self.token()
        supervisor.start(
            APISERVER,
            argv,
            log=state_dir / "logs" / "kube-apiserver.log",
            probe=lambda: _http_ok(f"https://127.0.0.1:{port}/readyz", token=token),
            timeout=timeout,
            die_with_parent=die_with_parent,
        )


def start_apiserver(
    supervisor: Supervisor, apiserver: Apiserver, *, timeout: float, die_with_parent: bool
) -> int:
    """Write the admin's token and the service-account keys, then start kube-apiserver
    on a free port; returns the port."""
    token = secrets.token_urlsafe(32)
    apiserver.tokens.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    apiserver.tokens.chmod(0o600)
    _service_account_keys(apiserver.state_dir)

    def start(ports: list[int]) -> int:
        apiserver.spawn(supervisor, port=ports[0], timeout=timeout, die_with_parent=die_with_parent)
        return ports[0]

    return with_fresh_ports(1, start)


def restart_apiserver(
    supervisor: Supervisor, apiserver: Apiserver, *, port: int, timeout: float
) -> None:
    """SIGKILL kube-apiserver and start it again on the same port, certificates and etcd,
    as a crashed control plane comes back: clients keep their kubeconfig."""
    supervisor.kill(APISERVER)
    apiserver.spawn(supervisor, port=port, timeout=timeout, die_with_parent=False)


def write_kubeconfig(
    path: Path, apiserver: Apiserver, *, port: int, namespace: str = "experiments"
) -> None:
    """A kubeconfig with the CA embedded, so the file stays valid wherever it is copied."""
    try:
        ca_data = base64.b64encode((apiserver.certificates / "apiserver.crt").read_bytes()).decode()
    except OSError as exc:
        raise SandboxError(f"kube-apiserver wrote no serving certificate: {exc}") from exc
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "certificate-authority-data": ca_data,
                },
            }
        ],
        "users": [{"name": ADMIN_USER, "user": {"token": apiserver.token()}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": ADMIN_USER, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(yaml.safe_dump(document, sort_keys=False))
    partial.chmod(0o600)
    partial.replace(path)
