"""Publishing and the review gate need of a run only what ``run.contexts`` names.

Each test hands a stage a minimal object implementing just its protocol (no
cluster, no S3, no ``LiveRun``), with the instance's status as the watch would
hold it, and checks the verdict the stage reaches from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.base.errors import ResultsError
from pytest_experiment.base.types import Obj
from pytest_experiment.core.options import Options
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import Observed, Transition, WatchTimeout
from pytest_experiment.run import publish, review_gate
from pytest_experiment.run.contexts import PublishContext, RunContext, Watch
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.output import Output
from pytest_experiment.run.ports import Cluster

EXAMPLE = Path(__file__).resolve().parents[1] / "experiments" / "web-latency" / "experiment.yaml"
INSTANCE = "web-latency-x1"
RESULTS = f"s3://results/{INSTANCE}/summary.json"


class Lines(Output):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


class StillWatch:
    """A watch of one instance whose status no longer changes."""

    def __init__(self, obj: Obj) -> None:
        seen = datetime.now(UTC)
        phases = ("Pending", "Provisioning", "Ready", "Running", "Complete")
        self._observed = Observed(
            instance=INSTANCE,
            obj=obj,
            deleted=False,
            transitions=tuple(
                Transition(field="phase", value=p, seen_at=seen, resource_version="1")
                for p in phases
            ),
        )

    def observed(self, instance: str) -> Observed:
        assert instance == INSTANCE
        return self._observed

    def wait_for(
        self, instance: str, predicate: Callable[[Obj], bool], *, timeout: float, what: str = ""
    ) -> Obj:
        obj = self._observed.obj
        assert obj is not None
        if predicate(obj):
            return obj
        raise WatchTimeout(f"{what}: nothing changes here", observed=self._observed)

    def catch_up(self, instance: str, *, timeout: float) -> Observed:
        return self.observed(instance)


class MinimalRun:
    """Exactly ``PublishContext``: what publishing and reviewing may use of a run."""

    def __init__(self, obj: Obj, *, summary: Mapping[str, Any] | None = None) -> None:
        self.options = Options(review="auto")
        self.out = Lines()
        self.cluster: Cluster | None = None
        self.verbose = False
        self.toil: list[ToilRecord] = []
        self.reruns = 0
        self._watch = StillWatch(obj)
        self._summary = summary

    def watcher(self, namespace: str) -> Watch:
        return self._watch

    def log_toil(self, record: ToilRecord) -> None:
        self.toil.append(record)

    def flush(self) -> None:
        pass

    def github(self) -> None:
        return None  # no GitHub: the verdict comes from the status

    def read_summary(self, url: str) -> Mapping[str, Any]:
        if url != RESULTS or self._summary is None:
            raise ResultsError(f"no summary at {url}")
        return self._summary

    def retire(self, launch: Launch, *, reason: str) -> None:
        raise AssertionError("a passing gate replaces no instance")

    def rerun(self, launch: Launch, experiment: Experiment) -> CheckResult:
        raise AssertionError("a passing gate is not re-run")


def _launch() -> Launch:
    experiment = Experiment.from_source(read_source(EXAMPLE))
    launch = Launch(experiment=experiment, key=str(EXAMPLE), namespace="experiments")
    launch.apply.instance = INSTANCE
    return launch


def _complete(**status: Any) -> Obj:
    return {
        "metadata": {"name": INSTANCE, "namespace": "experiments"},
        "status": {"phase": "Complete", "resultsURL": RESULTS, **status},
    }


def test_publishing_scores_the_summary_through_the_protocol_alone() -> None:
    summary = {"name": INSTANCE, "phase": "Complete"}
    run = MinimalRun(_complete(analysisPhase="Succeeded"), summary=summary)
    scored: list[tuple[ResultFile, str | None]] = []

    def score(
        experiment: Experiment, result: ResultFile, analyzer: str | None
    ) -> list[tuple[str, CheckResult]]:
        scored.append((result, analyzer))
        return [("completion", CheckResult(Status.PASS, "all metrics arrived"))]

    context: PublishContext = run
    launch = _launch()
    outcome = publish.published(context, launch, score=score)

    assert [(r.instance, r.summary, a) for r, a in scored] == [(INSTANCE, summary, "Succeeded")]
    assert outcome.gate is Status.PASS
    assert outcome.results_url == RESULTS
    assert launch.publish.outcome is outcome
    assert publish.published(context, launch, score=score) is outcome, "computed once"
    assert len(scored) == 1


def test_publishing_without_a_summary_says_why_and_files_toil() -> None:
    run = MinimalRun(_complete(analysisPhase="Succeeded"), summary=None)
    outcome = publish.published(run, _launch(), score=lambda *_: pytest.fail("nothing to score"))

    assert outcome.results is None
    assert outcome.problem == f"no summary at {RESULTS}"
    assert [(r.experiment, INSTANCE in r.title) for r in run.toil] == [("web-latency", True)]


def test_review_gate_reads_a_reviewers_approval_through_the_protocol_alone() -> None:
    run = MinimalRun(
        _complete(
            analysisPhase="Succeeded",
            reviewPhase="Approved",
            publishPRNumber=7,
            publishPRURL="https://github.com/illm-lab/benchmarks/pull/7",
        )
    )
    context: RunContext = run
    launch = _launch()
    outcome = publish.published(
        run, launch, score=lambda *_: [("completion", CheckResult(Status.PASS, "ok"))]
    )

    verdict = review_gate.review(context, launch, outcome)

    assert verdict.status is Status.PASS
    assert verdict.summary == "Review: approved (by a reviewer); PR #7 merged"
    assert verdict.figures["reviewPhase"] == "Approved"
    assert launch.review.result is verdict
