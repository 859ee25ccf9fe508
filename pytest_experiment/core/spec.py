"""The frozen spec model of an Experiment file.

Lenient about the *content*: a field of the wrong type becomes an empty value
here and is reported by the ``validate[schema]`` rule, so one bad field never
hides the other findings. Reading the file (strict, with line numbers) is
``yaml_source``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from pytest_experiment.core.yaml_source import Source, read_source

__all__ = [
    "API_GROUP",
    "HYPERDISK_FAMILIES",
    "KIND",
    "LATENCY_SUFFIXES",
    "Component",
    "Experiment",
    "Metric",
    "Source",
    "SuccessCriterion",
    "Target",
    "is_experiment",
    "load_experiment",
    "read_source",
]

API_GROUP = "experiments.illm.io"
KIND = "Experiment"
LATENCY_SUFFIXES = ("_latency", "_p50", "_p99")
"""Metric names that end so are latencies, shown in seconds."""
HYPERDISK_FAMILIES = ("c3", "c4", "n4", "a3", "m3", "m4")
"""Machine families that can attach Hyperdisk volumes."""
NAMESPACE_VAR = re.compile(r"\$(?:\{NAMESPACE\}|NAMESPACE\b)")
"""A metric query naming the Experiment's own namespace, in either spelling (the lint
rule, the gate's root cause and its fix all read it so)."""


def is_experiment(data: Mapping[str, Any]) -> bool:
    """True for documents this plugin owns.

    ``kind: Experiment`` is ours; so is anything in our API group, so a
    misspelt kind is reported by ``validate[kind]`` instead of silently
    dropped. Other tools' files (an Argo ``Workflow`` also named
    ``experiment.yaml``) are not.
    """
    api_version = data.get("apiVersion")
    return data.get("kind") == KIND or (
        isinstance(api_version, str) and api_version.split("/")[0] == API_GROUP
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    query: str
    type: str
    unit: str
    group: str
    description: str
    index: int
    """Position in ``spec.metrics``, for error lines."""


@dataclass(frozen=True, slots=True)
class Component:
    app: str
    params: Mapping[str, Any]
    index: int


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    cluster_type: str
    machine_type: str
    preemptible: bool | None
    components: tuple[Component, ...]
    index: int
    node_count: int | None = None
    """``cluster.nodeCount`` as written (None when absent or not a whole number)."""

    @property
    def machine_family(self) -> str:
        """``c3`` for ``c3-standard-8``: the family GCE's disk support is keyed on."""
        return self.machine_type.split("-", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class SuccessCriterion:
    metric: str
    operator: str
    value: str
    description: str


def experiment_name(path: PurePath) -> str:
    """The name of the experiment in the file at ``path``: its directory's. An id travels
    where the file is not read (an xdist controller hears only item ids), and this is how
    any side names the experiment from its path alone."""
    return path.parent.name


@dataclass(frozen=True)
class Experiment:
    """An Experiment as written in ``experiments/<name>/experiment.yaml``."""

    name: str
    """The directory name: the experiment's id in item names and toil labels."""
    source: Source
    kind: str
    api_version: str
    generate_name: str
    namespace: str
    title: str
    publish: bool
    series: str
    tags: tuple[str, ...]
    claim: str
    success_criteria: tuple[SuccessCriterion, ...]
    metrics: tuple[Metric, ...]
    targets: tuple[Target, ...]
    workflow_template: str
    completion_mode: str
    tutorial_services: tuple[Mapping[str, Any], ...] = field(default=())

    def __repr__(self) -> str:
        # Bounded: pytest renders the arguments of a traceback's frames (a Ctrl-C's too),
        # and the fields hold the whole file, a value aliased thousands of times included.
        return f"Experiment({self.name!r}, {str(self.path)!r})"

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def data(self) -> Mapping[str, Any]:
        return self.source.data  # type: ignore[no-any-return]

    @property
    def prefix(self) -> str:
        """generateName without its trailing ``-``: what instance names start with."""
        return self.generate_name.rstrip("-")

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct metric groups in the order the spec first names them."""
        return tuple(dict.fromkeys(m.group for m in self.metrics if m.group))

    def components(self) -> Iterator[tuple[Target, Component]]:
        for target in self.targets:
            for component in target.components:
                yield target, component

    @classmethod
    def from_source(cls, source: Source, *, name: str | None = None) -> Experiment:
        data = source.data
        meta = _mapping(data.get("metadata"))
        spec = _mapping(data.get("spec"))
        hypothesis = _mapping(spec.get("hypothesis"))
        workflow = _mapping(spec.get("workflow"))
        metrics = tuple(
            Metric(
                name=_text(m.get("name")),
                query=_text(m.get("query")),
                type=_text(m.get("type")),
                unit=_text(m.get("unit")),
                group=_text(m.get("group")),
                description=_text(m.get("description")),
                index=i,
            )
            for i, m in enumerate(_items(spec.get("metrics")))
            if isinstance(m, dict)
        )
        targets = []
        for i, t in enumerate(_items(spec.get("targets"))):
            if not isinstance(t, dict):
                continue
            cluster = _mapping(t.get("cluster"))
            preemptible = cluster.get("preemptible")
            nodes = cluster.get("nodeCount")
            whole = isinstance(nodes, int) and not isinstance(nodes, bool)
            components = tuple(
                Component(app=_text(c.get("app")), params=_mapping(c.get("params")), index=j)
                for j, c in enumerate(_items(t.get("components")))
                if isinstance(c, dict)
            )
            targets.append(
                Target(
                    name=_text(t.get("name")),
                    cluster_type=_text(cluster.get("type")),
                    machine_type=_text(cluster.get("machineType")),
                    preemptible=preemptible if isinstance(preemptible, bool) else None,
                    components=components,
                    index=i,
                    node_count=nodes if whole else None,
                )
            )
        criteria = tuple(
            SuccessCriterion(
                metric=_text(c.get("metric")),
                operator=_text(c.get("operator")),
                value=str(c.get("value", "")),
                description=_text(c.get("description")),
            )
            for c in _items(hypothesis.get("successCriteria"))
            if isinstance(c, dict)
        )
        tutorial = _mapping(spec.get("tutorial"))
        return cls(
            name=name if name is not None else experiment_name(source.path),
            source=source,
            kind=_text(data.get("kind")),
            api_version=_text(data.get("apiVersion")),
            generate_name=_text(meta.get("generateName")),
            namespace=_text(meta.get("namespace")),
            title=_text(spec.get("title")),
            publish=spec.get("publish") is True,
            series=_text(spec.get("series")),
            tags=tuple(t for t in _items(spec.get("tags")) if isinstance(t, str)),
            claim=_text(hypothesis.get("claim")),
            success_criteria=criteria,
            metrics=metrics,
            targets=tuple(targets),
            workflow_template=_text(workflow.get("template")),
            completion_mode=_text(_mapping(workflow.get("completion")).get("mode")),
            tutorial_services=tuple(
                s for s in _items(tutorial.get("services")) if isinstance(s, dict)
            ),
        )


def load_experiment(path: Path) -> Experiment | None:
    """The Experiment in ``path``, or None when the file belongs to another tool."""
    source = read_source(path)
    if not is_experiment(source.data):
        return None
    return Experiment.from_source(source)
