"""The items of one experiment: validate, preflight, lifecycle, quality, review.

Each computes a ``CheckResult``; ``outcome.conclude`` turns it into the pytest
outcome. The live ones ask the session's live run, built on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import pytest

from pytest_experiment.core.checks import completion_line
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, Status, blocked
from pytest_experiment.plugin import outcome
from pytest_experiment.plugin.compat import TerminalRepr
from pytest_experiment.plugin.outcome import not_applicable as _skip
from pytest_experiment.plugin.state import STATE, PluginState
from pytest_experiment.reporting.report import gate_verdicts

if TYPE_CHECKING:
    from pytest_experiment.run.follow import Deadline
    from pytest_experiment.run.launch import Launch
    from pytest_experiment.run.published import Published

DEADLINE: pytest.StashKey[Deadline] = pytest.StashKey()
"""pytest-timeout's limit for a lifecycle item, which the item enforces itself."""


class ExperimentItem(pytest.Item):
    """One step of one experiment. Subclasses implement ``verdict``."""

    step: ClassVar[str]
    """The step every item of the class is, and the first word of its name."""
    live: ClassVar[bool] = False
    """Its items need the experiment applied on the cluster."""

    def __init__(self, *, experiment: Experiment, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experiment = experiment
        self.check = check
        self.instance: str = ""
        self.plain_nodeid = self.nodeid
        """The id as collected: what reports carry, whatever xdist's grouping did to it."""

    @property
    def state(self) -> PluginState:
        return self.config.stash[STATE]

    @classmethod
    def item_name(cls, param: str | None = None) -> str:
        """The name of the class's item for ``param`` (``quality[error-rate]``): the one
        place the format is written, ``step_of`` the one place it is read back."""
        return cls.step if param is None else f"{cls.step}[{param}]"

    def verdict(self) -> CheckResult:
        raise NotImplementedError

    def runtest(self) -> None:
        _conclude(self, self.verdict())

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.experiment.name}::{self.name}"

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        shown = outcome.failure_repr(self, excinfo)
        return shown if shown is not None else super().repr_failure(excinfo, style=style)

    def record(self, **properties: Any) -> None:
        outcome.record(self, **properties)

    def identity(self) -> dict[str, str]:
        return {
            "experiment": self.experiment.name,
            "instance": self.instance,
            "step": self.step,
            "check": self.check,
        }


def _conclude(item: ExperimentItem, result: CheckResult) -> None:
    __tracebackhide__ = True
    outcome.conclude(item, identity=item.identity(), result=result)


def _environment_failure(item: ExperimentItem, message: str) -> NoReturn:
    __tracebackhide__ = True
    outcome.environment_failure(item, identity=item.identity(), message=message)


class ValidateItem(ExperimentItem):
    step = "validate"

    def verdict(self) -> CheckResult:
        return self.state.validation(self.experiment)[self.check]


class PreflightItem(ExperimentItem):
    step = "preflight"

    def verdict(self) -> CheckResult:
        if self.check == "cost":
            self.record(estimate=self.state.estimate(self.experiment).as_json())
        live = self.state.live
        if live is None:
            return _skip("offline: scoring published results, no cluster")
        launch = live.add(self.experiment, nodeid=self.parent.nodeid if self.parent else "")
        live.prepare(launch)
        return launch.preflight.checks[self.check]


class LifecycleItem(ExperimentItem):
    step = "lifecycle"
    live = True

    def verdict(self) -> CheckResult:
        intent = self.state.intent(self.experiment)
        self.record(
            intent={
                "text": intent.render(),
                "series": intent.series,
                "position": intent.position,
                "groups": list(intent.groups),
                "differentiating": list(intent.differentiating),
                "publish": self.experiment.publish,
            },
            estimate=self.state.estimate(self.experiment).as_json(),
        )
        live = self.state.live
        if live is None:
            return _skip("offline: scoring published results, nothing applied")
        launch = live.add(self.experiment, nodeid=self.parent.nodeid if self.parent else "")
        result = live.follow(launch, deadline=self.stash.get(DEADLINE, None))
        self.instance = launch.instance
        run = result.figures.get("run")
        if isinstance(run, Mapping):
            # The run goes to the report as its own property, not as a figure.
            self.record(run=dict(run))
            result = replace(
                result, figures={k: v for k, v in result.figures.items() if k != "run"}
            )
        return result


class ReviewItem(ExperimentItem):
    step = "review"
    live = True

    def verdict(self) -> CheckResult:
        if not self.experiment.publish:
            return _unpublished(self)
        if self.state.options.results is not None:
            return _skip("offline: no review gate for published results")
        return _blocked(self) or _live_review(self)


class QualityItem(ExperimentItem):
    step = "quality"
    live = True

    def __init__(self, *, result: ResultFile | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        if result is not None:
            self.instance = result.instance

    def setup(self) -> None:
        """Fetch what the checks judge. A summary that cannot be had (S3 unreachable, no
        credentials, unreadable) is an error of this item's setup, so the JUnit file says
        ``<error>`` and the run is not green; what the checks then say is its verdict."""
        if not self.experiment.publish:
            return
        if self.state.options.results is not None:
            if self.result is not None and self.result.summary is None:
                _environment_failure(self, f"no summary to score: {self.result.problem}")
            return
        if _blocked(self) is None:
            found = _published(self)
            # A run the operator turned Failed after Complete has no results by design:
            # its items fail naming the turn (their verdict), they are not errors.
            if not isinstance(found, CheckResult):
                outcome = found[1]
                if outcome.results is None and outcome.turn is None and not outcome.absent:
                    _environment_failure(self, f"no summary to score: {outcome.problem}")

    def verdict(self) -> CheckResult:
        if not self.experiment.publish:
            return _unpublished(self)
        state = self.state
        if state.options.results is None:
            return _blocked(self) or _live_quality(self)
        if self.result is None:
            return _skip(
                f"no result in {state.options.results} matches generateName "
                f"{self.experiment.generate_name!r}"
            )
        assert self.result.summary is not None, "setup raised"
        # Every item carries its run, so a JUnit testcase (or a -k selection
        # of one check) is readable on its own.
        self.record(run=_run_record(self.result))
        results = state.quality(self.experiment, self.result)
        self.record(gateVerdicts=gate_verdicts(results))
        return state.quality_of(self.experiment, self.result, self.check)


STEPS: dict[str, type[ExperimentItem]] = {
    cls.step: cls for cls in (ValidateItem, PreflightItem, LifecycleItem, QualityItem, ReviewItem)
}
"""Every step, by name, with the class of its items."""
LIVE_STEPS = frozenset(step for step, cls in STEPS.items() if cls.live)
"""Steps whose items need the experiment applied on the cluster."""


def step_of(nodeid: str) -> str | None:
    """The step of the experiment item ``nodeid`` names, None for any other id: where
    only ids travel (an xdist controller hears its workers' ids, never their items)."""
    path, _, name = nodeid.partition("::")
    if PurePosixPath(path).name != "experiment.yaml":
        return None
    step = name.partition("[")[0].partition("@")[0]
    return step if step in STEPS else None


def _unpublished(item: ExperimentItem) -> CheckResult:
    """Skipped, but attributed to the live instance when there is one, so the report
    lists one instance per run rather than an extra nameless one."""
    live = item.state.live_if_built
    if live is not None and not item.instance:
        launch = live.add(item.experiment, nodeid=item.parent.nodeid if item.parent else "")
        item.instance = launch.instance
    return _skip("not published")


def _published(item: ExperimentItem) -> tuple[Launch, Published] | CheckResult:
    """The live launch and its published outcome once the lifecycle passed, else a skip."""
    from pytest_experiment.run import publish

    live = item.state.live
    assert live is not None
    launch = live.add(item.experiment, nodeid=item.parent.nodeid if item.parent else "")
    lifecycle = live.follow(launch)
    item.instance = launch.instance
    if lifecycle.status is not Status.PASS:
        return blocked(f"blocked by {item.experiment.name}::lifecycle")
    state = item.state
    outcome = publish.published(
        live,
        launch,
        score=lambda exp, result, analyzer: state.quality(exp, result, analyzer=analyzer),
    )
    item.instance = outcome.instance
    return launch, outcome


def _live_quality(item: QualityItem) -> CheckResult:
    """A check of the live instance's summary.json, after the analyzer and any auto-fix
    re-runs."""
    found = _published(item)
    if isinstance(found, CheckResult):
        return found
    _, outcome = found
    if outcome.results is None:
        if outcome.phase is not None:
            item.record(run={"phase": outcome.phase})
        return outcome.unscored()
    run = {
        **_run_record(ResultFile(instance=outcome.instance, path=Path(), summary=outcome.summary)),
        "results": outcome.results_url,
        "analysis": outcome.analyzer or None,
    }
    if outcome.phase is not None:
        # The summary was written before the operator turned the run Failed.
        run["phase"] = outcome.phase
    # The gate is decided on every check, whichever ones -k selected: each item carries
    # all their verdicts, so the scorecard gives the gate the live run printed.
    item.record(
        run=run,
        gate=outcome.gate.value if outcome.gate else None,
        gateVerdicts=gate_verdicts(outcome.results),
    )
    scored = dict(outcome.results)
    result: CheckResult = (
        scored[item.check]
        if item.check in scored
        else item.state.quality_of(
            item.experiment,
            ResultFile(
                instance=outcome.instance,
                path=Path(f"s3/{outcome.instance}/summary.json"),
                summary=outcome.summary,
            ),
            item.check,
        )
    )
    extra = outcome.causes_of(item.check)
    if item.check == "ai-verdict":
        extra += outcome.analyzer_details
    elif outcome.turn is not None:
        extra.append(outcome.turn_line())
    if outcome.attempts:
        item.record(attempts=[a.as_json() for a in outcome.attempts])
        extra.append(f"auto-fix: results of attempt {len(outcome.attempts)}")
    if outcome.stopped:
        extra.append(f"auto-fix stopped: {outcome.stopped}")
    if extra:
        result = replace(result, details=(*result.details, *extra))
    return result


def _live_review(item: ExperimentItem) -> CheckResult:
    """The review gate of the last instance, once results are scored."""
    from pytest_experiment.run import review_gate

    found = _published(item)
    if isinstance(found, CheckResult):
        return found
    launch, outcome = found
    item.record(gateReport=outcome.gate_record())
    if outcome.rerun_failed:
        return blocked(f"blocked by the auto-fix re-run: {outcome.stopped}")
    live = item.state.live
    assert live is not None
    result = review_gate.review(live, launch, outcome)
    item.record(run={"review": result.figures.get("reviewPhase"), "pr": result.figures.get("pr")})
    return result


def _blocked(item: ExperimentItem) -> CheckResult | None:
    rule = item.state.validation_failure(item.experiment)
    if rule is None:
        return None
    return blocked(f"blocked by {item.experiment.name}::validate[{rule}]")


def _run_record(result: ResultFile) -> Mapping[str, Any]:
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
