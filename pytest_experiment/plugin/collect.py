"""Collection: ``experiment.yaml`` files become one collector and its ordered items.

Every item computes a ``CheckResult`` and hands it to ``_conclude``, the one
place where verdicts become pytest outcomes: PASS passes, WARN is an
xfail whose reason starts with ``[WARN]``, FAIL fails with the scorecard line
as the message, N/A is a skip starting with ``[N/A]``. The verdict and the
check's figures are attached as ``user_properties``, so JUnit, the JSON report
and the terminal scorecard are all built from test reports (and so work the
same under xdist, where the controller only sees reports).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_experiment.base.errors import EnvironmentFailure, ExperimentError, SpecError
from pytest_experiment.core.checks import completion_line
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.rules import RULES
from pytest_experiment.core.spec import Experiment, Source, is_experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.plugin import markers
from pytest_experiment.plugin.compat import TerminalRepr, TerminalWriter, skip_at_item
from pytest_experiment.plugin.state import SESSION, ExperimentSession
from pytest_experiment.reporting.report import property_name

if TYPE_CHECKING:
    from pytest_experiment.run.follow import Deadline
    from pytest_experiment.run.launch import Launch
    from pytest_experiment.run.outcome import Published

PREFLIGHT_CHECKS = ("workflow-template", "operator")
DEADLINE: pytest.StashKey[Deadline] = pytest.StashKey()
"""pytest-timeout's limit for a lifecycle item, which the item enforces itself."""
_RESERVED = frozenset(
    {"experiment", "instance", "step", "check", "verdict", "summary", "details", "run", "intent"}
)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class CheckFailed(Exception):
    """Raised by an item whose verdict is FAIL; rendered as its scorecard line."""

    def __init__(self, result: CheckResult) -> None:
        self.result = result
        super().__init__(result.line)


@dataclass(frozen=True, slots=True)
class _Crash:
    """What JUnit and the short summary read as the failure message."""

    path: str
    lineno: int
    message: str


@dataclass(eq=False)
class VerdictRepr(TerminalRepr):
    """A failure shown as the scorecard line and the lines a user acts on."""

    line: str
    details: tuple[str, ...]
    reprcrash: _Crash

    def toterminal(self, tw: TerminalWriter) -> None:
        tw.line(self.line, red=True, bold=True)
        for detail in self.details:
            tw.line(f"  {detail}")


def id_part(text: str) -> str:
    """``text`` made safe inside an item id's brackets: every character but ASCII
    letters, digits, ``-``, ``.`` and ``_`` is percent-encoded (UTF-8).

    Instance names come from result files, which anyone can write: a ``]``,
    ``[`` or ``::`` would change how pytest splits the id, an ``@`` how xdist
    groups it, and a space or newline would stop the printed id from being
    pasted back on a command line. Kubernetes names never need escaping.
    """
    return _ID_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), text)


def _instance_ids(results: list[ResultFile]) -> list[str]:
    """The id part naming each result's instance, unique within one experiment.

    A copied summary keeps its instance name, so two files can name one
    instance: the file named after the instance (else the first) keeps the
    plain name, the others add their file name.
    """
    names = [id_part(r.instance) for r in results]
    keeper: dict[str, int] = {}
    for index, (name, result) in enumerate(zip(names, results, strict=True)):
        if result.path.stem == result.instance:
            keeper.setdefault(name, index)
    for index, name in enumerate(names):
        keeper.setdefault(name, index)
    return [
        name if keeper[name] == index else f"{name}.{id_part(result.path.stem)}"
        for index, (name, result) in enumerate(zip(names, results, strict=True))
    ]


class ExperimentFile(pytest.File):
    """One ``experiment.yaml``; parsed by ``pytest_collect_file`` and handed over."""

    source: Source | None
    error: SpecError | None

    @classmethod
    def for_path(cls, parent: pytest.Collector, file_path: Path) -> ExperimentFile | None:
        """A collector for ``file_path``, or None when it belongs to another tool."""
        source: Source | None = None
        error: SpecError | None = None
        try:
            source = read_source(file_path)
        except SpecError as err:
            error = err
        if source is not None and not is_experiment(source.data):
            return None
        node: ExperimentFile = cls.from_parent(parent, path=file_path)
        node.source, node.error = source, error
        return node

    @property
    def session_state(self) -> ExperimentSession:
        return self.config.stash[SESSION]

    def collect(self) -> Iterator[ExperimentItem]:
        if self.error is not None:
            raise self.CollectError(str(self.error)) from self.error
        assert self.source is not None
        experiment = Experiment.from_source(self.source)
        state = self.session_state

        # Marks and keywords sit on the file node: every item inherits them,
        # and per-item copies cost noticeably at a thousand experiments.
        for mark in self._markers(experiment, state):
            self.add_marker(mark)
        _warn_site_problems(self.config, state, experiment)
        self.extra_keyword_matches.update(
            k for k in (experiment.generate_name, experiment.prefix) if k
        )

        def make(cls: type[ExperimentItem], name: str, **kw: Any) -> ExperimentItem:
            # An explicit nodeid makes pytest parse it the way it parses the
            # ids it stores (--lf's cache); built from the name, "validate[x]"
            # would not be recognised as the "validate" + params it reads back.
            return cls.from_parent(
                self, name=name, nodeid=f"{self.nodeid}::{name}", experiment=experiment, **kw
            )

        for rule in RULES:
            yield make(ValidateItem, f"validate[{rule.name}]", check=rule.name)
        for check in PREFLIGHT_CHECKS:
            yield make(PreflightItem, f"preflight[{check}]", check=check)
        yield make(LifecycleItem, "lifecycle", check="lifecycle")
        checks = [c.name for c in state.checks()]
        if state.options.results is None:
            for check in checks:
                yield make(QualityItem, f"quality[{id_part(check)}]", check=check, result=None)
        else:
            results = state.offline_results(experiment, only=self._only_experiment())
            for result, instance in zip(results, _instance_ids(results), strict=True):
                for check in checks:
                    # One bracketed parameter, so pytest, JUnit and --lf read it as one.
                    yield make(
                        QualityItem,
                        f"quality[{id_part(check)}@{instance}]",
                        check=check,
                        result=result,
                    )
            if not results:
                for check in checks:
                    yield make(QualityItem, f"quality[{id_part(check)}]", check=check, result=None)
        yield make(ReviewItem, "review", check="review")

    def _only_experiment(self) -> bool:
        """True when pytest was pointed at this one file or its directory."""
        return any(
            Path(arg.split("::")[0]).resolve() in (self.path, self.path.parent)
            for arg in self.config.args
        )

    def _markers(self, experiment: Experiment, state: ExperimentSession) -> list[Any]:
        return [
            pytest.mark.xdist_group(name=experiment.name),
            *(getattr(pytest.mark, name) for name in experiment_markers(self.config, experiment)),
        ]


def experiment_markers(config: pytest.Config, experiment: Experiment) -> list[str]:
    """The series and tag marker names of ``experiment``, registered so
    ``--strict-markers`` accepts them; see ``pytest_experiment.plugin.markers``."""
    state = config.stash[SESSION]
    labels = [("tag", tag) for tag in experiment.tags]
    series = state.intent(experiment).series
    if series:
        labels.append(("series", series))
    return markers.register(config, labels, ours=state.markers)


class SiteDataWarning(pytest.PytestWarning):
    """A site-data or results file could not be read: listed once, never fatal."""


_WARNED = pytest.StashKey[set[str]]()


def _warn_site_problems(
    config: pytest.Config, state: ExperimentSession, experiment: Experiment
) -> None:
    """Each unreadable site-data file, once per session: one bad file must neither stop
    collection nor vanish without a word (its experiment's verdicts may depend on it)."""
    sites = [state.site_data(experiment)]
    results = state.options.results
    if results is not None and results.is_dir():
        sites.append(state.site_data_at(results))
    warned = config.stash.setdefault(_WARNED, set())
    for site in sites:
        for problem in site.problems if site is not None else ():
            if problem not in warned:
                warned.add(problem)
                warnings.warn(SiteDataWarning(f"site data: {problem}"), stacklevel=1)


class ExperimentItem(pytest.Item):
    """One step of one experiment. Subclasses implement ``verdict``."""

    def __init__(self, *, experiment: Experiment, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experiment = experiment
        self.check = check
        self.instance: str = ""
        self.plain_nodeid = self.nodeid
        """The id as collected: what reports carry, whatever xdist's grouping did to it."""

    @property
    def state(self) -> ExperimentSession:
        return self.config.stash[SESSION]

    @property
    def step(self) -> str:
        return self.name.split("[", 1)[0]

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
        if isinstance(excinfo.value, CheckFailed):
            result = excinfo.value.result
            return VerdictRepr(
                line=result.line,
                details=result.details,
                reprcrash=_Crash(str(self.path), 0, result.line),
            )
        if isinstance(excinfo.value, pytest.xfail.Exception):
            # A WARN: the skipping plugin only needs the reason, and formatting
            # the traceback pytest would otherwise build costs ~100 ms per item.
            return str(excinfo.value)
        if isinstance(excinfo.value, EnvironmentFailure):
            line = f"{Status.ERROR.tag} {excinfo.value}"
            return VerdictRepr(line=line, details=(), reprcrash=_Crash(str(self.path), 0, line))
        if isinstance(excinfo.value, ExperimentError):
            return f"[FAIL] {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def record(self, **properties: Any) -> None:
        for key, value in properties.items():
            if isinstance(value, (dict, list, tuple)):
                value = json.dumps(value, sort_keys=True, default=str)
            self.user_properties.append((key, value))


def _conclude(item: ExperimentItem, result: CheckResult) -> None:
    __tracebackhide__ = True
    item.record(
        experiment=item.experiment.name,
        instance=item.instance,
        step=item.step,
        check=item.check,
        verdict=result.status.value,
        summary=result.line,
    )
    if result.details:
        item.record(details=list(result.details))
    # A figure may share a name with a property above (machine-verdict's
    # "verdict"); it is then written as "figure.<name>" so neither is lost.
    item.record(
        **{
            (f"figure.{k}" if k in _RESERVED else property_name(k)): v
            for k, v in result.figures.items()
        }
    )
    if result.status is Status.WARN:
        pytest.xfail(result.line)
    if result.status is Status.NA:
        skip_at_item(result.line)
    if result.status is Status.FAIL:
        raise CheckFailed(result)


def _environment_failure(item: ExperimentItem, message: str) -> NoReturn:
    """Raise from ``setup``: pytest reports an error (JUnit ``<error>``), and the
    scorecard, built from the report's properties, says what could not be had."""
    __tracebackhide__ = True
    item.record(
        experiment=item.experiment.name,
        instance=item.instance,
        step=item.step,
        check=item.check,
        verdict=Status.ERROR.value,
        summary=f"{Status.ERROR.tag} {message}",
    )
    raise EnvironmentFailure(message)


def _skip(reason: str) -> CheckResult:
    return CheckResult(Status.NA, reason)


class ValidateItem(ExperimentItem):
    def verdict(self) -> CheckResult:
        return self.state.validation(self.experiment)[self.check]


class PreflightItem(ExperimentItem):
    def verdict(self) -> CheckResult:
        live = self.state.live
        if live is None:
            return _skip("offline: scoring published results, no cluster")
        launch = live.add(self.experiment, nodeid=self.parent.nodeid if self.parent else "")
        live.prepare(launch)
        return launch.preflight.checks[self.check]


class LifecycleItem(ExperimentItem):
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
            }
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
    def verdict(self) -> CheckResult:
        if not self.experiment.publish:
            return _unpublished(self)
        if self.state.options.results is not None:
            return _skip("offline: no review gate for published results")
        return _blocked(self) or _live_review(self)


class QualityItem(ExperimentItem):
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
                if outcome.results is None and outcome.turn is None:
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
        return dict(state.quality(self.experiment, self.result))[self.check]


def _unpublished(item: ExperimentItem) -> CheckResult:
    """Skipped, but attributed to the live instance when there is one, so the report
    lists one instance per run rather than an extra nameless one."""
    live = item.state.live_started
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
        return _skip(f"blocked by {item.experiment.name}::lifecycle")
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
        return outcome.unscored()
    run = {
        **_run_record(ResultFile(instance=outcome.instance, path=Path(), summary=outcome.summary)),
        "results": outcome.results_url,
        "analysis": outcome.analyzer or None,
    }
    item.record(run=run, gate=outcome.gate.value if outcome.gate else None)
    result: CheckResult = dict(outcome.results)[item.check]
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
        return _skip(f"blocked by the auto-fix re-run: {outcome.stopped}")
    live = item.state.live
    assert live is not None
    result = review_gate.review(live, launch, outcome)
    item.record(run={"review": result.figures.get("reviewPhase"), "pr": result.figures.get("pr")})
    return result


def _blocked(item: ExperimentItem) -> CheckResult | None:
    rule = item.state.validation_failure(item.experiment)
    if rule is None:
        return None
    return _skip(f"blocked by {item.experiment.name}::validate[{rule}]")


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
