"""Faults a test can inject into a running sandbox, beyond what ``Sandbox`` does itself.

``Sandbox`` kills, restarts and freezes its own processes (``restart_apiserver``,
``kill``, ``paused``). This module adds what is not a process signal:

- ``compact_etcd``: etcd drops the history before its current revision, through
  its own v3 JSON gateway, so a watch resumed from an older version gets a real
  ``410 Gone``;
- ``Link``: a plain TCP relay between a client and kube-apiserver (TLS passes
  through untouched) whose connections a test can cut, as a restarted load
  balancer or a network blip does, hold down for a while, or cut just as the
  server answers a request, so the request is carried out and its answer lost.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import yaml

from pytest_experiment.base.errors import SandboxError

_CHUNK = 65536


def _etcd_post(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SandboxError(f"etcd {path} on port {port}: {exc}") from exc
    return answer


def etcd_revision(etcd_port: int) -> int:
    """etcd's current revision (every kube object's resourceVersion is one)."""
    answer = _etcd_post(etcd_port, "/v3/kv/range", {"key": base64.b64encode(b"/").decode()})
    return int(answer["header"]["revision"])


def compact_etcd(etcd_port: int) -> int:
    """Compact etcd up to its current revision; returns that revision."""
    revision = etcd_revision(etcd_port)
    _etcd_post(etcd_port, "/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


class _Pair:
    """One relayed connection: the client's side, the server's, and whether the answer
    to the request now on it is to be lost."""

    def __init__(self, near: socket.socket, far: socket.socket) -> None:
        self.near = near
        self.far = far
        self.doomed = threading.Event()


class Link:
    """A TCP relay on loopback to ``target_port``; ``cut()``, ``down()`` and
    ``lose_next_answer()`` break it.

    Use as a context manager; ``kubeconfig()`` writes a copy of a kubeconfig
    that goes through the relay.
    """

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._refusing = threading.Event()
        self._closed = threading.Event()
        self._lose_next = False
        self.accepted = 0
        self.answers_lost = 0
        self._thread = threading.Thread(target=self._accept, name="fault-link", daemon=True)
        self._thread.start()

    def kubeconfig(self, source: Path, destination: Path) -> Path:
        """``source`` with its server moved to this relay (same host, so TLS still verifies)."""
        document = yaml.safe_load(source.read_text())
        for entry in document.get("clusters") or []:
            entry["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        destination.write_text(yaml.safe_dump(document, sort_keys=False))
        destination.chmod(0o600)
        return destination

    def cut(self) -> int:
        """Close every open connection, both ways; returns how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _end(pair)
        return len(pairs)

    def lose_next_answer(self) -> None:
        """The next request any client sends reaches the server, but its answer does not
        come back: the connection is cut as the answer arrives, as a proxy that dies
        mid-request does. One request only; the bytes are TLS, so "request" means the
        next bytes a client sends on any connection."""
        with self._lock:
            self._lose_next = True

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Cut everything and refuse new connections for the block."""
        self._refusing.set()
        self.cut()
        try:
            yield
        finally:
            self._refusing.clear()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.cut()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- relaying -----------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                near, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing.is_set():
                # A link that is down: the connection is dropped before a byte passes.
                near.close()
                continue
            try:
                far = socket.create_connection(("127.0.0.1", self._target), timeout=5)
                far.settimeout(None)
            except OSError:
                near.close()
                continue
            pair = _Pair(near, far)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            for upstream in (True, False):
                threading.Thread(target=self._pump, args=(pair, upstream), daemon=True).start()

    def _pump(self, pair: _Pair, upstream: bool) -> None:
        source, sink = (pair.near, pair.far) if upstream else (pair.far, pair.near)
        try:
            while data := source.recv(_CHUNK):
                if upstream:
                    with self._lock:
                        if self._lose_next:
                            self._lose_next = False
                            pair.doomed.set()
                elif pair.doomed.is_set():
                    with self._lock:
                        self.answers_lost += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # One side ended: end the other, so neither end waits on a half-open pair.
            for side in (source, sink):
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._pairs = [p for p in self._pairs if p is not pair]
            source.close()


def _end(pair: _Pair) -> None:
    for side in (pair.near, pair.far):
        with contextlib.suppress(OSError):
            side.shutdown(socket.SHUT_RDWR)
        side.close()
