"""A verdict oracle: the README's rules for summaries, written again here, from the README
alone, and held against what the checks conclude on mutated real summaries.

The rules (README, "Quality checks"):

* what counts as data: a query has data when it has no ``error`` and at least one
  point holds a finite number: ``{"timestamp", "value"}`` objects (a JSON number,
  or a decimal string such as ``"0.25"``) or ``[timestamp, "value"]`` pairs;
* ``custom-metrics``: each declared metric with data: 0/Y FAIL, partial WARN, Y/Y
  PASS, none declared PASS; no ``metrics`` section, or one without ``queries``,
  collected nothing (FAIL); a section of another shape is a WARN;
* ``intent-coverage``: each differentiating group needs one metric with data, else
  FAIL; no groups N/A;
* ``machine-verdict`` and ``ai-verdict``: a verdict word is read ignoring the case
  of its (ASCII) letters and surrounding whitespace: validated, invalidated,
  confirmed and rejected PASS, insufficient FAILs, any other word WARNs; absent
  N/A; not text WARN;
* the gate is FAIL if any check fails, else WARN if any warns, else PASS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from fuzzing import PROFILE, corpus_experiment
from fuzzing_summaries import summary_documents
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiment.core.checks import CheckInput, run_checks
from pytest_experiment.core.gate import decide
from pytest_experiment.core.intent import Intent, build_intent
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import Status

PASSING = {"validated", "invalidated", "confirmed", "rejected"}
DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def finite(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        text = value.strip()
        return DECIMAL.fullmatch(text) is not None and math.isfinite(float(text))
    if not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def holds_a_number(point: Any) -> bool:
    if isinstance(point, dict):
        return finite(point.get("value"))
    return isinstance(point, list) and len(point) == 2 and finite(point[1])


def has_data(entry: Any) -> bool:
    if not isinstance(entry, dict) or entry.get("error"):
        return False
    data = entry.get("data")
    return isinstance(data, list) and any(holds_a_number(point) for point in data)


def queries(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The queries to read ({} when nothing was collected); None when not measurable."""
    metrics = summary.get("metrics")
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        return None
    found = metrics.get("queries")
    if found is None:
        return {}
    return found if isinstance(found, dict) else None


def custom_metrics(experiment: Experiment, summary: Mapping[str, Any]) -> Status:
    declared = {m.name for m in experiment.metrics if m.name}
    if not declared:
        return Status.PASS
    found = queries(summary)
    if found is None:
        return Status.WARN
    collected = sum(has_data(found.get(name)) for name in declared)
    if collected == len(declared):
        return Status.PASS
    return Status.FAIL if collected == 0 else Status.WARN


def intent_coverage(experiment: Experiment, intent: Intent, summary: Mapping[str, Any]) -> Status:
    if not intent.differentiating:
        return Status.NA
    found = queries(summary)
    if found is None:
        return Status.WARN
    for group in intent.differentiating:
        names = [m.name for m in experiment.metrics if m.group == group]
        if not any(has_data(found.get(name)) for name in names):
            return Status.FAIL
    return Status.PASS


def verdict(word: Any) -> Status:
    if word is None or word == "":
        return Status.NA
    if not isinstance(word, str):
        return Status.WARN
    bare = word.strip()
    if not bare.isascii():
        return Status.WARN  # a look-alike letter makes another word
    if bare.lower() == "insufficient":
        return Status.FAIL
    return Status.PASS if bare.lower() in PASSING else Status.WARN


def machine_verdict(experiment: Experiment, summary: Mapping[str, Any]) -> Status | None:
    """None when the oracle has no rule to apply (no criteria declared)."""
    if not experiment.success_criteria:
        return None
    hypothesis = summary.get("hypothesis")
    return verdict(hypothesis.get("machineVerdict") if isinstance(hypothesis, dict) else None)


def ai_verdict(summary: Mapping[str, Any]) -> Status:
    analysis = summary.get("analysis")
    if analysis is None:
        return Status.NA
    if not isinstance(analysis, dict):
        return Status.WARN
    return verdict(analysis.get("hypothesisVerdict"))


@PROFILE
@given(summary=summary_documents(), which=st.integers(0, 100))
def test_the_checks_conclude_what_the_readme_says(summary: Any, which: int) -> None:
    if not isinstance(summary, dict):
        return  # reported as unreadable before any check runs
    experiment = corpus_experiment(which)
    intent = build_intent(experiment)
    results = run_checks(CheckInput(experiment=experiment, summary=summary, intent=intent))
    found = {name: result.status for name, result in results}
    assert found["custom-metrics"] is custom_metrics(experiment, summary)
    assert found["intent-coverage"] is intent_coverage(experiment, intent, summary)
    assert found["ai-verdict"] is ai_verdict(summary)
    expected = machine_verdict(experiment, summary)
    if expected is not None:
        assert found["machine-verdict"] is expected
    statuses = set(found.values())
    worst = next((s for s in (Status.FAIL, Status.WARN) if s in statuses), Status.PASS)
    assert decide(experiment, results).gate is worst
