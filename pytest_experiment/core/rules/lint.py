"""Lint rules: what in the spec predicts a failed quality gate's root causes.

Found before a 40-minute run is wasted: each names the fix the gate's
auto-fix would otherwise make after the run, or the machine to choose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_experiment.core.catalog import Catalogue
from pytest_experiment.core.rules.names import EXPECTED_NAMESPACE
from pytest_experiment.core.rules.text import TITLES, app_path, at, counted, plural
from pytest_experiment.core.schema import format_path
from pytest_experiment.core.spec import (
    HYPERDISK_FAMILIES,
    LATENCY_SUFFIXES,
    NAMESPACE_VAR,
    Experiment,
)
from pytest_experiment.core.verdict import CheckResult, Status

GKE_DEFAULT_MACHINE = "e2-medium"
PROMETHEUS = "kube-prometheus-stack"
PIPELINE = ("metrics-agent", "metrics-egress")
HYPERDISK = "hyperdisk"
_C3_SHAPES = re.compile(r"(standard|highmem|highcpu)-(4|8|22|44|88|176)")
_MENTIONS_SHOWN = 3
_EXCERPT_CHARS = 60
# Prose is no evidence of use: a PD-SSD experiment may discuss Hyperdisk in its
# claim, and a storage-machine FAIL blocks the run.
_PROSE_PATHS = frozenset({("spec", "title"), ("spec", "description"), ("spec", "hypothesis")})
_PROSE_KEYS = frozenset({"description"})


def namespace_var(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["namespace-var"]
    queries = [m for m in experiment.metrics if m.query]
    here = experiment.namespace or EXPECTED_NAMESPACE
    wrong = [
        f"{at(experiment, 'spec', 'metrics', m.index, 'query')}: metric {m.name!r} queries "
        f"$NAMESPACE, which resolves to the Experiment's own namespace ({here}), not the "
        "target namespace its pods run in; use $EXPERIMENT"
        for m in queries
        if NAMESPACE_VAR.search(m.query)
    ]
    figures = {"queries": len(queries), "namespace_var": len(wrong)}
    if wrong:
        return CheckResult(
            Status.FAIL,
            f"{title}: {len(wrong)}/{len(queries)} queries use $NAMESPACE",
            tuple(wrong),
            figures,
        )
    return CheckResult(
        Status.PASS,
        f"{title}: no query uses $NAMESPACE ({plural(len(queries), 'query', 'queries')})",
        figures=figures,
    )


def metrics_pipeline(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["metrics-pipeline"]
    count = len(experiment.metrics)
    if not count:
        return CheckResult(Status.PASS, f"{title}: no custom metrics", figures={"metrics": 0})
    apps = {component.app for _, component in experiment.components()}
    if experiment.targets:
        first = experiment.targets[0]
        loc = at(experiment, "spec", "targets", first.index, "components")
        to = f"to target {first.name!r}" if first.name else "to the first target"
    else:
        loc, to = at(experiment, "spec"), "to a target"
    details = []
    if PROMETHEUS not in apps:
        details.append(
            f"{loc}: {plural(count, 'custom metric')} but no {PROMETHEUS}: the operator "
            f"queries the target's own Prometheus; add - app: {PROMETHEUS} {to}"
        )
    absent = [app for app in PIPELINE if app not in apps]
    if absent:
        details.append(
            f"{loc}: no {' or '.join(absent)}: the hub fallback path needs "
            f"{' + '.join(PIPELINE)}; add {' and '.join(f'- app: {a}' for a in absent)} {to}"
        )
    missing = ([PROMETHEUS] if PROMETHEUS not in apps else []) + absent
    figures = {"metrics": count, "missing_components": len(missing)}
    if missing:
        return CheckResult(
            Status.WARN,
            f"{title}: {plural(count, 'custom metric')} but no {', '.join(missing)}",
            tuple(details),
            figures,
        )
    return CheckResult(
        Status.PASS, f"{title}: {PROMETHEUS}, {' + '.join(PIPELINE)} present", figures=figures
    )


def metric_units(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["metric-units"]
    latency = [m for m in experiment.metrics if m.name.endswith(LATENCY_SUFFIXES)]
    unitless = [
        f"{at(experiment, 'spec', 'metrics', m.index, 'name')}: latency metric {m.name!r} "
        "has no unit, so the site shows a bare number; add unit: seconds"
        for m in latency
        if not m.unit.strip()
    ]
    return counted(
        title,
        unitless,
        len(latency),
        {"latency_metrics": len(latency), "unitless": len(unitless)},
        status=Status.WARN,
        bad="latency metrics have no unit",
        good="latency metrics have a unit",
        none="no latency metrics",
    )


@dataclass(frozen=True, slots=True)
class _Mention:
    path: tuple[str | int, ...]
    text: str

    @property
    def target(self) -> int | None:
        """The index of the target this mention belongs to, if it sits inside one."""
        if self.path[:2] == ("spec", "targets") and len(self.path) > 2:
            index = self.path[2]
            return index if isinstance(index, int) else None
        return None


def _excerpt(text: str, word: str) -> str:
    """``text`` cut to the surroundings of ``word``: a PromQL query can run to 200 characters."""
    start = text.lower().find(word)
    if start < 0 or len(text) <= _EXCERPT_CHARS:
        return text
    left = max(0, start - (_EXCERPT_CHARS - len(word)) // 2)
    right = min(len(text), left + _EXCERPT_CHARS)
    return f"{'…' if left else ''}{text[left:right]}{'…' if right < len(text) else ''}"


def _hyperdisk_mentions(value: Any, path: tuple[str | int, ...]) -> Iterator[_Mention]:
    if isinstance(value, str):
        if HYPERDISK in value.lower():
            yield _Mention(path, _excerpt(value, HYPERDISK))
    elif isinstance(value, Mapping):
        for key, child in value.items():
            here = (*path, str(key))
            if here in _PROSE_PATHS or str(key) in _PROSE_KEYS:
                continue
            if HYPERDISK in str(key).lower():
                yield _Mention(here, str(key))
            yield from _hyperdisk_mentions(child, here)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _hyperdisk_mentions(child, (*path, index))


def _supported_machine(machine_type: str) -> str:
    """A Hyperdisk-capable machine near ``machine_type``: ``e2-standard-8`` → ``c3-standard-8``."""
    shape = machine_type.split("-", 1)[1] if "-" in machine_type else ""
    return f"c3-{shape}" if _C3_SHAPES.fullmatch(shape) else "c3-standard-4"


def storage_machine(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["storage-machine"]
    mentions = list(_hyperdisk_mentions(experiment.data.get("spec"), ("spec",)))
    if catalogue is not None:
        for target, component in experiment.components():
            said = catalogue.mentions(component.app, HYPERDISK)
            entry = catalogue.get(component.app)
            if said is not None and entry is not None:
                path = app_path(target, component)
                excerpt = _excerpt(said, HYPERDISK)
                mentions.append(_Mention(path, f"{component.app} ({entry.path}: {excerpt})"))
    if not mentions:
        return CheckResult(Status.PASS, f"{title}: no Hyperdisk used", figures={"mentions": 0})
    # A mention inside a target concerns that target; one elsewhere (a metric
    # label, a code snippet) cannot be placed, so then every target is judged.
    placed = {m.target for m in mentions} - {None}
    judged = [t for t in experiment.targets if not placed or t.index in placed]
    *others, last = (f.upper() for f in HYPERDISK_FAMILIES)
    families = f"{', '.join(others)} or {last}"
    # What a target itself deploys is the strongest evidence: show it first.
    shown = sorted(mentions, key=lambda m: (m.target is None, experiment.source.line_of(m.path)))
    evidence = [
        f"{at(experiment, *m.path)}: Hyperdisk used by {format_path(m.path)}: {m.text!r}"
        for m in shown[:_MENTIONS_SHOWN]
    ]
    if len(mentions) > _MENTIONS_SHOWN:
        evidence.append(f"… and {len(mentions) - _MENTIONS_SHOWN} more mention(s)")
    wrong: list[str] = []
    unsupported: list[str] = []
    supported: list[str] = []
    for target in judged:
        machine = target.machine_type
        if not machine and target.cluster_type != "gke":
            continue  # the hub's machines are not the experiment's to choose
        loc = at(experiment, "spec", "targets", target.index, "cluster", "machineType")
        if not machine:
            unsupported.append(f"{GKE_DEFAULT_MACHINE} (default)")
            wrong.append(
                f"{loc}: target {target.name!r} sets no machineType, so GKE uses "
                f"{GKE_DEFAULT_MACHINE}, which cannot attach Hyperdisk; Hyperdisk needs "
                f"{families}: set machineType: {_supported_machine(GKE_DEFAULT_MACHINE)}"
            )
        elif target.machine_family in HYPERDISK_FAMILIES:
            supported.append(machine)
        else:
            unsupported.append(machine)
            wrong.append(
                f"{loc}: target {target.name!r} runs {machine} ({target.machine_family.upper()}), "
                f"which cannot attach Hyperdisk; Hyperdisk needs {families}: use "
                f"machineType: {_supported_machine(machine)}"
            )
    figures = {"mentions": len(mentions), "unsupported_targets": len(wrong)}
    if wrong:
        return CheckResult(
            Status.FAIL,
            f"{title}: Hyperdisk on {', '.join(dict.fromkeys(unsupported))} — needs {families}",
            (*wrong, *evidence),
            figures,
        )
    if not supported:
        return CheckResult(
            Status.PASS,
            f"{title}: Hyperdisk used on the hub only, no machine to check",
            figures=figures,
        )
    machines = ", ".join(dict.fromkeys(supported))
    return CheckResult(
        Status.PASS, f"{title}: Hyperdisk on {machines} (supported)", figures=figures
    )
