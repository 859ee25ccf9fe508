"""How a session ends when it does not end well: pytest-timeout on a lifecycle item, an
operator that no longer releases its finalizer, and an xdist worker killed mid-run.

Each test compares what the run reported with what the cluster holds afterwards: an
instance reported "deleted" that the API still has is a lie, one nobody reported on a leak.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import custom_lister, wait_until

from .lifecycle import NAMESPACE, Run, SetScenario, experiment_doc
from .runs import SESSION_TIMEOUT, Session, exists, managed, run_live, wait_gone, write

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")

FINALIZER = "experiments.illm.io/finalizer"


def delete_all(k8s: client.ApiClient, prefix: str) -> None:
    for item in managed(k8s, prefix):
        try:
            Run(api=k8s, name=item["metadata"]["name"]).delete()
        except ApiException as err:
            # The operator, just resumed, may release its finalizer and the object
            # go between the list and this delete: gone is what was wanted.
            if err.status != 404:
                raise


def test_pytest_timeout_ends_a_lifecycle_item_like_a_phase_budget(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    step_summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    scenario(prefix, "stuck-running")
    write(pytester, "slow", experiment_doc(prefix))
    try:
        session = run_live(pytester, sandbox, "--timeout=4", "-rA")
        assert session.result.ret == pytest.ExitCode.TESTS_FAILED
        out = session.stdout + session.result.stderr.str()
        lifecycle = session.lifecycle("slow")
        instance = session.instance("slow")["instance"]
        assert lifecycle["verdict"] == "fail"
        assert lifecycle["summary"].startswith(
            f"[FAIL] pytest-timeout (4s) for {instance}: still Running after "
        ), lifecycle
        # The diagnostics a phase budget gives, not pytest-timeout's dump of every thread.
        assert lifecycle["details"][0] == f"diagnostics for {instance}:"
        assert any(line.startswith("workflows") for line in lifecycle["details"]), lifecycle
        assert "+ Timeout +" not in out
        assert f"  Lifecycle ({instance}): {lifecycle['summary']}" in out
        assert "Traceback" not in out
        [toil] = session.toil("slow")
        assert toil["title"] == f"pytest-timeout (4s) in Running for {instance}"
        # Unfinished when its item ended: deleted under the default policy, and gone.
        cleanup = session.cleanup("slow")
        assert cleanup["action"] == "deleted", cleanup
        assert cleanup["reason"].startswith("unfinished (Running) when the session ended")
        assert not exists(k8s, instance)
        # The step summary shows the failure with its first diagnostic lines, and the fate
        # of the instance.
        lines = step_summary.read_text().splitlines()
        assert f"| slow | `{instance}` | FAIL | — | N/A | — | — |" in lines, lines
        at = lines.index(f"- **slow** `{instance}` lifecycle: {lifecycle['summary']}")
        assert lines[at + 1 : at + 3] == ["  ```", f"  diagnostics for {instance}:"], lines
        assert any(
            line.startswith(f"- **deleted** `{instance}` (slow): unfinished (Running)")
            for line in lines
        ), lines
    finally:
        delete_all(k8s, prefix)


@pytest.fixture
def frozen_operator(sandbox: Sandbox) -> Iterator[int]:
    """Stop the operator (SIGSTOP to its process group) when the test says; resumed
    afterwards."""
    try:
        yield sandbox.pids["operator"]
    finally:
        sandbox.resume("operator")


@pytest.mark.parametrize("how", ["always", "abort"])
def test_an_instance_its_finalizer_holds_is_reported_held_never_deleted(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario, frozen_operator: int, how: str,
) -> None:  # fmt: skip
    # The operator puts its finalizer on the instance, then stops answering: a deletion
    # is accepted by the API but the object stays until the operator releases it.
    scenario(prefix, "stuck-running")
    write(pytester, "held", experiment_doc(prefix))
    pytester.makeconftest(
        f"""
import os, signal

def pytest_experiment_toil(config, record):
    # The phase budget ran out: the operator goes down before the harness deletes.
    if "timeout" in record.title:
        os.killpg({frozen_operator}, signal.SIGSTOP)
"""
    )
    policy = (
        ["--experiment-cleanup=always"] if how == "always" else ["--experiment-on-timeout=abort"]
    )
    try:
        session = run_live(
            pytester, sandbox, "--experiment-budget-running=2s", "--experiment-budget-delete=2s",
            *policy,
        )  # fmt: skip
        instance = session.instance("held")["instance"]
        obj = Run(api=k8s, name=instance).get()
        assert FINALIZER in obj["metadata"]["finalizers"]
        assert obj["metadata"].get("deletionTimestamp"), "the deletion was requested"
        held = f"still held by finalizer {FINALIZER} after 2s"
        if how == "abort":
            assert session.lifecycle("held")["summary"].endswith(
                f"; aborted: deletion requested but {held}"
            )
        cleanup = session.cleanup("held")
        assert cleanup["action"] == "held", cleanup
        assert held in cleanup["reason"]
        assert cleanup["command"] == f"kubectl get experiment {instance} -n {NAMESPACE} -o yaml"
        assert f"  held {instance} (held): " in session.stdout
        assert f"inspect with: {cleanup['command']}" in session.stdout
        assert "deleted" not in cleanup["action"]
    finally:
        sandbox.resume("operator")
        delete_all(k8s, prefix)
        for item in managed(k8s, prefix):
            wait_gone(k8s, item["metadata"]["name"])


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_an_xdist_worker_killed_mid_run_has_its_instance_accounted_for(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario,
) -> None:  # fmt: skip
    scenario(prefix, "stuck-running")
    for name in ("one", "two"):
        write(pytester, name, experiment_doc(prefix))
    report = pytester.path / "experiment-report.json"
    out = pytester.path / "stdout.txt"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "pytest", "experiments", "-v", "-p", "no:cacheprovider",
                "-n", "2", "--dist=loadgroup", "--max-worker-restart=0",
                f"--experiment-kubeconfig={sandbox.kubeconfig}",
                f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
                f"--experiment-report={report}",
                "--experiment-budget-running=30s",
            ],
            cwd=pytester.path, stdout=stdout, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:

            def running(objects: dict[str, dict]) -> bool:  # type: ignore[type-arg]
                mine = [o for o in objects.values() if o["metadata"]["name"].startswith(prefix)]
                return len(mine) == 2 and all(
                    (o.get("status") or {}).get("phase") == "Running" for o in mine
                )

            wait_until(
                custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
                running,
                timeout=SESSION_TIMEOUT,
                what=f"two {prefix} experiments Running",
            )
            workers = _children(proc.pid)
            assert len(workers) == 2, workers
            for worker in workers:
                os.kill(worker, signal.SIGKILL)
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out.read_text()
    try:
        session = Session(
            result=pytest.RunResult(proc.returncode, text.splitlines(), [], 0.0),
            report=json.loads(report.read_text()),
            root=pytester.path,
        )
        records = {c["instance"]: c for c in session.report["cleanup"]}
        assert len(records) == 2, text
        for instance, record in records.items():
            assert record["action"] == "deleted", record
            assert record["reason"].startswith(
                "created by an xdist worker that stopped before its cleanup; unfinished (Running)"
            )
            assert record["experiment"] in ("one", "two")
            assert f"  deleted {instance} ({record['experiment']}): " in text
        assert managed(k8s, prefix) == [], "reported deleted, so gone from the cluster"
    finally:
        delete_all(k8s, prefix)


def test_quiet_keeps_phase_lines_off_the_progress_dots(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
) -> None:  # fmt: skip
    write(pytester, "quiet", experiment_doc(prefix))
    try:
        # run_live passes -v: two -q make pytest's quiet mode.
        session = run_live(pytester, sandbox, "-q", "-q")
        assert session.result.ret == pytest.ExitCode.OK, session.stdout
        lines = session.stdout.splitlines()
        instance = session.instance("quiet")["instance"]
        # One unbroken run of outcome characters for the experiment's 25 items...
        progress = [line for line in lines if line and set(line.split()[0]) <= set(".sxX")]
        assert len(progress) == 1, lines
        assert len(progress[0].split()[0]) == 25, progress
        # ...and the phase lines after it, under their own heading.
        heading = next(i for i, line in enumerate(lines) if "experiment progress" in line)
        assert lines.index(progress[0]) < heading
        held = lines[heading + 1 :]
        assert f"{instance}: Complete" in held, lines
        assert not any(line.startswith(f"{instance}: ") for line in lines[:heading]), lines
    finally:
        delete_all(k8s, prefix)
