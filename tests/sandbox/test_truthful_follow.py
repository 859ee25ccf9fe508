"""What the harness says of a run is what happened, at the real operator's timing: a harness
paused while its instance finished, a quality gate that re-collects for longer than the
results wait, an attached manual-completion run that the running budget ends.

Each test runs pytest over experiment files in a subprocess, as a user would, against
the sandbox; where an ordering only shows at real time, the scenario gives that stage
real seconds (the scenario option ``seconds``) while the rest stays fast.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from kubernetes import client

from pytest_experiment.sandbox import Sandbox

from .lifecycle import Run, SetScenario, experiment_doc
from .runs import LiveProcess, write


def _stopped(pid: int) -> bool:
    """Whether the process is stopped by a signal (state T in ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0] in ("T", "t")


def _until(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_paused_harness_never_fails_a_phase_that_ended_during_the_pause(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None,
) -> None:  # fmt: skip
    """``kill -STOP`` while Running (a laptop asleep, a starved CI runner): the instance
    completes within its budget while the harness reads nothing, and the harness wakes
    past the budget. It reads what waits on the watch and the instance before declaring
    the budget spent, so the run is Complete, not a Running timeout."""
    budget = 4.0
    # Running lasts 2 s of real time: within the budget, and long enough to stop the
    # harness while its instance is still Running.
    scenario(prefix, "happy", seconds={"Running": 2.0})
    write(pytester, "paused", experiment_doc(prefix))
    live = LiveProcess(pytester, sandbox, f"--experiment-budget-running={budget:g}s")
    pid = live.proc.pid
    try:
        line = live.wait_line(f"{prefix}*: Running")
        seen_running = live.times[live.lines.index(line)]
        instance = line.split(":", 1)[0]
        os.kill(pid, signal.SIGSTOP)
        _until(lambda: _stopped(pid), timeout=10, what="the harness to stop")
        # The fault acts: the instance completes while the harness reads nothing ...
        Run(api=k8s, name=instance).wait_status("phase", "Complete")
        assert _stopped(pid), "the harness ran again before its instance completed"
        # ... and the harness wakes only after its Running budget has passed.
        _until(
            lambda: time.monotonic() > seen_running + budget + 1.0,
            timeout=budget + 10,
            what="the Running budget to pass",
        )
        assert _stopped(pid)
    finally:
        os.kill(pid, signal.SIGCONT)
    code, report, text = live.finish()
    assert code == pytest.ExitCode.OK, text
    [experiment] = report["experiments"]
    [run] = experiment["instances"]
    assert run["instance"] == instance
    assert run["lifecycle"]["verdict"] == "pass", run["lifecycle"]
    assert run["lifecycle"]["summary"].startswith(f"[PASS] Experiment {instance} completed in ")
    assert run["phase"] == "Complete"
    assert report["toil"] == []
    assert "Running timeout" not in text
    assert "Phase:       Complete" in text
    assert run["cleanup"]["action"] == "deleted", run["cleanup"]
