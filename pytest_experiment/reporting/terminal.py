"""The end of a session on the terminal: the experiment scorecard, what became of
each instance, the toil line, and the progress lines ``-q`` held back.

Rendered from the scoreboard alone, so a run under xdist prints what a serial run does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.toil import summary_lines
from pytest_experiment.core.verdict import Status
from pytest_experiment.reporting.report import (
    ExperimentReport,
    InstanceReport,
    Scoreboard,
    root_causes,
    unscored,
)

_ANALYZER_PHASES = frozenset({"Succeeded", "Failed", "Skipped", "Timeout", "Deleted"})
NOTHING_COLLECTED = (
    "pytest-experiment: no experiment collected; experiment files must be named "
    "experiment.yaml (one per experiment directory, e.g. experiments/<name>/experiment.yaml)"
)


class Terminal(Protocol):
    """What of pytest's terminal reporter the summary writes with."""

    def write_line(self, line: str, **markup: bool) -> None: ...

    def write_sep(self, sep: str, title: str | None = None, **markup: bool) -> None: ...


def write_summary(
    terminal: Terminal,
    board: Scoreboard,
    *,
    held: Sequence[str],
    verbose: bool,
    nothing_collected: bool,
) -> None:
    if nothing_collected:
        # The commonest first-run mistake: a spec saved as demo.yaml is never looked at.
        terminal.write_line(NOTHING_COLLECTED, yellow=True)
    if held:
        terminal.write_sep("-", "experiment progress")
        for line in held:
            terminal.write_line(line)
    if not board.experiments and not board.cleanup and not board.toil and not board.problems:
        return
    terminal.write_sep("=", "experiment scorecard")
    for line in [*scorecard_lines(board, verbose=verbose), *closing_lines(board)]:
        terminal.write_line(line)


def scorecard_lines(board: Scoreboard, *, verbose: bool) -> list[str]:
    """The scorecard: per experiment, what went wrong where, each run's results and summary."""
    lines: list[str] = []
    for report in board.ordered():
        lines.append(f"{report.name} ({report.path})")
        if verbose and report.intent.get("text"):
            lines.extend(f"  {t}" for t in str(report.intent["text"]).splitlines())
        problems = [f for f in report.validation if f.status in (Status.FAIL, Status.WARN)]
        if problems:
            lines.append("  Validation:")
            lines.extend(f"    {f.line}" for f in problems)
        # Where a run stopped before any result: the pre-flight that blocked it, or the
        # lifecycle failure (a phase budget, pytest-timeout, a failed target).
        preflight = [f for f in report.preflight if f.status in (Status.FAIL, Status.WARN)]
        if preflight:
            lines.append("  Pre-flight:")
            lines.extend(f"    {f.line}" for f in preflight)
        for record in report.runs():
            if record.lifecycle is not None and record.lifecycle.status is Status.FAIL:
                lines.append(f"  Lifecycle ({record.instance}): {record.lifecycle.line}")
        for record in report.runs():
            if not record.quality or all(unscored(f) for f in record.quality):
                continue
            label = f" ({record.instance})" if record.instance else ""
            lines.append(f"  Results Quality{label}:")
            if record.run.get("completion"):
                lines.append(f"    {record.run['completion']}")
            for finding in record.quality:
                lines.append(f"    {finding.line}")
            lines.extend(f"    {x}" for x in gate_lines(record))
        for record in report.runs():
            lines.extend(f"  {x}" for x in summary_block(report, record))
        lines.append("")
    return lines


def closing_lines(board: Scoreboard) -> list[str]:
    """What the live run did with each instance (cleanup policy), then the toil line last."""
    lines = [f"Problem: {p}" for p in board.problems]
    if board.cleanup:
        lines.append("Instances:")
        for entry in board.cleanup:
            text = (
                f"  {entry['action']} {entry['instance']} ({entry['experiment']}): "
                f"{entry['reason']}"
            )
            if entry.get("command"):
                verb = "inspect" if entry["action"] == "held" else "delete"
                text += f"; {verb} with: {entry['command']}"
            lines.append(text)
    if board.toil_error:
        lines.append(f"Toil: {board.toil_error}")
    lines.extend(summary_lines(board.toil))
    return lines


def gate_lines(record: InstanceReport) -> list[str]:
    """The gate, its root causes, the auto-fix attempts and the review."""
    if record.gate is None:
        return []
    unselected = record.unselected
    if unselected:
        # -k selected some checks: the gate is still every check's, as the live run said.
        decided = len(record.gate_verdicts)
        selected = decided - len(unselected)
        lines = [
            f"Quality gate: decided on all {decided} checks ({record.gate.name}); "
            f"{selected} selected here"
        ]
    else:
        lines = [f"Quality gate: {record.gate.name}"]
    causes = root_causes(record)
    if causes:
        lines.append("Root causes:")
        lines.extend(f"  - {c}" for c in causes)
    attempts = next(
        (f.figures["attempts"] for f in record.quality if f.figures.get("attempts")), None
    )
    for attempt in attempts or ():
        fixes = f"; then {', '.join(attempt['fixes'])}" if attempt.get("fixes") else ""
        lines.append(
            f"Auto-fix attempt {attempt['attempt']}: {attempt['instance']}: "
            f"{attempt['outcome']}{fixes}"
        )
    if record.review is not None:
        lines.append(record.review.line)
    return lines


def summary_block(report: ExperimentReport, record: InstanceReport) -> list[str]:
    """The seed's final summary; publish-only lines omitted for unpublished runs."""
    run: Mapping[str, Any] = record.run
    if not run:
        return []
    rows = [
        ("Experiment", record.instance or report.name),
        ("Phase", run.get("phase") or "N/A"),
        ("Duration", format_duration(run.get("durationSeconds"), whole_minutes=True, absent="N/A")),
        ("Results", run.get("results") or "N/A"),
        ("Hypothesis", run.get("hypothesis") or "N/A"),
    ]
    if report.published:
        quality = record.gate.name if record.gate else "N/A"
        figures = {f.check: f.figures for f in record.quality}
        counts = figures.get("custom-metrics", {})
        notes = []
        if "collected" in counts and "declared" in counts:
            notes.append(f"{counts['collected']}/{counts['declared']} metrics")
        verdict = figures.get("ai-verdict", {}).get("verdict") or (
            run.get("analysis") if run.get("analysis") not in _ANALYZER_PHASES else None
        )
        if verdict:
            notes.append(f"AI verdict: {verdict}")
        if notes and record.gate is not None:
            quality += f" ({', '.join(notes)})"
        rows += [
            ("Analysis", run.get("analysis") or "N/A"),
            ("Quality", quality),
            ("Review", run.get("review") or "N/A"),
            ("PR", run.get("pr") or "N/A"),
        ]
    # The seed's header is for a finished run; a failed or stopped one says where it ended.
    ended = run.get("phase") if run.get("phase") not in (None, "Complete") else "Complete"
    return [f"--- Experiment {ended} ---", *(f"{k + ':':<12} {v}" for k, v in rows)]
