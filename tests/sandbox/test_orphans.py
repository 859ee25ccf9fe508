"""Owner leases against the sandbox and its real CRD: the lease is on every created
instance and renewed; another live session never touches it; a session killed with
SIGKILL leaves instances a later session sweeps once their lease expired (a seeded chaos
test kills a serial pytest, an xdist controller or a worker at random points); a delete
the runner's role refuses fails the session."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lease
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import Informer, WaitTimeout, custom_lister, wait_until

from .lifecycle import NAMESPACE, Run, SetScenario, experiment_doc, status_of
from .rbac import Permission, install_runner
from .runs import SESSION_TIMEOUT, LiveProcess, managed, run_live, write

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")

DELETE_EXPERIMENTS = Permission(
    namespace="experiments", group="experiments.illm.io", resource="experiments", verb="delete"
)
LEASE = 4.0
CHAOS_SEED = int(os.environ.get("EXPERIMENT_CHAOS_SEED", "20261122"))
CHAOS_TRIALS = int(os.environ.get("EXPERIMENT_CHAOS_TRIALS", "10"))
MILESTONES = ("start", "created", "running", "complete", "deleting")
"""Where in a run a chaos kill can land: from the start, once an instance was created,
was Running, was Complete, or was being deleted (the run's own cleanup)."""


def notes(obj: Obj) -> dict[str, str]:
    found: dict[str, str] = (obj.get("metadata") or {}).get("annotations") or {}
    return found


class Recorder:
    """Every instance whose name starts with ``prefix`` that ever appears on the sandbox,
    and how far the furthest of them got (the milestones a chaos kill waits for)."""

    def __init__(self, k8s: client.ApiClient, prefix: str) -> None:
        self.prefix = prefix
        self.seen: dict[str, Obj] = {}
        self.reached: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        informer = Informer(
            custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
            name=f"recorder-{prefix}",
            on_event=self._event,
        )
        self._thread = threading.Thread(target=informer.run, args=(self._stop,), daemon=True)
        self._thread.start()

    def _event(self, kind: str, obj: Obj) -> None:
        name = str(obj["metadata"]["name"])
        if not name.startswith(self.prefix):
            return
        with self._lock:
            self.reached.add("created")
            if status_of(obj).get("phase") in ("Running", "Complete"):
                self.reached.add(str(status_of(obj)["phase"]).lower())
            if kind == "DELETED" or obj["metadata"].get("deletionTimestamp"):
                self.reached.add("deleting")
            else:
                self.seen[name] = obj

    def names(self) -> set[str]:
        with self._lock:
            return set(self.seen)

    def has_reached(self, milestone: str) -> bool:
        with self._lock:
            return milestone == "start" or milestone in self.reached

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def recorder(k8s: client.ApiClient, prefix: str) -> Iterator[Recorder]:
    made = Recorder(k8s, prefix)
    yield made
    made.stop()


def delete_all(k8s: client.ApiClient, prefix: str) -> None:
    for item in managed(k8s, prefix):
        Run(api=k8s, name=item["metadata"]["name"]).delete()


def running(k8s: client.ApiClient, prefix: str, count: int = 1) -> list[Obj]:
    objects = wait_until(
        custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
        lambda found: (
            sum(
                1
                for o in found.values()
                if o["metadata"]["name"].startswith(prefix)
                and status_of(o).get("phase") == "Running"
            )
            >= count
        ),
        timeout=SESSION_TIMEOUT,
        what=f"{count} {prefix} experiment(s) Running",
    )
    return [o for o in objects.values() if o["metadata"]["name"].startswith(prefix)]


def expires(obj: Obj) -> datetime:
    moment = lease.parse_time(notes(obj).get(lease.EXPIRES))
    assert moment is not None, notes(obj)
    return moment


def wait_expired(k8s: client.ApiClient, name: str) -> None:
    """Until the lease of ``name`` has run out (the sandbox's API server is on this
    machine's clock); read afresh, since nothing changes on the object meanwhile."""
    deadline = time.monotonic() + 3 * LEASE
    while expires(Run(api=k8s, name=name).get()) >= datetime.now(UTC):
        assert time.monotonic() < deadline, f"the lease of {name} never expired"
        time.sleep(0.2)


# -- the lease on the real CRD ------------------------------------------------------------------


def test_the_lease_survives_the_crd_and_is_renewed_while_the_session_runs(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario,
) -> None:  # fmt: skip
    scenario(prefix, "stuck-running")
    write(pytester, "held", experiment_doc(prefix))
    proc = LiveProcess(pytester, sandbox, f"--experiment-lease={LEASE:.0f}s")
    try:
        [obj] = running(k8s, prefix)
        name = obj["metadata"]["name"]
        first = lease.Lease.of(notes(Run(api=k8s, name=name).get()))
        assert first is not None, notes(obj)
        assert first.owner.pid == proc.proc.pid
        assert first.owner.run == obj["metadata"]["labels"]["pytest-experiment/run"]
        # Renewed: after more than one lease length its deadline is still ahead.
        renewed = Run(api=k8s, name=name).wait(
            lambda o: expires(o) > first.expires, what="its lease renewed", timeout=4 * LEASE
        )
        time.sleep(LEASE * 1.5)
        current = Run(api=k8s, name=name).get()
        assert expires(current) > datetime.now(UTC), notes(current)
        assert expires(current) >= expires(renewed)
        # The operator saw only annotation patches: the run is still where it was.
        assert status_of(current).get("phase") == "Running"
        proc.proc.send_signal(signal.SIGINT)
        code, report, text = proc.finish()
        assert code == pytest.ExitCode.INTERRUPTED, text
        assert [c["action"] for c in report["cleanup"]] == ["deleted"], text
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
        delete_all(k8s, prefix)


def test_a_live_sessions_instance_is_left_alone_and_swept_once_its_runner_is_killed(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario,
) -> None:  # fmt: skip
    scenario(prefix, "stuck-running")
    write(pytester, "held", experiment_doc(prefix))
    proc = LiveProcess(pytester, sandbox, f"--experiment-lease={LEASE:.0f}s")
    sweeper = pytester.path / "sweeper"
    sweeper.mkdir()
    try:
        [obj] = running(k8s, prefix)
        name = obj["metadata"]["name"]
        time.sleep(LEASE * 1.5)  # longer than the lease: only renewals keep it fresh

        def sweep() -> tuple[pytest.RunResult, Obj]:
            report = sweeper / "report.json"
            result = pytester.runpytest_subprocess(
                "sweeper", "-p", "no:cacheprovider", "--experiment-sweep",
                f"--experiment-kubeconfig={sandbox.kubeconfig}", f"--experiment-report={report}",
                timeout=SESSION_TIMEOUT,
            )  # fmt: skip
            return result, json.loads(report.read_text())

        result, report = sweep()
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        assert report["orphans"] == [], report["orphans"]
        assert status_of(Run(api=k8s, name=name).get()).get("phase") == "Running"

        proc.proc.kill()  # SIGKILL: no cleanup, no more renewals
        proc.proc.wait()
        wait_expired(k8s, name)
        result, report = sweep()
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        [orphan] = report["orphans"]
        assert (orphan["instance"], orphan["action"], orphan["pid"]) == (
            name, "deleted", proc.proc.pid
        )  # fmt: skip
        assert orphan["run"] == obj["metadata"]["labels"]["pytest-experiment/run"]
        result.stdout.fnmatch_lines(
            [f"Orphan {name} (held, {NAMESPACE}): owner lease expired: made by run *; deleting it*"]
        )
        assert managed(k8s, prefix) == []
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
        delete_all(k8s, prefix)


def test_under_xdist_the_controller_ends_the_lease_of_what_a_worker_kept(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    scenario: SetScenario,
) -> None:  # fmt: skip
    failing = f"{prefix}f-"
    scenario(failing, "fail-running", message="disk full")
    write(pytester, "fails", experiment_doc(failing))
    write(pytester, "passes", experiment_doc(prefix))
    try:
        session = run_live(pytester, sandbox, "-n", "2")
        assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
        kept = session.cleanup("fails")
        assert kept["action"] == "kept"
        assert session.cleanup("passes")["action"] == "deleted"
        [obj] = managed(k8s, failing)
        assert (
            notes(obj)[lease.KEPT]
            == f"run {obj['metadata']['labels']['pytest-experiment/run']}: {kept['reason']}"
        )
        assert lease.EXPIRES not in notes(obj)
    finally:
        delete_all(k8s, prefix)


# -- a refused delete --------------------------------------------------------------------------


def test_a_delete_the_runners_role_refuses_fails_the_session(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    runner = install_runner(k8s, sandbox, tmp_path / "runner", without=DELETE_EXPERIMENTS)
    write(pytester, "refused", experiment_doc(prefix))
    try:
        session = run_live(
            pytester, sandbox, "--experiment-cleanup=always", kubeconfig=runner.kubeconfig
        )
        out = session.stdout
        assert session.result.ret == pytest.ExitCode.TESTS_FAILED, out
        instance = session.instance("refused")["instance"]
        assert session.lifecycle("refused")["verdict"] == "pass"
        cleanup = session.cleanup("refused")
        assert cleanup["action"] == "kept"
        assert cleanup["error"] is True
        assert cleanup["reason"] == (
            f"delete refused: delete Experiment {NAMESPACE}/{instance}: forbidden: cannot delete "
            f"experiments (experiments.illm.io) in namespace {NAMESPACE} as {runner.user} "
            "(HTTP 403): the runner's role lacks this permission"
        )
        command = f"kubectl delete experiment {instance} -n {NAMESPACE}"
        assert cleanup["command"] == command
        session.result.stdout.fnmatch_lines(
            [
                f"  kept {instance} (refused): delete refused: *as {runner.user} (HTTP 403): the "
                f"runner's role lacks this permission; delete with: {command}",
                f"Cleanup failed: {instance} could not be deleted and still holds cloud "
                "resources; the session fails",
            ]
        )
        assert [o["metadata"]["name"] for o in managed(k8s, prefix)] == [instance]
    finally:
        delete_all(k8s, prefix)


# -- chaos: SIGKILL at random points -----------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (xdist's workers of a controller)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@dataclass
class Trial:
    number: int
    target: str
    after: str
    """The milestone the kill waits for (one of ``MILESTONES``)."""
    delay: float
    """Seconds from that milestone to the kill."""
    killed: str = ""
    made: set[str] = field(default_factory=set)
    swept: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"trial {self.number}: {self.target}, killed {self.killed}; made {len(self.made)}, "
            f"swept by the next session {len(self.swept)}, kept on purpose {len(self.kept)}, "
            f"unaccounted {len(self.unaccounted)}"
        )


def test_no_instance_is_left_unaccounted_after_sigkill_at_random_points(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
) -> None:  # fmt: skip
    rng = random.Random(CHAOS_SEED)
    trials = []
    for number in range(CHAOS_TRIALS):
        # Each target in turn; where it is killed is drawn: a milestone of the run,
        # then up to a second on (past the run's end, nothing is killed).
        target = ("serial", "controller", "worker")[number % 3]
        trial = Trial(number, target, after=rng.choice(MILESTONES), delay=rng.uniform(0.0, 1.0))
        trials.append(trial)
        one_chaos_trial(pytester, sandbox, k8s, trial, rng)
        print(trial.line())
    print(f"chaos seed {CHAOS_SEED}: {len(trials)} trials, {sum(len(t.made) for t in trials)} "
          f"instances made, {sum(len(t.unaccounted) for t in trials)} unaccounted")  # fmt: skip
    assert [t.unaccounted for t in trials if t.unaccounted] == []
    # The kills landed where orphans are made, not only before any create.
    assert sum(len(t.swept) for t in trials) > 0


def one_chaos_trial(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, trial: Trial,
    rng: random.Random,
) -> None:  # fmt: skip
    prefix = f"c{trial.number}{rng.getrandbits(20):05x}-"
    root = pytester.path / f"trial{trial.number}"
    for name in ("one", "two", "three"):
        folder = root / "experiments" / name
        folder.mkdir(parents=True)
        (folder / "experiment.yaml").write_text(json.dumps(experiment_doc(f"{prefix}{name[:2]}-")))
    recorder = Recorder(k8s, prefix)
    xdist = ["-n", "2"] if trial.target != "serial" else []
    args = [
        sys.executable, "-m", "pytest", "experiments", "-p", "no:cacheprovider", *xdist,
        f"--experiment-kubeconfig={sandbox.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        f"--experiment-lease={LEASE:.0f}s",
    ]  # fmt: skip
    family: list[int] = []
    try:
        with (root / "killed.log").open("w") as log:
            proc = subprocess.Popen(args, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        family = kill_at_a_random_point(proc, recorder, trial)
        # The lease runs out once every process of the killed run has gone.
        deadline = time.monotonic() + SESSION_TIMEOUT
        while any(alive(pid) for pid in family):
            assert time.monotonic() < deadline, f"processes of the killed run live on: {family}"
            time.sleep(0.2)
        proc.wait()
        time.sleep(LEASE + 1.0)
        follow_up(root, sandbox, trial, rng)
        account(k8s, recorder, trial, root)
    finally:
        recorder.stop()
        for pid in family:  # whatever of the run a failed trial left running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        delete_all(k8s, prefix)


def kill_at_a_random_point(
    proc: subprocess.Popen[bytes], recorder: Recorder, trial: Trial
) -> list[int]:
    """SIGKILL the trial's target ``trial.delay`` seconds after the run reached the
    milestone ``trial.after``; the pids of the run's processes."""
    deadline = time.monotonic() + SESSION_TIMEOUT
    while not recorder.has_reached(trial.after) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(trial.delay)
    workers = children(proc.pid)
    while trial.target == "worker" and not workers and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)  # a worker to kill: xdist is still starting them
        workers = children(proc.pid)
    family = [proc.pid, *workers]
    if proc.poll() is not None:
        trial.killed = "nothing (the run had ended)"
        return family
    if trial.target == "worker":
        if not workers:
            trial.killed = "nothing (no worker yet)"
            return family
        pid = workers[0]
        trial.killed = f"worker {pid} at {trial.after} +{trial.delay:.1f}s"
        os.kill(pid, signal.SIGKILL)
        return family
    trial.killed = f"{trial.target} at {trial.after} +{trial.delay:.1f}s"
    os.kill(proc.pid, signal.SIGKILL)
    return family


def follow_up(root: Path, sandbox: Sandbox, trial: Trial, rng: random.Random) -> None:
    """One more session in the namespace: a live one, or a sweep alone."""
    report = root / "follow-up.json"
    live = rng.random() < 0.3
    args = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        *(["experiments/one"] if live else ["--experiment-sweep", "--ignore=experiments"]),
        f"--experiment-kubeconfig={sandbox.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        f"--experiment-report={report}",
    ]  # fmt: skip
    done = subprocess.run(
        args, cwd=root, capture_output=True, text=True, timeout=SESSION_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    swept = json.loads(report.read_text())["orphans"]
    assert all(o["action"] == "deleted" for o in swept), swept
    trial.swept = [o["instance"] for o in swept]


def account(k8s: client.ApiClient, recorder: Recorder, trial: Trial, root: Path) -> None:
    """Every instance the trial made is gone, or was kept on purpose and says so."""
    trial.made = recorder.names()
    with contextlib.suppress(WaitTimeout):
        wait_until(
            custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
            lambda objects: (
                not any(
                    o["metadata"].get("deletionTimestamp")
                    for o in objects.values()
                    if o["metadata"]["name"].startswith(recorder.prefix)
                )
            ),
            timeout=60,
            what="deletions to finish",
        )
    for obj in managed(k8s, recorder.prefix):
        name = obj["metadata"]["name"]
        if lease.KEPT in notes(obj) and lease.EXPIRES not in notes(obj):
            trial.kept.append(name)
        else:
            trial.unaccounted.append(name)
    if trial.unaccounted:
        print((root / "killed.log").read_text()[-3000:])
