"""SeaweedFS as the sandbox's S3 results store (bucket ``experiment-results``)."""

from __future__ import annotations

import contextlib
import json
import secrets
import stat
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import botocore.config
import botocore.exceptions

from pytest_experiment.sandbox.processes import PortInUse, Supervisor, free_ports, wait_ready

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WEED = "seaweedfs"
BUCKET = "experiment-results"
REGION = "us-east-1"
# AF_UNIX paths are limited to 108 bytes; weed puts gRPC sockets in $TMPDIR.
_MAX_SOCKET_DIR = 60
_PROBE_KEY = ".sandbox-probe"


@dataclass(frozen=True, kw_only=True)
class S3Store:
    """SeaweedFS once a write succeeds: its S3 port, the credentials, and what to clean up
    at the end (the socket directory, every port its gRPC sockets are named after)."""

    port: int
    access_key: str
    secret_key: str
    socket_dir: Path
    all_ports: tuple[int, ...]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def s3_client(
    *, endpoint: str, access_key: str, secret_key: str, attempts: int = 3, timeout: float = 10.0
) -> S3Client:
    """A boto3 S3 client for the sandbox (path-style addressing, as SeaweedFS expects)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=min(timeout, 5.0),
            read_timeout=timeout,
        ),
    )


def socket_dir_for(state_dir: Path) -> Path:
    candidate = state_dir / "tmp"
    if len(str(candidate)) <= _MAX_SOCKET_DIR:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    return Path(tempfile.mkdtemp(prefix="sbx-weed-"))


class _Readiness:
    """S3 is usable once a write succeeds: ListBuckets answers seconds before volumes exist."""

    def __init__(self, client: S3Client) -> None:
        self._client = client
        self._bucket_ready = False

    def __call__(self) -> bool:
        try:
            if not self._bucket_ready:
                ensure_bucket(self._client)
                self._bucket_ready = True
            self._client.put_object(Bucket=BUCKET, Key=_PROBE_KEY, Body=b"ok")
            self._client.delete_object(Bucket=BUCKET, Key=_PROBE_KEY)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False
        return True


def ensure_bucket(client: S3Client) -> None:
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        return


class S3Launch:
    """SeaweedFS started in the background while the control plane comes up.

    It is the slowest part (~5 s until a write succeeds), so ``start_s3``
    spawns it and ``wait`` is called last. Spawning stays on the caller's
    thread: a parent-death signal follows the thread that forked.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        binary: Path,
        state_dir: Path,
        die_with_parent: bool,
        attempts: int = 5,
    ) -> None:
        self._supervisor = supervisor
        self._binary = binary
        self._state_dir = state_dir
        self._die_with_parent = die_with_parent
        self._attempts = attempts
        self.access_key = "SBX" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self._identities = state_dir / "s3-identities.json"
        self._identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "sandbox",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self._identities.chmod(0o600)
        self._data_dir = state_dir / "seaweedfs"
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir = socket_dir_for(state_dir)
        self._log = state_dir / "logs" / "seaweedfs.log"
        self._child: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, ...] = ()

    def spawn(self) -> subprocess.Popen[bytes]:
        ports = free_ports(8)
        (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = ports
        sockets = self.socket_dir
        argv = [
            str(self._binary),
            "server",
            f"-dir={self._data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=16",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={sockets / 'filer.sock'}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={sockets / 's3.sock'}",
            f"-s3.config={self._identities}",
        ]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self._state_dir), "TMPDIR": str(sockets)}
        self._ports = tuple(ports)
        self._child = self._supervisor.spawn(
            WEED, argv, log=self._log, env=env, die_with_parent=self._die_with_parent
        )
        return self._child

    def wait(self, *, timeout: float) -> S3Store:
        attempt = 1
        while True:
            child = self._child if self._child is not None else self.spawn()
            store = S3Store(
                port=self._ports[6],
                access_key=self.access_key,
                secret_key=self.secret_key,
                socket_dir=self.socket_dir,
                all_ports=self._ports,
            )
            client = s3_client(
                endpoint=store.endpoint,
                access_key=self.access_key,
                secret_key=self.secret_key,
                attempts=1,
                timeout=5.0,
            )
            try:
                wait_ready(
                    name=WEED,
                    child=child,
                    log=self._log,
                    probe=_Readiness(client),
                    timeout=timeout,
                )
            except PortInUse:
                remove_sockets(self._ports)
                if attempt >= self._attempts:
                    raise
                attempt += 1
                self._child = None
                continue
            return store


def remove_sockets(ports: Iterable[int]) -> None:
    """Delete the gRPC Unix sockets weed leaves in /tmp (it ignores $TMPDIR for them)."""
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()
