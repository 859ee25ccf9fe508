"""Published results on disk: the site data directory (ini ``experiment_site_data``).

The directory holds one ``<instance>.json`` per published run (the operator's
``summary.json`` enriched by the analyzer) plus ``_``-prefixed catalogues such
as ``_series.json``. Everything is read and parsed once, up front, so scoring
the whole corpus (within a second) and computing every experiment's prior data cost
no further I/O. A file that cannot be read or parsed is recorded in
``problems`` and never stops the others from loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_experiment.core.intent import SeriesCatalogue, place
from pytest_experiment.core.limits import json_problem, json_type_name, parse_json
from pytest_experiment.core.spec import Experiment

SERIES_FILE = "_series.json"


@dataclass(frozen=True, slots=True)
class Result:
    """One published result document."""

    path: Path
    summary: Mapping[str, Any]
    name: str
    """The instance name (``summary["name"]``), e.g. ``db-fvm-mpcnl``."""
    completed_at: datetime | None
    metric_names: frozenset[str]
    """Keys of ``metrics.queries``: the metric names this run published."""


def _completed_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:  # 3.11's parser takes the operator's nanoseconds and trailing Z
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A naive timestamp cannot be ordered against aware ones; the operator writes UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _metric_names(summary: Mapping[str, Any]) -> frozenset[str]:
    metrics = summary.get("metrics")
    queries = metrics.get("queries") if isinstance(metrics, Mapping) else None
    return frozenset(queries) if isinstance(queries, Mapping) else frozenset()


def _newest_first(result: Result) -> tuple[bool, float, str]:
    stamp = result.completed_at
    # Results without a completion time go last; the name keeps the order stable.
    return (stamp is None, -stamp.timestamp() if stamp else 0.0, result.name)


@dataclass(frozen=True, slots=True)
class SiteData:
    root: Path
    series: SeriesCatalogue
    """The research series of ``_series.json`` (empty when the file is absent)."""
    results: tuple[Result, ...]
    """Every result document, newest ``completedAt`` first."""
    problems: tuple[str, ...]
    """Files that could not be read or parsed, one line each (``path:line: why``)."""
    unreadable: tuple[tuple[Path, str], ...] = ()
    """``<instance>.json`` files that could not be read, with the problem: the
    experiment they are named after reports them instead of finding no result."""

    def results_for(self, generate_name: str) -> list[tuple[Path, Mapping[str, Any]]]:
        """Results of the experiment with this generateName, newest first.

        The match includes the trailing ``-`` so ``db-st-`` never claims the
        results of a ``db-stx-`` experiment.
        """
        if not generate_name:
            return []
        return [(r.path, r.summary) for r in self.results if r.name.startswith(generate_name)]

    def unreadable_for(self, generate_name: str) -> list[tuple[Path, str]]:
        """Unreadable result files named after an instance of this generateName."""
        if not generate_name:
            return []
        return [(path, why) for path, why in self.unreadable if path.stem.startswith(generate_name)]

    def prior_metric_names(self, experiment: Experiment) -> frozenset[str]:
        """Metric names published by experiments earlier in ``experiment``'s series."""
        placement = place(experiment, self.series)
        if placement is None or not placement.earlier:
            return frozenset()
        earlier = tuple(f"{prefix}-" for prefix in placement.earlier)
        names: set[str] = set()
        for result in self.results:
            if result.name.startswith(earlier):
                names |= result.metric_names
        return frozenset(names)


def _read_json(path: Path, problems: list[str]) -> tuple[bool, Any]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        problems.append(f"{path}: cannot read ({err.strerror})")
        return False, None
    try:
        return True, parse_json(raw)
    except ValueError as err:  # JSON, UTF-8 and limit errors alike
        message, line = json_problem(err)
        problems.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")
    return False, None


def _not_a_summary(data: Any) -> str:
    """Why ``data`` is not a result summary (an object naming its instance), or ''."""
    if not isinstance(data, dict):
        return f"holds {json_type_name(data)}, not an object"
    if "name" not in data:
        return 'has no "name" (the instance it is a result of)'
    if not isinstance(data["name"], str):
        return f'"name" is {json_type_name(data["name"])}, not a string'
    if not data["name"]:
        return '"name" is empty'
    return ""


def _series(path: Path, problems: list[str]) -> SeriesCatalogue:
    ok, data = _read_json(path, problems)
    if not ok:
        return SeriesCatalogue()
    entries = data.get("series") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        found = json_type_name(entries if isinstance(data, dict) else data)
        where = "its series" if isinstance(data, dict) else "the document"
        problems.append(f"{path}:1: expected an object with a series array; {where} is {found}")
    return SeriesCatalogue.from_data(data)


def load_site_data(path: Path) -> SiteData:
    """Read the site data directory; a missing directory is empty site data."""
    problems: list[str] = []
    unreadable: list[tuple[Path, str]] = []
    catalogue = SeriesCatalogue()
    results: list[Result] = []
    if path.is_dir():
        series_path = path / SERIES_FILE
        if series_path.is_file():
            catalogue = _series(series_path, problems)
        for file in sorted(path.glob("*.json")):
            if file.name.startswith("_"):
                continue
            # A result is named <instance>.json; other documents carry a dot
            # before .json (``<id>.tutorial.json``) and are read only by the site.
            result_name = "." not in file.stem
            ok, data = _read_json(file, problems)
            if not ok:
                if result_name:
                    unreadable.append((file, problems[-1]))
                continue
            # A result summary is a mapping that names its instance. One named like
            # a result that is not is reported, as a truncated one is: dropped
            # without a word, it would leave its experiment "no result matches".
            shape = _not_a_summary(data)
            if shape:
                if result_name:
                    problems.append(f"{file}:1: {shape}")
                    unreadable.append((file, problems[-1]))
                continue
            results.append(
                Result(
                    path=file,
                    summary=data,
                    name=data["name"],
                    completed_at=_completed_at(data.get("completedAt")),
                    metric_names=_metric_names(data),
                )
            )
    results.sort(key=_newest_first)
    return SiteData(
        root=path,
        series=catalogue,
        results=tuple(results),
        problems=tuple(problems),
        unreadable=tuple(unreadable),
    )
