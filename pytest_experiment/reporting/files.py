"""The files a session leaves: the JSON report, the HTML scorecard and the GitHub
step summary, each written once on the controller from the scoreboard.

A file is written whole or not at all: the JSON and the HTML go to a temporary
file beside the target, renamed over it once complete; the step summary, which
other steps of the job append to too, is appended to and cut back to its old
length if the write fails. A file that cannot be written (a full disk) is one
line naming it; the verdicts, the scorecard and the exit code stand without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

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
    """Every file asked for; a file that cannot be written is said, not raised."""
    document = board.as_json() if report is not None or html is not None else None
    if report is not None:
        text = json.dumps(document, indent=2, default=str) + "\n"
        _attempt("experiment report", report, lambda: replace_file(report, text), say_error)
    if html is not None:
        from pytest_experiment.reporting import html_report

        assert document is not None
        page = html_report.render(document)
        if _attempt("experiment HTML", html, lambda: replace_file(html, page), say_error):
            say(f"experiment HTML scorecard: {html}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from pytest_experiment.reporting import step_summary

        markdown = step_summary.render(
            board,
            interrupted=interrupted,
            html_file=html.name if html else "",
            artifacts_url=artifacts_url(),
        )
        _attempt(
            "GITHUB_STEP_SUMMARY",
            Path(summary),
            lambda: append_file(Path(summary), markdown),
            say_error,
        )


def _attempt(
    what: str, path: Path, write: Callable[[], None], say_error: Callable[[str], None]
) -> bool:
    try:
        write()
    except OSError as exc:
        say_error(f"{what}: cannot write {path}: {exc.strerror or exc}")
        return False
    return True


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole: into a temporary file beside it, renamed over it
    once complete. On failure the temporary file is removed and ``path`` is as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # Created as any file written here would be (the umask applies), never over another.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def append_file(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` whole: a write that fails part-way is cut off again,
    leaving what the file held before."""
    data = memoryview(text.encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab", buffering=0) as out:
        start = out.seek(0, os.SEEK_END)
        try:
            while data:
                written = out.write(data) or 0
                data = data[written:]
        except BaseException:
            with contextlib.suppress(OSError):
                out.truncate(start)
            raise


def artifacts_url() -> str:
    """Where a reader of the step summary finds the run's uploaded artifacts."""
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo = os.environ.get("GITHUB_REPOSITORY")
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}#artifacts" if repo and run else ""
