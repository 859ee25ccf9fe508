"""Collection: ``experiment.yaml`` files become one collector and its ordered items
(the items themselves are in ``items``, their outcomes in ``outcome``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.base.errors import SpecError
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.rules import RULES
from pytest_experiment.core.spec import Experiment, Source, is_experiment, read_source
from pytest_experiment.plugin.items import (
    ExperimentItem,
    LifecycleItem,
    PreflightItem,
    QualityItem,
    ReviewItem,
    ValidateItem,
)
from pytest_experiment.plugin.markers import experiment_markers
from pytest_experiment.plugin.state import STATE, PluginState

PREFLIGHT_CHECKS = ("namespace", "workflow-template", "operator")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


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
    def session_state(self) -> PluginState:
        return self.config.stash[STATE]

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

        def make(cls: type[ExperimentItem], param: str | None = None, **kw: Any) -> ExperimentItem:
            # An explicit nodeid makes pytest parse it the way it parses the
            # ids it stores (--lf's cache); built from the name, "validate[x]"
            # would not be recognised as the "validate" + params it reads back.
            name = cls.item_name(param)
            return cls.from_parent(
                self, name=name, nodeid=f"{self.nodeid}::{name}", experiment=experiment, **kw
            )

        for rule in RULES:
            yield make(ValidateItem, rule.name, check=rule.name)
        # The cost item only under a limit: without one there is nothing to decide.
        limited = state.options.max_cost is not None
        for check in ("cost", *PREFLIGHT_CHECKS) if limited else PREFLIGHT_CHECKS:
            yield make(PreflightItem, check, check=check)
        yield make(LifecycleItem, check="lifecycle")
        checks = [c.name for c in state.checks()]
        if state.options.results is None:
            for check in checks:
                yield make(QualityItem, id_part(check), check=check, result=None)
        else:
            results = state.offline_results(experiment, only=self._only_experiment())
            for result, instance in zip(results, _instance_ids(results), strict=True):
                for check in checks:
                    # One bracketed parameter, so pytest, JUnit and --lf read it as one.
                    yield make(
                        QualityItem,
                        f"{id_part(check)}@{instance}",
                        check=check,
                        result=result,
                    )
            if not results:
                for check in checks:
                    yield make(QualityItem, id_part(check), check=check, result=None)
        yield make(ReviewItem, check="review")

    def _only_experiment(self) -> bool:
        """True when pytest was pointed at this one file or its directory."""
        return any(
            Path(arg.split("::")[0]).resolve() in (self.path, self.path.parent)
            for arg in self.config.args
        )

    def _markers(self, experiment: Experiment, state: PluginState) -> list[Any]:
        return [
            pytest.mark.xdist_group(name=experiment.name),
            *(getattr(pytest.mark, name) for name in experiment_markers(self.config, experiment)),
        ]


class SiteDataWarning(pytest.PytestWarning):
    """A site-data or results file could not be read: listed once, never fatal."""


_WARNED = pytest.StashKey[set[str]]()


def _warn_site_problems(config: pytest.Config, state: PluginState, experiment: Experiment) -> None:
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
