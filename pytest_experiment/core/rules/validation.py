"""Validation rules: is the file an Experiment the operator can run as written.

Each rule is a pure function ``(experiment, *, catalogue) -> CheckResult``
that reads only the spec (and, for ``components``, the component catalogue;
``None`` means the components directory is absent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pytest_experiment.core.catalog import Catalogue
from pytest_experiment.core.limits import json_type_name
from pytest_experiment.core.rules.text import (
    TITLES,
    app_path,
    at,
    counted,
    did_you_mean,
    get,
    object_name_problem,
    shown,
    suggest_name,
)
from pytest_experiment.core.schema import bundled_schema, validate_source
from pytest_experiment.core.spec import KIND, Experiment
from pytest_experiment.core.verdict import CheckResult, Status

# Matched with fullmatch: "$" would also match before a trailing newline.
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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
        f"{title}: {shown(value)} is not {KIND}",
        (f"{at(experiment, 'kind')}: kind is {shown(value)}; use kind: {KIND}",),
    )


def components(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["components"]
    referenced = [
        (target, component.app, app_path(target, component))
        for target, component in experiment.components()
        if component.app
    ]
    malformed = _malformed_components(experiment)
    if not referenced and not malformed:
        return CheckResult(
            Status.WARN,
            f"{title}: none referenced",
            (
                f"{at(experiment, 'spec', 'targets')}: no target lists components, so nothing "
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
        loc = at(experiment, *path)
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
    targets = get(experiment.data, "spec", "targets")
    for t, target in enumerate(targets if isinstance(targets, list) else []):
        entries = target.get("components") if isinstance(target, Mapping) else None
        name = target.get("name") if isinstance(target, Mapping) else None
        label = repr(name) if isinstance(name, str) else f"#{t}"
        for c, entry in enumerate(entries if isinstance(entries, list) else []):
            path = ("spec", "targets", t, "components", c)
            if not isinstance(entry, Mapping):
                hint = f"- app: {entry}" if isinstance(entry, str) else "- app: <component>"
                found.append(
                    f"{at(experiment, *path)}: component #{c} of target {label} is "
                    f"{shown(entry)}, not a mapping; write {hint}"
                )
            elif "app" not in entry:
                found.append(
                    f"{at(experiment, *path)}: component #{c} of target {label} has no app, "
                    "so nothing is deployed; add app: <name of a component.yaml>"
                )
            elif not isinstance(entry["app"], str) or not entry["app"]:
                found.append(
                    f"{at(experiment, *path, 'app')}: app is {shown(entry['app'])} in target "
                    f"{label}; use the name of a component.yaml"
                )
    return found


def workflow_template(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["workflow-template"]
    path = ("spec", "workflow", "template")
    raw = get(experiment.data, *path)
    if raw is not None and not isinstance(raw, str):
        return CheckResult(
            Status.FAIL,
            f"{title}: {json_type_name(raw)}, not a name",
            (
                f"{at(experiment, *path)}: spec.workflow.template is {shown(raw)}; name the "
                f"WorkflowTemplate (e.g. template: {experiment.name}-validation)",
            ),
        )
    template = experiment.workflow_template
    if not template.strip():
        return CheckResult(
            Status.WARN,
            f"{title}: empty",
            (
                f"{at(experiment, *path)}: spec.workflow.template is "
                "empty, so no workflow drives the run; name the WorkflowTemplate "
                f"(namespace argo-workflows, e.g. {experiment.name}-validation)",
            ),
        )
    problem = object_name_problem(template)
    if problem is not None:
        # The operator looks the template up by this exact name: none can exist.
        return CheckResult(
            Status.FAIL,
            f"{title}: {shown(template)} {problem.split(' (')[0]}",
            (
                f"{at(experiment, *path)}: spec.workflow.template {shown(template)} {problem}; "
                f"use template: {suggest_name(template)}",
            ),
        )
    return CheckResult(Status.PASS, f"{title}: {template}")


def tutorial_targets(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["tutorial-targets"]
    services = get(experiment.data, "spec", "tutorial", "services")
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
        found = f"targets {shown(target)}" if target is not None else "names no target"
        hint = did_you_mean(target, names) if isinstance(target, str) else ""
        wrong.append(
            f"{at(experiment, *path)}: tutorial service {label!r} {found}, which is not a "
            f"target; {hint}use one of: {choices}"
        )
    return counted(
        title,
        wrong,
        len(services),
        {"services": len(services), "unknown_targets": len(wrong)},
        status=Status.FAIL,
        bad="services name an unknown target",
        good="services name a target",
        none="no tutorial services",
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
        loc = at(experiment, *path)
        if not metric.name:
            raw = get(experiment.data, *path)
            invalid.append(
                f"{loc}: metric #{metric.index} has no name ({shown(raw)}); add name: <name>"
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
    return counted(
        title,
        invalid,
        count,
        {"metrics": count, "invalid": len(invalid)},
        status=Status.FAIL,
        bad="invalid",
        good="valid",
        none="no custom metrics",
    )
