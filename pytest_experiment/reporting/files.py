"""The files a session leaves: the JSON report, the HTML scorecard and the GitHub
step summary, each written once on the controller from the scoreboard."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pytest_experiment.base.errors import ReportError
from pytest_experiment.reporting.report import Scoreboard


def write_all(
    board: Scoreboard,
    *,
    report: Path | None,
    html: Path | None,
    interrupted: str,
    say: Callable[[str], None],
    say_error: Callable[[str], None],
) -> None:
    """Every file asked for; a file that cannot be written is said, not raised: the
    run's verdicts stand without it."""
    if report is not None:
        board.write_json(report)
    if html is not None:
        _write_html(board, html, say=say, say_error=say_error)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from pytest_experiment.reporting import step_summary

        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(
                step_summary.render(
                    board,
                    interrupted=interrupted,
                    html_file=html.name if html else "",
                    artifacts_url=artifacts_url(),
                )
            )


def _write_html(
    board: Scoreboard, path: Path, *, say: Callable[[str], None], say_error: Callable[[str], None]
) -> None:
    from pytest_experiment.reporting import html_report

    try:
        html_report.write(board.as_json(), path)
    except ReportError as err:
        say_error(f"experiment HTML: {err}")
        return
    say(f"experiment HTML scorecard: {path}")


def artifacts_url() -> str:
    """Where a reader of the step summary finds the run's uploaded artifacts."""
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo = os.environ.get("GITHUB_REPOSITORY")
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}#artifacts" if repo and run else ""
