"""An operator that is not running: the lifecycle fails naming its Deployment once the
instance has had no status for ``--experiment-budget-operator``, long before the Pending
budget, and the unfinished instance is deleted per the cleanup policy. The in-memory
cluster plays the hub (its scripted operator writes nothing when told to)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.cluster import FakeCluster, Script
from fakes.live import connections
from fakes.output import Lines

from pytest_experiment.core.options import CleanupPolicy, Options
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import Status
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.live_run import LiveRun

NAMESPACE = "experiments"
DEPLOYMENT = "experiment-operator-system/experiment-operator-controller-manager"
# The Pending budget is 200 times the operator's: whichever fires first shows.
QUICK = Options(poll_interval=0.05, budget_delete=2.0, budget_operator=0.3, budget_pending=60.0)
SILENT = Script(phases=())
"""An operator that never writes a status."""


class CountingCluster(FakeCluster):
    """Counts the reads of the operator Deployment; its readiness can change mid-run."""

    readiness_reads = 0

    def operator_ready_replicas(self) -> int:
        self.readiness_reads += 1
        return super().operator_ready_replicas()


@dataclasses.dataclass
class Run:
    cluster: FakeCluster
    live: LiveRun
    out: Lines

    def launch(self, root: Path) -> Launch:
        path = root / "a" / "experiment.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "apiVersion: experiments.illm.io/v1alpha1\nkind: Experiment\n"
            f"metadata:\n  generateName: a-\n  namespace: {NAMESPACE}\n"
            "spec:\n  title: a\n  workflow:\n    template: a-validation\n"
        )
        launch = self.live.add(Experiment.from_source(read_source(path)))
        self.live.start([launch])
        return launch


Make = Callable[..., Run]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    runs: list[Run] = []

    def build(cluster: FakeCluster, options: Options = QUICK) -> Run:
        live = LiveRun(
            options=options,
            connections=connections(lambda: cluster, toil_file=tmp_path / "toil.jsonl"),
            validation_failure=lambda _: None,
            output=(out := Lines()),
        )
        runs.append(Run(cluster=cluster, live=live, out=out))
        return runs[-1]

    yield build
    for run in runs:
        run.cluster.stop()
        run.live.finish()


@pytest.mark.parametrize(
    ("policy", "action", "reason"),
    [
        (
            "on-success",
            "deleted",
            "unfinished (Pending) when the session ended; deleted so it holds no cloud resources",
        ),
        ("always", "deleted", "--experiment-cleanup=always"),
        ("never", "kept", "--experiment-cleanup=never"),
    ],
)
def test_no_status_with_the_operator_down_fails_naming_its_deployment(
    make: Make, tmp_path: Path, policy: CleanupPolicy, action: str, reason: str
) -> None:
    cluster = CountingCluster(script=SILENT, ready_replicas=0)
    run = make(cluster, dataclasses.replace(QUICK, cleanup=policy))
    launch = run.launch(tmp_path)

    verdict = run.live.follow(launch)

    assert verdict.status is Status.FAIL
    assert verdict.summary.startswith(f"Operator down: no status on {launch.instance} after ")
    assert verdict.summary.endswith(
        f"(--experiment-budget-operator 0.3s) and Deployment {DEPLOYMENT} has no ready replica; "
        "check it with: kubectl get deployment experiment-operator-controller-manager "
        "-n experiment-operator-system"
    )
    assert verdict.figures["operatorDown"] is True
    [toil] = [e.record for e in run.live.toil.logged if e.record.title.startswith("Operator down")]
    assert (toil.priority, toil.categories) == (1, ("operator",))
    [cleanup] = run.live.finish()
    assert (cleanup.action, cleanup.instance) == (action, launch.instance)
    assert cleanup.reason.startswith(reason), cleanup.reason
    assert ((NAMESPACE, launch.instance) in cluster.objects) is (action == "kept")


def test_a_ready_operator_is_waited_for_until_the_pending_budget(
    make: Make, tmp_path: Path
) -> None:
    # No status, but the Deployment has a ready replica: the operator may be slow, not
    # down. The Pending budget is the deadline, as before.
    cluster = CountingCluster(script=SILENT, ready_replicas=1)
    run = make(cluster, dataclasses.replace(QUICK, budget_pending=1.5))
    launch = run.launch(tmp_path)
    before = cluster.readiness_reads  # the pre-flight's

    verdict = run.live.follow(launch)

    assert verdict.summary.startswith(f"Pending timeout (1.5s) for {launch.instance}"), verdict
    # Read at 0.3s, 0.6s, ... and not on every wake-up of the item (every 0.5s at most).
    assert 1 <= cluster.readiness_reads - before <= 5


def test_an_operator_that_goes_down_later_is_noticed_at_the_next_read(
    make: Make, tmp_path: Path
) -> None:
    cluster = CountingCluster(script=SILENT, ready_replicas=1)
    run = make(cluster)
    launch = run.launch(tmp_path)
    watcher = run.live.watcher(NAMESPACE)
    watcher.wait_for(launch.instance, lambda o: True, timeout=5)

    real = cluster.operator_ready_replicas

    def first_ready_then_down() -> int:
        answer = real()
        cluster.ready_replicas = 0
        return answer

    cluster.operator_ready_replicas = first_ready_then_down  # type: ignore[method-assign]
    before = cluster.readiness_reads  # the pre-flight's
    verdict = run.live.follow(launch)

    assert verdict.summary.startswith("Operator down: "), verdict
    assert cluster.readiness_reads - before == 2


def test_an_instance_with_a_status_is_the_phase_budgets_business(
    make: Make, tmp_path: Path
) -> None:
    # The operator wrote Provisioning, then its Deployment lost its ready replica: the
    # instance is not untouched, so the Provisioning budget decides.
    cluster = CountingCluster(script=Script(hold="Provisioning"), ready_replicas=0)
    options = dataclasses.replace(QUICK, budget_provisioning=1.5)
    run = make(cluster, options)
    launch = run.launch(tmp_path)
    before = cluster.readiness_reads  # the pre-flight's

    verdict = run.live.follow(launch)

    assert verdict.summary.startswith(f"Provisioning timeout (1.5s) for {launch.instance}")
    assert cluster.readiness_reads == before


def test_no_operator_budget_waits_out_the_pending_budget(make: Make, tmp_path: Path) -> None:
    cluster = CountingCluster(script=SILENT, ready_replicas=0)
    options = dataclasses.replace(QUICK, budget_operator=None, budget_pending=1.0)
    run = make(cluster, options)
    launch = run.launch(tmp_path)
    before = cluster.readiness_reads  # the pre-flight's

    verdict = run.live.follow(launch)

    assert verdict.summary.startswith(f"Pending timeout (1s) for {launch.instance}")
    assert cluster.readiness_reads == before
