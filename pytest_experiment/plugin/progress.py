"""What a waiting run shows: whole lines always, a status line only on a terminal.

Lines go through pytest's terminal reporter with capture suspended, the way
pytest's live logging writes, so they appear while an item runs and never
land in a captured section. On a terminal the status line (phase, elapsed
time against its budget) is redrawn in place; in a CI log it is not written
at all, so the log holds one line per transition and nothing else.

An xdist worker has no terminal (its output goes nowhere): it keeps its lines,
and each travels to the controller on the next test report the worker sends
(or, for what it says while cleaning up, with the facts it sends when it ends),
where the controller's terminal prints it.
"""

from __future__ import annotations

import shutil
import threading

import pytest

from pytest_experiment.plugin.compat import TerminalReporter, capture_suspended
from pytest_experiment.run.output import Output

_CLEAR = "\r\x1b[K"
LINES = "experiment_lines"
"""The test report attribute a worker's lines travel to the controller in."""
_OUTPUT = pytest.StashKey[Output]()


def session_output(config: pytest.Config) -> Output:
    """This process's one output: the terminal's, or on an xdist worker the lines kept
    for the controller."""
    if _OUTPUT not in config.stash:
        worker = hasattr(config, "workerinput")
        config.stash[_OUTPUT] = WorkerOutput() if worker else TerminalOutput(config)
    return config.stash[_OUTPUT]


def held_lines(config: pytest.Config) -> list[str]:
    """The lines ``-q`` kept back for the end of the session."""
    output = config.stash.get(_OUTPUT, None)
    return list(output.held()) if output is not None else []


def relay(config: pytest.Config, report: pytest.TestReport) -> None:
    """On a worker, give ``report`` the lines said since the last one."""
    output = config.stash.get(_OUTPUT, None)
    if isinstance(output, WorkerOutput):
        lines = output.take()
        if lines:
            setattr(report, LINES, lines)


def taken(config: pytest.Config) -> list[str]:
    """On a worker, the lines said since the last report, for the facts it ends with."""
    output = config.stash.get(_OUTPUT, None)
    return output.take() if isinstance(output, WorkerOutput) else []


def relayed(config: pytest.Config, lines: object) -> None:
    """On the controller, print the lines a worker sent."""
    if not isinstance(lines, list) or not lines or hasattr(config, "workerinput"):
        return
    output = session_output(config)
    for text in lines:
        output.line(str(text))


def own_line(config: pytest.Config, text: str, *, sep: str = "", **markup: bool) -> None:
    """``text`` at once, on a line of its own (a title between ``sep`` characters, as
    pytest names the JUnit file), whatever ``-q`` holds back: after an interrupt and at
    session end, a line of progress letters may still be open."""
    writer = config.get_terminal_writer()
    if writer.width_of_current_line:
        writer.line()
    if sep:
        writer.sep(sep, text, **markup)
    else:
        writer.line(text, **markup)


class WorkerOutput(Output):
    """An xdist worker's lines, kept until they can travel to the controller."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self._lines.append(text)

    def take(self) -> list[str]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines


class TerminalOutput(Output):
    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._shown = False
        # Under -q pytest prints one run of progress dots per file: a phase line in
        # between would break it, so the lines wait for the end of the session.
        self._quiet = config.get_verbosity() < 0
        self._held: list[str] = []

    @property
    def _reporter(self) -> TerminalReporter | None:
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        return reporter if isinstance(reporter, TerminalReporter) else None

    def line(self, text: str) -> None:
        if self._quiet:
            self._held.append(text)
            return
        reporter = self._reporter
        if reporter is None:
            return
        self.clear()
        with capture_suspended(self._config):
            reporter.ensure_newline()
            writer = self._config.get_terminal_writer()
            if writer.width_of_current_line:
                # A line of progress letters pytest does not know it left open (under
                # xdist it writes them without the file name that would tell it).
                writer.line()
            reporter.write_line(text)

    def held(self) -> list[str]:
        """Lines kept back under -q, shown in the terminal summary."""
        return self._held

    def status(self, text: str) -> None:
        reporter = self._reporter
        if reporter is None or not reporter.isatty or self._quiet:
            return
        with capture_suspended(self._config):
            if not self._shown:
                reporter.ensure_newline()
            width = max(20, shutil.get_terminal_size().columns - 1)
            reporter.write(_CLEAR + text[:width], flush=True)
        self._shown = True

    def clear(self) -> None:
        reporter = self._reporter
        if reporter is None or not self._shown:
            return
        with capture_suspended(self._config):
            reporter.write(_CLEAR, flush=True)
        self._shown = False
