"""Results quality checks: the registry that runs them in scorecard order.

Each check is a pure function of a ``CheckInput`` (the spec, one result
summary, the intent summary and, in a live run, the analyzer's outcome) that
returns a ``CheckResult``. The built-in checks never raise on odd data (see
``reading``); ``run_checks`` still guards each call, because checks added by a
conftest through the plugin hook get no such guarantee.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_experiment.core.checks.data import (
    custom_metrics,
    metrics_source,
    presentation,
    workload_pods,
)
from pytest_experiment.core.checks.history import History
from pytest_experiment.core.checks.reading import (
    Check,
    CheckInput,
    Reproducibility,
    finite_number,
    has_data,
    point_value,
    type_name,
)
from pytest_experiment.core.checks.reproducibility import reproducibility
from pytest_experiment.core.checks.verdicts import (
    ai_verdict,
    completion_line,
    intent_coverage,
    machine_verdict,
)
from pytest_experiment.core.verdict import CheckResult, Status

__all__ = [
    "CHECKS",
    "ON_DEMAND",
    "Check",
    "CheckInput",
    "History",
    "Reproducibility",
    "ai_verdict",
    "completion_line",
    "custom_metrics",
    "finite_number",
    "has_data",
    "intent_coverage",
    "machine_verdict",
    "metrics_source",
    "point_value",
    "presentation",
    "reproducibility",
    "run_check",
    "run_checks",
    "workload_pods",
]

CHECKS: tuple[Check, ...] = (
    Check("custom-metrics", "Custom metrics", custom_metrics),
    Check("metrics-source", "Metrics source", metrics_source),
    Check("machine-verdict", "Machine verdict", machine_verdict),
    Check("workload-pods", "Workload pods", workload_pods),
    Check("presentation", "Presentation", presentation),
    Check("intent-coverage", "Intent coverage", intent_coverage),
    Check("ai-verdict", "AI verdict", ai_verdict),
    Check("reproducibility", "Reproducibility", reproducibility),
)


ON_DEMAND = frozenset({"reproducibility"})
"""Checks a session judges only when their item runs, not with the others of a result:
the reproducibility check imports the statistics, which nothing else needs."""


def run_checks(inp: CheckInput, *, extra: Iterable[Check] = ()) -> list[tuple[str, CheckResult]]:
    """Run the built-in checks in scorecard order, then ``extra`` ones (from the plugin hook)."""
    return [(check.name, run_check(check, inp)) for check in (*CHECKS, *extra)]


def run_check(check: Check, inp: CheckInput) -> CheckResult:
    """One check's verdict.

    A check that raises, or returns something other than a ``CheckResult``,
    becomes a FAIL naming the error: like an erroring pytest test, a check
    that could not conclude must not let the gate pass unnoticed.
    """
    try:
        result: object = check.func(inp)
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        return CheckResult(
            Status.FAIL, f"{check.title}: check error — {error}", figures={"error": error}
        )
    if not isinstance(result, CheckResult):
        error = f"returned {type_name(result)}, not a CheckResult"
        return CheckResult(
            Status.FAIL, f"{check.title}: check error — {error}", figures={"error": error}
        )
    return result
