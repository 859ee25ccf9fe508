"""A published run as the reproducibility check reads it: when it ran, what it ran on, and
the values of each metric's series.

A run is comparable with another only when both have the same *fingerprint*: each
target's machine type, node count and components. Each metric has its own: its query
text (with the instance's own name taken out, since the operator substitutes it), its
type and its unit. A series is one label set of a query; labels that change from run to
run whatever the experiment does (the node, the container id, the scrape address) are
left out, and so are the random suffixes Kubernetes gives pod names, so ``alloy-lddjb``
in one run and ``alloy-gf49m`` in the next are the same series.

Pure and defensive, like the checks: a section of the wrong shape reads as absent.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from pytest_experiment.core.checks.reading import point_value

NOT_RECORDED = "not recorded"
INSTANCE = "<instance>"
MIN_POINTS = 3
"""A range query's series needs this many points before its median says anything."""

# Labels that identify a scrape, not what was measured: they differ between any two runs.
_VOLATILE_LABELS = frozenset(
    {"id", "name", "instance", "node", "pod_ip", "uid", "container_id", "image_id", "endpoint"}
)
# Kubernetes' random name suffixes use this alphabet (no vowels, no 0, 1, 3), five
# characters for a pod or a hub, six to ten for a ReplicaSet's template hash.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_GENERATED = re.compile(rf"-(?:[{_SAFE}]{{6,10}}-)?[{_SAFE}]{{5}}(?=-|$)")
_SPACES = re.compile(r"\s+")
_NAME = r"[a-z0-9][a-z0-9.-]*"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdwy])")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|[smhdwy]))+$")
_SELECTOR = re.compile(r"\[([0-9.a-z]+)(?=[]:])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_VERDICT_WORDS = {
    "validated": "validated",
    "confirmed": "validated",
    "invalidated": "invalidated",
    "rejected": "invalidated",
}


@dataclass(frozen=True, slots=True)
class Series:
    labels: str
    """The label set as shown (``pod=alloy``), empty for a query's single series."""
    points: tuple[float, ...]
    kind: str
    """The query type: ``instant`` or ``range``."""

    @property
    def value(self) -> float:
        """The run's value of this series: its one point, or the median of its points."""
        return statistics.median(self.points)

    @property
    def short(self) -> bool:
        return self.kind == "range" and len(self.points) < MIN_POINTS


@dataclass(frozen=True, slots=True)
class Metric:
    fingerprint: tuple[str, str, str]
    """(query, type, unit), the query without the instance's name."""
    series: Mapping[str, Series]


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    at: datetime | None
    """``createdAt`` (``completedAt`` when absent): the order of the history."""
    fingerprint: tuple[tuple[str, str], ...]
    metrics: Mapping[str, Metric]
    verdicts: Mapping[str, str] = field(default_factory=dict)
    """``machine verdict`` / ``AI verdict`` → validated or invalidated, when given."""


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _without_instance(text: str, instance: str) -> str:
    return text.replace(instance, INSTANCE) if instance else text


def pod_name(value: str) -> str:
    """A pod (or hub) name without the suffixes Kubernetes generated for it."""
    return _GENERATED.sub("", value)


def series_labels(labels: Any, instance: str) -> str:
    """The identity of one series: its stable labels as ``key=value`` pairs."""
    if not isinstance(labels, Mapping):
        return ""
    pairs = []
    for key in sorted(str(k) for k in labels):
        if key in _VOLATILE_LABELS:
            continue
        value = _without_instance(str(labels[key]), instance)
        pairs.append(f"{key}={pod_name(value) if key == 'pod' else value}")
    return ", ".join(pairs)


def _text(value: Any) -> str:
    if value is None or value == "":
        return NOT_RECORDED
    return str(value)


def fingerprint(summary: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """What a run ran on: each target's machine type, node count and components."""
    instance = summary.get("name") if isinstance(summary.get("name"), str) else ""
    targets = summary.get("targets")
    found: list[tuple[str, str]] = []
    for index, target in enumerate(targets if isinstance(targets, list) else ()):
        if not isinstance(target, Mapping):
            continue
        name = str(target.get("name") or f"target {index + 1}")
        components = target.get("components")
        listed = sorted(
            _without_instance(str(c), str(instance))
            for c in (components if isinstance(components, list) else ())
        )
        found += [
            (f"{name} machineType", _text(target.get("machineType"))),
            (f"{name} nodeCount", _text(target.get("nodeCount"))),
            (f"{name} components", ", ".join(listed) if listed else NOT_RECORDED),
        ]
    return tuple(sorted(found))


def duration_seconds(text: str) -> float | None:
    """A Go or PromQL duration (``42m38.05s``, ``1h``) in seconds; None if it is not one."""
    if not _DURATION.match(text):
        return None
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def run_seconds(summary: Mapping[str, Any]) -> float | None:
    """How long the run's metrics cover: what the operator substitutes for $DURATION."""
    section = summary.get("metrics")
    window = section.get("timeRange") if isinstance(section, Mapping) else None
    text = window.get("duration") if isinstance(window, Mapping) else None
    found = duration_seconds(text) if isinstance(text, str) else None
    seconds = summary.get("durationSeconds")
    if found is None and isinstance(seconds, int | float) and not isinstance(seconds, bool):
        found = float(seconds)
    return found


def _template_pattern(template: str) -> re.Pattern[str]:
    """What the operator makes of a declared query: ``$EXPERIMENT`` and ``$NAMESPACE``
    become the instance (or, on the hub fallback, a namespace), and ``$DURATION`` how
    long the run lasted (``42m38s``, ``1m``)."""
    pattern = re.escape(_SPACES.sub(" ", template).strip())
    pattern = pattern.replace(r"\ ", r"\s+")
    for variable in (r"\$EXPERIMENT", r"\$NAMESPACE"):
        pattern = pattern.replace(variable, _NAME)
    pattern = pattern.replace(r"\$DURATION", r"(?:\d+(?:\.\d+)?(?:ms|[smhdwy]))+")
    return re.compile(pattern)


def query_text(
    query: str, *, instance: str, seconds: float | None, template: str | None = None
) -> str:
    """A query as it compares between runs.

    When it is what the experiment's declared query (``template``) becomes once the
    operator has substituted its variables, it is that declaration. Otherwise: without
    the instance's name, and with the run's own duration (the operator's $DURATION,
    within a minute of how long the run lasted) written back as ``$DURATION``; a rate
    window like ``[1m]`` stays."""
    if template and _template_pattern(template).fullmatch(query.strip()):
        return _SPACES.sub(" ", template).strip()

    def window(match: re.Match[str]) -> str:
        length = duration_seconds(match.group(1))
        if seconds is None or length is None or abs(length - seconds) > 60 or length <= 60:
            return match.group(0)
        return "[$DURATION"

    return _SPACES.sub(" ", _SELECTOR.sub(window, _without_instance(query, instance))).strip()


def _metric(
    entry: Mapping[str, Any], instance: str, seconds: float | None, template: str | None
) -> Metric | None:
    data = entry.get("data")
    if entry.get("error") or not isinstance(data, list):
        return None
    kind = _text(entry.get("type"))
    query = query_text(
        str(entry.get("query") or ""), instance=instance, seconds=seconds, template=template
    )
    grouped: dict[str, list[float]] = {}
    for point in data:
        value = point_value(point)
        if value is None:
            continue
        labels = point.get("labels") if isinstance(point, Mapping) else None
        grouped.setdefault(series_labels(labels, instance), []).append(value)
    if not grouped:
        return None
    return Metric(
        fingerprint=(query or NOT_RECORDED, kind, _text(entry.get("unit"))),
        series={k: Series(labels=k, points=tuple(v), kind=kind) for k, v in grouped.items()},
    )


def _verdicts(summary: Mapping[str, Any]) -> dict[str, str]:
    found = {}
    for label, section, key in (
        ("machine verdict", "hypothesis", "machineVerdict"),
        ("AI verdict", "analysis", "hypothesisVerdict"),
    ):
        part = summary.get(section)
        word = part.get(key) if isinstance(part, Mapping) else None
        if isinstance(word, str) and word.strip().lower() in _VERDICT_WORDS:
            found[label] = _VERDICT_WORDS[word.strip().lower()]
    return found


def read_run(summary: Mapping[str, Any], *, templates: Mapping[str, str] | None = None) -> Run:
    """One published summary as the reproducibility check compares it; ``templates`` are
    the experiment's declared queries by metric name."""
    name = summary.get("name")
    instance = name if isinstance(name, str) else ""
    metrics_section = summary.get("metrics")
    queries = metrics_section.get("queries") if isinstance(metrics_section, Mapping) else None
    metrics: dict[str, Metric] = {}
    seconds = run_seconds(summary)
    for metric_name, entry in queries.items() if isinstance(queries, Mapping) else ():
        template = (templates or {}).get(str(metric_name))
        read = _metric(entry, instance, seconds, template) if isinstance(entry, Mapping) else None
        if read is not None:
            metrics[str(metric_name)] = read
    return Run(
        name=instance,
        at=parse_time(summary.get("createdAt")) or parse_time(summary.get("completedAt")),
        fingerprint=fingerprint(summary),
        metrics=metrics,
        verdicts=_verdicts(summary),
    )


class History(Sequence[Mapping[str, Any]]):
    """The published runs of one experiment: its summaries, each read once (scoring a
    directory compares every run with the same earlier ones). The session keeps one per
    experiment and hands it to the checks as their ``history``; a plain list of summaries
    works too, read afresh."""

    def __init__(
        self,
        summaries: Iterable[Mapping[str, Any]],
        *,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.summaries = tuple(s for s in summaries if isinstance(s, Mapping))
        self.templates: Mapping[str, str] = dict(templates or {})
        self._runs: tuple[Run, ...] | None = None

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        return self.summaries[index]

    def __len__(self) -> int:
        return len(self.summaries)

    @property
    def runs(self) -> tuple[Run, ...]:
        if self._runs is None:
            self._runs = tuple(read_run(s, templates=self.templates) for s in self.summaries)
        return self._runs

    def read(self, summary: Mapping[str, Any]) -> Run:
        """``summary`` read as the history reads it: the same object is read once."""
        for known, run in zip(self.summaries, self.runs, strict=True):
            if known is summary:
                return run
        return read_run(summary, templates=self.templates)

    def earlier(self, new: Run) -> list[Run]:
        """The runs before ``new``, oldest first, each instance once; ``new`` itself is
        left out.

        A run without a time cannot be placed before or after another: it is left out,
        unless the new run has no time either (a live summary not yet stamped), when every
        other run counts as earlier.
        """
        # Two files of one instance (a copied summary) are one run, not two.
        named = {r.name: r for r in reversed(self.runs) if r.name != new.name}
        runs = list(named.values())
        if new.at is None:
            dated = sorted((r for r in runs if r.at is not None), key=lambda r: (r.at, r.name))
            return [*dated, *sorted((r for r in runs if r.at is None), key=lambda r: r.name)]
        before = [r for r in runs if r.at is not None and r.at < new.at]
        return sorted(before, key=lambda r: (r.at, r.name))


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:3])
    return f"{shown} (+{len(items) - 3} more)" if len(items) > 3 else shown


def _components_change(before: str, after: str) -> str:
    old = [] if before == NOT_RECORDED else before.split(", ")
    new = [] if after == NOT_RECORDED else after.split(", ")
    if not old or not new:

        def count(items: list[str]) -> str:
            return f"{len(items)} components" if items else NOT_RECORDED

        return f"{count(old)} → {count(new)}"
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    return "; ".join(
        [*([f"+{_listed(added)}"] if added else []), *([f"−{_listed(removed)}"] if removed else [])]
    )


def fingerprint_changes(
    before: Sequence[tuple[str, str]], after: Sequence[tuple[str, str]]
) -> list[str]:
    """What differs between two fingerprints, one phrase each (``app machineType
    e2-medium → e2-standard-8``)."""
    old, new = dict(before), dict(after)
    changes = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key, "absent"), new.get(key, "absent")
        if was == now:
            continue
        if key.endswith(" components") and "absent" not in (was, now):
            changes.append(f"{key} {_components_change(was, now)}")
        else:
            changes.append(f"{key} {was} → {now}")
    return changes
