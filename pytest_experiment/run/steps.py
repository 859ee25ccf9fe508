"""The verdict of one live step of one experiment: lifecycle, quality or review.

The items of an experiment ask here and only render the answer. Each step follows the
session's one launch of the experiment (applied once, however many items ask); quality
and review then wait for it to be published and scored, and review for its review gate.
What a step gives is a ``StepVerdict``: the verdict, the instance it is of, the
properties the report carries beside it, and whether the step could not be judged at
all (no summary to score: an environment failure, not a verdict).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_experiment.base.views import status as status_of
from pytest_experiment.core import gate
from pytest_experiment.core.checks import completion_line
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.verdict import CheckResult, Status, blocked

if TYPE_CHECKING:
    from pytest_experiment.core.spec import Experiment
    from pytest_experiment.run.follow import Deadline
    from pytest_experiment.run.launch import Launch
    from pytest_experiment.run.live_run import LiveRun
    from pytest_experiment.run.published import Published


class Scoring(Protocol):
    """The quality checks of the session, memoised per result: the plugin's."""

    def quality(
        self, experiment: Experiment, result: ResultFile, *, analyzer: str | None = None
    ) -> Sequence[tuple[str, CheckResult]]: ...

    def quality_of(
        self, experiment: Experiment, result: ResultFile, name: str, *, analyzer: str | None = None
    ) -> CheckResult: ...


@dataclass(frozen=True, kw_only=True)
class StepVerdict:
    """What one item of a live step reports."""

    result: CheckResult
    instance: str = ""
    """The instance the verdict is of; empty when nothing was applied."""
    properties: Mapping[str, Any] = field(default_factory=dict)
    """What the report carries besides the verdict, in the order it is recorded."""
    error: str = ""
    """Set when the step could not be judged (its summary could not be had): the item's
    setup fails saying this, an environment failure rather than a verdict."""


@dataclass(frozen=True, kw_only=True)
class Followed:
    """A launch followed to its lifecycle verdict."""

    launch: Launch
    verdict: CheckResult
    """As the live run gave it: the run's record is among its figures."""
    _live: LiveRun = field(repr=False, compare=False)

    @property
    def instance(self) -> str:
        """The instance followed; empty when none was applied."""
        return self.launch.instance

    def status(self) -> Mapping[str, Any]:
        """The instance's status as the watch last saw it (read when asked: only the
        ``experiment_run`` fixture shows it)."""
        watcher = self._live.watcher(self.launch.namespace)
        return status_of(watcher.observed(self.launch.instance).obj)


def follow(live: LiveRun, launch: Launch, *, deadline: Deadline | None = None) -> Followed:
    """``launch`` followed to its lifecycle verdict: applied first if it was not yet,
    the verdict computed once however many items and fixtures ask."""
    return Followed(launch=launch, verdict=live.follow(launch, deadline=deadline), _live=live)


def lifecycle(
    live: LiveRun, experiment: Experiment, *, nodeid: str = "", deadline: Deadline | None = None
) -> StepVerdict:
    """The lifecycle item's verdict; the run's record goes to the report as its own
    property rather than as a figure."""
    followed = follow(live, live.add(experiment, nodeid=nodeid), deadline=deadline)
    result = followed.verdict
    run = result.figures.get("run")
    if not isinstance(run, Mapping):
        return StepVerdict(result=result, instance=followed.instance)
    return StepVerdict(
        result=replace(result, figures={k: v for k, v in result.figures.items() if k != "run"}),
        instance=followed.instance,
        properties={"run": dict(run)},
    )


def unpublished(live: LiveRun | None, experiment: Experiment, *, nodeid: str = "") -> StepVerdict:
    """Skipped, but attributed to the live instance when there is one, so the report
    lists one instance per run rather than an extra nameless one."""
    instance = live.add(experiment, nodeid=nodeid).instance if live is not None else ""
    return StepVerdict(result=CheckResult(Status.NA, "not published"), instance=instance)


def quality(
    live: LiveRun, experiment: Experiment, check: str, *, nodeid: str = "", scoring: Scoring
) -> StepVerdict:
    """A check of the live instance's summary.json, after the analyzer and any auto-fix
    re-runs; an error when the summary cannot be had (S3 unreachable, no credentials,
    unreadable). A run the operator turned Failed after Complete has no results by
    design: its checks fail naming the turn, they are not errors."""
    found = _published(live, experiment, nodeid=nodeid, scoring=scoring)
    if isinstance(found, StepVerdict):
        return found
    _, outcome = found
    if outcome.results is None:
        error = (
            f"no summary to score: {outcome.problem}"
            if outcome.turn is None and not outcome.absent
            else ""
        )
        return StepVerdict(
            result=outcome.unscored(),
            instance=outcome.instance,
            properties={"run": {"phase": outcome.phase}} if outcome.phase is not None else {},
            error=error,
        )
    run = {
        **run_record(ResultFile(instance=outcome.instance, path=Path(), summary=outcome.summary)),
        "results": outcome.results_url,
        "analysis": outcome.analyzer or None,
    }
    if outcome.phase is not None:
        # The summary was written before the operator turned the run Failed.
        run["phase"] = outcome.phase
    # The gate is decided on every check, whichever ones -k selected: each item carries
    # all their verdicts, so the scorecard gives the gate the live run printed.
    properties: dict[str, Any] = {
        "run": run,
        "gate": outcome.gate.value if outcome.gate else None,
        "gateVerdicts": gate_verdicts(outcome.results),
    }
    scored = dict(outcome.results)
    result: CheckResult = (
        scored[check]
        if check in scored
        else scoring.quality_of(
            experiment,
            ResultFile(
                instance=outcome.instance,
                path=Path(f"s3/{outcome.instance}/summary.json"),
                summary=outcome.summary,
            ),
            check,
        )
    )
    causes = outcome.causes_of(check)
    extra = gate.cause_lines(causes)
    if causes:
        # Also as a figure, so a report lists the causes without parsing the details.
        result = replace(
            result, figures={**result.figures, "rootCauses": [gate.cause_text(c) for c in causes]}
        )
    if check == "ai-verdict":
        extra += outcome.analyzer_details
    elif outcome.turn is not None:
        extra.append(outcome.turn_line())
    if outcome.attempts:
        properties["attempts"] = [a.as_json() for a in outcome.attempts]
        extra.append(f"auto-fix: results of attempt {len(outcome.attempts)}")
    if outcome.stopped:
        extra.append(f"auto-fix stopped: {outcome.stopped}")
    if extra:
        result = replace(result, details=(*result.details, *extra))
    return StepVerdict(result=result, instance=outcome.instance, properties=properties)


def review(
    live: LiveRun, experiment: Experiment, *, nodeid: str = "", scoring: Scoring
) -> StepVerdict:
    """The review gate of the last instance, once results are scored."""
    from pytest_experiment.run import review_gate

    found = _published(live, experiment, nodeid=nodeid, scoring=scoring)
    if isinstance(found, StepVerdict):
        return found
    launch, outcome = found
    properties: dict[str, Any] = {"gateReport": outcome.gate_record()}
    if outcome.rerun_failed:
        return StepVerdict(
            result=blocked(f"blocked by the auto-fix re-run: {outcome.stopped}"),
            instance=outcome.instance,
            properties=properties,
        )
    result = review_gate.review(live, launch, outcome)
    figures = result.figures
    properties["run"] = {"review": figures.get("reviewPhase"), "pr": figures.get("pr")}
    return StepVerdict(result=result, instance=outcome.instance, properties=properties)


def _published(
    live: LiveRun, experiment: Experiment, *, nodeid: str, scoring: Scoring
) -> tuple[Launch, Published] | StepVerdict:
    """The launch and its published outcome once the lifecycle passed, else the step is
    blocked by the lifecycle."""
    from pytest_experiment.run import publish

    followed = follow(live, live.add(experiment, nodeid=nodeid))
    if followed.verdict.status is not Status.PASS:
        return StepVerdict(
            result=blocked(f"blocked by {experiment.name}::lifecycle"),
            instance=followed.instance,
        )
    outcome = publish.published(
        live,
        followed.launch,
        score=lambda exp, result, analyzer: scoring.quality(exp, result, analyzer=analyzer),
    )
    return followed.launch, outcome


def gate_verdicts(results: Iterable[tuple[str, CheckResult]] | None) -> dict[str, str]:
    """The ``gateVerdicts`` property a quality item carries: every check's verdict."""
    return {name: result.status.value for name, result in results or ()}


def run_record(result: ResultFile) -> Mapping[str, Any]:
    """What the final summary block shows for a scored result file."""
    summary = result.summary or {}
    analysis = summary.get("analysis")
    hypothesis = summary.get("hypothesis")
    return {
        "completion": completion_line(summary).line,
        "instance": result.instance,
        "phase": summary.get("phase"),
        "completedAt": summary.get("completedAt"),
        "durationSeconds": summary.get("durationSeconds"),
        "costUSD": completion_line(summary).figures.get("cost_usd"),
        "results": str(result.path),
        "hypothesis": hypothesis.get("machineVerdict") if isinstance(hypothesis, dict) else None,
        "analysis": analysis.get("hypothesisVerdict") if isinstance(analysis, dict) else None,
        "criteria": _criteria(hypothesis),
    }


def _criteria(hypothesis: Any) -> list[dict[str, Any]]:
    """The published success criteria with their measured values, so a report can chart
    a metric across the runs of a series."""
    listed = hypothesis.get("successCriteria") if isinstance(hypothesis, dict) else None
    if not isinstance(listed, list):
        return []
    keys = ("metric", "operator", "value", "actualValue", "passed")
    return [{k: c.get(k) for k in keys} for c in listed if isinstance(c, dict)]


__all__ = [
    "Followed",
    "Scoring",
    "StepVerdict",
    "follow",
    "gate_verdicts",
    "lifecycle",
    "quality",
    "review",
    "run_record",
    "unpublished",
]
