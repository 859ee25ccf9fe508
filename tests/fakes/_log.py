"""What the fake CLIs share: the invocation log and a small JSON state file."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def record(log_variable: str) -> None:
    """Append this invocation's argv to the JSON-lines file named by ``log_variable``."""
    target = os.environ.get(log_variable)
    if not target:
        return
    entry = {"argv": sys.argv[1:], "cwd": os.getcwd(), "time": time.time()}
    with Path(target).open("a") as log:
        log.write(json.dumps(entry) + "\n")


def state_path(state_variable: str, log_variable: str, default_name: str) -> Path:
    explicit = os.environ.get(state_variable)
    if explicit:
        return Path(explicit)
    log = os.environ.get(log_variable)
    return Path(log + ".state.json") if log else Path.cwd() / default_name


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2))


def fail_requested(variable: str) -> bool:
    """``FAKE_*_FAIL`` holds a command prefix (e.g. ``pr view``) that should fail."""
    wanted = os.environ.get(variable, "").split()
    return bool(wanted) and sys.argv[1 : 1 + len(wanted)] == wanted
