"""The GitHub Actions step summary: what a CI user reads first, as Markdown.

It opens with the session's estimated cloud cost under ``--experiment-max-cost``
and one row per run (experiment, instance, lifecycle, gate, review, duration,
published cost, the estimate made before it was applied), then lists every
failure where it happened (validation, pre-flight, lifecycle, quality) with its
first diagnostic lines, root causes and the suggested fix in a collapsed block,
and ends with what became of each instance and whether the session was
interrupted. Rendered from the scoreboard alone, so a run under xdist writes
the same summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.prices import usd
from pytest_experiment.core.verdict import Status
from pytest_experiment.reporting.report import (
    ExperimentReport,
    Finding,
    InstanceReport,
    Scoreboard,
    root_causes,
    session_cost,
    unscored,
)

_DIAGNOSTIC_LINES = 12
"""How much of a failure's diagnostics the summary shows; the JUnit file has the rest."""

# GitHub's Markdown has no colours of its own: a coloured emoji before each verdict is
# the badge, and what failed is also bold, so a FAIL row stands out in a long table.
_BADGES = {
    Status.PASS: "🟢 PASS",
    Status.WARN: "🟡 WARN",
    Status.FAIL: "🔴 **FAIL**",
    Status.NA: "⚪ N/A",
    Status.ERROR: "🟣 **ERROR**",
}


def render(
    board: Scoreboard, *, interrupted: str = "", html_file: str = "", artifacts_url: str = ""
) -> str:
    out: list[str] = ["## Experiment results", ""]
    if html_file:
        # The summary is Markdown only: the HTML scorecard reaches a reader as an artifact.
        where = (
            f"[the run's artifacts]({artifacts_url})" if artifacts_url else "the run's artifacts"
        )
        out += [
            f"The HTML scorecard (phase timelines, metrics, suggested fixes) is "
            f"`{_cell(html_file)}` in {where}.",
            "",
        ]
    if interrupted:
        out += [
            f"> **The run was stopped early ({_cell(interrupted)}).** Items after that point "
            "did not run; the instances below say what was kept or deleted.",
            "",
        ]
    if board.problems:
        out += ["Input problems:", *(f"- {_cell(p)}" for p in board.problems), ""]
    cost = board.cost()
    if board.max_cost is not None and cost is not None:
        out += [f"Cloud cost: {_cell(session_cost(cost))}.", ""]
    out += _overview(board)
    failures = [line for report in board.ordered() for line in _failures(report)]
    if failures:
        out += ["### Failures", "", *failures]
    for report in board.ordered():
        for record in report.runs():
            out += _scorecard(report, record)
    out += _instances(board.cleanup)
    return "\n".join(out) + "\n"


def _overview(board: Scoreboard) -> list[str]:
    rows = [
        "| Experiment | Instance | Lifecycle | Gate | Review | Duration | Cost | Estimate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in board.ordered():
        records = [r for r in report.runs() if r.instance or r.lifecycle or r.quality]
        estimate = _estimate(report)
        if not records:
            rows.append(
                f"| {_cell(report.name)} | — | {_stopped_before(report)} | — | — | — | — "
                f"| {estimate} |"
            )
        for record in records:
            run: Mapping[str, Any] = record.run
            rows.append(
                "| "
                + " | ".join(
                    [
                        _cell(report.name),
                        f"`{_cell(record.instance)}`" if record.instance else "—",
                        _lifecycle(report, record),
                        badge(record.gate) if record.gate else "—",
                        _verdict(record.review) if record.review else "—",
                        format_duration(run.get("durationSeconds"), whole_minutes=True, absent="—"),
                        _cost(run.get("costUSD")),
                        estimate,
                    ]
                )
                + " |"
            )
    return [*rows, ""]


def _lifecycle(report: ExperimentReport, record: InstanceReport) -> str:
    if record.lifecycle is None or record.lifecycle.status is Status.NA:
        return _stopped_before(report)
    return _verdict(record.lifecycle)


def _stopped_before(report: ExperimentReport) -> str:
    """Why an experiment has no lifecycle verdict: where it stopped."""
    if any(f.status is Status.FAIL for f in report.validation):
        return "🔴 not applied (validation **FAIL**)"
    if any(f.status is Status.FAIL for f in report.preflight):
        return "🔴 not applied (pre-flight **FAIL**)"
    return badge(Status.NA)


def _failures(report: ExperimentReport) -> list[str]:
    lines: list[str] = []
    for finding in report.validation:
        if finding.status is Status.FAIL:
            lines += _failure(f"**{report.name}** `validate[{finding.check}]`", finding)
    for finding in report.preflight:
        if finding.status is Status.FAIL:
            lines += _failure(f"**{report.name}** `preflight[{finding.check}]`", finding)
    for record in report.runs():
        where = f"**{report.name}** `{record.instance}`" if record.instance else report.name
        if record.lifecycle is not None and record.lifecycle.status is Status.FAIL:
            lines += _failure(f"{where} lifecycle", record.lifecycle)
        errors = [f for f in record.quality if f.status is Status.ERROR]
        if errors:
            lines += _failure(f"{where} quality ({len(errors)} items)", errors[0])
        if record.review is not None and record.review.status is Status.FAIL:
            lines += _failure(f"{where} review", record.review)
    return lines


def _failure(where: str, finding: Finding) -> list[str]:
    lines = [f"- {where}: {_cell(finding.line)}"]
    shown = finding.details[:_DIAGNOSTIC_LINES]
    if shown:
        more = len(finding.details) - len(shown)
        lines += ["  ```", *(f"  {d}" for d in shown)]
        if more > 0:
            lines.append(f"  … {more} more lines in the JUnit report")
        lines.append("  ```")
    return [*lines, ""]


def _scorecard(report: ExperimentReport, record: InstanceReport) -> list[str]:
    if not record.quality or all(unscored(f) for f in record.quality):
        return []
    gate_text = record.gate.name if record.gate else "N/A"
    title = f"{report.name} — `{record.instance}`" if record.instance else report.name
    out = [f"### {title}: quality {gate_text}", "", "| | Check | Result |", "|---|---|---|"]
    for finding in record.quality:
        text = _cell(finding.line.split("] ", 1)[-1])
        out.append(f"| {badge(finding.status)} | `{finding.check}` | {text} |")
    out.append("")
    causes = root_causes(record)
    if causes:
        out += ["Root causes:", *(f"- {c}" for c in causes), ""]
    diff = _fix_diff(record)
    if diff:
        out += [
            "<details><summary>Suggested fix (experiment.yaml)</summary>",
            "",
            "```diff",
            *diff.rstrip("\n").splitlines(),
            "```",
            "",
            "</details>",
            "",
        ]
    if record.review is not None:
        url = record.review.figures.get("prURL")
        out += [f"{record.review.line}" + (f" — {url}" if url else ""), ""]
    return out


def _fix_diff(record: InstanceReport) -> str:
    if record.review is None:
        return ""
    gate = record.review.figures.get("gateReport")
    return str(gate.get("fixDiff") or "") if isinstance(gate, Mapping) else ""


def _instances(cleanup: Sequence[Mapping[str, Any]]) -> list[str]:
    if not cleanup:
        return []
    out = ["### Instances", ""]
    for entry in cleanup:
        text = (
            f"- **{_cell(entry.get('action'))}** `{_cell(entry.get('instance'))}` "
            f"({_cell(entry.get('experiment'))}): {_cell(entry.get('reason'))}"
        )
        if entry.get("command"):
            text += f" — `{entry['command']}`"
        out.append(text)
    return [*out, ""]


def _estimate(report: ExperimentReport) -> str:
    """The experiment's estimate before it was applied, and on what it rests."""
    amount = report.estimate.get("usd")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        return f"{usd(amount)} ({_cell(report.estimate.get('basis'))})"
    return "unknown" if report.estimate else "—"


def _verdict(finding: Finding) -> str:
    return badge(finding.status)


def badge(status: Status) -> str:
    """A verdict as the summary shows it: its coloured badge and its word."""
    return _BADGES[status]


def _cost(amount: Any) -> str:
    if not isinstance(amount, (int, float)) or isinstance(amount, bool):
        return "—"
    return f"${amount:.3f}"


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell or list item: one line, no column breaks."""
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")
