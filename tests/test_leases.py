"""Owner leases and the orphan sweep: every created instance carries a lease its session
renews; a later session lists and (per policy) deletes the instances whose lease expired,
and never touches another's: a live session's, an attached one, one kept on purpose, one
the harness did not create. Sessions share the in-memory cluster of tests/fakes; a
"killed" session is one whose renewals stopped without its cleanup."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.cluster import FakeCluster, Script
from fakes.live import connections
from fakes.output import Lines

from pytest_experiment.base.errors import PermissionDenied
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lease
from pytest_experiment.core.lease import Lease, Owner, orphans
from pytest_experiment.core.options import Options
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.run.launcher import EXPERIMENT_LABEL
from pytest_experiment.run.live_run import LiveRun
from pytest_experiment.run.role import Role

NAMESPACE = "experiments"
LEASE = 0.6
QUICK = Options(poll_interval=0.05, budget_delete=2.0, results_wait=1.0, lease=LEASE)
HOLD = Script(hold="Running")
REFUSED = PermissionDenied(
    "delete Experiment experiments/a-00001: forbidden: cannot delete experiments "
    "(experiments.illm.io) in namespace experiments as "
    "system:serviceaccount:experiment-ci:experiment-runner-with-a-long-name (HTTP 403): "
    "the runner's role lacks this permission",
    status=403,
)


@dataclasses.dataclass
class Session:
    live: LiveRun
    out: Lines
    root: Path

    def experiment(self, name: str) -> Experiment:
        path = self.root / name / "experiment.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "apiVersion: experiments.illm.io/v1alpha1\n"
            "kind: Experiment\n"
            f"metadata:\n  generateName: {name}-\n  namespace: {NAMESPACE}\n"
            f"spec:\n  title: {name}\n  workflow:\n    template: {name}-validation\n"
        )
        return Experiment.from_source(read_source(path))

    def create(self, name: str) -> str:
        """Apply experiment ``name``; its instance once created."""
        launch = self.live.add(self.experiment(name))
        self.live.start([launch])
        launch.apply.done.wait(5)
        assert launch.instance, launch.apply.error
        return launch.instance

    def follow(self, name: str) -> None:
        launch = self.live.find(name)
        assert launch is not None
        self.live.follow(launch)

    def killed(self) -> None:
        """SIGKILL, as far as the cluster can tell: renewals stop, no cleanup runs."""
        self.live.leases.stop()


Make = Callable[..., Session]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Make]:
    made: list[tuple[FakeCluster, Session]] = []

    def make(
        cluster: FakeCluster,
        options: Options = QUICK,
        run_id: str | None = None,
        *,
        ends_leases: bool = True,
    ) -> Session:
        out = Lines()
        live = LiveRun(
            role=(
                Role(run_id=run_id, ends_leases=ends_leases)
                if run_id
                else Role(ends_leases=ends_leases)
            ),
            options=options,
            connections=connections(lambda: cluster, toil_file=tmp_path / "toil.jsonl"),
            validation_failure=lambda _: None,
            output=out,
        )
        made.append((cluster, Session(live=live, out=out, root=tmp_path / str(len(made)))))
        return made[-1][1]

    yield make
    for cluster, done in made:
        cluster.stop()
        done.live.finish()


def notes_of(cluster: FakeCluster, instance: str) -> dict[str, str]:
    found: dict[str, str] = cluster.objects[(NAMESPACE, instance)]["metadata"]["annotations"]
    return found


def expires(cluster: FakeCluster, instance: str) -> datetime:
    moment = lease.parse_time(notes_of(cluster, instance).get(lease.EXPIRES))
    assert moment is not None
    return moment


def wait_expired(cluster: FakeCluster, instance: str, now: Callable[[], datetime]) -> None:
    deadline = time.monotonic() + 10
    while expires(cluster, instance) >= now():
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)


def local_now() -> datetime:
    return datetime.now(UTC)


# -- the lease on every instance ---------------------------------------------------------------


def test_every_created_instance_carries_a_lease_that_its_session_renews(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    run = session(cluster, run_id="r1")
    instance = run.create("a")
    first = Lease.of(notes_of(cluster, instance))
    assert first is not None
    assert first.owner == Owner(run="r1", host=socket.gethostname(), pid=os.getpid())
    assert timedelta(0) < first.expires - local_now() <= timedelta(seconds=LEASE)
    # Two lease lengths later it is still ahead: renewed, at a third of its length.
    time.sleep(2 * LEASE)
    assert expires(cluster, instance) > local_now()
    assert expires(cluster, instance) > first.expires + timedelta(seconds=LEASE)
    cluster.release(instance)
    run.follow("a")
    [cleanup] = run.live.finish()
    assert cleanup.action == "deleted"


def test_the_lease_length_is_its_option(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    run = session(cluster, dataclasses.replace(QUICK, lease=3600.0))
    instance = run.create("a")
    left = expires(cluster, instance) - local_now()
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


# -- what a later session sweeps -----------------------------------------------------------------


def test_a_killed_sessions_instance_is_swept_once_its_lease_expired(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    killed = session(cluster, run_id="dead")
    instance = killed.create("a")
    killed.killed()
    wait_expired(cluster, instance, local_now)

    later = session(cluster, run_id="later")
    assert later.live.sweep_orphans({NAMESPACE})
    [said] = [line for line in later.out.lines if line.startswith("Orphan ")]
    owner = f"run dead (host {socket.gethostname()}, pid {os.getpid()})"
    assert said.startswith(
        f"Orphan {instance} (a, {NAMESPACE}): owner lease expired: made by {owner}, "
    )
    assert said.endswith("; deleting it (--experiment-cleanup=on-success)")
    assert later.live.finish() == []
    [swept] = later.live.orphans
    record = swept.as_json()
    assert (record["action"], record["instance"], record["experiment"]) == (
        "deleted",
        instance,
        "a",
    )
    assert (record["run"], record["host"], record["pid"]) == (
        "dead",
        socket.gethostname(),
        os.getpid(),
    )
    assert record["reason"].startswith(f"owner lease expired: made by {owner}, ")
    assert record["reason"].endswith("; --experiment-cleanup=on-success")
    assert isinstance(record["ageSeconds"], float)
    assert record["leaseExpiredSeconds"] > 0
    assert (NAMESPACE, instance) not in cluster.objects


def test_another_live_sessions_instance_is_never_touched(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    alive = session(cluster, run_id="alive")
    instance = alive.create("a")
    time.sleep(2 * LEASE)  # longer than its lease: only its renewals keep it fresh
    later = session(cluster, run_id="later")
    assert later.live.sweep_orphans({NAMESPACE})
    later.live.finish()
    assert later.live.orphans == []
    assert instance not in cluster.deleted


def test_under_never_an_orphan_is_listed_with_the_command_and_kept(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    killed = session(cluster, run_id="dead")
    instance = killed.create("a")
    killed.killed()
    wait_expired(cluster, instance, local_now)
    later = session(cluster, dataclasses.replace(QUICK, cleanup="never"))
    later.live.sweep_orphans({NAMESPACE})
    later.live.finish()
    [swept] = later.live.orphans
    assert swept.cleanup.action == "kept"
    assert swept.cleanup.reason.endswith("; --experiment-cleanup=never")
    assert swept.cleanup.command == f"kubectl delete experiment {instance} -n {NAMESPACE}"
    assert instance not in cluster.deleted


def test_an_attached_instance_is_never_swept(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    killed = session(cluster, run_id="dead")
    instance = killed.create("a")
    killed.killed()
    wait_expired(cluster, instance, local_now)
    attaching = session(cluster, dataclasses.replace(QUICK, instance=(("a", instance),)))
    attaching.live.sweep_orphans({NAMESPACE})
    attaching.live.finish()
    assert attaching.live.orphans == []
    assert instance not in cluster.deleted


def test_an_instance_kept_on_purpose_ends_its_lease_and_is_no_orphan(session: Make) -> None:
    cluster = FakeCluster()
    kept = session(cluster, dataclasses.replace(QUICK, cleanup="never"), run_id="keeper")
    instance = kept.create("a")
    kept.follow("a")
    [cleanup] = kept.live.finish()
    assert cleanup.action == "kept"
    notes = notes_of(cluster, instance)
    assert lease.EXPIRES not in notes
    assert notes[lease.KEPT] == "run keeper: --experiment-cleanup=never"
    time.sleep(LEASE)
    later = session(cluster)
    later.live.sweep_orphans({NAMESPACE})
    later.live.finish()
    assert later.live.orphans == []
    assert instance not in cluster.deleted


def test_a_worker_leaves_the_lease_of_what_it_keeps_to_the_controller(session: Make) -> None:
    # The worker's decision reaches the user only through the controller: should the
    # controller be dead, the lease must run out so that a later session sweeps it.
    cluster = FakeCluster()
    never = dataclasses.replace(QUICK, cleanup="never")
    worker = session(cluster, never, run_id="shared", ends_leases=False)
    instance = worker.create("a")
    worker.follow("a")
    [cleanup] = worker.live.finish()
    assert (cleanup.action, cleanup.namespace) == ("kept", NAMESPACE)
    assert lease.KEPT not in notes_of(cluster, instance)
    renewed = expires(cluster, instance)
    time.sleep(LEASE)
    assert expires(cluster, instance) == renewed, "no longer renewed"
    # The controller, once the worker's facts reach it:
    controller = session(cluster, never, run_id="shared")
    controller.live.end_lease(NAMESPACE, instance, reason=cleanup.reason)
    assert notes_of(cluster, instance)[lease.KEPT] == "run shared: --experiment-cleanup=never"
    assert lease.EXPIRES not in notes_of(cluster, instance)


def test_an_instance_the_harness_did_not_create_is_never_touched(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    past = lease.timestamp(local_now() - timedelta(hours=1))
    stale = {
        lease.RUN: "someone", lease.HOST: "h", lease.PID: "1", lease.EXPIRES: past,
    }  # fmt: skip
    # A lease-shaped annotation without the harness's label, and the label without a lease.
    foreign = cluster.create_experiment(
        {"metadata": {"generateName": "x-", "annotations": stale}}, namespace=NAMESPACE
    )
    unleased = cluster.create_experiment(
        {"metadata": {"generateName": "y-", "labels": dict([lease.MANAGED_BY])}},
        namespace=NAMESPACE,
    )
    later = session(cluster)
    later.live.sweep_orphans({NAMESPACE})
    later.live.finish()
    assert later.live.orphans == []
    assert cluster.deleted == []
    assert {foreign, unleased} <= {name for _, name in cluster.objects}


# -- a refused delete --------------------------------------------------------------------------


def test_a_refused_delete_at_cleanup_is_an_error_with_the_whole_reason(session: Make) -> None:
    cluster = FakeCluster()
    run = session(cluster, dataclasses.replace(QUICK, cleanup="always"))
    instance = run.create("a")
    run.follow("a")
    cluster.fail_next("delete", REFUSED)
    [cleanup] = run.live.finish()
    assert cleanup.action == "kept"
    assert cleanup.error
    assert cleanup.reason == f"delete refused: {REFUSED}"
    assert cleanup.command == f"kubectl delete experiment {instance} -n {NAMESPACE}"
    assert cleanup.as_json()["error"] is True
    # Not kept on purpose: its lease is left to expire, so a later session sweeps it.
    assert lease.KEPT not in notes_of(cluster, instance)
    assert lease.EXPIRES in notes_of(cluster, instance)


def test_a_refused_delete_of_an_orphan_is_an_error(session: Make) -> None:
    cluster = FakeCluster(script=HOLD)
    killed = session(cluster, run_id="dead")
    instance = killed.create("a")
    killed.killed()
    wait_expired(cluster, instance, local_now)
    later = session(cluster)
    cluster.fail_next("delete", REFUSED)
    later.live.sweep_orphans({NAMESPACE})
    later.live.finish()
    [swept] = later.live.orphans
    assert (swept.cleanup.action, swept.cleanup.error) == ("kept", True)
    assert swept.cleanup.reason.endswith(f"; delete refused: {REFUSED}")
    assert swept.cleanup.command == f"kubectl delete experiment {instance} -n {NAMESPACE}"


# -- the server's clock ----------------------------------------------------------------------------


class SkewedCluster(FakeCluster):
    """An API server whose clock is ``skew`` away from this machine's."""

    def __init__(self, *, skew: timedelta, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.skew = skew

    def server_now(self) -> datetime:
        return datetime.now(UTC) + self.skew


@pytest.mark.parametrize("skew", [timedelta(hours=1), timedelta(hours=-1)], ids=["ahead", "behind"])
def test_leases_are_written_and_judged_on_the_servers_clock(session: Make, skew: timedelta) -> None:
    cluster = SkewedCluster(skew=skew, script=HOLD)
    alive = session(cluster, run_id="alive")
    instance = alive.create("a")
    written = expires(cluster, instance)
    assert abs(written - (cluster.server_now() + timedelta(seconds=LEASE))) < timedelta(seconds=1)
    later = session(cluster, run_id="later")
    later.live.sweep_orphans({NAMESPACE})
    later.live.finish()
    assert later.live.orphans == []
    # Killed, it expires on the server's clock too, whatever this machine's says.
    alive.killed()
    wait_expired(cluster, instance, cluster.server_now)
    last = session(cluster, run_id="last")
    last.live.sweep_orphans({NAMESPACE})
    last.live.finish()
    assert [s.cleanup.instance for s in last.live.orphans] == [instance]


# -- the core decision -----------------------------------------------------------------------------


def obj(name: str, notes: dict[str, str], **meta: object) -> Obj:
    return {
        "metadata": {
            "name": name,
            "labels": {**dict([lease.MANAGED_BY]), EXPERIMENT_LABEL: "web"},
            "annotations": notes,
            "creationTimestamp": "2026-01-01T10:00:00Z",
            **meta,
        }
    }


def test_a_lease_reads_back_what_it_writes_and_a_broken_one_is_not_judged() -> None:
    written = Lease(
        owner=Owner(run="r", host="ci-7", pid=42),
        expires=datetime(2026, 1, 1, 12, 0, 1, 250000, tzinfo=UTC),
    )
    notes = written.annotations()
    assert notes[lease.EXPIRES] == "2026-01-01T12:00:01.250Z"
    assert Lease.of(notes) == written
    for broken in (
        {**notes, lease.EXPIRES: "tomorrow"},
        {**notes, lease.EXPIRES: "2026-01-01T12:00:01"},  # no zone: cannot be compared
        {**notes, lease.PID: "many"},
        {k: v for k, v in notes.items() if k != lease.RUN},
        {k: v for k, v in notes.items() if k != lease.EXPIRES},  # ended
    ):
        assert Lease.of(broken) is None, broken


def test_orphans_are_the_expired_leases_of_other_runs() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def leased(run: str, expires: datetime) -> dict[str, str]:
        return Lease(owner=Owner(run=run, host="h", pid=7), expires=expires).annotations()

    expired, fresh = leased("old", now - timedelta(minutes=110)), leased("old", now)
    objects = [
        obj("expired", expired),
        obj("fresh", fresh),  # its deadline is now: not passed yet
        obj("mine", leased("me", now - timedelta(hours=1))),
        obj("attached", expired),
        obj("deleting", expired, deletionTimestamp="2026-01-01T11:00:00Z"),
        {"metadata": {"name": "unlabelled", "annotations": expired}},
    ]
    found = orphans(
        objects,
        namespace=NAMESPACE,
        now=now,
        own_run="me",
        attached={"attached"},
        experiment_label=EXPERIMENT_LABEL,
    )
    assert [o.instance for o in found] == ["expired"]
    [orphan] = found
    assert orphan.experiment == "web"
    assert orphan.age == 2 * 3600
    assert orphan.describe() == (
        "made by run old (host h, pid 7), 2h old, its lease expired 1h50m ago"
    )


def test_the_lease_annotations_are_named_under_the_harness_prefix() -> None:
    expires = datetime(2026, 12, 7, 10, 0, 0, 999000, tzinfo=UTC)
    held = Lease(owner=Owner(run="r1", host="h1", pid=42), expires=expires)
    assert held.annotations() == {
        "pytest-experiment/lease-run": "r1",
        "pytest-experiment/lease-host": "h1",
        "pytest-experiment/lease-pid": "42",
        "pytest-experiment/lease-expires": "2026-12-07T10:00:00.999Z",
    }
    assert lease.ended("kept by --keep") == {
        "pytest-experiment/lease-expires": None,
        "pytest-experiment/kept": "kept by --keep",
    }


def test_an_empty_or_non_text_time_is_no_time() -> None:
    assert lease.parse_time("") is None
    assert lease.parse_time(None) is None
    assert lease.parse_time(42) is None
    assert lease.parse_time("2026-12-07T10:00:00") is None
    assert lease.parse_time("2026-12-07T10:00:00Z") == datetime(2026, 12, 7, 10, tzinfo=UTC)


def test_a_lease_is_renewed_every_third_of_its_length() -> None:
    assert lease.RENEW_FRACTION == 3


def test_an_expired_lease_is_found_after_instances_that_are_not_orphans() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)

    def instance(
        name: str, expires: datetime, *, managed: bool = True, run: str = "other"
    ) -> dict[str, object]:
        held = Lease(owner=Owner(run=run, host="h", pid=1), expires=expires)
        labels = {"app.kubernetes.io/managed-by": "pytest-experiment"} if managed else {}
        return {"metadata": {"name": name, "labels": labels, "annotations": held.annotations()}}

    past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    listed = [
        instance("a-unmanaged", past, managed=False),
        instance("a-mine", past, run="mine"),
        instance("b-live", future),
        instance("c-orphan", past),
    ]
    found = orphans(
        listed,
        namespace="experiments",
        now=now,
        own_run="mine",
        attached=(),
        experiment_label="experiment",
    )
    assert [o.instance for o in found] == ["c-orphan"]
    assert found[0].experiment == "?"  # no experiment label to name it by
