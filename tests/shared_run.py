"""One pytest run shared by the tests that only read what it wrote, made once per session
however many xdist workers those tests are spread over.

A module-scoped fixture alone makes it once per worker; ``xdist_group`` does not keep
plain tests together on pytest 9.2 (xdist's grouping writes ``item._nodeid``, which pytest
no longer reads). So the first worker makes it under a lock in the directory the session's
workers share, and the others read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

_RESULT = ".shared-run.json"


def shared_run(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    prepare: Callable[[Path], None],
    args: list[str],
    env: Mapping[str, str] | None = None,
) -> tuple[Path, pytest.RunResult]:
    """The directory ``prepare`` filled and ``pytest *args`` ran in, with its result.

    The run is a process of its own, its environment set up as pytester sets up that of
    its runs (no outer PYTEST_ADDOPTS, HOME the run's directory, no colours), plus ``env``.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this session's, shared by its workers
    path = base / name
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
        if not (path / _RESULT).exists():
            shutil.rmtree(path, ignore_errors=True)  # what a failed attempt left
            path.mkdir()
            prepare(path)
            _run(path, args, env or {})
    done = json.loads((path / _RESULT).read_text())
    result = pytest.RunResult(done["ret"], done["stdout"], done["stderr"], done["duration"])
    return path, result


def _run(path: Path, args: list[str], env: Mapping[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "TOX_ENV_DIR")}
    environ.update(HOME=str(path), PY_COLORS="0")
    environ.update(env)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=path,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    result = {
        "ret": done.returncode,
        "stdout": done.stdout.splitlines(),
        "stderr": done.stderr.splitlines(),
        "duration": time.monotonic() - started,
    }
    (path / _RESULT).write_text(json.dumps(result))
