"""Faults injected while ``pytest experiments`` runs against a real sandbox, as a user runs it.

A thread of the test breaks the hub at a chosen point of the run (the API server
killed and restarted while the harness's link to it is down; the operator killed
while an experiment waits on it), and the test then checks what the user got:
the verdicts, the phases reported (and those reported as not observed), one line
per outage and per recovery, and the instances left on the cluster.

The module owns its sandbox: it kills the API server and the operator, which the
session's sandbox must keep. One xdist group keeps these tests on one worker, in
this order (the operator does not come back).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import FakeTools
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.faults import Link
from pytest_experiment.sandbox.kube import custom_lister, wait_until
from pytest_experiment.sandbox.operator import FINALIZER
from pytest_experiment.sandbox.scenarios import clear_scenario, set_scenario

from .lifecycle import NAMESPACE, TIMEOUT, Run, ensure_template, experiment_doc, start_test_sandbox
from .runs import SESSION_TIMEOUT, managed, run_live, write

pytestmark = pytest.mark.xdist_group("faults-run")

CLOCK = r"\d\d:\d\d:\d\d"


@pytest.fixture(scope="module")
def hub() -> Iterator[Sandbox]:
    with start_test_sandbox() as running:
        api = running.api_client()
        ensure_template(api)
        api.close()
        yield running


@pytest.fixture(autouse=True)
def hub_credentials(hub: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """This hub's S3 keys in boto3's chain: a live run checks them at start-up."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", hub.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", hub.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def api(hub: Sandbox) -> Iterator[client.ApiClient]:
    connected = hub.api_client()
    yield connected
    connected.close()


# The project's conftest in the run under test: says when the lifecycle item starts,
# by which time the harness has created its instance and knows it did.
SIGNAL_LIFECYCLE = """
import os
from pathlib import Path

def pytest_runtest_logstart(nodeid, location):
    if nodeid.endswith("::lifecycle"):
        Path(os.environ["FAULT_SIGNAL"]).touch()
"""


class Fault(threading.Thread):
    """``inject(instance)`` on a thread, once the run follows its ``prefix`` instance."""

    def __init__(
        self, hub: Sandbox, prefix: str, inject: Callable[[str], None], *, signal: Path
    ) -> None:
        super().__init__(daemon=True)
        self.hub, self.prefix, self.inject, self.signal = hub, prefix, inject, signal
        self.failure: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            deadline = time.monotonic() + SESSION_TIMEOUT
            # The run under test is another process: a file is what it can leave us.
            while not self.signal.exists():
                assert time.monotonic() < deadline, "the run never reached its lifecycle"
                time.sleep(0.05)
            self.inject(wait_for_instance(self.hub, self.prefix, lambda _: True))
        except BaseException as exc:  # reported by join(), on the test's thread
            self.failure = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        assert not self.is_alive(), "the fault never finished"
        if self.failure is not None:
            raise self.failure


def wait_for_instance(hub: Sandbox, prefix: str, predicate: Callable[[Obj], bool]) -> str:
    """The name of the ``prefix`` instance once ``predicate`` holds for it."""
    api = hub.api_client()
    try:

        def mine(objects: dict[str, Obj]) -> list[str]:
            return [
                o["metadata"]["name"]
                for o in objects.values()
                if o["metadata"]["name"].startswith(prefix) and predicate(o)
            ]

        found = wait_until(
            custom_lister(api, EXPERIMENTS, namespace=NAMESPACE),
            lambda objects: bool(mine(objects)),
            timeout=SESSION_TIMEOUT,
            what=f"a {prefix} experiment",
        )
        [name] = mine(found)
        return name
    finally:
        api.close()


def signal_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeconftest(SIGNAL_LIFECYCLE)
    path = pytester.path / "lifecycle-started"
    monkeypatch.setenv("FAULT_SIGNAL", str(path))
    return path


def phase(obj: Obj) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def test_api_server_restart_mid_run_phases_it_hid_are_reported_not_observed(
    pytester: pytest.Pytester, hub: Sandbox, api: client.ApiClient, fake_tools: FakeTools,
    prefix: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    write(pytester, "fsync", experiment_doc(prefix))
    link = Link(hub.ports["apiserver"])
    kubeconfig = link.kubeconfig(hub.kubeconfig, pytester.path / "link-kubeconfig")

    def restart(instance: str) -> None:
        # The run has created its instance; the operator has not touched it yet.
        try:
            with link.down():
                set_scenario(api, f"{prefix}other-", "happy", options={})  # the hub moves on
                hub.restart_apiserver()
                hub.resume("operator")
                wait_for_instance(hub, prefix, lambda o: phase(o) == "Complete")
        finally:
            hub.resume("operator")  # whatever failed, the run under test can finish

    hub.pause("operator")
    fault = Fault(hub, prefix, restart, signal=signal_file(pytester, monkeypatch))
    try:
        session = run_live(pytester, hub, kubeconfig=kubeconfig)
        fault.join(TIMEOUT)
    finally:
        hub.resume("operator")
        link.close()
        clear_scenario(api, f"{prefix}other-")

    assert session.result.ret == 0, session.stdout
    record = session.instance("fsync")
    instance = record["instance"]
    assert record["lifecycle"]["verdict"] == "pass"
    down = rf"the watch was down {CLOCK}–{CLOCK} UTC"
    reported = [
        line
        for line in session.stdout.splitlines()
        if line.startswith(f"{instance}: ") and "analyzer" not in line
    ]
    assert len(reported) == 5, reported
    assert reported[0] == f"{instance}: Pending"  # seen, with no phase yet, before the outage
    for line, expected in zip(reported[1:], ["Provisioning", "Ready", "Running"], strict=False):
        assert re.fullmatch(rf"{instance}: {expected} \(not observed: {down}\)", line), line
    assert reported[4] == f"{instance}: Complete"
    outages = [line for line in session.stdout.splitlines() if "watch of Experiments" in line]
    assert len(outages) == 2, outages
    assert re.fullmatch(
        rf"watch of Experiments in {NAMESPACE} lost at {CLOCK} UTC: .*; reconnecting", outages[0]
    ), outages
    assert re.fullmatch(
        rf"watch of Experiments in {NAMESPACE} back at {CLOCK} UTC after [\d.]+s "
        r"\(re-listed after 410 Gone\)",
        outages[1],
    ), outages
    # The run record keeps "phase → first seen" for what was seen, and says what was not.
    assert list(record["timeline"]) == ["Pending", "Complete"]
    assert list(record["notObserved"]) == ["Provisioning", "Ready", "Running"]
    assert {tuple(span) for span in record["notObserved"].values()} == {("from", "to")}
    # One outage hid all three: the report (and the HTML timeline) draws it once.
    [span] = {(s["from"], s["to"]) for s in record["notObserved"].values()}
    assert record["outages"] == [{"start": span[0], "end": span[1]}]
    assert session.report["session"]["watch"]["relists"] == 1
    assert session.report["session"]["watch"]["outages"] == 1
    # Completed and passed: deleted at the end, as without the fault.
    assert session.cleanup("fsync")["action"] == "deleted"
    assert managed(api, prefix) == []


def test_operator_killed_mid_run_times_out_aborts_and_reports_the_instance_held(
    pytester: pytest.Pytester, hub: Sandbox, api: client.ApiClient, fake_tools: FakeTools,
    prefix: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # The operator takes the instance (its finalizer on it), enters Provisioning, and dies.
    set_scenario(api, prefix, "stuck-provisioning", options={})
    write(pytester, "fsync", experiment_doc(prefix))

    def kill(instance: str) -> None:
        wait_for_instance(hub, prefix, lambda o: phase(o) == "Provisioning")
        hub.kill("operator")

    fault = Fault(hub, prefix, kill, signal=signal_file(pytester, monkeypatch))
    session = run_live(
        pytester, hub, "--experiment-budget-provisioning=3s", "--experiment-on-timeout=abort",
        "--experiment-budget-delete=2s",
    )  # fmt: skip
    fault.join(TIMEOUT)

    assert "operator" not in hub.pids
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
    record = session.instance("fsync")
    instance = record["instance"]
    lifecycle = record["lifecycle"]
    assert lifecycle["verdict"] == "fail"
    held = f"still held by finalizer {FINALIZER} after 2s"
    assert re.fullmatch(
        rf"\[FAIL\] Provisioning timeout \(3s\) for {instance}: still Provisioning after "
        rf"[\d.]+s; aborted: deletion requested but {re.escape(held)}",
        lifecycle["summary"],
    ), lifecycle["summary"]
    assert lifecycle["details"], "diagnostics came with the timeout"
    assert [t["title"] for t in session.toil("fsync")] == [
        f"Provisioning timeout (3s) for {instance}"
    ]
    cleanup = session.cleanup("fsync")
    assert cleanup["action"] == "held", cleanup
    assert f"  held {instance} (fsync): " in session.stdout
    # On the cluster: the instance is still there, deletion requested, held by the
    # finalizer nobody will remove, exactly as reported.
    obj = Run(api=api, name=instance).get()
    assert obj["metadata"].get("deletionTimestamp")
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert [o["metadata"]["name"] for o in managed(api, prefix)] == [instance]
