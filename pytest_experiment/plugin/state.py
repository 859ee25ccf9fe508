"""Session state: what one pytest session knows about its experiments.

One ``PluginState`` lives in ``config.stash``. It loads each shared
input once (the schema, each component catalogue, each site-data directory,
the offline results index) and memoises every verdict per experiment, so the
thirteen ``validate[...]`` items of an experiment cost one pass of the rules
and the ``quality[...]`` items of a result one pass of the checks (the reproducibility
check, which imports the statistics, only when its own item runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.core.options import Options
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.verdict import CheckResult, Status

if TYPE_CHECKING:
    from pytest_experiment.core.catalog import Catalogue
    from pytest_experiment.core.checks import Check, CheckInput, History
    from pytest_experiment.core.cost import Estimate
    from pytest_experiment.core.intent import Intent
    from pytest_experiment.core.sitedata import SiteData
    from pytest_experiment.core.spec import Experiment
    from pytest_experiment.run.live_run import LiveRun

# The rules, checks and their dependencies (jsonschema, yaml) are imported where
# they are first used: a pytest run that collects no experiment must not pay for
# them (the plugin-import cost target).


def nearest(start: Path, relative: str) -> Path | None:
    """The first `<ancestor>/<relative>` directory above `start`, as lab repos lay them out."""
    for parent in start.resolve().parents:
        candidate = parent / relative
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class PluginState:
    options: Options
    extra_checks: Callable[[], Sequence[Check]] = lambda: ()
    _catalogues: dict[Path, Catalogue] = field(default_factory=dict)
    _sites: dict[Path, SiteData] = field(default_factory=dict)
    _validation: dict[Path, dict[str, CheckResult]] = field(default_factory=dict)
    _quality: dict[tuple[Path, Path], dict[str, CheckResult]] = field(default_factory=dict)
    _histories: dict[Path, History | None] = field(default_factory=dict)
    _checks: tuple[Check, ...] | None = None
    _found: dict[tuple[Path, str], Path | None] = field(default_factory=dict)
    """``nearest`` answers per ancestor directory: sibling experiments share them."""
    markers: set[str] = field(default_factory=set)
    """Series and tag markers already registered this session."""
    collected: bool = False
    """Whether any experiment file was collected (nothing else needs the heavy modules)."""
    reads_results: bool = True
    """Whether a selected live item reads summaries (a published experiment's ``quality``
    item): only then is the S3 client built at the start of the run (about 14 MB)."""
    _estimates: dict[Path, Estimate] = field(default_factory=dict)
    _guarded: dict[str, Estimate] = field(default_factory=dict)
    """The experiments ``--experiment-max-cost`` has counted, by name."""
    _cost_verdicts: dict[str, CheckResult] = field(default_factory=dict)
    live_factory: Callable[[], LiveRun] | None = None
    """Builds the live run; None when scoring published results offline."""
    _live: LiveRun | None = None

    def __repr__(self) -> str:
        # Bounded: it is an argument of collection frames, whose traceback a Ctrl-C
        # renders; the fields hold every summary and verdict read so far.
        return f"<PluginState of {len(self._validation)} validated experiments>"

    @property
    def live(self) -> LiveRun | None:
        """The live run, built on first use: importing the Kubernetes client costs ~250 ms,
        which a session without experiments must not pay."""
        if self._live is None and self.live_factory is not None:
            self._live = self.live_factory()
        return self._live

    @property
    def live_if_built(self) -> LiveRun | None:
        """The live run if anything has used it, without building one."""
        return self._live

    # -- shared inputs -------------------------------------------------------------------------

    def checks(self) -> tuple[Check, ...]:
        if self._checks is None:
            from pytest_experiment.core.checks import CHECKS

            self._checks = (*CHECKS, *self.extra_checks())
        return self._checks

    def components_dir(self, experiment: Experiment) -> Path | None:
        if self.options.components_dir is not None:
            return self.options.components_dir if self.options.components_dir.is_dir() else None
        return self._nearest(experiment.path, "components")

    def _nearest(self, start: Path, relative: str) -> Path | None:
        """``nearest(start, relative)``, asking the file system once per directory."""
        walked: list[Path] = []
        found: Path | None = None
        for parent in start.resolve().parents:
            if (parent, relative) in self._found:
                found = self._found[(parent, relative)]
                break
            walked.append(parent)
            candidate = parent / relative
            if candidate.is_dir():
                found = candidate
                break
        for parent in walked:
            self._found[(parent, relative)] = found
        return found

    def catalogue(self, experiment: Experiment) -> Catalogue | None:
        directory = self.components_dir(experiment)
        if directory is None:
            return None
        if directory not in self._catalogues:
            from pytest_experiment.core.catalog import load_catalogue

            self._catalogues[directory] = load_catalogue(directory)
        return self._catalogues[directory]

    def site_data(self, experiment: Experiment) -> SiteData | None:
        directory = self.options.site_data or self._nearest(experiment.path, "site/data")
        if directory is None or not directory.is_dir():
            return None
        return self._load_site(directory)

    def site_data_at(self, directory: Path) -> SiteData:
        """The site data (or results) directory ``directory``, loaded once."""
        return self._load_site(directory)

    def _load_site(self, directory: Path) -> SiteData:
        key = directory.resolve()
        if key not in self._sites:
            from pytest_experiment.core.sitedata import load_site_data

            self._sites[key] = load_site_data(key)
        return self._sites[key]

    # -- verdicts ------------------------------------------------------------------------------

    def validation(self, experiment: Experiment) -> dict[str, CheckResult]:
        if experiment.path not in self._validation:
            from pytest_experiment.core.rules import RuleContext, run_rules
            from pytest_experiment.core.schema import bundled_schema

            # Once a cluster has answered, its CRD is the schema to validate against.
            live_schema = self._live.crd_schema if self._live is not None else None
            context = RuleContext(
                experiment=experiment,
                catalogue=self.catalogue(experiment),
                schema=live_schema or bundled_schema(),
            )
            results = dict(run_rules(context))
            unreadable = self._live.crd_unreadable if self._live is not None else None
            checked = results.get("schema")
            if unreadable and checked is not None and checked.status is Status.PASS:
                # Valid against what we have, but not against what the cluster enforces.
                results["schema"] = replace(
                    checked,
                    status=Status.WARN,
                    summary=f"{checked.summary}; the cluster's CRD was not read: {unreadable}",
                )
            self._validation[experiment.path] = results
        return self._validation[experiment.path]

    def validation_failure(self, experiment: Experiment) -> str | None:
        """The first failing rule (for the skip reason of blocked items), or None."""
        for rule, result in self.validation(experiment).items():
            if result.status is Status.FAIL:
                return rule
        return None

    def validation_reason(self, experiment: Experiment) -> tuple[str, str] | None:
        """The first failing rule and what it says, untagged (for toil titles), or None."""
        rule = self.validation_failure(experiment)
        if rule is None:
            return None
        return rule, self.validation(experiment)[rule].summary

    def intent(self, experiment: Experiment) -> Intent:
        from pytest_experiment.core.intent import build_intent

        site = self.site_data(experiment)
        return build_intent(
            experiment,
            series=site.series if site is not None else None,
            prior_metric_names=(
                site.prior_metric_names(experiment) if site is not None else frozenset()
            ),
        )

    def quality(
        self, experiment: Experiment, result: ResultFile, *, analyzer: str | None = None
    ) -> list[tuple[str, CheckResult]]:
        """The verdicts the quality gate judges, in scorecard order: every check's, but the
        reproducibility check's only when its difference fails (a WARN of it never holds
        the gate), so a live session that deselects it does not import the statistics."""
        from pytest_experiment.core.checks import ON_DEMAND

        gates = self.options.reproducibility == "fail"
        return [
            (check.name, self.quality_of(experiment, result, check.name, analyzer=analyzer))
            for check in self.checks()
            if check.name not in ON_DEMAND or gates
        ]

    def quality_of(
        self, experiment: Experiment, result: ResultFile, name: str, *, analyzer: str | None = None
    ) -> CheckResult:
        """One check's verdict on one result. The result's other checks are judged together,
        once; a reproducibility check only when asked for, because it alone imports the
        statistics: an offline session that deselects it never pays for them."""
        from pytest_experiment.core.checks import ON_DEMAND, run_check

        key = (experiment.path, result.path)
        found = self._quality.setdefault(key, {})
        if name not in found:
            inp = self._check_input(experiment, result, analyzer)
            for check in self.checks():
                if check.name == name or (name not in ON_DEMAND and check.name not in ON_DEMAND):
                    found[check.name] = run_check(check, inp)
        return found[name]

    def _check_input(
        self, experiment: Experiment, result: ResultFile, analyzer: str | None
    ) -> CheckInput:
        from pytest_experiment.core.checks import CheckInput, Reproducibility

        assert result.summary is not None
        return CheckInput(
            experiment=experiment,
            summary=result.summary,
            intent=self.intent(experiment),
            analyzer=analyzer,
            history=self.history(experiment),
            reproducibility=Reproducibility(
                floor=self.options.reproducibility_floor,
                fail=self.options.reproducibility == "fail",
            ),
        )

    def history(self, experiment: Experiment) -> History | None:
        """The published runs of ``experiment`` (its generateName) the reproducibility check
        compares a run with, read once per session: the results directory's when scoring
        one offline (each run is then compared with those before it), else the site data's;
        None when there is none."""
        if experiment.path not in self._histories:
            from pytest_experiment.core.checks import History
            from pytest_experiment.core.checks.reproducibility import templates

            target = self.options.results
            site = (
                self._load_site(target)
                if target is not None and target.is_dir()
                else self.site_data(experiment)
            )
            self._histories[experiment.path] = (
                None
                if site is None
                else History(
                    (summary for _, summary in site.results_for(experiment.generate_name)),
                    templates=templates(experiment),
                )
            )
        return self._histories[experiment.path]

    # -- cloud cost ------------------------------------------------------------------------------

    def estimate(self, experiment: Experiment) -> Estimate:
        """What ``experiment`` is estimated to cost (made on first use, never at collection)."""
        if experiment.path not in self._estimates:
            from pytest_experiment.core.cost import Bound, estimate
            from pytest_experiment.core.prices import shipped_prices

            site = self.site_data(experiment)
            published = site.results_for(experiment.generate_name) if site is not None else []
            self._estimates[experiment.path] = estimate(
                experiment,
                prices=self.options.price_table or shipped_prices(),
                bound=Bound.of(self.options, experiment),
                published=[summary for _, summary in published],
                attached=experiment.name in self.options.attach,
            )
        return self._estimates[experiment.path]

    def guard_costs(self, experiments: Iterable[Experiment]) -> None:
        """Under ``--experiment-max-cost``, decide every experiment's ``preflight[cost]``
        together, before the first is applied: the limit is the whole session's."""
        limit = self.options.max_cost
        if limit is None:
            return
        from pytest_experiment.core.cost import guard

        fresh = {e.name: self.estimate(e) for e in experiments if e.name not in self._guarded}
        if not fresh:
            return
        self._guarded.update(fresh)
        verdicts = guard(list(self._guarded.values()), limit=limit)
        # Verdicts already given stand: those experiments may be running by now.
        self._cost_verdicts.update({name: verdicts[name] for name in fresh})

    def cost_verdict(self, experiment: Experiment) -> CheckResult | None:
        """The ``preflight[cost]`` verdict of ``experiment``; None without a limit. One no
        item selected (asked for by the ``experiment_run`` fixture) is counted on top."""
        if self.options.max_cost is None:
            return None
        self.guard_costs([experiment])
        return self._cost_verdicts[experiment.name]

    # -- offline results -----------------------------------------------------------------------

    def offline_results(self, experiment: Experiment, *, only: bool) -> list[ResultFile]:
        """Result files to score for ``experiment``, newest first.

        A directory is matched by generateName; a single file is matched by
        its ``name`` or, when ``only`` (one experiment selected), taken as is.
        """
        target = self.options.results
        if target is None:
            return []
        if target.is_dir():
            site = self._load_site(target)
            return [
                *(
                    ResultFile(instance=_instance(path, summary), path=path, summary=summary)
                    for path, summary in site.results_for(experiment.generate_name)
                ),
                # A truncated result is this experiment's, by its file name: say so.
                *(
                    ResultFile(instance=path.stem, path=path, summary=None, problem=problem)
                    for path, problem in site.unreadable_for(experiment.generate_name)
                ),
            ]
        result = read_result_file(target)
        name = str((result.summary or {}).get("name", ""))
        matches = bool(experiment.generate_name) and name.startswith(experiment.generate_name)
        return [result] if matches or only else []


def _instance(path: Path, summary: Mapping[str, Any]) -> str:
    name = summary.get("name")
    return name if isinstance(name, str) and name else path.stem


def read_result_file(path: Path) -> ResultFile:
    from pytest_experiment.core.limits import json_problem, json_type_name, parse_json

    try:
        data = parse_json(path.read_bytes())
    except OSError as err:
        return ResultFile(path.stem, path, None, f"cannot read {path}: {err.strerror}")
    except ValueError as err:  # JSON, UTF-8 and limit errors alike
        message, line = json_problem(err)
        where = f"{path}:{line}" if line else str(path)
        return ResultFile(path.stem, path, None, f"{where}: {message}")
    if not isinstance(data, dict):
        return ResultFile(
            path.stem, path, None, f"{path}:1: holds {json_type_name(data)}, not an object"
        )
    return ResultFile(_instance(path, data), path, data)


STATE = pytest.StashKey[PluginState]()
