"""Progress while waiting: redrawn in place on a terminal, one line per transition in logs."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_experiment.sandbox import Sandbox

from .lifecycle import SetScenario, experiment_doc

CLEAR = "\r\x1b[K"


def write_experiment(root: Path, prefix: str) -> Path:
    directory = root / "experiments" / "slow"
    directory.mkdir(parents=True)
    (directory / "experiment.yaml").write_text(yaml.safe_dump(experiment_doc(prefix)))
    return root / "experiments"


def run_on_a_terminal(args: list[str], cwd: Path) -> str:
    """Run pytest with its stdout on a pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            raise AssertionError("pytest wrote nothing for 60 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.fixture
def stuck(
    tmp_path: Path, prefix: str, scenario: SetScenario, workflow_template: str
) -> tuple[Path, list[str]]:
    scenario(prefix, "stuck-ready")
    experiments = write_experiment(tmp_path, prefix)
    args = [
        str(experiments),
        "-k", "lifecycle",
        "--experiment-budget-ready", "2s",
        "--experiment-toil", "off",
        "-p", "no:cacheprovider",
    ]  # fmt: skip
    return tmp_path, args


def test_a_terminal_shows_phase_and_elapsed_against_budget_in_place(
    sandbox: Sandbox, stuck: tuple[Path, list[str]], prefix: str
) -> None:
    cwd, args = stuck
    output = run_on_a_terminal([*args, "--experiment-kubeconfig", str(sandbox.kubeconfig)], cwd)
    redraws = [part.split("\r")[0] for part in output.split(CLEAR)[1:]]
    ready = [r for r in redraws if f"({prefix}" in r and ": Ready " in r]
    assert len(ready) >= 3, output
    assert all(r.endswith(" / 2s") for r in ready), ready
    assert ready[0] != ready[-1], "elapsed time advances"
    assert f"Ready timeout (2s) for {prefix}" in output


def test_a_log_gets_one_line_per_transition_and_no_redraws(
    sandbox: Sandbox, stuck: tuple[Path, list[str]], prefix: str, pytester: pytest.Pytester
) -> None:
    _, args = stuck
    result = pytester.runpytest_subprocess(
        *args, "--experiment-kubeconfig", str(sandbox.kubeconfig)
    )
    text = result.stdout.str()
    assert "\x1b[K" not in text
    transitions = [
        line for line in result.outlines if line.startswith(prefix) and line.count(":") == 1
    ]
    assert [t.split(": ")[1] for t in transitions] == ["Pending", "Provisioning", "Ready"]
