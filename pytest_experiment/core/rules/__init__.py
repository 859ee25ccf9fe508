"""Validation and lint rules: offline verdicts on an experiment file, run in one order.

Each rule is a pure function ``(experiment, *, catalogue) -> CheckResult``
(see ``validation``, ``names`` and ``lint``); this registry gives each its
inputs and turns a rule that raises into a FAIL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_experiment.core.catalog import Catalogue
from pytest_experiment.core.rules.lint import (
    metric_units,
    metrics_pipeline,
    namespace_var,
    storage_machine,
)
from pytest_experiment.core.rules.names import generate_name, gke_name_length, namespace
from pytest_experiment.core.rules.text import TITLES, object_name_problem, suggest_name
from pytest_experiment.core.rules.validation import (
    components,
    kind,
    metric_names,
    schema,
    tutorial_targets,
    workflow_template,
)
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, Status

__all__ = [
    "RULES",
    "TITLES",
    "Rule",
    "RuleContext",
    "components",
    "generate_name",
    "gke_name_length",
    "kind",
    "metric_names",
    "metric_units",
    "metrics_pipeline",
    "namespace",
    "namespace_var",
    "object_name_problem",
    "run_rules",
    "schema",
    "storage_machine",
    "suggest_name",
    "tutorial_targets",
    "workflow_template",
]


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
