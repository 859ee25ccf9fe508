"""SeaweedFS stopped mid-run (issue #5): the run goes on, nothing crashes or hangs.

These tests own their sandbox: they freeze, then kill, its S3 server, which
the session's sandbox must keep for every other test. One xdist group keeps
them on one worker, in this order (the last one kills S3 for good).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import botocore.config
import pytest
from fakes import FakeTools

from pytest_experiment.core.checks import CHECKS
from pytest_experiment.edges.results import ResultsStore
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.scenarios import set_scenario

from .lifecycle import ensure_template, experiment_doc, start_test_sandbox
from .runs import Session, run_live, write

pytestmark = pytest.mark.xdist_group("s3-outage")

# Runs inside the pytest under test: the S3 server hangs (SIGSTOP: connections are
# still accepted, nothing answers) after the experiment is Complete and before its
# first quality item reads summary.json.
FREEZE_S3_BEFORE_QUALITY = """
import os, signal

_frozen = False

def pytest_runtest_logstart(nodeid, location):
    global _frozen
    if not _frozen and "quality[" in nodeid:
        _frozen = True
        os.kill(int(os.environ["WEED_PID"]), signal.SIGSTOP)
"""

# As above, but the S3 server dies. The hook waits until the port refuses
# connections, so the read cannot race the kill.
KILL_S3_BEFORE_QUALITY = """
import os, signal, socket, time
from urllib.parse import urlparse

_killed = False

def pytest_runtest_logstart(nodeid, location):
    global _killed
    if _killed or "quality[" not in nodeid:
        return
    _killed = True
    os.kill(int(os.environ["WEED_PID"]), signal.SIGKILL)
    endpoint = urlparse(os.environ["WEED_ENDPOINT"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((endpoint.hostname, endpoint.port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.05)
    raise RuntimeError("S3 still accepts connections after SIGKILL")
"""


# Module scope: set up before pytester points HOME (and so the binary cache) elsewhere.
@pytest.fixture(scope="module")
def own_sandbox() -> Iterator[Sandbox]:
    with start_test_sandbox() as running:
        api = running.api_client()
        ensure_template(api)
        # No analyzer: it would write to S3 after Complete and only time out here.
        set_scenario(api, "outage-", "analyzer-skip", options={})
        api.close()
        yield running


def given_up_after(session: Session, sandbox: Sandbox, *, error: str) -> int:
    """Seconds the error of every quality item says S3 was tried for (one line each, all
    the same)."""
    instance = session.instance("fsync")["instance"]
    url = f"s3://experiment-results/{instance}/summary.json"
    errors = {line for line in session.stdout.splitlines() if line.startswith("[ERROR] ")}
    assert len(errors) == 1, session.stdout
    assert session.stdout.count("ERROR at setup of fsync::quality[") == len(CHECKS), session.stdout
    found = re.fullmatch(
        re.escape(f"[ERROR] no summary to score: {url}: S3 unreachable (gave up after ")
        + r"(\d+)"
        + re.escape(f's): {error} endpoint URL: "{sandbox.s3_endpoint}/')
        + re.escape(f'experiment-results/{instance}/summary.json"'),
        next(iter(errors)),
    )
    assert found, errors
    return int(found.group(1))


def prepare(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, *, hook: str
) -> None:
    """One published experiment, the sandbox's S3 keys, and ``hook`` as the project's conftest."""
    pytester.makeconftest(hook)
    write(pytester, "fsync", experiment_doc("outage-", publish=True))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sandbox.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sandbox.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("WEED_PID", str(sandbox.pids["seaweedfs"]))
    monkeypatch.setenv("WEED_ENDPOINT", sandbox.s3_endpoint)


def test_a_stalled_s3_is_reported_once_when_it_stalls_and_once_when_it_answers_again(
    own_sandbox: Sandbox,
) -> None:
    s3 = own_sandbox.s3_client()
    s3.put_object(Bucket=own_sandbox.bucket, Key="stall/summary.json", Body=b'{"phase": "x"}')
    # A real client with a short read timeout and no retries of its own, so the store's
    # own retry loop is what meets the stall.
    quick = boto3.client(
        "s3",
        endpoint_url=own_sandbox.s3_endpoint,
        aws_access_key_id=own_sandbox.access_key,
        aws_secret_access_key=own_sandbox.secret_key,
        region_name="us-east-1",
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            read_timeout=0.5,
            connect_timeout=0.5,
        ),
    )
    said: queue.Queue[str] = queue.Queue()
    store = ResultsStore(endpoint=own_sandbox.s3_endpoint, wait=60, client=quick, notify=said.put)
    read: list[Mapping[str, Any]] = []
    with own_sandbox.paused("seaweedfs"):
        reader = threading.Thread(
            target=lambda: read.append(store.summary(f"s3://{own_sandbox.bucket}/stall/"))
        )
        reader.start()
        stalled = said.get(timeout=30)
    reader.join(timeout=30)
    assert read == [{"phase": "x"}]
    assert re.fullmatch(
        rf"S3 {re.escape(own_sandbox.s3_endpoint)} not answering at \d\d:\d\d:\d\d UTC: "
        r"Read timeout on endpoint URL: .*; retrying",
        stalled,
    ), stalled
    back = said.get_nowait()
    assert re.fullmatch(
        rf"S3 {re.escape(own_sandbox.s3_endpoint)} answering again at \d\d:\d\d:\d\d UTC "
        r"after [\d.]+s",
        back,
    ), back
    assert said.empty()


def test_s3_hanging_after_complete_is_given_up_on_within_the_results_wait(
    pytester: pytest.Pytester, own_sandbox: Sandbox, fake_tools: FakeTools,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    prepare(pytester, monkeypatch, own_sandbox, hook=FREEZE_S3_BEFORE_QUALITY)
    weed = own_sandbox.pids["seaweedfs"]
    try:
        session = run_live(pytester, own_sandbox, "--experiment-results-wait=1s", "-rs")
    finally:
        os.kill(weed, signal.SIGCONT)
    outcomes = session.result.parseoutcomes()
    assert outcomes == {"passed": 16, "skipped": 2, "errors": len(CHECKS)}, session.stdout
    # botocore's three attempts, each cut at the 1 s wait: seconds, not 3 x 30 s.
    assert given_up_after(session, own_sandbox, error="Read timeout on") < 10
    # The stall is said once, as it starts, without log_cli.
    stalls = [line for line in session.stdout.splitlines() if " not answering at " in line]
    assert len(stalls) == 1, stalls
    assert stalls[0].startswith(f"S3 {own_sandbox.s3_endpoint} not answering at "), stalls
    assert "Read timeout on endpoint URL" in stalls[0]
    assert [t["priority"] for t in session.toil("fsync")] == [3]


def test_s3_stopped_after_complete_errors_quality_with_the_reason_and_files_toil(
    pytester: pytest.Pytester, own_sandbox: Sandbox, fake_tools: FakeTools,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    prepare(pytester, monkeypatch, own_sandbox, hook=KILL_S3_BEFORE_QUALITY)

    session = run_live(pytester, own_sandbox, "--experiment-results-wait=2s", "-rs")

    weed = own_sandbox.pids["seaweedfs"]
    assert not _running(weed), "S3 was never stopped: the test proved nothing"
    outcomes = session.result.parseoutcomes()
    # A run that could not verify its results is not green: the eight quality items are
    # errors (the reproducibility check among them); the components check (no catalogue
    # here) and the review are skipped.
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
    assert outcomes == {"passed": 16, "skipped": 2, "errors": len(CHECKS)}, outcomes
    instance = session.instance("fsync")
    assert instance["lifecycle"]["verdict"] == "pass"
    # Every quality item is an error saying why: the endpoint that stopped answering.
    assert given_up_after(session, own_sandbox, error="Could not connect to the") <= 3
    assert {c["verdict"] for c in instance["checks"]} == {"error"}, instance["checks"]
    assert len(instance["checks"]) == len(CHECKS)
    assert instance.get("gate") == "fail"  # unverified is never a pass
    toil = session.toil("fsync")
    assert [(t["title"].split(": s3://")[0], t["priority"]) for t in toil] == [
        (f"No results to score for {instance['instance']}", 3)
    ], toil


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for the sandbox's supervisor to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
