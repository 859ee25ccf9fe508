"""The live run against the in-memory cluster: the queue, the cleanup policies and the
polling fallback, through ``LiveRun``'s public methods (no sandbox, no kubernetes)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.cluster import FINALIZER, FakeCluster, Script
from fakes.live import connections
from fakes.output import Lines
from fakes.results import FakeResultsStore

from pytest_experiment.base.errors import ClusterError, OutcomeUnknown
from pytest_experiment.core.options import CleanupPolicy, Options
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import Change
from pytest_experiment.run import publish
from pytest_experiment.run.cleanup import Cleanup
from pytest_experiment.run.launcher import CREATE_LABEL, EXPERIMENT_LABEL, RUN_LABEL
from pytest_experiment.run.live_run import LiveRun
from pytest_experiment.run.role import Role

NAMESPACE = "experiments"
QUICK = Options(poll_interval=0.05, budget_delete=2.0, results_wait=1.0)


@dataclasses.dataclass
class Session:
    cluster: FakeCluster
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


Make = Callable[..., Session]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Make]:
    sessions: list[Session] = []

    def make(
        cluster: FakeCluster,
        options: Options = QUICK,
        run_id: str | None = None,
        store: FakeResultsStore | None = None,
    ) -> Session:
        out = Lines()
        live = LiveRun(
            role=Role(run_id=run_id) if run_id else None,
            options=options,
            connections=connections(
                lambda: cluster,
                toil_file=tmp_path / "toil.jsonl",
                store=lambda _: store or FakeResultsStore(),
            ),
            validation_failure=lambda _: None,
            output=out,
        )
        sessions.append(Session(cluster=cluster, live=live, out=out, root=tmp_path))
        return sessions[-1]

    yield make
    for made in sessions:
        made.cluster.stop()
        made.live.finish()


def test_max_concurrent_applies_the_next_only_when_one_ends(session: Make) -> None:
    cluster = FakeCluster(script=Script(hold="Running"))
    run = session(cluster, dataclasses.replace(QUICK, max_concurrent=2))
    launches = [run.live.add(run.experiment(name)) for name in ("a", "b", "c")]
    run.live.start(launches)
    first, second, third = launches
    assert cluster.created == [first.instance, second.instance]
    assert third.apply.queued
    assert not third.instance
    assert "c: queued (--experiment-max-concurrent 2)" in run.out.lines

    cluster.release(first.instance)
    assert run.live.follow(first).status is Status.PASS
    cluster.release(second.instance)
    third.apply.done.wait(5)
    cluster.release(third.instance)
    assert [run.live.follow(x).status for x in (second, third)] == [Status.PASS] * 2

    assert cluster.created == [first.instance, second.instance, third.instance]
    # The third was created after the first ended, never alongside two running ones.
    assert cluster.version_of(third.instance, "created") > cluster.version_of(
        first.instance, "Complete"
    )
    assert max(_running_at_once(cluster)) == 2


def _running_at_once(cluster: FakeCluster) -> list[int]:
    running: set[str] = set()
    counts = []
    for _, _, kind, obj in cluster.log:
        name = obj["metadata"]["name"]
        phase = (obj.get("status") or {}).get("phase")
        if kind == "ADDED":
            running.add(name)
        elif kind == "DELETED" or phase in ("Complete", "Failed"):
            running.discard(name)
        counts.append(len(running))
    return counts


FAILING = Script(
    phases=("Provisioning", "Failed"),
    final=lambda _: {"conditions": [{"type": "Failed", "status": "True", "message": "quota"}]},
)


@pytest.mark.parametrize(
    ("policy", "script", "action", "reason"),
    [
        ("on-success", Script(), "deleted", "passed"),
        (
            "on-success",
            FAILING,
            "kept",
            "lifecycle FAIL: [FAIL] Experiment {i} failed in Provisioning: quota",
        ),
        ("always", FAILING, "deleted", "--experiment-cleanup=always"),
        ("never", Script(), "kept", "--experiment-cleanup=never"),
    ],
)
def test_each_cleanup_policy_after_a_followed_run(
    session: Make, policy: CleanupPolicy, script: Script, action: str, reason: str
) -> None:
    cluster = FakeCluster(script=script)
    run = session(cluster, dataclasses.replace(QUICK, cleanup=policy))
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    run.live.follow(launch)
    [cleanup] = run.live.finish()
    assert (cleanup.action, cleanup.instance) == (action, launch.instance)
    assert cleanup.reason.startswith(reason.format(i=launch.instance)), cleanup.reason
    gone = (NAMESPACE, launch.instance) not in cluster.objects
    assert gone is (action == "deleted")
    if action == "kept":
        assert cleanup.command == f"kubectl delete experiment {launch.instance} -n {NAMESPACE}"


def test_a_worker_ending_first_leaves_the_other_workers_instances_alone(session: Make) -> None:
    # Under xdist every worker carries the controller's run label; a worker that ends
    # first must not sweep, as a stray of its own, what another worker is still following.
    cluster = FakeCluster(script=Script(hold="Running"))
    first, second = session(cluster, run_id="shared"), session(cluster, run_id="shared")
    running = second.live.add(second.experiment("b"))
    second.live.start([running])
    second.live.watcher(NAMESPACE).wait_for(
        running.instance, lambda o: o.get("status", {}).get("phase") == "Running", timeout=5
    )
    ended = first.live.add(first.experiment("a"))
    first.live.start([ended])
    cluster.release(ended.instance)
    first.live.follow(ended)
    cleanups = first.live.finish()
    assert [c.instance for c in cleanups] == [ended.instance]
    assert running.instance not in cluster.deleted
    assert (NAMESPACE, running.instance) in cluster.objects


def test_on_success_deletes_an_instance_the_session_left_unfinished(session: Make) -> None:
    cluster = FakeCluster(script=Script(hold="Running"))
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    run.live.watcher(NAMESPACE).wait_for(
        launch.instance, lambda o: o.get("status", {}).get("phase") == "Running", timeout=5
    )
    [cleanup] = run.live.finish()  # stopped (Ctrl-C, -x) before its lifecycle item ran
    assert cleanup.action == "deleted"
    assert cleanup.reason.startswith("unfinished (Running) when the session ended")
    assert launch.instance in cluster.deleted


def test_a_finalizer_that_holds_on_is_reported_held_not_deleted(session: Make) -> None:
    cluster = FakeCluster(script=Script(finalizers=(FINALIZER,)))
    run = session(cluster, dataclasses.replace(QUICK, budget_delete=0.3))
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    run.live.follow(launch)
    [cleanup] = run.live.finish()
    assert cleanup == Cleanup(
        experiment="a",
        instance=launch.instance,
        action="held",
        reason=f"passed; deletion requested but still held by finalizer {FINALIZER} after 0.3s",
        command=cleanup.command,
    )
    assert (NAMESPACE, launch.instance) in cluster.objects


def test_a_finalizer_let_go_in_time_is_deleted(session: Make) -> None:
    cluster = FakeCluster(script=Script(finalizers=(FINALIZER,)))
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    run.live.follow(launch)

    def operator_cleans_up(change: Change) -> None:
        if change.obj["metadata"].get("deletionTimestamp"):
            cluster.let_go(launch.instance)

    run.live.watcher(NAMESPACE).subscribe(launch.instance, operator_cleans_up)
    [cleanup] = run.live.finish()
    assert (cleanup.action, cleanup.reason) == ("deleted", "passed")


def test_every_delete_is_requested_before_any_is_waited_on(session: Make) -> None:
    # Each finalizer holds its instance until both deletes have been asked for (whatever
    # the clock says): waiting on one before asking for the other spends the whole
    # budget on it, and it is reported held.
    cluster = FakeCluster(script=Script(finalizers=(FINALIZER,)))
    run = session(cluster)
    launches = [run.live.add(run.experiment(name)) for name in ("a", "b")]
    run.live.start(launches)
    for launch in launches:
        run.live.follow(launch)
    both = {launch.instance for launch in launches}
    let_go: list[str] = []

    def operator_cleans_up(change: Change) -> None:
        if both <= set(cluster.deleted) and not let_go:
            let_go.extend(sorted(both))
            for instance in let_go:
                cluster.let_go(instance)

    for launch in launches:
        run.live.watcher(NAMESPACE).subscribe(launch.instance, operator_cleans_up)
    cleanups = run.live.finish()
    assert [(c.instance, c.action, c.reason) for c in cleanups] == [
        (launch.instance, "deleted", "passed") for launch in launches
    ]
    assert cluster.deleted == [launch.instance for launch in launches]


def test_deletes_a_finalizer_holds_share_one_budget_not_one_each(session: Make) -> None:
    # Three finalizers that never let go: the waits on them together spend one
    # --experiment-budget-delete, so a session with many held instances still ends in
    # about that time, not in one budget per instance.
    budget = 0.6
    cluster = FakeCluster(script=Script(finalizers=(FINALIZER,)))
    run = session(cluster, dataclasses.replace(QUICK, budget_delete=budget))
    launches = [run.live.add(run.experiment(name)) for name in ("a", "b", "c")]
    run.live.start(launches)
    for launch in launches:
        run.live.follow(launch)
    watcher = run.live.watcher(NAMESPACE)
    waited: list[float] = []
    wait_deleted = watcher.wait_deleted

    def recorded(instance: str, *, timeout: float) -> None:
        waited.append(timeout)
        wait_deleted(instance, timeout=timeout)

    watcher.wait_deleted = recorded  # type: ignore[method-assign]
    cleanups = run.live.finish()
    assert [(c.instance, c.action) for c in cleanups] == [
        (launch.instance, "held") for launch in launches
    ]
    assert len(waited) == 3, waited
    assert waited[0] > 0, waited
    # Each wait is what is left of the one budget when it starts.
    assert sum(waited) <= budget, waited
    for launch in launches:
        cluster.let_go(launch.instance)


def test_the_watch_refused_falls_back_to_listing_and_says_what_it_missed(session: Make) -> None:
    cluster = FakeCluster(script=Script(phases=("Provisioning",)), refuse_watch=True)
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    watcher = run.live.watcher(NAMESPACE)
    watcher.wait_for(
        launch.instance, lambda o: o.get("status", {}).get("phase") == "Provisioning", timeout=5
    )
    lists = cluster.requests["list"]
    # Three patches no list can fall between: only the last is seen by the next poll.
    cluster.set_statuses(
        launch.instance,
        {"phase": "Ready"},
        {"phase": "Running"},
        {"phase": "Complete", "completedAt": "2025-01-01T00:00:00Z"},
    )
    assert run.live.follow(launch).status is Status.PASS
    assert cluster.requests["watch"] == 1  # refused once, then never asked again
    assert cluster.requests["list"] > lists
    timeline = watcher.observed(launch.instance).timeline()
    assert [(t.value, t.observed) for t in timeline] == [
        # Created and moved on between two polls: Pending was never seen (and is never
        # inferred: the real operator does not write it).
        ("Provisioning", True),
        ("Ready", False),
        ("Running", False),
        ("Complete", True),
    ]
    missed = [line for line in run.out.lines if "not observed" in line]
    assert [line.split(" (")[0] for line in missed] == [
        f"{launch.instance}: Ready",
        f"{launch.instance}: Running",
    ]
    assert all("between two polls" in line for line in missed)


def test_a_refused_watch_says_once_that_it_polls_instead(session: Make) -> None:
    cluster = FakeCluster(script=Script(hold="Running"), refuse_watch=True)
    run = session(cluster, dataclasses.replace(QUICK, poll_interval=0.2))
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    run.live.watcher(NAMESPACE).wait_for(
        launch.instance, lambda o: o.get("status", {}).get("phase") == "Running", timeout=30
    )
    # Several polls after the refusal, each a list, before the run may end.
    lists = cluster.requests["list"]
    with cluster.changed:
        assert cluster.changed.wait_for(lambda: cluster.requests["list"] >= lists + 3, 30)
    cluster.release(launch.instance)
    assert run.live.follow(launch).status is Status.PASS
    said = [line for line in run.out.lines if "watch of Experiments" in line]
    # A refusal is for good: no outage that is "lost", "reconnecting" and "back" per poll.
    assert said == [
        f"watch of Experiments in {NAMESPACE} refused (watch Experiments in {NAMESPACE}: "
        "forbidden (HTTP 403)); polling every 0.2s"
    ]
    assert run.live.watcher(NAMESPACE).stats.outages == 0


LOST = OutcomeUnknown(
    "create Experiment a-* in experiments: the Kubernetes API (fake) did not answer after "
    "the request was sent: Connection aborted."
)


def _lookups(cluster: FakeCluster) -> list[str]:
    """The lists that looked for one create's instance (the watch lists by no label)."""
    return [s for s in cluster.selectors if s is not None and CREATE_LABEL in s]


def test_a_create_whose_answer_was_lost_is_found_by_its_labels_and_followed(
    session: Make,
) -> None:
    cluster = FakeCluster()
    cluster.lose_next_answer(LOST)
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    [instance] = cluster.created
    assert launch.instance == instance
    assert run.live.follow(launch).status is Status.PASS
    assert cluster.requests["create"] == 1  # never sent again
    [lookup] = _lookups(cluster)
    assert lookup.startswith(f"{RUN_LABEL}={run.live.run_id},{EXPERIMENT_LABEL}=a,")
    [said] = [line for line in run.out.lines if line.startswith("Applied experiment")]
    assert said.startswith(f"Applied experiment: {instance} (from ")
    assert said.endswith(f"the create's answer was lost ({LOST}); found it by its labels"), said
    # Followed like any other: cleaned up as passed, never reported as a stray.
    assert run.live.finish() == [
        Cleanup(experiment="a", instance=instance, action="deleted", reason="passed")
    ]


def test_a_lost_create_that_made_nothing_fails_the_apply(session: Make) -> None:
    cluster = FakeCluster()
    cluster.fail_next("create", LOST)  # lost before the server made anything
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    result = run.live.follow(launch)
    assert result.status is Status.FAIL
    [lookup] = _lookups(cluster)
    assert result.summary == f"Apply failed: {LOST}; no instance carries its labels ({lookup})"
    assert not launch.instance
    assert run.live.finish() == []


def test_an_instance_of_a_lost_create_seen_only_at_the_end_is_named_for_it(
    session: Make,
) -> None:
    cluster = FakeCluster(script=Script(hold="Running"))
    cluster.fail_next("create", LOST)
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    assert run.live.follow(launch).status is Status.FAIL
    # The server finished the create after the lookup (a write that committed late).
    [create] = launch.apply.unanswered
    late = cluster.create_experiment(
        {
            "metadata": {
                "generateName": "a-",
                "labels": {RUN_LABEL: run.live.run_id, EXPERIMENT_LABEL: "a", CREATE_LABEL: create},
            }
        },
        namespace=NAMESPACE,
    )
    [cleanup] = run.live.finish()
    assert (cleanup.instance, cleanup.action) == (late, "deleted")
    assert cleanup.reason.startswith(
        "made by a create of this session whose answer was lost; not followed; unfinished"
    ), cleanup.reason


def test_a_lost_create_that_made_several_fails_naming_them_and_cleanup_deletes_them(
    session: Make,
) -> None:
    cluster = FakeCluster(script=Script(hold="Running"))
    cluster.lose_next_answer(LOST, copies=2)
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    made = sorted(cluster.created)
    result = run.live.follow(launch)
    assert result.status is Status.FAIL
    assert result.summary == (
        f"Apply failed: {LOST}; 2 instances carry its labels ({', '.join(made)}); "
        "the session's cleanup decides what becomes of them"
    )
    cleanups = run.live.finish()
    assert sorted(c.instance for c in cleanups) == made
    assert {c.action for c in cleanups} == {"deleted"}
    assert all(
        c.reason.startswith("made by a create of this session whose answer was lost; not followed")
        for c in cleanups
    ), cleanups


def test_a_failed_lookup_fails_the_apply_saying_why(session: Make) -> None:
    cluster = FakeCluster(script=Script(hold="Running"))
    cluster.lose_next_answer(LOST)
    run = session(cluster)
    run.live.connect()
    run.live.watcher(NAMESPACE)  # its list made, so the next list is the lookup
    cluster.fail_next("list", ClusterError("list Experiments in experiments: HTTP 503"))
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    result = run.live.follow(launch)
    assert result.summary == (
        f"Apply failed: {LOST}; looking for it by its labels failed: "
        "list Experiments in experiments: HTTP 503"
    )
    [cleanup] = run.live.finish()
    assert cleanup.instance == cluster.created[0]
    assert cleanup.reason.startswith("made by a create of this session whose answer was lost"), (
        cleanup
    )


def test_a_create_that_certainly_made_nothing_is_not_looked_for(session: Make) -> None:
    cluster = FakeCluster()
    refused = ClusterError("create Experiment a-* in experiments: quota (HTTP 429)", status=429)
    cluster.fail_next("create", refused)
    run = session(cluster)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    assert run.live.follow(launch).summary == f"Apply failed: {refused}"
    assert _lookups(cluster) == []


def test_a_paused_harness_never_fails_a_phase_that_ended_within_its_budget(
    session: Make,
) -> None:
    """Events wait unread (the harness was stopped) while the instance completes, and the
    follower wakes past its Running budget: one read of the instance, and what the watch
    then delivers, come before any budget is declared spent."""
    cluster = FakeCluster(script=Script(hold="Running"))
    run = session(cluster, dataclasses.replace(QUICK, budget_running=0.5))
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    watcher = run.live.watcher(NAMESPACE)
    watcher.wait_for(
        launch.instance, lambda o: o.get("status", {}).get("phase") == "Running", timeout=5
    )
    cluster.pause_watches()
    cluster.release(launch.instance)
    # The fault acts: the API has it Complete, the watch still says Running.
    with cluster.changed:
        assert cluster.changed.wait_for(
            lambda: cluster.phases_of(launch.instance)[-1] == "Complete", timeout=5
        )
    assert watcher.observed(launch.instance).obj["status"]["phase"] == "Running"  # type: ignore[index]

    verdict = run.live.follow(launch)
    cluster.resume_watches()

    assert verdict.status is Status.PASS, verdict.line
    assert verdict.summary.startswith(f"Experiment {launch.instance} completed in "), verdict
    assert "timedOutIn" not in verdict.figures
    assert verdict.figures["run"]["phase"] == "Complete"
    assert not (run.root / "toil.jsonl").exists()


def test_an_analyzer_failure_the_operator_turns_failed_is_one_toil_record(
    session: Make,
) -> None:
    """The analyzer is followed, then fails, and the same status write turns the run
    Failed: one record says so, not one for the analyzer and one for the turn."""
    published = {"analysisPhase": "Running", "published": True, "publishPRNumber": 7}
    cluster = FakeCluster(
        script=Script(final=lambda name: {**published, "resultsURL": f"s3://results/{name}/"})
    )
    store = FakeResultsStore(default=lambda name: {"name": name, "phase": "Complete"})
    run = session(cluster, store=store)
    launch = run.live.add(run.experiment("a"))
    run.live.start([launch])
    assert run.live.follow(launch).status is Status.PASS
    failed = {
        "type": "AnalysisComplete",
        "status": "False",
        "reason": "Failed",
        "message": "Analyzer Job failed: backoff limit",
    }

    def operator() -> None:
        # Once the harness follows the running analyzer, it fails and the run turns Failed.
        deadline = time.monotonic() + 10
        while f"{launch.instance}: analyzer Running" not in run.out.lines:
            assert time.monotonic() < deadline, run.out.lines
            time.sleep(0.01)
        cluster.set_status(
            launch.instance,
            phase="Failed",
            analysisPhase="Failed",
            reviewPhase="Skipped",
            conditions=[failed],
        )

    failing = threading.Thread(target=operator, daemon=True)
    failing.start()
    outcome = publish.published(
        run.live,
        launch,
        score=lambda *_: [("completion", CheckResult(Status.PASS, "every metric arrived"))],
    )
    failing.join(timeout=10)

    assert outcome.analyzer == "Failed"
    assert outcome.turn is not None
    assert outcome.turn.reason == "Failed"
    turned = f"{launch.instance} turned Failed after Complete: AnalysisComplete Failed: "
    assert any(d.startswith(turned) for d in outcome.analyzer_details), outcome.analyzer_details
    toil = (run.root / "toil.jsonl").read_text().splitlines()
    assert [json.loads(line)["title"] for line in toil] == [
        f"Analyzer failed for {launch.instance}"
    ]
