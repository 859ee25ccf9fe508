"""Faults injected into a real sandbox while the shared watch follows an experiment.

kube-apiserver killed and restarted, its connections cut or held down, etcd
compacted, etcd and the API server frozen. Each test holds the simulated
operator (SIGSTOP) while it breaks something, so what the operator does during
the fault is decided by the test, not by a race; then it checks the watch
missed nothing, reported nothing twice, said what it could not see, and
announced the outage once and the recovery once.

The module owns its sandbox: it kills the API server every other test shares.
One xdist group keeps these tests on one worker.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.core.watch_state import Change
from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.edges.watch import ExperimentWatcher
from pytest_experiment.sandbox import Sandbox, SandboxConfig, start_sandbox
from pytest_experiment.sandbox.core import crd_from_env
from pytest_experiment.sandbox.faults import Link, compact_etcd
from pytest_experiment.sandbox.scenarios import clear_scenario, set_scenario

from .lifecycle import (
    NAMESPACE,
    TIME_SCALE,
    TIMEOUT,
    ensure_template,
    experiment_doc,
    start_test_sandbox,
)

pytestmark = pytest.mark.xdist_group("faults")

# What the real operator writes, in order, for an experiment that completes.
# The lab's operator never writes Pending: the harness records it when it first sees the
# instance with no phase.
PHASES = ["Pending", "Provisioning", "Ready", "Running", "Complete"]
LOST = re.compile(r"watch of Experiments in experiments lost at \d\d:\d\d:\d\d UTC: (.*)")
BACK = re.compile(
    r"watch of Experiments in experiments back at \d\d:\d\d:\d\d UTC after [\d.]+s \((.*)\)"
)


def phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def terminal(obj: dict[str, Any]) -> bool:
    return phase(obj) in ("Complete", "Failed")


class Lines:
    """Outage lines as the watcher reports them, with a wait on the next one."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, line: str) -> None:
        with self._changed:
            self.seen.append(line)
            self._changed.notify_all()

    def wait(self, count: int) -> list[str]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.seen) >= count, timeout=TIMEOUT):
                raise AssertionError(f"expected {count} outage lines, got {self.seen}")
            return list(self.seen)

    def kinds(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for line in self.seen:
            if lost := LOST.fullmatch(line):
                found.append(("lost", lost.group(1)))
            elif back := BACK.fullmatch(line):
                found.append(("back", back.group(1)))
            else:
                found.append(("?", line))
        return found


@pytest.fixture(scope="module")
def hub() -> Iterator[Sandbox]:
    with start_test_sandbox() as running:
        api = running.api_client()
        ensure_template(api)
        api.close()
        yield running


@pytest.fixture
def link(hub: Sandbox) -> Iterator[Link]:
    with Link(hub.ports["apiserver"]) as relay:
        yield relay


@pytest.fixture
def lines() -> Lines:
    return Lines()


@pytest.fixture
def watcher(hub: Sandbox, link: Link, lines: Lines, tmp_path: Path) -> Iterator[ExperimentWatcher]:
    """The harness's watch, reaching the API server through ``link``."""
    cluster = connect(kubeconfig=link.kubeconfig(hub.kubeconfig, tmp_path / "kubeconfig"))
    # A short backoff keeps the tests quick; what is reported does not depend on it.
    with ExperimentWatcher(cluster, namespace=NAMESPACE, notify=lines, max_backoff=1.0) as started:
        yield started
    cluster.close()


@pytest.fixture
def frozen_operator(hub: Sandbox) -> Iterator[None]:
    """The operator stopped until the test resumes it (and, whatever happens, after)."""
    hub.pause("operator")
    try:
        yield
    finally:
        hub.resume("operator")


def direct(hub: Sandbox) -> Cluster:
    """A client of the test's own, straight to the API server."""
    return connect(kubeconfig=hub.kubeconfig)


def wait_direct(hub: Sandbox, instance: str, what: str, predicate: Any) -> dict[str, Any]:
    """The instance as the API server has it once ``predicate`` holds (a watch of the test's)."""
    cluster = direct(hub)
    try:
        with ExperimentWatcher(cluster, namespace=NAMESPACE) as own:
            found: dict[str, Any] = own.wait_for(instance, predicate, timeout=TIMEOUT, what=what)
            return found
    finally:
        cluster.close()


def create_held(hub: Sandbox, watcher: ExperimentWatcher, prefix: str) -> tuple[str, list[Change]]:
    """An experiment the (frozen) operator has not touched yet, seen by the watch, and
    the list every change the watch delivers for it from now on is appended to."""
    cluster = direct(hub)
    try:
        instance = cluster.create_experiment(experiment_doc(prefix), namespace=NAMESPACE)
    finally:
        cluster.close()
    watcher.wait_for(instance, lambda _: True, timeout=TIMEOUT, what="the new instance")
    changes: list[Change] = []
    watcher.subscribe(instance, changes.append)
    return instance, changes


def delivered(changes: list[Change]) -> list[tuple[str, bool]]:
    return [(t.value, t.observed) for c in changes for t in c.transitions if t.field == "phase"]


def test_a_watch_lost_while_the_operator_moves_on_resumes_and_replays_every_phase(
    hub: Sandbox, link: Link, watcher: ExperimentWatcher, lines: Lines, frozen_operator: None,
    prefix: str,
) -> None:  # fmt: skip
    instance, changes = create_held(hub, watcher, prefix)
    with link.down():
        lines.wait(1)
        hub.resume("operator")
        wait_direct(hub, instance, "Complete", terminal)
    watcher.wait_for(instance, terminal, timeout=TIMEOUT)
    lines.wait(2)

    # The API server still had the history: resumed from its version, the watch saw
    # every phase, late but for real, and listed nothing.
    assert delivered(changes) == [(p, True) for p in PHASES]
    assert [kind for kind, _ in lines.kinds()] == ["lost", "back"], lines.seen
    assert lines.kinds()[1] == ("back", "watch resumed")
    assert watcher.stats.relists == 0
    assert watcher.stats.outages == 1


def test_phases_passed_while_the_api_server_restarted_are_reported_not_observed(
    hub: Sandbox, link: Link, watcher: ExperimentWatcher, lines: Lines, frozen_operator: None,
    prefix: str,
) -> None:  # fmt: skip
    instance, changes = create_held(hub, watcher, prefix)
    api = hub.api_client()
    try:
        with link.down():
            lines.wait(1)
            # Something else on the hub writes meanwhile, as on any real hub: the
            # restarted server's cache then starts after the watch's version.
            set_scenario(api, f"{prefix}other-", "happy", options={})
            hub.restart_apiserver()
            hub.resume("operator")
            wait_direct(hub, instance, "Complete", terminal)
        watcher.wait_for(instance, terminal, timeout=TIMEOUT)
        lines.wait(2)
    finally:
        clear_scenario(api, f"{prefix}other-")
        api.close()

    timeline = watcher.observed(instance).timeline()
    assert [(t.value, t.observed) for t in timeline] == [
        ("Pending", True),
        ("Provisioning", False),
        ("Ready", False),
        ("Running", False),
        ("Complete", True),
    ]
    assert delivered(changes) == [(t.value, t.observed) for t in timeline]
    outage = timeline[1].missed
    assert outage is not None
    assert outage.started < outage.ended <= timeline[-1].seen_at
    assert lines.kinds() == [("lost", lines.kinds()[0][1]), ("back", "re-listed after 410 Gone")]
    assert watcher.stats.relists == 1
    assert watcher.stats.outages == 1


def test_api_server_killed_and_restarted_the_watch_comes_back_and_misses_nothing(
    hub: Sandbox, watcher: ExperimentWatcher, lines: Lines, frozen_operator: None, prefix: str
) -> None:
    instance, changes = create_held(hub, watcher, prefix)
    before = hub.pids["kube-apiserver"]

    assert hub.restart_apiserver() != before
    lines.wait(2)  # lost, then back on its own once the new server answers
    hub.resume("operator")
    watcher.wait_for(instance, terminal, timeout=TIMEOUT)

    assert delivered(changes) == [(p, True) for p in PHASES]
    assert [kind for kind, _ in lines.kinds()] == ["lost", "back"], lines.seen
    assert watcher.stats.outages == 1


def test_cut_watch_streams_are_resumed_without_a_relist(
    hub: Sandbox, link: Link, watcher: ExperimentWatcher, lines: Lines, frozen_operator: None,
    prefix: str,
) -> None:  # fmt: skip
    instance, changes = create_held(hub, watcher, prefix)
    watches = watcher.stats.watches
    for cut in range(1, 4):
        assert link.cut() >= 1
        lines.wait(2 * cut)
    hub.resume("operator")
    watcher.wait_for(instance, terminal, timeout=TIMEOUT)

    assert delivered(changes) == [(p, True) for p in PHASES]
    assert lines.kinds() == [("lost", lines.kinds()[0][1]), ("back", "watch resumed")] * 3
    assert watcher.stats.relists == 0
    assert watcher.stats.watches >= watches + 3
    assert watcher.stats.outages == 3


@pytest.fixture(scope="module")
def etcd_hub() -> Iterator[Sandbox]:
    """A hub whose API server serves watches from etcd, not from its cache: there,
    etcd's compaction is what takes a client's history away."""
    try:
        started = start_sandbox(
            SandboxConfig(time_scale=TIME_SCALE, crd=crd_from_env(), watch_cache=False)
        )
    except SandboxError as exc:
        pytest.fail(f"sandbox did not start: {exc}", pytrace=False)
    with started as running:
        api = running.api_client()
        ensure_template(api)
        api.close()
        yield running


def test_compaction_then_a_cut_gives_a_real_410_and_a_relist_that_misses_nothing(
    etcd_hub: Sandbox, lines: Lines, tmp_path: Path, prefix: str
) -> None:
    hub = etcd_hub
    cluster = direct(hub)
    with (
        Link(hub.ports["apiserver"]) as link,
        ExperimentWatcher(
            connect(kubeconfig=link.kubeconfig(hub.kubeconfig, tmp_path / "kubeconfig")),
            namespace=NAMESPACE,
            notify=lines,
        ) as watcher,
    ):
        hub.pause("operator")
        try:
            instance, changes = create_held(hub, watcher, prefix)
            with link.down():
                lines.wait(1)
                # Later changes, then etcd forgets everything before now: the watch's
                # version is history that no longer exists.
                for n in range(3):
                    cluster.annotate_experiment(
                        instance, namespace=NAMESPACE, annotations={"n": str(n)}
                    )
                compacted = compact_etcd(hub.ports["etcd"])
                assert compacted > int(instance_version(watcher, instance)) + 1
            lines.wait(2)
        finally:
            hub.resume("operator")
        watcher.wait_for(instance, terminal, timeout=TIMEOUT)
        stats = watcher.stats
    cluster.close()

    assert [k for k, _ in lines.kinds()] == ["lost", "back"], lines.seen
    assert lines.kinds()[1] == ("back", "re-listed after 410 Gone")
    assert stats.relists == 1
    # The operator was held: nothing happened that the re-list could have hidden.
    assert delivered(changes) == [(p, True) for p in PHASES]


def instance_version(watcher: ExperimentWatcher, instance: str) -> str:
    obj = watcher.observed(instance).obj
    assert obj is not None
    return str(obj["metadata"]["resourceVersion"])


def test_etcd_and_api_server_frozen_is_a_pause_not_an_outage(
    hub: Sandbox, watcher: ExperimentWatcher, lines: Lines, frozen_operator: None, prefix: str
) -> None:
    instance, changes = create_held(hub, watcher, prefix)
    stopped = threading.Event()
    with hub.paused("etcd", "kube-apiserver"):
        hub.resume("operator")  # its writes now hang on the frozen API server
        # A real stop, held while the operator's requests hang: nothing may move.
        assert not stopped.wait(3.0)
        # Only the state it had when the test subscribed.
        assert delivered(changes) == [("Pending", True)]
    watcher.wait_for(instance, terminal, timeout=TIMEOUT)

    assert delivered(changes) == [(p, True) for p in PHASES]
    # Shorter than any request timeout: the watch stream waited; nothing was lost.
    assert lines.seen == []
    assert watcher.stats.relists == 0
