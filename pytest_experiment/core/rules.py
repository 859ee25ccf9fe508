"""Validation and lint rules: offline verdicts on an experiment file.

Each rule is a pure function ``(experiment, *, catalogue) -> CheckResult``
that reads only the spec (and, for ``components`` and ``storage-machine``, the
component catalogue; ``None`` means the components directory is absent). Every
detail line starts with ``experiment.yaml:<line>:`` and ends with the fix, so
a user can act on it without opening the rule's source.

The lint rules predict the root causes of a failed quality gate
before a 40-minute run is wasted. The spec model is lenient (a field of the
wrong type is empty there), so rules look at ``experiment.data`` where the
difference between "missing" and "wrong type" matters to the message.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_experiment.core.catalog import Catalogue
from pytest_experiment.core.checks import HYPERDISK_FAMILIES, LATENCY_SUFFIXES
from pytest_experiment.core.limits import json_type_name
from pytest_experiment.core.schema import bundled_schema, format_path, validate_source
from pytest_experiment.core.spec import KIND, Component, Experiment, Target
from pytest_experiment.core.verdict import CheckResult, Status

EXPECTED_NAMESPACE = "experiments"
# Matched with fullmatch: "$" would also match before a trailing newline.
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A Kubernetes object name (RFC 1123 subdomain), as the API server checks it.
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
OBJECT_NAME = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
OBJECT_NAME_MAX = 253
# The API server appends 5 random characters to generateName, within 63 for a label value.
GENERATE_NAME_MAX = 58
NAMESPACE_VAR = re.compile(r"\$(?:\{NAMESPACE\}|NAMESPACE\b)")
# The operator names a target's GKE cluster illm-<instance>-<target>-<5 chars>,
# the instance being generateName plus 5 random characters: 17 fixed characters.
GKE_NAME_LIMIT = 40
GKE_NAME_OVERHEAD = 17
GKE_NAME_OVERHEAD_FIXED_NAME = 12
"""Same, for ``metadata.name`` (no 5 random characters after it)."""
GKE_DEFAULT_MACHINE = "e2-medium"
PROMETHEUS = "kube-prometheus-stack"
PIPELINE = ("metrics-agent", "metrics-egress")
HYPERDISK = "hyperdisk"
_C3_SHAPES = re.compile(r"(standard|highmem|highcpu)-(4|8|22|44|88|176)")
_MENTIONS_SHOWN = 3
_EXCERPT_CHARS = 60
_SHOWN_CHARS = 80
# Prose is no evidence of use: a PD-SSD experiment may discuss Hyperdisk in its
# claim, and a storage-machine FAIL blocks the run.
_PROSE_PATHS = frozenset({("spec", "title"), ("spec", "description"), ("spec", "hypothesis")})
_PROSE_KEYS = frozenset({"description"})

TITLES: Mapping[str, str] = {
    "schema": "Schema",
    "kind": "Kind",
    "components": "Components",
    "workflow-template": "Workflow template",
    "tutorial-targets": "Tutorial targets",
    "metric-names": "Metric names",
    "namespace": "Namespace",
    "generate-name": "generateName",
    "gke-name-length": "GKE cluster name length",
    "namespace-var": "Namespace variable",
    "metrics-pipeline": "Metrics pipeline",
    "metric-units": "Metric units",
    "storage-machine": "Storage vs machine",
}


# -- reading the raw document ------------------------------------------------------------------


def _get(value: Any, *path: str | int) -> Any:
    """The value at ``path`` in nested mappings and lists, or None when any step is missing."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def _at(experiment: Experiment, *path: str | int) -> str:
    """``experiment.yaml:57``: where ``path`` (or its nearest present ancestor) sits."""
    return f"{experiment.path.name}:{experiment.source.line_of(path)}"


def _app_path(target: Target, component: Component) -> tuple[str | int, ...]:
    return ("spec", "targets", target.index, "components", component.index, "app")


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _shown(value: Any) -> str:
    """A user's value in a message: JSON's words for types, short, control characters escaped."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = f"{json_type_name(value)} {json.dumps(value, default=str)}"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def object_name_problem(name: str, *, limit: int = OBJECT_NAME_MAX) -> str | None:
    """Why ``name`` is not a Kubernetes object name, or None when it is one."""
    if len(name) > limit:
        return f"has {len(name)} characters, more than {limit}"
    if not OBJECT_NAME.fullmatch(name):
        return (
            "is not a Kubernetes object name (lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit)"
        )
    return None


def suggest_name(value: str) -> str:
    """The nearest valid object name: ``Hello App\n`` → ``hello-app``."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", value.lower())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-.")
    return cleaned[:OBJECT_NAME_MAX].rstrip("-.") or "name"


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


# -- schema and rules ---------------------------------------------------------------------------


def schema(
    experiment: Experiment,
    *,
    catalogue: Catalogue | None = None,
    against: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Schema rule: jsonschema against ``against`` (the live CRD's schema) or the bundled one."""
    bundled = bundled_schema()
    if against is None or against is bundled:
        return validate_source(experiment.source, bundled, origin="bundled schema")
    return validate_source(experiment.source, against, origin="live CRD schema")


def kind(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["kind"]
    value = experiment.data.get("kind")
    if value == KIND:
        return CheckResult(Status.PASS, f"{title}: {KIND}")
    return CheckResult(
        Status.FAIL,
        f"{title}: {_shown(value)} is not {KIND}",
        (f"{_at(experiment, 'kind')}: kind is {_shown(value)}; use kind: {KIND}",),
    )


def components(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["components"]
    referenced = [
        (target, component.app, _app_path(target, component))
        for target, component in experiment.components()
        if component.app
    ]
    malformed = _malformed_components(experiment)
    if not referenced and not malformed:
        return CheckResult(
            Status.WARN,
            f"{title}: none referenced",
            (
                f"{_at(experiment, 'spec', 'targets')}: no target lists components, so nothing "
                "is deployed to measure; add - app: <component> under a target's components",
            ),
            {"components": 0},
        )
    if catalogue is None and malformed:
        # Naming no app is wrong whatever the catalogue holds.
        return CheckResult(
            Status.FAIL,
            f"{title}: {len(malformed)}/{len(referenced) + len(malformed)} name no component",
            tuple(malformed),
            {"components": len(referenced) + len(malformed), "unresolved": len(malformed)},
        )
    if catalogue is None:
        return CheckResult(
            Status.NA,
            f"{title}: not checked — no components directory (ini experiment_components_dir)",
            figures={"components": len(referenced)},
        )
    where = str(catalogue.directory)
    unresolved = list(malformed)
    for target, app, path in referenced:
        if app in catalogue:
            continue
        loc = _at(experiment, *path)
        broken = catalogue.problem(app)
        if broken is not None:
            unresolved.append(
                f"{loc}: component {app!r} has an unreadable component.yaml: {broken}"
            )
            continue
        close = catalogue.suggest(app)
        fix = (
            f"did you mean {close!r}?"
            if close
            else f"add {where}/<category>/{app}/component.yaml or fix the name"
        )
        unresolved.append(
            f"{loc}: component {app!r} (target {target.name!r}) has no component.yaml "
            f"under {where}; {fix}"
        )
    total = len(referenced) + len(malformed)
    figures = {"components": total, "unresolved": len(unresolved), "catalogue": len(catalogue)}
    if unresolved:
        return CheckResult(
            Status.FAIL,
            f"{title}: {len(unresolved)}/{total} unresolved in {where}",
            tuple(unresolved),
            figures,
        )
    return CheckResult(Status.PASS, f"{title}: {total}/{total} resolve in {where}", figures=figures)


def _malformed_components(experiment: Experiment) -> list[str]:
    """Component entries that name no app: deployed as nothing, whatever they hold."""
    found: list[str] = []
    targets = _get(experiment.data, "spec", "targets")
    for t, target in enumerate(targets if isinstance(targets, list) else []):
        entries = target.get("components") if isinstance(target, Mapping) else None
        name = target.get("name") if isinstance(target, Mapping) else None
        label = repr(name) if isinstance(name, str) else f"#{t}"
        for c, entry in enumerate(entries if isinstance(entries, list) else []):
            path = ("spec", "targets", t, "components", c)
            if not isinstance(entry, Mapping):
                hint = f"- app: {entry}" if isinstance(entry, str) else "- app: <component>"
                found.append(
                    f"{_at(experiment, *path)}: component #{c} of target {label} is "
                    f"{_shown(entry)}, not a mapping; write {hint}"
                )
            elif "app" not in entry:
                found.append(
                    f"{_at(experiment, *path)}: component #{c} of target {label} has no app, "
                    "so nothing is deployed; add app: <name of a component.yaml>"
                )
            elif not isinstance(entry["app"], str) or not entry["app"]:
                found.append(
                    f"{_at(experiment, *path, 'app')}: app is {_shown(entry['app'])} in target "
                    f"{label}; use the name of a component.yaml"
                )
    return found


def workflow_template(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["workflow-template"]
    path = ("spec", "workflow", "template")
    raw = _get(experiment.data, *path)
    if raw is not None and not isinstance(raw, str):
        return CheckResult(
            Status.FAIL,
            f"{title}: {json_type_name(raw)}, not a name",
            (
                f"{_at(experiment, *path)}: spec.workflow.template is {_shown(raw)}; name the "
                f"WorkflowTemplate (e.g. template: {experiment.name}-validation)",
            ),
        )
    template = experiment.workflow_template
    if not template.strip():
        return CheckResult(
            Status.WARN,
            f"{title}: empty",
            (
                f"{_at(experiment, *path)}: spec.workflow.template is "
                "empty, so no workflow drives the run; name the WorkflowTemplate "
                f"(namespace argo-workflows, e.g. {experiment.name}-validation)",
            ),
        )
    problem = object_name_problem(template)
    if problem is not None:
        # The operator looks the template up by this exact name: none can exist.
        return CheckResult(
            Status.FAIL,
            f"{title}: {_shown(template)} {problem.split(' (')[0]}",
            (
                f"{_at(experiment, *path)}: spec.workflow.template {_shown(template)} {problem}; "
                f"use template: {suggest_name(template)}",
            ),
        )
    return CheckResult(Status.PASS, f"{title}: {template}")


def tutorial_targets(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["tutorial-targets"]
    services = _get(experiment.data, "spec", "tutorial", "services")
    services = services if isinstance(services, list) else []
    names = [t.name for t in experiment.targets if t.name]
    choices = ", ".join(names) or "(no targets defined)"
    wrong = []
    for index, service in enumerate(services):
        if not isinstance(service, Mapping):
            continue
        target = service.get("target")
        if isinstance(target, str) and target in names:
            continue
        label = service.get("name") if isinstance(service.get("name"), str) else f"#{index}"
        path = ("spec", "tutorial", "services", index, "target")
        found = f"targets {_shown(target)}" if target is not None else "names no target"
        hint = _did_you_mean(target, names) if isinstance(target, str) else ""
        wrong.append(
            f"{_at(experiment, *path)}: tutorial service {label!r} {found}, which is not a "
            f"target; {hint}use one of: {choices}"
        )
    figures = {"services": len(services), "unknown_targets": len(wrong)}
    if wrong:
        return CheckResult(
            Status.FAIL,
            f"{title}: {len(wrong)}/{len(services)} services name an unknown target",
            tuple(wrong),
            figures,
        )
    if not services:
        return CheckResult(Status.PASS, f"{title}: no tutorial services", figures=figures)
    return CheckResult(
        Status.PASS,
        f"{title}: {len(services)}/{len(services)} services name a target",
        figures=figures,
    )


def _valid_metric_name(name: str) -> str:
    """The nearest name the pattern accepts (``Write-P99`` → ``write_p99``)."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    cleaned = re.sub(r"^[^a-z]+", "", cleaned)
    return cleaned or "metric"


def metric_names(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["metric-names"]
    invalid: list[str] = []
    first_line: dict[str, str] = {}
    for metric in experiment.metrics:
        path = ("spec", "metrics", metric.index, "name")
        loc = _at(experiment, *path)
        if not metric.name:
            raw = _get(experiment.data, *path)
            invalid.append(
                f"{loc}: metric #{metric.index} has no name ({_shown(raw)}); add name: <name>"
            )
        elif not METRIC_NAME.fullmatch(metric.name):
            invalid.append(
                f"{loc}: metric {metric.name!r} must match {METRIC_NAME.pattern}; "
                f"rename it {_valid_metric_name(metric.name)!r}"
            )
        elif metric.name in first_line:
            # summary.json keys query results by name: the second one overwrites the first.
            invalid.append(
                f"{loc}: metric {metric.name!r} is defined twice (first at "
                f"{first_line[metric.name]}), so one result is lost; rename one of them"
            )
        else:
            first_line[metric.name] = loc
    count = len(experiment.metrics)
    figures = {"metrics": count, "invalid": len(invalid)}
    if invalid:
        return CheckResult(
            Status.FAIL, f"{title}: {len(invalid)}/{count} invalid", tuple(invalid), figures
        )
    if not count:
        return CheckResult(Status.PASS, f"{title}: no custom metrics", figures=figures)
    return CheckResult(Status.PASS, f"{title}: {count}/{count} valid", figures=figures)


def namespace(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["namespace"]
    value = _get(experiment.data, "metadata", "namespace")
    if value == EXPECTED_NAMESPACE:
        return CheckResult(Status.PASS, f"{title}: {EXPECTED_NAMESPACE}")
    if value is None:
        return CheckResult(
            Status.WARN,
            f"{title}: not set (expected {EXPECTED_NAMESPACE})",
            (
                f"{_at(experiment, 'metadata')}: no metadata.namespace, so the experiment lands "
                f"in the kubeconfig's current namespace; add namespace: {EXPECTED_NAMESPACE}",
            ),
        )
    return CheckResult(
        Status.WARN,
        f"{title}: {_shown(value)}, not {EXPECTED_NAMESPACE}",
        (
            f"{_at(experiment, 'metadata', 'namespace')}: namespace {_shown(value)}; "
            f"experiments run in namespace {EXPECTED_NAMESPACE}, set namespace: "
            f"{EXPECTED_NAMESPACE}",
        ),
    )


def generate_name(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["generate-name"]
    raw = _get(experiment.data, "metadata", "generateName")
    fixed = _get(experiment.data, "metadata", "name")
    invalid = _invalid_names(experiment, raw, fixed)
    if invalid:
        return CheckResult(Status.FAIL, f"{title}: {invalid[0][0]}", tuple(d for _, d in invalid))
    if experiment.generate_name:
        return CheckResult(Status.PASS, f"{title}: {experiment.generate_name}")
    if isinstance(fixed, str) and fixed:
        detail = (
            f"{_at(experiment, 'metadata', 'name')}: metadata.name {fixed!r} is fixed, so a "
            f"second run collides with the first; use generateName: {fixed}-"
        )
    else:
        detail = (
            f"{_at(experiment, 'metadata')}: no generateName, so instances cannot be told "
            f"apart; add generateName: {experiment.name}-"
        )
    return CheckResult(Status.WARN, f"{title}: missing", (detail,))


def _invalid_names(experiment: Experiment, raw: Any, fixed: Any) -> list[tuple[str, str]]:
    """(summary, detail) for a generateName or name the API server would refuse."""
    found: list[tuple[str, str]] = []
    for field, value in (("generateName", raw), ("name", fixed)):
        if value is None:
            continue
        loc = _at(experiment, "metadata", field)
        if not isinstance(value, str):
            found.append(
                (
                    f"metadata.{field} is {json_type_name(value)}, not a string",
                    f"{loc}: metadata.{field} is {_shown(value)}; write it as text",
                )
            )
            continue
        if field == "generateName":
            # The server appends random characters, so a trailing "-" is fine here.
            masked = value[:-1] + "a" if value.endswith("-") else value
            problem = object_name_problem(masked, limit=GENERATE_NAME_MAX)
            fix = f"{suggest_name(value)[: GENERATE_NAME_MAX - 1].rstrip('-.')}-"
        else:
            problem = object_name_problem(value)
            fix = suggest_name(value)
        if problem is not None and value:
            found.append(
                (
                    f"{_shown(value)} {problem.split(' (')[0]}",
                    f"{loc}: metadata.{field} {_shown(value)} {problem}; use {field}: {fix}",
                )
            )
    return found


def gke_name_length(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["gke-name-length"]
    fixed = _get(experiment.data, "metadata", "name")
    if not experiment.generate_name and isinstance(fixed, str) and fixed:
        prefix, overhead, instance = fixed, GKE_NAME_OVERHEAD_FIXED_NAME, fixed
    else:
        prefix = experiment.generate_name
        overhead, instance = GKE_NAME_OVERHEAD, f"{prefix}xxxxx"
    gke = [t for t in experiment.targets if t.cluster_type == "gke"]
    if not gke:
        return CheckResult(Status.PASS, f"{title}: no GKE targets")
    lengths = [(overhead + len(prefix) + len(t.name), t) for t in gke]
    longest, longest_target = max(lengths, key=lambda pair: pair[0])
    figures = {"longest": longest, "limit": GKE_NAME_LIMIT}
    over = [
        f"{_at(experiment, 'spec', 'targets', t.index, 'name')}: target {t.name!r} gives GKE "
        f"cluster names of {length} characters (illm-{instance}-{t.name}-xxxxx), over GKE's "
        f"limit of {GKE_NAME_LIMIT}; shorten generateName {prefix!r} or the target name by "
        f"{length - GKE_NAME_LIMIT}"
        for length, t in lengths
        if length > GKE_NAME_LIMIT
    ]
    if over:
        return CheckResult(
            Status.FAIL,
            f"{title}: {longest} > {GKE_NAME_LIMIT} characters (target {longest_target.name!r})",
            tuple(over),
            figures,
        )
    return CheckResult(
        Status.PASS,
        f"{title}: longest {longest}/{GKE_NAME_LIMIT} (target {longest_target.name!r})",
        figures=figures,
    )


# -- lint rules that predict the gate's root causes --------------------------------------------


def namespace_var(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["namespace-var"]
    queries = [m for m in experiment.metrics if m.query]
    here = experiment.namespace or EXPECTED_NAMESPACE
    wrong = [
        f"{_at(experiment, 'spec', 'metrics', m.index, 'query')}: metric {m.name!r} queries "
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
        f"{title}: no query uses $NAMESPACE ({_plural(len(queries), 'query', 'queries')})",
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
        loc = _at(experiment, "spec", "targets", first.index, "components")
        to = f"to target {first.name!r}" if first.name else "to the first target"
    else:
        loc, to = _at(experiment, "spec"), "to a target"
    details = []
    if PROMETHEUS not in apps:
        details.append(
            f"{loc}: {_plural(count, 'custom metric')} but no {PROMETHEUS}: the operator "
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
            f"{title}: {_plural(count, 'custom metric')} but no {', '.join(missing)}",
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
        f"{_at(experiment, 'spec', 'metrics', m.index, 'name')}: latency metric {m.name!r} "
        "has no unit, so the site shows a bare number; add unit: seconds"
        for m in latency
        if not m.unit.strip()
    ]
    figures = {"latency_metrics": len(latency), "unitless": len(unitless)}
    if unitless:
        return CheckResult(
            Status.WARN,
            f"{title}: {len(unitless)}/{len(latency)} latency metrics have no unit",
            tuple(unitless),
            figures,
        )
    if not latency:
        return CheckResult(Status.PASS, f"{title}: no latency metrics", figures=figures)
    return CheckResult(
        Status.PASS,
        f"{title}: {len(latency)}/{len(latency)} latency metrics have a unit",
        figures=figures,
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
                path = _app_path(target, component)
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
        f"{_at(experiment, *m.path)}: Hyperdisk used by {format_path(m.path)}: {m.text!r}"
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
        loc = _at(experiment, "spec", "targets", target.index, "cluster", "machineType")
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


# -- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleContext:
    """Everything a rule may read: the experiment and the session's shared inputs."""

    experiment: Experiment
    catalogue: Catalogue | None = None
    """None when the components directory is absent."""
    schema: Mapping[str, Any] | None = None
    """The live CRD's ``openAPIV3Schema``; None for the bundled schema."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    func: Callable[[RuleContext], CheckResult]

    @property
    def title(self) -> str:
        return TITLES[self.name]


class RuleFunc(Protocol):
    """The shape every rule function has: ``(experiment, *, catalogue) -> CheckResult``."""

    def __call__(
        self, experiment: Experiment, /, *, catalogue: Catalogue | None = None
    ) -> CheckResult: ...


def _rule(name: str, func: RuleFunc) -> Rule:
    return Rule(name, lambda context: func(context.experiment, catalogue=context.catalogue))


RULES: tuple[Rule, ...] = (
    Rule(
        "schema",
        lambda context: schema(
            context.experiment, catalogue=context.catalogue, against=context.schema
        ),
    ),
    _rule("kind", kind),
    _rule("components", components),
    _rule("workflow-template", workflow_template),
    _rule("tutorial-targets", tutorial_targets),
    _rule("metric-names", metric_names),
    _rule("namespace", namespace),
    _rule("generate-name", generate_name),
    _rule("gke-name-length", gke_name_length),
    _rule("namespace-var", namespace_var),
    _rule("metrics-pipeline", metrics_pipeline),
    _rule("metric-units", metric_units),
    _rule("storage-machine", storage_machine),
)


def run_rules(context: RuleContext) -> list[tuple[str, CheckResult]]:
    """Every rule of ``RULES`` in order.

    A rule that raises becomes a FAIL naming the error: a validation that could
    not conclude must block the apply rather than let a bad file through.
    """
    results: list[tuple[str, CheckResult]] = []
    for rule in RULES:
        try:
            result = rule.func(context)
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            result = CheckResult(
                Status.FAIL, f"{rule.title}: rule error — {error}", figures={"error": error}
            )
        results.append((rule.name, result))
    return results
