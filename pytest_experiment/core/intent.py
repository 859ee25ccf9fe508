"""The intent summary: what an experiment sets out to prove, and what is new in it.

The quality gate needs to know an experiment's *raison d'être*: the metric
groups no earlier experiment of its series has published. A run that collects
everything except those groups merely reproduces prior work, which is what
``intent-coverage`` catches. This module is pure; the published results that
``prior_metric_names`` is drawn from are read by ``pytest_experiment.core.sitedata``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_experiment.core.spec import Experiment

# A sentence ends at . ! or ? followed by whitespace and something that can
# start a sentence, so "1.5x" and "p99." at the very end are handled alike.
_SENTENCE = re.compile(r"\S.*?[.!?](?=\s+[A-Z0-9\"'(\[]|\s*$)", re.DOTALL)


_SPACE = re.compile(r"\s*")


def sentences(text: str) -> list[str]:
    """Split prose into sentences; text without a closing stop is one sentence.

    Linear in the length of ``text``: each match starts where the last ended
    instead of on a fresh copy of the rest (a megabyte claim is read at once).
    """
    found: list[str] = []
    end = len(text.rstrip())
    pos = _SPACE.match(text).end()  # type: ignore[union-attr]  # \s* always matches
    while pos < end:
        match = _SENTENCE.match(text, pos, end)
        if match is None:
            found.append(" ".join(text[pos:end].split()))
            break
        found.append(" ".join(match.group(0).split()))
        pos = _SPACE.match(text, match.end()).end()  # type: ignore[union-attr]
    return found


@dataclass(frozen=True, slots=True)
class Series:
    id: str
    name: str
    order: tuple[str, ...]
    """generateName prefixes (without the trailing ``-``) in research order."""


@dataclass(frozen=True, slots=True)
class SeriesCatalogue:
    """``_series.json``: the research series and the order of their experiments."""

    series: tuple[Series, ...] = ()

    @classmethod
    def from_data(cls, data: Any) -> SeriesCatalogue:
        """Build from the parsed JSON; entries of the wrong shape are left out."""
        entries = data.get("series") if isinstance(data, Mapping) else None
        found = []
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
                continue
            name = entry.get("name")
            order = entry.get("order")
            found.append(
                Series(
                    id=entry["id"],
                    name=name if isinstance(name, str) else entry["id"],
                    order=tuple(p for p in order if isinstance(p, str))
                    if isinstance(order, list)
                    else (),
                )
            )
        return cls(series=tuple(found))

    def get(self, series_id: str) -> Series | None:
        return next((s for s in self.series if s.id == series_id), None)

    def containing(self, prefix: str) -> Series | None:
        return next((s for s in self.series if prefix in s.order), None)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an experiment sits in its series."""

    series: str
    position: int | None
    """1-based index in the series ``order``; None when the series does not list it."""
    length: int | None
    earlier: tuple[str, ...]
    """Prefixes of the experiments before this one: whose results count as prior data."""


def place(experiment: Experiment, catalogue: SeriesCatalogue) -> Placement | None:
    """The experiment's series (``spec.series``, else found by prefix), or None."""
    prefix = experiment.prefix
    if experiment.series:
        series = catalogue.get(experiment.series)
        if series is None:
            return Placement(series=experiment.series, position=None, length=None, earlier=())
    else:
        found = catalogue.containing(prefix) if prefix else None
        if found is None:
            return None
        series = found
    length = len(series.order) or None
    if prefix and prefix in series.order:
        index = series.order.index(prefix)
        return Placement(
            series=series.id, position=index + 1, length=length, earlier=series.order[:index]
        )
    return Placement(series=series.id, position=None, length=length, earlier=())


@dataclass(frozen=True, slots=True)
class Machine:
    type: str
    preemptible: bool | None


@dataclass(frozen=True, slots=True)
class Intent:
    series: str | None
    position: int | None
    series_length: int | None
    claim: str
    """First sentence of ``spec.hypothesis.claim``."""
    groups: tuple[str, ...]
    differentiating: tuple[str, ...]
    """Groups none of whose metrics an earlier experiment of the series published."""
    machines: tuple[Machine, ...]
    """Distinct (machine type, preemptible) pairs over the targets, in spec order."""

    def render(self) -> str:
        """The seed's intent block, as printed in verbose mode."""
        if self.series is None:
            series = "none"
        elif self.position is None:
            series = self.series
        else:
            series = f"{self.series} (#{self.position})"
        machines = ", ".join(
            f"{m.type or 'unspecified'} (preemptible: "
            f"{'unknown' if m.preemptible is None else str(m.preemptible).lower()})"
            for m in self.machines
        )
        return "\n".join(
            (
                "Intent:",
                f"  Series: {series}",
                f'  Claim: "{self.claim}"' if self.claim else "  Claim: none",
                f"  Metric groups: {', '.join(self.groups) or 'none'}",
                f"  Differentiator: {', '.join(self.differentiating) or 'none'}",
                f"  Machine: {machines or 'unspecified'}",
            )
        )


def build_intent(
    experiment: Experiment,
    *,
    series: SeriesCatalogue | Mapping[str, Any] | None = None,
    prior_metric_names: frozenset[str] = frozenset(),
) -> Intent:
    """The intent of ``experiment``.

    ``series`` is the catalogue (or the raw ``_series.json`` data);
    ``prior_metric_names`` are the metric names published by earlier
    experiments of its series (``SiteData.prior_metric_names``). With no
    prior names every group is differentiating.
    """
    catalogue = (
        series if isinstance(series, SeriesCatalogue) else SeriesCatalogue.from_data(series or {})
    )
    placement = place(experiment, catalogue)
    members: dict[str, list[str]] = {}
    for metric in experiment.metrics:
        if metric.group:
            members.setdefault(metric.group, []).append(metric.name)
    differentiating = tuple(
        group
        for group, names in members.items()
        if not any(name in prior_metric_names for name in names)
    )
    claim = sentences(experiment.claim)
    return Intent(
        series=placement.series if placement else None,
        position=placement.position if placement else None,
        series_length=placement.length if placement else None,
        claim=claim[0] if claim else "",
        groups=experiment.groups,
        differentiating=differentiating,
        machines=tuple(
            dict.fromkeys(Machine(t.machine_type, t.preemptible) for t in experiment.targets)
        ),
    )
