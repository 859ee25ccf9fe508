"""One shared watch follows every experiment on the real sandbox (R31, P1, P2, S1)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_experiment.core.watch_state import Change, InstanceDeleted, WatchTimeout
from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.edges.watch import ExperimentWatcher
from pytest_experiment.sandbox import Sandbox

from .lifecycle import NAMESPACE, OPERATOR_FLAVOURS, TIMEOUT, SetScenario, experiment_doc

PHASES = ["Pending", "Provisioning", "Ready", "Running", "Complete"]


def terminal(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("phase") in ("Complete", "Failed")


def reached(phase: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        current = (obj.get("status") or {}).get("phase") or "Pending"
        return terminal(obj) or PHASES.index(current) >= PHASES.index(phase)

    return check


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    connected = connect(kubeconfig=sandbox.kubeconfig)
    yield connected
    connected.close()


@pytest.fixture
def watcher(cluster: Cluster) -> Iterator[ExperimentWatcher]:
    with ExperimentWatcher(cluster, namespace=NAMESPACE) as started:
        yield started


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_every_phase_is_seen_in_order_with_timestamps(
    cluster: Cluster, watcher: ExperimentWatcher, workflow_template: str, prefix: str,
    scenario: SetScenario, flavour: str,
) -> None:  # fmt: skip
    # The real operator never writes Pending: the watch records it on first sight.
    scenario(prefix, "happy", operator=flavour)
    changes: list[Change] = []
    instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
    watcher.subscribe(instance, changes.append)
    final = watcher.wait_for(instance, terminal, timeout=TIMEOUT, what="a terminal phase")
    assert final["status"]["phase"] == "Complete"
    timeline = watcher.observed(instance).timeline()
    assert [t.value for t in timeline] == PHASES
    assert all(a.seen_at <= b.seen_at for a, b in itertools.pairwise(timeline))
    # The subscriber saw the same transitions, each once (its late-join replay included).
    delivered = [t.value for c in changes for t in c.transitions if t.field == "phase"]
    assert delivered == PHASES
    cluster.delete_experiment(instance, namespace=NAMESPACE)
    watcher.wait_deleted(instance, timeout=TIMEOUT)


def test_ten_experiments_share_one_watch(
    cluster: Cluster, watcher: ExperimentWatcher, workflow_template: str, prefix: str
) -> None:
    # Detection latency is the benchmark's (the real status schema keeps no phase stamps to
    # measure it against); here: one watch follows ten whole lifecycles.
    before = watcher.stats
    instances = [
        cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE) for _ in range(10)
    ]
    for instance in instances:
        watcher.wait_for(instance, terminal, timeout=TIMEOUT, what="a terminal phase")
    after = watcher.stats
    # P2: no list and at most one re-watch (a server-side timeout) for ten whole lifecycles.
    assert after.lists == before.lists
    assert after.watches - before.watches <= 1
    for instance in instances:
        assert [t.value for t in watcher.observed(instance).timeline()] == PHASES
        cluster.delete_experiment(instance, namespace=NAMESPACE)


def test_forced_relists_miss_nothing_and_duplicate_nothing(
    cluster: Cluster, watcher: ExperimentWatcher, workflow_template: str, prefix: str
) -> None:
    changes: list[Change] = []
    instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
    watcher.subscribe(instance, changes.append)
    lists = watcher.stats.lists
    # Drop the stream at each phase, as a restarted API server or a 410 would.
    for phase in PHASES[1:4]:
        watcher.wait_for(instance, reached(phase), timeout=TIMEOUT, what=phase)
        watcher.resync()
    watcher.wait_for(instance, terminal, timeout=TIMEOUT)
    assert watcher.stats.lists >= lists + 3
    assert watcher.stats.relists >= 3
    assert [t.value for t in watcher.observed(instance).timeline()] == PHASES
    delivered = [t.value for c in changes for t in c.transitions if t.field == "phase"]
    assert delivered == PHASES
    cluster.delete_experiment(instance, namespace=NAMESPACE)


def test_waits_end_on_deadline_or_deletion(
    cluster: Cluster, watcher: ExperimentWatcher, workflow_template: str, prefix: str, scenario: Any
) -> None:
    scenario(prefix, "stuck-pending")
    instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
    # Seen with no phase at all (the real operator's Pending).
    watcher.wait_for(instance, lambda o: True, timeout=TIMEOUT)
    with pytest.raises(WatchTimeout, match=f"{instance}: Provisioning .*last phase Pending"):
        watcher.wait_for(instance, terminal, timeout=0.3, what="Provisioning")
    cluster.delete_experiment(instance, namespace=NAMESPACE)
    with pytest.raises(InstanceDeleted):
        watcher.wait_for(instance, terminal, timeout=TIMEOUT)
    with pytest.raises(WatchTimeout, match="never seen"):
        watcher.wait_for("never-created-x", terminal, timeout=0.1)
