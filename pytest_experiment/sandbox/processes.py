"""Start and stop the sandbox's long-running processes.

Each process leads its own process group so a stop reaches anything it
forked. A record of pid plus kernel start time lets another process
(``experiment-sandbox down``) stop them later without killing an unrelated
process that reused the pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from pytest_experiment.base.backoff import Backoff
from pytest_experiment.base.errors import SandboxError

_PR_SET_PDEATHSIG = 1
T = TypeVar("T")
BIND_FAILURE_MARKERS = ("address already in use", "bind: ", "failed to listen")


@dataclass(frozen=True, kw_only=True)
class ProcessRecord:
    """What is needed to find a started process again from another Python process."""

    name: str
    pid: int
    start_ticks: int
    log: Path

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "log": str(self.log)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            log=Path(str(data["log"])),
        )


def free_ports(count: int) -> list[int]:
    # Hold every socket until all are chosen so one call never returns duplicates.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # Field 22 of /proc/<pid>/stat (starttime) is index 19 after pid and comm.
    return int(fields[19]) if fields else None


def is_alive(record: ProcessRecord) -> bool:
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return int(fields[19]) == record.start_ticks


# Resolved in the parent: the child must not load libraries between fork and exec.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the test process is killed,
    # the kernel kills the sandbox too instead of leaving it orphaned. The
    # signal follows the forking *thread*, so spawn only from a long-lived one.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def log_tail(path: Path, *, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """The processes of one sandbox, started here or adopted from a state file."""

    def __init__(self, records: Iterable[ProcessRecord] = ()) -> None:
        self._records: dict[str, ProcessRecord] = {r.name: r for r in records}
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def records(self) -> list[ProcessRecord]:
        return list(self._records.values())

    def get(self, name: str) -> ProcessRecord | None:
        return self._records.get(name)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = False,
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            try:
                child = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if die_with_parent else None,
                )
            except OSError as exc:
                raise SandboxError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        ticks = start_ticks(child.pid)
        if ticks is None:
            child.wait()
            raise SandboxError(f"{name} exited at once; log: {log}\n{log_tail(log)}")
        self._records[name] = ProcessRecord(name=name, pid=child.pid, start_ticks=ticks, log=log)
        self._children[name] = child
        return child

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        probe: Callable[[], bool],
        timeout: float,
        die_with_parent: bool,
    ) -> subprocess.Popen[bytes]:
        """Spawn ``name`` and return once ``probe()`` holds (its port answers); see
        ``wait_ready`` for how a crash or a taken port is reported."""
        child = self.spawn(name, argv, log=log, die_with_parent=die_with_parent)
        wait_ready(name=name, child=child, log=log, probe=probe, timeout=timeout)
        return child

    def alive(self, name: str) -> bool:
        record = self._records.get(name)
        return record is not None and is_alive(record)

    def kill(self, name: str) -> None:
        """SIGKILL one process group and wait until it is gone (a crash, not a stop)."""
        record = self._records.get(name)
        if record is None:
            raise SandboxError(f"no {name} process in this sandbox")
        _signal_group(record, signal.SIGKILL)
        if self._wait_stopped([record], deadline=time.monotonic() + 10.0):
            raise SandboxError(f"{name} (pid {record.pid}) survived SIGKILL")
        self._records.pop(name, None)
        self._children.pop(name, None)

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to one process group (SIGSTOP/SIGCONT freeze and thaw it)."""
        record = self._records.get(name)
        if record is None or not is_alive(record):
            raise SandboxError(f"{name} is not running in this sandbox")
        _signal_group(record, sig)

    def stop(self, names: Sequence[str], *, grace: float) -> None:
        """SIGTERM the named process groups, SIGKILL what is left after ``grace`` seconds."""
        targets = [self._records[n] for n in names if n in self._records]
        for record in targets:
            _signal_group(record, signal.SIGTERM)
        survivors = self._wait_stopped(targets, deadline=time.monotonic() + grace)
        for record in survivors:
            _signal_group(record, signal.SIGKILL)
        stubborn = self._wait_stopped(survivors, deadline=time.monotonic() + 10.0)
        for name in names:
            self._records.pop(name, None)
            self._children.pop(name, None)
        if stubborn:
            listed = ", ".join(f"{r.name} (pid {r.pid})" for r in stubborn)
            raise SandboxError(f"processes survived SIGKILL: {listed}")

    def _wait_stopped(
        self, records: Sequence[ProcessRecord], *, deadline: float
    ) -> list[ProcessRecord]:
        """Those of ``records`` whose leader or any other group member still runs at
        ``deadline``: a child that ignores SIGTERM outlives a leader that obeyed it."""
        running = self._wait_gone(records, deadline=deadline)
        exited = [r for r in records if r not in running]
        while True:
            crowded = [r for r in exited if _group_members(r.pid)]
            if not crowded or time.monotonic() >= deadline:
                return running + crowded
            # Members are not our children, so there is no pidfd to wait on: poll briefly.
            time.sleep(0.02)

    def _wait_gone(
        self, records: Sequence[ProcessRecord], *, deadline: float
    ) -> list[ProcessRecord]:
        pending = {r.pid: r for r in records if is_alive(r)}
        fds: dict[int, int] = {}
        for pid in list(pending):
            try:
                fds[os.pidfd_open(pid)] = pid
            except ProcessLookupError:
                pending.pop(pid)
        try:
            while pending:
                self._reap(pending.values())
                pending = {pid: r for pid, r in pending.items() if is_alive(r)}
                remaining = deadline - time.monotonic()
                if not pending or remaining <= 0:
                    break
                waiting = [fd for fd, pid in fds.items() if pid in pending]
                # A pidfd turns readable when its process exits: no polling interval needed.
                select.select(waiting, [], [], remaining)
        finally:
            for fd in fds:
                os.close(fd)
        return list(pending.values())

    def _reap(self, records: Iterable[ProcessRecord]) -> None:
        for record in records:
            child = self._children.get(record.name)
            if child is not None and child.pid == record.pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # After pid and comm: state, ppid, pgrp.
        if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(record: ProcessRecord, sig: signal.Signals) -> None:
    if not is_alive(record):
        # The leader is gone; its group may still hold children, which killpg reaches.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)
        return
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise SandboxError(f"cannot signal {record.name} (pid {record.pid}): {exc}") from exc


# Between readiness probes: quick at first, for processes that start in milliseconds.
_PROBE_INTERVALS = Backoff(first=0.05, cap=0.5, factor=1.5)


def wait_ready(
    *,
    name: str,
    child: subprocess.Popen[bytes],
    log: Path,
    probe: Callable[[], bool],
    timeout: float,
) -> None:
    """Wait until ``probe()`` is true, failing as soon as the process exits.

    Raises ``PortInUse`` when the process died because a port was taken, so
    the caller can pick new ports and try again.
    """
    deadline = time.monotonic() + timeout
    for interval in _PROBE_INTERVALS.delays():
        if probe():
            return
        try:
            # Waiting on the child doubles as the pause between probes and
            # notices a crash immediately.
            child.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            pass
        else:
            tail = log_tail(log)
            if any(marker in tail.lower() for marker in BIND_FAILURE_MARKERS):
                raise PortInUse(f"{name} could not bind its port:\n{tail}")
            raise SandboxError(f"{name} exited with {child.returncode}; log {log}:\n{tail}")
        if time.monotonic() > deadline:
            raise SandboxError(
                f"{name} not ready after {timeout:.0f}s; log {log}:\n{log_tail(log)}"
            )


class PortInUse(SandboxError):
    """A freshly chosen port was taken before the process bound it."""


def with_fresh_ports(count: int, start: Callable[[list[int]], T], *, attempts: int = 5) -> T:
    """Run ``start`` with ``count`` free ports, choosing new ones when one was taken meanwhile.

    Choosing a port and binding it are two steps, so a parallel run (another
    xdist worker, CI beside a developer) can win the race; ``start`` raises
    ``PortInUse`` in that case.
    """
    attempt = 1
    while True:
        try:
            return start(free_ports(count))
        except PortInUse:
            if attempt >= attempts:
                raise
            attempt += 1
