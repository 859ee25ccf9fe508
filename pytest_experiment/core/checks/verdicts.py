"""Verdict and intent checks: what the operator and the analyzer concluded, whether the
experiment's differentiating groups have data, and the scorecard's completion line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_experiment.core.checks.reading import (
    CheckInput,
    finite_number,
    first_line,
    mapping,
    not_measurable,
    queries_of,
    type_name,
)
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.intent import sentences
from pytest_experiment.core.verdict import CheckResult, Status

INSUFFICIENT = "insufficient"
# Real summaries use both vocabularies (seed: confirmed/rejected; operator
# and analyzer: validated/invalidated). Anything else is a word this code has
# never seen, reported as WARN instead of passed blindly.
VERDICTS = frozenset({"confirmed", "rejected", "validated", "invalidated"})
ANALYZER_NOT_RUN = {
    "Failed": "analyzer failed",
    "Skipped": "analyzer skipped",
    "Timeout": "analyzer timed out",
}
_EXCERPT_CHARS = 240


def _criterion_text(criterion: Mapping[str, Any]) -> str:
    words = " ".join(
        str(criterion[key]) for key in ("metric", "operator", "value") if key in criterion
    )
    description = criterion.get("description")
    actual = criterion.get("actualValue")
    text = words or "criterion"
    if isinstance(description, str) and description:
        text += f" ({description})"
    return text if actual is None or actual == "" else f"{text}, actual value {actual}"


def _passed(value: Any) -> str:
    return "null" if value is None else repr(value)


def _verdict_word(verdict: str) -> str:
    return verdict.strip().lower()


def machine_verdict(inp: CheckInput) -> CheckResult:
    """``hypothesis.machineVerdict`` from the operator's success-criteria evaluation."""
    summary = inp.summary if isinstance(inp.summary, Mapping) else {}
    hypothesis = mapping(summary.get("hypothesis")) or {}
    reported = hypothesis.get("successCriteria", hypothesis.get("criteria"))
    criteria = [c for c in reported if isinstance(c, Mapping)] if isinstance(reported, list) else []
    if not criteria and not inp.experiment.success_criteria:
        return CheckResult(Status.NA, "Machine verdict: no success criteria defined")
    # The operator leaves ``passed`` out (older ones wrote null) when a criterion
    # could not be evaluated; anything but true/false says the same.
    unevaluated = [_criterion_text(c) for c in criteria if not isinstance(c.get("passed"), bool)]
    details = tuple(
        f"passed: {_passed(c.get('passed'))} — {_criterion_text(c)}"
        for c in criteria
        if not isinstance(c.get("passed"), bool)
    )
    verdict = hypothesis.get("machineVerdict")
    figures = {
        "verdict": verdict,
        "criteria": len(criteria) or len(inp.experiment.success_criteria),
        "unevaluated": unevaluated,
    }
    if verdict is None or verdict == "":
        return CheckResult(
            Status.NA, "Machine verdict: not reported", details=details, figures=figures
        )
    if not isinstance(verdict, str):
        return CheckResult(
            Status.WARN,
            f"Machine verdict: unreadable ({type_name(verdict)})",
            details=details,
            figures=figures,
        )
    word = _verdict_word(verdict)
    if word == INSUFFICIENT:
        counted = (
            f" ({len(unevaluated)}/{len(criteria)} criteria not evaluated)" if criteria else ""
        )
        return CheckResult(
            Status.FAIL, f"Machine verdict: {INSUFFICIENT}{counted}", details, figures
        )
    if word in VERDICTS:
        return CheckResult(Status.PASS, f"Machine verdict: {verdict}", details, figures)
    return CheckResult(
        Status.WARN, f"Machine verdict: {verdict!r} is not a known verdict", details, figures
    )


def intent_coverage(inp: CheckInput) -> CheckResult:
    """Each differentiating group has at least one metric with data."""
    groups = inp.intent.differentiating
    if not groups:
        return CheckResult(Status.NA, "Intent coverage: no differentiating groups")
    queries, reason = queries_of(inp.summary)
    if queries is None:
        return not_measurable("Intent coverage", reason, differentiating=list(groups))
    tally: dict[str, tuple[int, int]] = {}
    for group in groups:
        names = [m.name for m in inp.experiment.metrics if m.group == group]
        tally[group] = (sum(not inp.data_gap(n) for n in names), len(names))
    missing = [g for g, (with_data, _) in tally.items() if with_data == 0]
    per_group = {g: f"{g}: {a}/{b} metrics" for g, (a, b) in tally.items()}
    summary = f"Intent coverage: {len(groups) - len(missing)}/{len(groups)} differentiating groups"
    if missing:
        summary += f" ({', '.join(per_group[g] for g in missing)})"
    return CheckResult(
        Status.FAIL if missing else Status.PASS,
        summary,
        details=(
            *(f"Experiment's differentiating data missing — {g} has no results" for g in missing),
            *per_group.values(),
            *((reason,) if reason else ()),
        ),
        figures={
            "covered": len(groups) - len(missing),
            "differentiating": list(groups),
            "missing": missing,
            "groups": {g: {"with_data": a, "declared": b} for g, (a, b) in tally.items()},
            **({"reason": reason} if reason else {}),
        },
    )


def _excerpt(abstract: Any) -> str:
    """The first sentence of the abstract, and the second when both stay short."""
    if not isinstance(abstract, str):
        return ""
    found = sentences(abstract)
    if len(found) >= 2 and len(found[0]) + len(found[1]) < _EXCERPT_CHARS:
        return f"{found[0]} {found[1]}"
    return found[0] if found else ""


def ai_verdict(inp: CheckInput) -> CheckResult:
    """``analysis.hypothesisVerdict`` from the AI analyzer."""
    figures: dict[str, Any] = {"analyzer": inp.analyzer}
    if inp.analyzer is not None and inp.analyzer != "Succeeded":
        why = ANALYZER_NOT_RUN.get(inp.analyzer, f"analyzer {inp.analyzer}")
        return CheckResult(Status.NA, f"AI verdict: {why}", figures=figures)
    summary = inp.summary if isinstance(inp.summary, Mapping) else {}
    analysis = summary.get("analysis")
    if analysis is None:
        return CheckResult(Status.NA, "AI verdict: no analysis in summary", figures=figures)
    if not isinstance(analysis, Mapping):
        return CheckResult(
            Status.WARN, f"AI verdict: analysis is a {type_name(analysis)}", figures=figures
        )
    verdict = analysis.get("hypothesisVerdict")
    figures["verdict"] = verdict
    if verdict is None or verdict == "":
        # Early analyzers crashed and published their CLI error output instead.
        errors = analysis.get("errors")
        if isinstance(errors, list) and errors:
            return CheckResult(
                Status.NA,
                f"AI verdict: analyzer errored — {first_line(str(errors[0]))}",
                figures=figures,
            )
        return CheckResult(Status.NA, "AI verdict: not given in analysis", figures=figures)
    if not isinstance(verdict, str):
        return CheckResult(
            Status.WARN, f"AI verdict: unreadable ({type_name(verdict)})", figures=figures
        )
    word = _verdict_word(verdict)
    if word == INSUFFICIENT:
        excerpt = _excerpt(analysis.get("abstract"))
        figures["abstract"] = excerpt
        return CheckResult(
            Status.FAIL,
            f'AI verdict: {INSUFFICIENT} — "{excerpt}"'
            if excerpt
            else f"AI verdict: {INSUFFICIENT}",
            details=(excerpt,) if excerpt else (),
            figures=figures,
        )
    if word in VERDICTS:
        return CheckResult(Status.PASS, f"AI verdict: {verdict}", figures=figures)
    return CheckResult(
        Status.WARN, f"AI verdict: {verdict!r} is not a known verdict", figures=figures
    )


def completion_line(summary: Mapping[str, Any]) -> CheckResult:
    """The scorecard's first line: ``[PASS] Experiment completed (38m, $0.017)``."""
    data = summary if isinstance(summary, Mapping) else {}
    phase = data.get("phase")
    seconds = finite_number(data.get("durationSeconds"))
    cost_section = mapping(data.get("costEstimate")) or {}
    cost = finite_number(cost_section.get("totalUSD"))
    parts = []
    if seconds is not None and seconds >= 0:
        parts.append(format_duration(seconds, whole_minutes=True))
    if cost is not None:
        parts.append(f"${cost:.3f}")
    suffix = f" ({', '.join(parts)})" if parts else ""
    figures = {"phase": phase, "duration_seconds": seconds, "cost_usd": cost}
    if phase == "Complete":
        return CheckResult(Status.PASS, f"Experiment completed{suffix}", figures=figures)
    if phase == "Failed":
        return CheckResult(Status.FAIL, f"Experiment failed{suffix}", figures=figures)
    if phase is None or phase == "":
        return CheckResult(Status.NA, f"Experiment phase not reported{suffix}", figures=figures)
    return CheckResult(
        Status.WARN, f"Experiment phase {phase!s} is not terminal{suffix}", figures=figures
    )
