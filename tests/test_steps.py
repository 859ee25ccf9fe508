"""The verdict of each live step, from ``run.steps``, against the in-memory cluster and
results store: what the items render, with no pytest item in between."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import test_live_fake
from fakes.cluster import FakeCluster, Script
from fakes.results import FakeResultsStore
from test_live_fake import FAILING, Make, Session

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.run import steps

# The live run against the fake cluster, built as test_live_fake builds it.
session = test_live_fake.session

PASSED = CheckResult(Status.PASS, "Completion: every metric arrived")
WARNED = CheckResult(Status.WARN, "Cost: above the estimate")


class Scored:
    """The plugin's checks as the steps see them: fixed verdicts, each result asked for
    recorded (the plugin's own memoise per result)."""

    def __init__(self, **verdicts: CheckResult) -> None:
        self.verdicts = verdicts
        self.asked: list[tuple[str, str | None]] = []

    def quality(
        self, experiment: Experiment, result: ResultFile, *, analyzer: str | None = None
    ) -> Sequence[tuple[str, CheckResult]]:
        self.asked.append((result.instance, analyzer))
        return [(name.replace("_", "-"), v) for name, v in self.verdicts.items()]

    def quality_of(
        self, experiment: Experiment, result: ResultFile, name: str, *, analyzer: str | None = None
    ) -> CheckResult:
        return CheckResult(Status.NA, f"{name} of {result.path}")


def published(run: Session, name: str, *, publish: bool = True) -> Experiment:
    """An experiment the operator publishes (``spec.publish``) or not."""
    path = run.root / name / "experiment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "apiVersion: experiments.illm.io/v1alpha1\n"
        "kind: Experiment\n"
        f"metadata:\n  generateName: {name}-\n  namespace: experiments\n"
        f"spec:\n  title: {name}\n  publish: {str(publish).lower()}\n"
        f"  workflow:\n    template: {name}-validation\n"
    )
    return Experiment.from_source(read_source(path))


def applied(run: Session, name: str) -> str:
    """The instance the session applied for experiment ``name``."""
    launch = run.live.find(name)
    assert launch is not None
    assert launch.instance
    return launch.instance


def summary(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "phase": "Complete",
        "completedAt": "2026-12-07T10:00:00Z",
        "durationSeconds": 600,
        "hypothesis": {
            "machineVerdict": "validated",
            "successCriteria": [
                {
                    "metric": "p99",
                    "operator": "<",
                    "value": 0.05,
                    "actualValue": 0.04,
                    "passed": True,
                    "unlisted": "dropped",
                },
                "not a criterion",
            ],
        },
        "analysis": {"hypothesisVerdict": "supported"},
    }


def test_the_lifecycle_record_of_the_run_is_a_property_not_a_figure(session: Make) -> None:
    run = session(FakeCluster(script=Script()))
    experiment = published(run, "a")

    step = steps.lifecycle(run.live, experiment, nodeid="a/experiment.yaml")

    instance = applied(run, "a")
    assert step.result.status is Status.PASS, step.result.line
    assert step.instance == instance
    assert "run" not in step.result.figures
    assert list(step.properties) == ["run"]
    assert step.properties["run"]["phase"] == "Complete"
    assert not step.error


def test_a_failed_lifecycle_blocks_quality_and_review_naming_it(session: Make) -> None:
    run = session(FakeCluster(script=FAILING))
    experiment = published(run, "a")
    scoring = Scored(completion=PASSED)

    quality = steps.quality(run.live, experiment, "completion", scoring=scoring)
    review = steps.review(run.live, experiment, scoring=scoring)

    instance = applied(run, "a")
    for step in (quality, review):
        assert step.result.status is Status.NA
        assert step.result.blocked
        assert step.result.summary == "blocked by a::lifecycle"
        assert step.instance == instance
        assert step.properties == {}
        assert not step.error
    # Nothing was published, so nothing was scored.
    assert scoring.asked == []


def test_an_unpublished_experiment_is_skipped_and_attributed_to_its_instance(
    session: Make,
) -> None:
    run = session(FakeCluster(script=Script()))
    experiment = published(run, "a", publish=False)
    assert steps.lifecycle(run.live, experiment).result.status is Status.PASS

    step = steps.unpublished(run.live, experiment)
    offline = steps.unpublished(None, experiment)

    instance = applied(run, "a")
    assert (step.result.status, step.result.summary) == (Status.NA, "not published")
    assert step.instance == instance
    assert offline.result == step.result
    assert offline.instance == ""


def test_a_scored_check_carries_the_run_with_its_criteria_the_gate_and_every_verdict(
    session: Make,
) -> None:
    store = FakeResultsStore(default=summary)
    run = session(FakeCluster(script=Script()), store=store)
    experiment = published(run, "a")
    scoring = Scored(completion=PASSED, cost=WARNED)

    step = steps.quality(run.live, experiment, "cost", scoring=scoring)

    instance = applied(run, "a")
    assert step.result == WARNED
    assert step.instance == instance
    assert not step.error
    assert list(step.properties) == ["run", "gate", "gateVerdicts"]
    record = step.properties["run"]
    assert record["instance"] == instance
    assert record["results"] == f"s3://results/{instance}/"
    assert record["hypothesis"] == "validated"
    assert record["analysis"] == "Succeeded"
    assert record["durationSeconds"] == 600
    assert record["criteria"] == [
        {"metric": "p99", "operator": "<", "value": 0.05, "actualValue": 0.04, "passed": True}
    ]
    assert step.properties["gate"] == "warn"
    assert step.properties["gateVerdicts"] == {"completion": "pass", "cost": "warn"}
    # A check the gate was not decided on is judged on its own, on the same summary.
    other = steps.quality(run.live, experiment, "reproducibility", scoring=scoring)
    assert other.result.summary == f"reproducibility of s3/{instance}/summary.json"
    assert other.properties["gateVerdicts"] == step.properties["gateVerdicts"]
    # Published once, however many checks ask.
    assert scoring.asked == [(instance, "Succeeded")]


def test_a_summary_that_cannot_be_read_is_an_environment_failure(session: Make) -> None:
    run = session(FakeCluster(script=Script()), store=FakeResultsStore())
    experiment = published(run, "a")

    step = steps.quality(run.live, experiment, "completion", scoring=Scored(completion=PASSED))

    assert step.error.startswith("no summary to score: "), step.error
    assert "summary.json not found (fake store)" in step.error
    assert step.result.status is Status.NA
    assert step.result.summary == f"no summary: {step.error.removeprefix('no summary to score: ')}"
    assert step.properties == {}


def test_the_review_carries_the_gate_report_then_the_review(session: Make) -> None:
    store = FakeResultsStore(default=summary)
    run = session(FakeCluster(script=Script()), store=store)
    experiment = published(run, "a")

    step = steps.review(run.live, experiment, scoring=Scored(completion=PASSED))

    instance = applied(run, "a")
    assert step.instance == instance
    assert list(step.properties) == ["gateReport", "run"]
    assert step.properties["gateReport"]["gate"] == "pass"
    assert step.properties["gateReport"]["attempts"] == []
    assert step.properties["run"] == {
        "review": step.result.figures.get("reviewPhase"),
        "pr": step.result.figures.get("pr"),
    }
    assert step.properties["run"]["review"] == "Skipped"


def test_the_follow_the_fixture_shares_gives_the_instance_and_its_last_status(
    session: Make,
) -> None:
    run = session(FakeCluster(script=Script()))
    launch = run.live.add(published(run, "a"))

    followed = steps.follow(run.live, launch)

    assert followed.instance == launch.instance != ""
    assert followed.verdict.status is Status.PASS
    assert followed.verdict.figures["run"]["phase"] == "Complete"
    status = followed.status()
    assert status["phase"] == "Complete"
    assert status["resultsURL"] == f"s3://results/{launch.instance}/"
    # Asked again, the same verdict: the launch is followed once.
    assert steps.follow(run.live, launch).verdict is followed.verdict


def test_a_run_never_applied_is_followed_to_why_with_no_instance(session: Make) -> None:
    cluster = FakeCluster(script=Script())
    refused = ClusterError("create Experiment a-* in experiments: quota (HTTP 429)", status=429)
    cluster.fail_next("create", refused)
    run = session(cluster)
    launch = run.live.add(published(run, "a"))

    followed = steps.follow(run.live, launch)

    assert followed.instance == ""
    assert followed.verdict.status is Status.FAIL
    assert followed.verdict.summary == f"Apply failed: {refused}"
    # Nothing to attribute a skipped step to, and the later steps are blocked.
    assert steps.unpublished(run.live, launch.experiment).instance == ""
    blocked = steps.review(run.live, launch.experiment, scoring=Scored())
    assert (blocked.result.summary, blocked.instance) == ("blocked by a::lifecycle", "")
