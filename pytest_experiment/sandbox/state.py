"""The sandbox's state file: what another process needs to find, reuse or stop a sandbox."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pytest_experiment.sandbox.processes import ProcessRecord
from pytest_experiment.sandbox.s3 import remove_sockets

STATE_FILE = "state.json"
STATE_VERSION = 1


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return None
    return state


def write_state(state_dir: Path, state: Mapping[str, Any]) -> None:
    path = state_dir / STATE_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state, indent=2))
    partial.chmod(0o600)
    partial.replace(path)


def process_records(state: Mapping[str, Any]) -> list[ProcessRecord]:
    return [ProcessRecord.from_json(p) for p in state.get("processes", [])]


def remove_state(state_dir: Path, *, whole: bool, state: Mapping[str, Any] | None) -> None:
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
def locked(state_dir: Path) -> Iterator[None]:
    # Two `up` in the same directory must not both start a sandbox.
    with (state_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
