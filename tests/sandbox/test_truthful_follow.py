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
from fakes import FakeTools
from kubernetes import client

from pytest_experiment.base.types import Obj
from pytest_experiment.core.checks import CHECKS as REGISTRY
from pytest_experiment.core.durations import format_duration, parse_duration
from pytest_experiment.core.lifecycle import phases as lifecycle_phases
from pytest_experiment.sandbox import Sandbox

from .lifecycle import Run, SetScenario, experiment_doc
from .runs import LiveProcess, exists, run_live, write


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


CHECKS = (
    "custom-metrics", "metrics-source", "machine-verdict", "workload-pods",
    "presentation", "intent-coverage", "ai-verdict",
)  # fmt: skip


def _verdicts(instance: Obj) -> list[str]:
    found = {c["check"]: c["verdict"] for c in instance["checks"]}
    return [found.get(check, "missing") for check in CHECKS]


def test_a_quality_gate_re_collection_at_real_timing_is_followed_to_the_passing_summary(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    """The real operator shows a collection's resultsURL for a moment, clears it while it
    re-collects (120 s apart by default) and writes it again once its gate passes. The
    re-collection here outlasts both the results wait and the analyzer's start budget, as
    120 s outlasts 30 s: the first URL does not end the wait, the analyzer's clocks start
    after the gate passed, and the re-collected summary is the one scored."""
    # The re-collection must stay longer than the results wait and the analyzer's start
    # budget (at the default time scale 120 s would be 0.06 s, and the bug hidden).
    results_wait, analyzer_start, recollect = 2.0, 3.0, 6.0
    # The first collection's URL stays shown a second while its gate evaluates.
    scenario(prefix, "quality-gate-recollect", seconds={"evaluate": 1.0, "recollect": recollect})
    write(pytester, "gated", experiment_doc(prefix, publish=True))
    live = LiveProcess(
        pytester, sandbox, f"--experiment-results-wait={results_wait:g}s",
        f"--experiment-budget-analyzer-start={analyzer_start:g}s",
    )  # fmt: skip
    code, report, text = live.finish()
    [experiment] = report["experiments"]
    [instance] = experiment["instances"]
    name = instance["instance"]
    assert _verdicts(instance) == ["pass", "pass", "pass", "n-a", "pass", "pass", "pass"], text
    assert instance["gate"] == "pass"
    assert instance["analysis"] == "Succeeded"
    ai = next(c for c in instance["checks"] if c["check"] == "ai-verdict")
    assert ai["summary"] == "[PASS] AI verdict: validated", ai
    assert "analyzer never started" not in text
    assert report["toil"] == []
    assert code == pytest.ExitCode.OK, text
    # The ordering held: the harness saw the gate re-collect for longer than its results
    # wait (and the analyzer's start budget) before the passing collection came.
    recollecting = live.lines.index(f"{name}: quality gate re-collecting, re-collection 1 of 3")
    evaluating = live.lines.index(f"{name}: quality gate evaluating re-collection 1 of 3")
    assert recollecting < evaluating
    assert live.times[evaluating] - live.times[recollecting] > analyzer_start
    # The operator counts its first collection as iteration 0: no line numbers it so.
    assert not [line for line in live.lines if "iteration" in line], live.lines


def test_an_attached_manual_run_ended_by_the_running_budget_is_deleted_without_a_summary(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, fake_tools: FakeTools,
    s3_credentials: None,
) -> None:  # fmt: skip
    """A manual-completion run attached with --experiment-instance, already Running, and
    ended by --experiment-budget-running: the run deleted it and says so; "deleted after
    N Running" is its time in Running; it wrote no summary, so its quality items are N/A."""
    budget = 2.0
    scenario(prefix, "happy")
    doc = experiment_doc(prefix, mode="manual", publish=True)
    run = Run.create(k8s, doc)
    try:
        run.wait(
            lambda o: (o.get("status") or {}).get("workflowStatus", {}).get("phase") == "Succeeded",
            what="Running with its workflow done (manual completion)",
        )
        write(pytester, "manual", doc)
        session = run_live(
            pytester, sandbox, f"--experiment-instance=manual={run.name}",
            f"--experiment-budget-running={budget:g}s",
        )  # fmt: skip
    finally:
        if exists(k8s, run.name):
            run.delete()
    lifecycle = session.lifecycle("manual")
    prefix_line = (
        f"[PASS] Experiment {run.name} ended by --experiment-budget-running ({budget:g}s): "
        "deleted after "
    )
    assert lifecycle["summary"].startswith(prefix_line), lifecycle
    running = lifecycle["summary"].removeprefix(prefix_line).split(" Running", 1)[0]
    # Said as the harness says durations (2.5s, 2m04s on a loaded machine).
    spent = parse_duration(running)
    assert spent is not None, lifecycle
    assert spent >= budget, lifecycle
    cleanup = session.cleanup("manual")
    assert cleanup["action"] == "deleted", cleanup
    assert cleanup["reason"] == (
        "deleted by the run: --experiment-budget-running ended the manual-completion run"
    )
    assert f"  deleted {run.name} (manual): " in session.stdout
    assert "not created by this run" not in session.stdout
    absent = (
        f"[N/A] no summary: {run.name} is a manual-completion run that ended by deletion: "
        "the operator writes no summary.json for it"
    )
    checks = session.instance("manual")["checks"]
    assert [c["summary"] for c in checks] == [absent] * len(REGISTRY), checks
    assert "waited" not in session.stdout
    assert session.toil("manual") == []
    assert session.result.ret == pytest.ExitCode.OK, session.stdout
    run.wait_gone()


def test_an_analyzer_failure_turning_the_run_failed_a_write_later_reaches_every_item(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    """The real operator writes the AnalysisComplete condition of a failed analyzer, then
    the phase Failed a status write later (here 3 s later): the condition is on every
    quality item, the run is reported Failed with its PR, and it is one toil record."""
    scenario(prefix, "analyzer-fail", seconds={"turn": 3.0})
    write(pytester, "failing", experiment_doc(prefix, publish=True))
    session = run_live(pytester, sandbox)
    instance = session.instance("failing")
    name = instance["instance"]
    turned = (
        f"{name} turned Failed after Complete: AnalysisComplete Failed: Analyzer Job failed: "
        "Job has reached the specified backoff limit"
    )
    for item in instance["checks"]:
        assert turned in item["details"], item
    ai = next(c for c in instance["checks"] if c["check"] == "ai-verdict")
    assert ai["summary"] == "[N/A] AI verdict: analyzer failed", ai
    assert instance["review"]["summary"] == f"[N/A] Review: no review gate: {turned}"
    assert [t["title"] for t in session.toil("failing")] == [f"Analyzer failed for {name}"]
    # The run ended Failed, and the PR the operator opened before the turn is still shown.
    assert instance["phase"] == "Failed", instance
    assert instance["pr"].startswith("https://github.com/illm-lab/benchmarks/pull/"), instance
    session.result.stdout.fnmatch_lines(
        ["  --- Experiment Failed ---", f"  Experiment:  {name}", "  Phase:       Failed"]
    )
    session.result.stdout.fnmatch_lines([f"  PR:          {instance['pr']}"])


def test_an_attached_runs_duration_comes_from_the_servers_timestamps(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None,
) -> None:  # fmt: skip
    """Attached while Running, and completedAt written a moment after Complete (as the
    real operator writes it, a reconcile later): its duration runs from
    creationTimestamp to completedAt, not from when the harness first saw it."""
    scenario(prefix, "happy", seconds={"Running": 1.0, "Complete": 1.5})
    doc = experiment_doc(prefix)
    run = Run.create(k8s, doc)
    try:
        run.wait_status("phase", "Running")
        write(pytester, "attached", doc)
        # The operator holds still until the harness has attached and seen it Running.
        with sandbox.paused("operator"):
            live = LiveProcess(pytester, sandbox, f"--experiment-instance=attached={run.name}")
            live.wait_line(f"{run.name}: Running")
        code, report, text = live.finish()
        done = run.get()
    finally:
        run.delete()
    assert code == pytest.ExitCode.OK, text
    created = lifecycle_phases.parse_time(done["metadata"]["creationTimestamp"])
    completed = lifecycle_phases.parse_time(done["status"]["completedAt"])
    assert created is not None
    assert completed is not None
    total = (completed - created).total_seconds()
    [instance] = report["experiments"][0]["instances"]
    lifecycle = instance["lifecycle"]
    assert lifecycle["figures"]["durationSeconds"] == total, lifecycle
    assert lifecycle["summary"].startswith(
        f"[PASS] Experiment {run.name} completed in {format_duration(total)}; "
    ), lifecycle
    assert instance["durationSeconds"] == total
