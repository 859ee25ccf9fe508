"""The items of one experiment: validate, preflight, lifecycle, quality, review.

Each computes a ``CheckResult``; ``outcome.conclude`` turns it into the pytest
outcome. The live ones ask ``run.steps`` for their step's verdict, of the session's live
run (built on first use), and record what it gives.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import pytest

from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, blocked
from pytest_experiment.plugin import outcome
from pytest_experiment.plugin.compat import TerminalRepr
from pytest_experiment.plugin.outcome import not_applicable as _skip
from pytest_experiment.plugin.state import STATE, PluginState
from pytest_experiment.run import steps

if TYPE_CHECKING:
    from pytest_experiment.run.follow import Deadline
    from pytest_experiment.run.live_run import LiveRun

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

    @property
    def file_id(self) -> str:
        """The node id of the item's experiment file: the key of its launch."""
        return self.parent.nodeid if self.parent else ""

    @property
    def live_run(self) -> LiveRun:
        live = self.state.live
        assert live is not None
        return live

    def render(self, step: steps.StepVerdict) -> CheckResult:
        """A live step's verdict, its instance and properties recorded first."""
        if step.instance:
            self.instance = step.instance
        self.record(**step.properties)
        return step.result

    def unpublished(self) -> CheckResult:
        """Skipped, but attributed to the live instance when there is one (and the item
        has none yet)."""
        live = self.state.live_if_built if not self.instance else None
        return self.render(steps.unpublished(live, self.experiment, nodeid=self.file_id))

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
        launch = live.add(self.experiment, nodeid=self.file_id)
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
        return self.render(
            steps.lifecycle(
                live, self.experiment, nodeid=self.file_id, deadline=self.stash.get(DEADLINE, None)
            )
        )


class ReviewItem(ExperimentItem):
    step = "review"
    live = True

    def verdict(self) -> CheckResult:
        if not self.experiment.publish:
            return self.unpublished()
        if self.state.options.results is not None:
            return _skip("offline: no review gate for published results")
        return _blocked(self) or self.render(
            steps.review(self.live_run, self.experiment, nodeid=self.file_id, scoring=self.state)
        )


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
            found = self._live_quality()
            self.instance = found.instance
            if found.error:
                _environment_failure(self, found.error)

    def verdict(self) -> CheckResult:
        if not self.experiment.publish:
            return self.unpublished()
        state = self.state
        if state.options.results is None:
            return _blocked(self) or self.render(self._live_quality())
        if self.result is None:
            return _skip(
                f"no result in {state.options.results} matches generateName "
                f"{self.experiment.generate_name!r}"
            )
        assert self.result.summary is not None, "setup raised"
        # Every item carries its run, so a JUnit testcase (or a -k selection
        # of one check) is readable on its own.
        self.record(run=steps.run_record(self.result))
        results = state.quality(self.experiment, self.result)
        self.record(gateVerdicts=steps.gate_verdicts(results))
        return state.quality_of(self.experiment, self.result, self.check)

    def _live_quality(self) -> steps.StepVerdict:
        """Asked in setup for the error, in the call for the verdict: the publication and
        the checks behind it are computed once."""
        return steps.quality(
            self.live_run, self.experiment, self.check, nodeid=self.file_id, scoring=self.state
        )


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


def _blocked(item: ExperimentItem) -> CheckResult | None:
    rule = item.state.validation_failure(item.experiment)
    if rule is None:
        return None
    return blocked(f"blocked by {item.experiment.name}::validate[{rule}]")
