"""A live session as a whole: interrupts, -x, the concurrency cap, xdist and secrets.

Every test ends by comparing what the cluster holds against what the run
reported: an instance on the cluster that no cleanup record names is a leak.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import WaitTimeout, custom_lister, wait_until

from .lifecycle import NAMESPACE, Run, SetScenario, experiment_doc, status_of
from .runs import SESSION_TIMEOUT, Session, managed, run_live, write

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")

TERMINAL = ("Complete", "Failed")


def names(objects: dict[str, Obj], prefix: str, *, phase: str | None = None) -> set[str]:
    return {
        o["metadata"]["name"]
        for o in objects.values()
        if o["metadata"]["name"].startswith(prefix)
        and (phase is None or status_of(o).get("phase") == phase)
    }


def delete_all(k8s: client.ApiClient, prefix: str) -> None:
    for item in managed(k8s, prefix):
        Run(api=k8s, name=item["metadata"]["name"]).delete()


def accounted(session: Session, k8s: client.ApiClient, prefix: str) -> dict[str, Obj]:
    """Cleanup records by instance, after checking that every one on the cluster has one."""
    records = {c["instance"]: c for c in session.report["cleanup"]}
    on_cluster = {o["metadata"]["name"] for o in managed(k8s, prefix)}
    assert on_cluster <= set(records), f"unaccounted: {on_cluster - set(records)}"
    for instance, record in records.items():
        assert f"  {record['action']} {instance} ({record['experiment']}): " in session.stdout
    return records


# -- interrupts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "policy", "xdist", "terminal"),
    [
        (signal.SIGINT, "on-success", False, False),
        (signal.SIGTERM, "on-success", False, False),
        (signal.SIGINT, "never", False, False),
        (signal.SIGINT, "on-success", True, False),
        (signal.SIGTERM, "always", True, False),
        (signal.SIGINT, "on-success", True, True),
    ],
    ids=[
        "SIGINT-deletes-unfinished",
        "SIGTERM-deletes-unfinished",
        "SIGINT-never-keeps",
        "xdist-SIGINT-deletes-unfinished",
        "xdist-SIGTERM-always-deletes",
        "xdist-Ctrl-C-at-a-terminal-each-worker-accounts-for-its-own",
    ],
)
def test_an_interrupt_applies_the_cleanup_policy_to_every_instance(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario, signum: signal.Signals, policy: str, xdist: bool, terminal: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    step_summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    # Unfinished instances hold cloud clusters that bill by the hour: only "never" keeps
    # them, serial or under xdist, where the controller owns the final list.
    scenario(prefix, "stuck-running")
    # An xdist worker applies an experiment as it reaches it: two workers, two at once.
    count = 2 if xdist else 3
    for name in ("one", "two", "three")[:count]:
        write(pytester, name, experiment_doc(prefix))
    report = pytester.path / "experiment-report.json"
    out = pytester.path / "stdout.txt"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "pytest", "experiments", "-v", "-p", "no:cacheprovider",
                f"--experiment-kubeconfig={sandbox.kubeconfig}",
                f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
                f"--experiment-report={report}",
                f"--experiment-cleanup={policy}",
                *(["-n", "2", "--dist=loadgroup"] if xdist else []),
            ],
            cwd=pytester.path, stdout=stdout, stderr=subprocess.STDOUT,
            # Its own process group, as a shell gives a command it runs.
            process_group=0,
        )  # fmt: skip
        try:
            running = wait_until(
                custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
                lambda objects: len(names(objects, prefix, phase="Running")) == count,
                timeout=SESSION_TIMEOUT,
                what=f"{count} {prefix} experiments Running",
            )
            if terminal:
                # Ctrl-C at a terminal: the whole foreground group, the workers too.
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
            ret = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out.read_text()
    try:
        assert ret == pytest.ExitCode.INTERRUPTED, text
        session = Session(
            result=pytest.RunResult(ret, text.splitlines(), [], 0.0),
            report=json.loads(report.read_text()),
            root=pytester.path,
        )
        records = accounted(session, k8s, prefix)
        instances = names(running, prefix)
        assert set(records) == instances, text
        left = {o["metadata"]["name"] for o in managed(k8s, prefix)}
        if policy == "never":
            for instance, record in records.items():
                assert record["action"] == "kept"
                assert record["reason"] == "--experiment-cleanup=never"
                assert record["command"] == f"kubectl delete experiment {instance} -n {NAMESPACE}"
            assert left == instances
        else:
            assert {r["action"] for r in records.values()} == {"deleted"}, records
            if policy == "on-success":
                # Said by the process that deleted it: the session, or an xdist worker,
                # which the controller passes the interrupt on to and waits for.
                for record in records.values():
                    assert record["reason"].startswith(
                        "unfinished (Running) when the session ended; deleted so it holds "
                        "no cloud resources"
                    ), record
            # "deleted" is only said once the API no longer has the object.
            assert left == set(), f"reported deleted but still on the cluster: {left}"
        # The step summary says the run was stopped and what became of every instance.
        markdown = step_summary.read_text().splitlines()
        assert markdown[2].startswith("> **The run was stopped early (interrupted).**"), markdown
        for instance, record in records.items():
            assert any(
                line.startswith(f"- **{record['action']}** `{instance}` ") for line in markdown
            ), markdown
    finally:
        delete_all(k8s, prefix)


INTERRUPT_AT_FIRST_QUALITY_ITEM = """
import pytest

def pytest_runtest_logstart(nodeid, location):
    if "quality[" in nodeid:
        raise KeyboardInterrupt
"""


def test_an_interrupt_before_an_experiments_checks_ran_keeps_it_under_on_success(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
) -> None:  # fmt: skip
    # Its lifecycle passed, but none of its quality checks ran: deleting it would lose the
    # instance they were to judge, so on-success keeps it and says why.
    pytester.makeconftest(INTERRUPT_AT_FIRST_QUALITY_ITEM)
    write(pytester, "half", experiment_doc(prefix))
    try:
        session = run_live(pytester, sandbox)
        assert session.result.ret == pytest.ExitCode.INTERRUPTED, session.stdout
        session.result.stdout.fnmatch_lines(["*::lifecycle PASSED*"])
        record = session.cleanup("half")
        assert record["action"] == "kept", record
        assert record["reason"] == (
            "not all its items ran: the session stopped after its lifecycle passed"
        )
        assert [o["metadata"]["name"] for o in managed(k8s, prefix)] == [record["instance"]]
    finally:
        delete_all(k8s, prefix)


def test_exitfirst_stops_waiting_and_accounts_for_every_launched_instance(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario,
) -> None:  # fmt: skip
    failing, stuck = f"{prefix}f-", f"{prefix}s-"
    scenario(failing, "fail-running", message="disk full")
    scenario(stuck, "stuck-running")
    write(pytester, "a-fails", experiment_doc(failing))
    write(pytester, "b-stuck", experiment_doc(stuck))
    write(pytester, "c-stuck", experiment_doc(stuck))
    try:
        session = run_live(pytester, sandbox, "-x")
        assert session.result.ret == pytest.ExitCode.TESTS_FAILED
        session.result.stdout.fnmatch_lines(["*::lifecycle FAILED*", "*stopping after 1 failures*"])
        records = accounted(session, k8s, prefix)
        assert len(records) == 3, "all three were applied when the session started"
        by_experiment = {r["experiment"]: r for r in records.values()}
        # The failed one is finished: kept for a person to look at.
        assert by_experiment["a-fails"]["action"] == "kept"
        assert by_experiment["a-fails"]["reason"].startswith("lifecycle FAIL: ")
        # The two that -x stopped waiting for are unfinished: deleted, not left billing.
        for name in ("b-stuck", "c-stuck"):
            assert by_experiment[name]["action"] == "deleted"
            assert by_experiment[name]["reason"].startswith("unfinished (Running) when the ")
        assert {o["metadata"]["name"] for o in managed(k8s, prefix)} == {
            by_experiment["a-fails"]["instance"]
        }
        assert "b-stuck/experiment.yaml::lifecycle" not in session.stdout
    finally:
        delete_all(k8s, prefix)


# -- concurrency -------------------------------------------------------------------------------


class ConcurrencyProbe(threading.Thread):
    """Watches the ``prefix`` experiments and records how many were unfinished at once."""

    def __init__(self, k8s: client.ApiClient, prefix: str, *, expected: int) -> None:
        super().__init__(daemon=True)
        self.k8s, self.prefix, self.expected = k8s, prefix, expected
        self.seen: set[str] = set()
        self.most = 0
        self.failure: WaitTimeout | None = None
        self.start()

    def _observe(self, objects: dict[str, Obj]) -> bool:
        mine = [o for o in objects.values() if o["metadata"]["name"].startswith(self.prefix)]
        self.seen |= {o["metadata"]["name"] for o in mine}
        unfinished = [o for o in mine if status_of(o).get("phase") not in TERMINAL]
        self.most = max(self.most, len(unfinished))
        return len(self.seen) == self.expected and not unfinished

    def run(self) -> None:
        try:
            wait_until(
                custom_lister(self.k8s, EXPERIMENTS, namespace=NAMESPACE),
                self._observe,
                timeout=SESSION_TIMEOUT,
                what=f"{self.expected} {self.prefix} experiments to finish",
            )
        except WaitTimeout as exc:
            self.failure = exc


def test_max_concurrent_caps_the_experiments_running_at_once(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
) -> None:  # fmt: skip
    for name in ("one", "two", "three", "four"):
        write(pytester, name, experiment_doc(prefix))
    probe = ConcurrencyProbe(k8s, prefix, expected=4)
    session = run_live(pytester, sandbox, "--experiment-max-concurrent=2")
    probe.join()
    assert probe.failure is None, probe.failure
    assert session.result.ret == pytest.ExitCode.OK
    assert len(probe.seen) == 4
    assert probe.most == 2, "two at once: the cap is reached and not exceeded"
    queued = [line for line in session.stdout.splitlines() if "queued" in line]
    assert len(queued) == 2, queued
    assert all("(--experiment-max-concurrent 2)" in line for line in queued)
    assert {r["action"] for r in accounted(session, k8s, prefix).values()} == {"deleted"}


def test_without_a_cap_every_experiment_runs_at_once(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
) -> None:  # fmt: skip
    for name in ("one", "two", "three", "four"):
        write(pytester, name, experiment_doc(prefix))
    probe = ConcurrencyProbe(k8s, prefix, expected=4)
    session = run_live(pytester, sandbox)
    probe.join()
    assert probe.failure is None, probe.failure
    assert probe.most == 4
    assert session.report["session"]["watch"]["watches"] == 1


def test_xdist_workers_apply_each_experiment_once_and_merge_session_facts(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
) -> None:  # fmt: skip
    for name in ("one", "two", "three"):
        write(pytester, name, experiment_doc(prefix))
    try:
        session = run_live(
            pytester, sandbox, "-n", "2", "--dist=loadgroup", "--experiment-cleanup=never"
        )
        assert session.result.ret == pytest.ExitCode.OK
        on_cluster = {o["metadata"]["name"] for o in managed(k8s, prefix)}
        reported = {session.instance(name)["instance"] for name in ("one", "two", "three")}
        assert on_cluster == reported
        assert len(on_cluster) == 3
        assert set(accounted(session, k8s, prefix)) == on_cluster
        facts = session.report["session"]
        assert 1 <= facts["watch"]["watches"] <= 2, "one watch per worker that ran experiments"
        assert facts["apiRequests"]["create"] == 3, "workers' request counts add up"
    finally:
        delete_all(k8s, prefix)


# -- secrets ----------------------------------------------------------------------------------


def credentials(sandbox: Sandbox) -> dict[str, str]:
    """Every secret the session could have printed, under a name for the failure message."""
    found = {"S3 access key": sandbox.access_key, "S3 secret key": sandbox.secret_key}
    kubeconfig = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    for user in kubeconfig["users"]:
        for key, value in (user.get("user") or {}).items():
            if key in ("token", "client-key-data", "client-certificate-data", "password"):
                found[f"kubeconfig {key}"] = value
                if key.endswith("-data"):
                    # The decoded PEM body, in case something printed the file's content.
                    pem = base64.b64decode(value).decode().splitlines()
                    found[f"kubeconfig {key} (PEM)"] = next(
                        line for line in pem[1:] if len(line) > 40
                    )
    assert len(found) > 2, "the sandbox kubeconfig carries client credentials"
    return found


def test_no_credential_reaches_the_terminal_junit_or_json_report(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario,
) -> None:  # fmt: skip
    failing = f"{prefix}f-"
    scenario(failing, "fail-running", message="disk full")
    write(pytester, "passes", experiment_doc(prefix, publish=True))
    write(pytester, "fails", experiment_doc(failing, publish=True))
    junit = pytester.path / "report.xml"
    try:
        session = run_live(
            pytester, sandbox, "-vv", "-rA", "--experiment-cleanup=always", f"--junitxml={junit}"
        )
        assert session.result.ret == pytest.ExitCode.TESTS_FAILED
        assert session.instance("passes")["lifecycle"]["verdict"] == "pass"
        assert session.instance("fails")["lifecycle"]["verdict"] == "fail"
        outputs = {
            "terminal": session.stdout + session.result.stderr.str(),
            "JUnit": junit.read_text(),
            "JSON report": json.dumps(session.report),
        }
        for where, text in outputs.items():
            assert text, where
            for what, secret in credentials(sandbox).items():
                assert secret not in text, f"{what} in the {where}"
    finally:
        delete_all(k8s, prefix)
