"""Naming rules: namespace, generateName and the GKE cluster names an instance leads to.

Names the API server or GKE would refuse fail here, before a run is started
that could never get past its first step.
"""

from __future__ import annotations

from typing import Any

from pytest_experiment.core.catalog import Catalogue
from pytest_experiment.core.limits import json_type_name
from pytest_experiment.core.rules.text import (
    GENERATE_NAME_MAX,
    TITLES,
    at,
    get,
    object_name_problem,
    shown,
    suggest_name,
)
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, Status

EXPECTED_NAMESPACE = "experiments"
# The operator names a target's GKE cluster illm-<instance>-<target>-<5 chars>,
# the instance being generateName plus 5 random characters: 17 fixed characters.
GKE_NAME_LIMIT = 40
GKE_NAME_OVERHEAD = 17
GKE_NAME_OVERHEAD_FIXED_NAME = 12
"""Same, for ``metadata.name`` (no 5 random characters after it)."""


def namespace(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["namespace"]
    value = get(experiment.data, "metadata", "namespace")
    if value == EXPECTED_NAMESPACE:
        return CheckResult(Status.PASS, f"{title}: {EXPECTED_NAMESPACE}")
    if value is None:
        return CheckResult(
            Status.WARN,
            f"{title}: not set (expected {EXPECTED_NAMESPACE})",
            (
                f"{at(experiment, 'metadata')}: no metadata.namespace, so the experiment lands "
                f"in the kubeconfig's current namespace; add namespace: {EXPECTED_NAMESPACE}",
            ),
        )
    return CheckResult(
        Status.WARN,
        f"{title}: {shown(value)}, not {EXPECTED_NAMESPACE}",
        (
            f"{at(experiment, 'metadata', 'namespace')}: namespace {shown(value)}; "
            f"experiments run in namespace {EXPECTED_NAMESPACE}, set namespace: "
            f"{EXPECTED_NAMESPACE}",
        ),
    )


def generate_name(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["generate-name"]
    raw = get(experiment.data, "metadata", "generateName")
    fixed = get(experiment.data, "metadata", "name")
    invalid = _invalid_names(experiment, raw, fixed)
    if invalid:
        return CheckResult(Status.FAIL, f"{title}: {invalid[0][0]}", tuple(d for _, d in invalid))
    if experiment.generate_name:
        return CheckResult(Status.PASS, f"{title}: {experiment.generate_name}")
    if isinstance(fixed, str) and fixed:
        detail = (
            f"{at(experiment, 'metadata', 'name')}: metadata.name {fixed!r} is fixed, so a "
            f"second run collides with the first; use generateName: {fixed}-"
        )
    else:
        detail = (
            f"{at(experiment, 'metadata')}: no generateName, so instances cannot be told "
            f"apart; add generateName: {experiment.name}-"
        )
    return CheckResult(Status.WARN, f"{title}: missing", (detail,))


def _invalid_names(experiment: Experiment, raw: Any, fixed: Any) -> list[tuple[str, str]]:
    """(summary, detail) for a generateName or name the API server would refuse."""
    found: list[tuple[str, str]] = []
    for field, value in (("generateName", raw), ("name", fixed)):
        if value is None:
            continue
        loc = at(experiment, "metadata", field)
        if not isinstance(value, str):
            found.append(
                (
                    f"metadata.{field} is {json_type_name(value)}, not a string",
                    f"{loc}: metadata.{field} is {shown(value)}; write it as text",
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
                    f"{shown(value)} {problem.split(' (')[0]}",
                    f"{loc}: metadata.{field} {shown(value)} {problem}; use {field}: {fix}",
                )
            )
    return found


def gke_name_length(experiment: Experiment, *, catalogue: Catalogue | None = None) -> CheckResult:
    title = TITLES["gke-name-length"]
    fixed = get(experiment.data, "metadata", "name")
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
        f"{at(experiment, 'spec', 'targets', t.index, 'name')}: target {t.name!r} gives GKE "
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
