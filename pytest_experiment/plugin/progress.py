"""What a waiting run shows: whole lines always, a status line only on a terminal.

Lines go through pytest's terminal reporter with capture suspended, the way
pytest's live logging writes, so they appear while an item runs and never
land in a captured section. On a terminal the status line (phase, elapsed
time against its budget) is redrawn in place; in a CI log it is not written
at all, so the log holds one line per transition and nothing else.
"""

from __future__ import annotations

import shutil

import pytest

from pytest_experiment.plugin.compat import TerminalReporter, capture_suspended
from pytest_experiment.run.output import Output

_CLEAR = "\r\x1b[K"


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
