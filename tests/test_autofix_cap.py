"""The auto-fix loop's cap, reached in a live run against the in-memory cluster.

``LiveRun`` creates, follows, retires and re-runs the instances on a
``FakeCluster``; ``publish.published`` runs the loop with
``--experiment-autofix=apply`` and a score that fails each attempt's gate
differently. Every failing gate has a fix not applied yet, so only the cap
ends the loop: after three re-runs the fourth failing gate stops it.

Why not a user's run: the five fixes come from three triggers (no workload
pod in the metrics: the load test; a latency shown without seconds: the
units; custom-metrics trouble: the component fixes, the ``$NAMESPACE`` one and
the load test at once). Each fix is made at most once, so at most three rounds
make a new edit, and a fourth gate has a new fix only if one is named but
never made: here the targets' components are a flow list the component fixes
refuse to rewrite. The third edit can then only be the ``$NAMESPACE`` fix, and a
query using ``$NAMESPACE`` fails validation, which blocks a user's run before
anything is applied. For the same reason the cap decides why the loop ends,
not how many instances it makes: without it, the fourth gate would try the
refused fixes and stop there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes.cluster import FakeCluster
from fakes.live import connections
from fakes.results import FakeResultsStore

from pytest_experiment.core import autofix
from pytest_experiment.core.options import Options
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.run import publish
from pytest_experiment.run.live_run import LiveRun
from pytest_experiment.run.output import Output

NAMESPACE = "experiments"
NODEID = "experiments/capped/experiment.yaml"
OPTIONS = Options(autofix="apply", poll_interval=0.05, budget_delete=2.0, results_wait=1.0)

EXPERIMENT = """\
apiVersion: experiments.illm.io/v1alpha1
kind: Experiment
metadata:
  generateName: capped-
  namespace: experiments
spec:
  title: "Echo server p99 latency"
  targets:
    - name: app
      cluster: {type: gke, machineType: e2-standard-4}
      components: [{app: echo-server}]
  metrics:
    - name: request_p99
      query: 'histogram_quantile(0.99, x{namespace="$NAMESPACE"})'
      type: instant
  workflow:
    template: capped-validation
"""

TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: capped-validation
spec:
  entrypoint: validate
  templates:
    - name: validate
      steps:
        - - name: smoke-test
            template: smoke
    - name: smoke
      container:
        image: example.invalid/curl:1
"""

# What each attempt's checks find besides the workload pods that fail every gate, and the
# fix that is new at that gate and can be made.
FOUND: tuple[tuple[dict[str, Status], str | None], ...] = (
    ({}, "add-load-test"),
    ({"metrics-source": Status.WARN}, "fix-namespace-var"),
    ({"metrics-source": Status.WARN, "presentation": Status.WARN}, "add-metric-units"),
    ({"metrics-source": Status.WARN}, None),  # only the refused component fixes are new
)
CHECKS = ("custom-metrics", "metrics-source", "workload-pods", "presentation")
REFUSED = ("add-kube-prometheus-stack", "add-metrics-pipeline")


class Lines(Output):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


@dataclass
class Run:
    cluster: FakeCluster
    live: LiveRun
    out: Lines
    folder: Path
    scored: list[str]

    def score(
        self, experiment: Experiment, result: ResultFile, analyzer: str | None
    ) -> list[tuple[str, CheckResult]]:
        self.scored.append(result.instance)
        found, _ = FOUND[self.cluster.created.index(result.instance)]
        statuses = {"workload-pods": Status.FAIL, **found}
        return [
            (name, CheckResult(statuses.get(name, Status.PASS), f"{name} of {result.instance}"))
            for name in CHECKS
        ]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    folder = tmp_path / "experiments" / "capped"
    (folder / "workflow").mkdir(parents=True)
    (folder / "experiment.yaml").write_text(EXPERIMENT)
    (folder / "workflow" / "template.yaml").write_text(TEMPLATE)
    cluster = FakeCluster()
    out = Lines()
    live = LiveRun(
        options=OPTIONS,
        connections=connections(
            lambda: cluster,
            toil_file=tmp_path / "toil.jsonl",
            store=lambda _: FakeResultsStore(default=lambda instance: {"name": instance}),
        ),
        validation_failure=lambda _: None,
        output=out,
    )
    yield Run(cluster=cluster, live=live, out=out, folder=folder, scored=[])
    cluster.stop()
    live.finish()


def test_the_fourth_failing_gate_stops_the_loop_after_three_reruns(run: Run) -> None:
    live, cluster = run.live, run.cluster
    launch = live.add(
        Experiment.from_source(read_source(run.folder / "experiment.yaml")), nodeid=NODEID
    )
    live.start([launch])
    assert live.follow(launch).status is Status.PASS

    outcome = publish.published(live, launch, score=run.score)

    new_fixes = [fix for _, fix in FOUND if fix is not None]
    # One instance, then one per re-run: four in all, each scored once.
    assert len(cluster.created) == 1 + 3
    assert run.scored == cluster.created
    assert outcome.instance == launch.instance == cluster.created[-1]
    assert [(a.number, a.instance, a.gate, a.fixes, a.outcome) for a in outcome.attempts] == [
        (n, instance, "fail", (fix,) if fix else (), "quality gate fail")
        for n, (instance, (_, fix)) in enumerate(zip(cluster.created, FOUND, strict=True), 1)
    ]
    stopped = f"3 auto-fix attempts exhausted: {', '.join(new_fixes)}"
    assert outcome.stopped == stopped
    assert not outcome.rerun_failed
    # The fourth gate still had new fixes to try, and none was tried.
    assert outcome.decision is not None
    assert outcome.decision.failed
    assert outcome.decision.fixes == REFUSED

    lines = run.out.lines
    reruns = [line for line in lines if line.startswith("Auto-fix attempt")]
    assert reruns == [
        f"Auto-fix attempt {n}/3: {fix} ({autofix.FIXES[fix]}). Re-running..."
        for n, fix in enumerate(new_fixes, 1)
    ]
    assert lines[-1] == f"{cluster.created[-1]}: auto-fix stopped: {stopped}"
    assert [line for line in lines if line.endswith("quality gate FAIL")] == [
        f"{instance}: quality gate FAIL" for instance in cluster.created
    ]
    # Gates two and three named the component fixes and could not make them; the fourth
    # stopped before trying.
    refusals = [line.strip() for line in lines if "cannot be applied automatically" in line]
    assert refusals == [
        f"{fix} cannot be applied automatically: target 'app': components is not a block list"
        for _ in range(2)
        for fix in REFUSED
    ]
    # Each failing gate filed its toil record.
    assert [r["title"].split(" - ")[0] for r in _toil(live)] == [
        f"Quality gate failed: {instance}" for instance in cluster.created
    ]

    # The edits of the three rounds are in the files.
    spec = (run.folder / "experiment.yaml").read_text()
    assert "$NAMESPACE" not in spec
    assert "unit: seconds" in spec
    assert "name: load-test" in (run.folder / "workflow" / "template.yaml").read_text()

    # Each replaced instance was deleted before its re-run was created; the last one is left
    # to the cleanup policy, which keeps it: its quality items failed.
    assert cluster.deleted == cluster.created[:-1]
    for earlier, later in zip(cluster.created, cluster.created[1:], strict=False):
        assert _deleted_at(cluster, earlier) < cluster.version_of(later, "created")
    assert sorted(name for _, name in cluster.objects) == [cluster.created[-1]]
    live.item_failed(NODEID)
    cleanups = live.finish()
    assert [(c.instance, c.action, c.reason) for c in cleanups] == [
        *(
            (instance, "deleted", f"auto-fix attempt {n}: replaced by a re-run")
            for n, instance in enumerate(cluster.created[:-1], 1)
        ),
        (cluster.created[-1], "kept", "an item of this experiment failed"),
    ]


def _deleted_at(cluster: FakeCluster, name: str) -> int:
    return next(
        version
        for version, _, kind, obj in cluster.log
        if kind == "DELETED" and obj["metadata"]["name"] == name
    )


def _toil(live: LiveRun) -> list[dict[str, str]]:
    return [entry.as_json() for entry in live.toil.logged]
