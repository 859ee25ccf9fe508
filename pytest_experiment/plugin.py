"""pytest hooks for pytest-experiment. Hooks only: the logic lives in the modules they call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_experiment.checks import Check
from pytest_experiment.errors import OptionError
from pytest_experiment.options import OPTION_SPECS, resolve
from pytest_experiment.report import Scoreboard
from pytest_experiment.state import SESSION, ExperimentSession

SCOREBOARD = pytest.StashKey[Scoreboard]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_experiment import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("experiment", "Kubernetes Experiments as test items")
    for spec in OPTION_SPECS:
        help_text = f"{spec.help} [ini: {spec.ini}; env: {spec.env}]"
        dest = f"experiment_{spec.dest}"
        if spec.is_flag:
            group.addoption(
                spec.flag, dest=dest, action="store_const", const="true", help=help_text
            )
        else:
            group.addoption(spec.flag, dest=dest, metavar=spec.metavar, help=help_text)
        parser.addini(spec.ini, spec.help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    def ini(name: str) -> str | None:
        value = config.getini(name)
        return str(value) if value else None

    try:
        options = resolve(
            cli={s.dest: config.getoption(f"experiment_{s.dest}") for s in OPTION_SPECS},
            ini={s.dest: ini(s.ini) for s in OPTION_SPECS},
            cwd=Path(config.invocation_params.dir),
            inidir=config.inipath.parent if config.inipath else config.rootpath,
        )
    except OptionError as err:
        raise pytest.UsageError(str(err)) from err

    def extra_checks() -> list[Check]:
        return [c for batch in config.hook.pytest_experiment_checks(config=config) for c in batch]

    config.stash[SESSION] = ExperimentSession(options=options, extra_checks=extra_checks)
    if options.sandbox and not hasattr(config, "workerinput") and not config.option.collectonly:
        _start_sandbox(config)
    board = config.stash[SCOREBOARD] = Scoreboard()
    config.pluginmanager.register(_ReportListener(board), "experiment-scoreboard")
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): keep an experiment's items together")


def _start_sandbox(config: pytest.Config) -> None:
    """One sandbox for the session; xdist workers inherit its environment."""
    from pytest_experiment.errors import SandboxError
    from pytest_experiment.sandbox import SandboxConfig, start_sandbox

    try:
        sandbox = start_sandbox(SandboxConfig())
    except SandboxError as err:
        raise pytest.UsageError(f"--experiment-sandbox: {err}") from err
    config.add_cleanup(sandbox.stop)
    saved = {key: os.environ.get(key) for key in sandbox.env()}
    os.environ.update(sandbox.env())

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    config.add_cleanup(restore)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name != "experiment.yaml":
        return None
    from pytest_experiment.collect import ExperimentFile

    return ExperimentFile.for_path(parent, file_path)


class _ReportListener:
    """Feeds every report's verdict properties into the scoreboard (controller side under xdist)."""

    def __init__(self, board: Scoreboard) -> None:
        self.board = board
        self.broken_files: list[str] = []
        self.other_errors = False

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            if report.nodeid.endswith("experiment.yaml"):
                self.broken_files.append(report.nodeid)
            else:
                self.other_errors = True

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # A malformed experiment file is a collection error, but unlike a
        # broken test module it must not stop the other experiments (R6).
        if self.broken_files and not self.other_errors:
            session.config.option.continue_on_collection_errors = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.board.add(nodeid=report.nodeid, properties=report.user_properties)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    board = config.stash[SCOREBOARD]
    if not board.experiments:
        return
    terminalreporter.write_sep("=", "experiment scorecard")
    for line in board.terminal_lines(verbose=config.get_verbosity() > 0):
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    board = config.stash.get(SCOREBOARD, None)
    state = config.stash.get(SESSION, None)
    if board is None or state is None or not board.experiments:
        return
    if state.options.report is not None:
        board.write_json(state.options.report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(board.markdown())
