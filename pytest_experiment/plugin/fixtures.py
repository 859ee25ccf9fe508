"""Fixtures for user-written tests: assert on a run's metrics directly.

::

    def test_p99_under_50ms(experiment_run):
        run = experiment_run("web-latency")
        assert run.phase == "Complete"
        assert run.metric("request_p99")[0]["value"] < 0.05

``experiment_run(name)`` follows the experiment's instance to its verdict (the
same run the experiment's own items follow: never a second apply), then gives
its instance, its status as last seen by the watch, and its summary read
from S3 on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.base.errors import ResultsError
from pytest_experiment.core.verdict import CheckResult
from pytest_experiment.plugin.state import STATE
from pytest_experiment.run import steps

if TYPE_CHECKING:
    from pytest_experiment.core.spec import Experiment


@dataclass(frozen=True, kw_only=True)
class ExperimentRun:
    name: str
    instance: str
    status: Mapping[str, Any]
    lifecycle: CheckResult
    """The verdict of the experiment's lifecycle (PASS once Complete)."""
    _read_summary: Callable[[str], Mapping[str, Any]] = field(repr=False)

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or "")

    @functools.cached_property
    def summary(self) -> Mapping[str, Any]:
        """summary.json of this instance; ``ResultsError`` when there is none to read."""
        url = self.status.get("resultsURL")
        if not url:
            raise ResultsError(f"{self.instance} has no status.resultsURL (phase {self.phase})")
        return self._read_summary(str(url))

    def metric(self, name: str) -> Sequence[Mapping[str, Any]]:
        """The ``data`` of one custom metric in the summary (empty when it returned nothing)."""
        queries = (self.summary.get("metrics") or {}).get("queries") or {}
        entry = queries.get(name)
        if not isinstance(entry, Mapping):
            raise ResultsError(f"{self.instance}: metric {name!r} is not in the summary")
        return list(entry.get("data") or [])


def _experiment(request: pytest.FixtureRequest, name: str) -> Experiment:
    """The collected experiment called ``name``, else ``experiments/<name>/`` found from the
    requesting test's directory upwards, the invocation directory or the rootdir."""
    from pytest_experiment.core.spec import Experiment, read_source
    from pytest_experiment.plugin.items import ExperimentItem

    for item in request.session.items:
        if isinstance(item, ExperimentItem) and item.experiment.name == name:
            return item.experiment
    config = request.config
    bases = [*request.path.parents, config.invocation_params.dir, config.rootpath]
    for base in dict.fromkeys(bases):
        for candidate in (base / "experiments" / name, base / name):
            path = candidate / "experiment.yaml"
            if path.is_file():
                return Experiment.from_source(read_source(path))
    raise pytest.UsageError(
        f"experiment_run({name!r}): no experiments/{name}/experiment.yaml above {request.path}"
    )


@pytest.fixture
def experiment_run(request: pytest.FixtureRequest) -> Callable[[str], ExperimentRun]:
    """``experiment_run(name)`` → the followed run of ``experiments/<name>/``."""
    state = request.config.stash[STATE]
    live = state.live
    if live is None:
        pytest.skip("experiment_run needs a cluster; this session scores published results")

    def run(name: str) -> ExperimentRun:
        followed = steps.follow(live, live.find(name) or live.add(_experiment(request, name)))
        if not followed.instance:
            pytest.skip(f"experiment_run({name!r}): not applied: {followed.verdict.summary}")
        return ExperimentRun(
            name=name,
            instance=followed.instance,
            status=followed.status(),
            lifecycle=followed.verdict,
            # The session's store: the one the quality items read, with the session's
            # --experiment-results-wait and whatever store a hook supplied.
            _read_summary=live.read_summary,
        )

    return run


__all__ = ["ExperimentRun", "experiment_run"]
