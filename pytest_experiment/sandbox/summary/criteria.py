"""summary.json's ``hypothesis``: each success criterion evaluated, and the machine verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.scenarios import Scenario, ScenarioChoice
from pytest_experiment.sandbox.summary.values import (
    compared_value,
    last_value,
    passes,
    satisfying,
    threshold,
)


def criteria_targets(spec: Mapping[str, Any]) -> dict[str, float]:
    """Metric name -> a value that meets its success criterion (happy path)."""
    wanted: dict[str, float] = {}
    for criterion in (spec.get("hypothesis") or {}).get("successCriteria") or []:
        limit = threshold((criterion or {}).get("value"))
        if limit is not None:
            wanted[str(criterion.get("metric"))] = satisfying(str(criterion.get("operator")), limit)
    return wanted


def hypothesis(
    spec: Mapping[str, Any], queries: Mapping[str, Any], choice: ScenarioChoice, *, legacy: bool
) -> Obj | None:
    declared = spec.get("hypothesis")
    if not isinstance(declared, Mapping):
        return None
    result: Obj = {key: declared[key] for key in ("claim", "questions", "focus") if key in declared}
    criteria = [c for c in declared.get("successCriteria") or [] if isinstance(c, Mapping)]
    if not criteria:
        return result
    evaluated: list[Obj] = []
    for criterion in criteria:
        query = queries.get(str(criterion.get("metric")))
        actual = last_value(query) if legacy else compared_value(query)
        limit = threshold(criterion.get("value"))
        if choice.scenario is Scenario.INSUFFICIENT_VERDICT:
            actual = None
        entry: Obj = dict(criterion)
        if legacy:
            passed = None
            if actual is not None and limit is not None:
                passed = passes(actual, str(criterion.get("operator")), limit)
            entry.update(passed=passed, actualValue=actual)
        elif actual is not None and limit is not None:
            entry["passed"] = passes(actual, str(criterion.get("operator")), limit)
            entry["actualValue"] = f"{actual:.6g}"
        evaluated.append(entry)
    result["successCriteria"] = evaluated
    result["machineVerdict"] = (
        _legacy_verdict(evaluated, choice) if legacy else criteria_verdict(evaluated)
    )
    return result


def criteria_verdict(criteria: Sequence[Mapping[str, Any]]) -> str:
    """No criterion evaluable → insufficient; all evaluated and passed → validated;
    anything else (some missing, the rest passing, too) → invalidated."""
    results = [c.get("passed") for c in criteria]
    if all(r is None for r in results):
        return "insufficient"
    if all(r is True for r in results):
        return "validated"
    return "invalidated"


def _legacy_verdict(criteria: Sequence[Mapping[str, Any]], choice: ScenarioChoice) -> str:
    results = [c.get("passed") for c in criteria]
    if any(r is None for r in results):
        return "insufficient"
    if all(results):
        return str(choice.option("verdict", "confirmed"))
    return "rejected"


def machine_verdict(summary: Mapping[str, Any]) -> str | None:
    verdict = (summary.get("hypothesis") or {}).get("machineVerdict")
    return str(verdict) if verdict else None
