"""pytest hooks for pytest-experiment. Hooks only: the logic lives in the modules they call."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.errors import OptionError
from pytest_experiment.fixtures import experiment_run  # noqa: F401  (registers the fixture)
from pytest_experiment.options import OPTION_SPECS, resolve
from pytest_experiment.report import Scoreboard
from pytest_experiment.state import SESSION, ExperimentSession

if TYPE_CHECKING:
    from pytest_experiment.checks import Check

SCOREBOARD = pytest.StashKey[Scoreboard]()
_FACTS = "pytest_experiment"
"""The ``workeroutput`` key an xdist worker sends its live-run facts under."""
# Steps that need the experiment running on the cluster.
_LIVE_STEPS = frozenset({"lifecycle", "quality", "review"})


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
        elif spec.repeatable:
            group.addoption(
                spec.flag, dest=dest, metavar=spec.metavar, action="append", help=help_text
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
            cli={s.dest: _cli_value(config, s.dest) for s in OPTION_SPECS},
            ini={s.dest: ini(s.ini) for s in OPTION_SPECS},
            cwd=Path(config.invocation_params.dir),
            inidir=config.inipath.parent if config.inipath else config.rootpath,
        )
    except OptionError as err:
        raise pytest.UsageError(str(err)) from err

    def extra_checks() -> list[Check]:
        return [c for batch in config.hook.pytest_experiment_checks(config=config) for c in batch]

    state = config.stash[SESSION] = ExperimentSession(options=options, extra_checks=extra_checks)
    if options.results is None:
        _prepare_live(config, state)
    if options.sandbox and not hasattr(config, "workerinput") and not config.option.collectonly:
        _start_sandbox(config)
    board = config.stash[SCOREBOARD] = Scoreboard()
    config.pluginmanager.register(_ReportListener(board, state), "experiment-scoreboard")
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): keep an experiment's items together")


def _prepare_live(config: pytest.Config, state: ExperimentSession) -> None:
    """How to build the live run; it is built (and connects) only when an item needs it."""

    def build() -> Any:
        from pytest_experiment.live import LiveRun
        from pytest_experiment.progress import TerminalOutput
        from pytest_experiment.toil import ToilLog

        options = state.options
        toil_file = options.toil_file
        if not toil_file.is_absolute():
            toil_file = config.rootpath / toil_file
        return LiveRun(
            options=options,
            toil=ToilLog(file=toil_file, enabled=options.toil),
            validation_failure=state.validation_reason,
            output=TerminalOutput(config),
            on_toil=lambda record: config.hook.pytest_experiment_toil(config=config, record=record),
            verbose=config.get_verbosity() > 0,
        )

    state.live_factory = build


def _cli_value(config: pytest.Config, dest: str) -> str | None:
    value = config.getoption(f"experiment_{dest}")
    return ",".join(value) if isinstance(value, list) else value


def _start_sandbox(config: pytest.Config) -> None:
    """One sandbox for the session; xdist workers inherit its environment."""
    from pytest_experiment.errors import SandboxError
    from pytest_experiment.sandbox import SandboxConfig, start_sandbox

    try:
        sandbox = start_sandbox(SandboxConfig(crd=config.stash[SESSION].options.sandbox_crd))
    except SandboxError as err:
        raise pytest.UsageError(f"--experiment-sandbox: {err}") from err
    config.add_cleanup(sandbox.stop)
    saved = {key: os.environ.get(key) for key in sandbox.env()}
    os.environ.update(sandbox.env())
    # The sandbox is the cluster and the results store of this session, whatever
    # kubeconfig or endpoint the environment named before it started.
    state = config.stash[SESSION]
    state.options = dataclasses.replace(
        state.options, kubeconfig=sandbox.kubeconfig, s3_endpoint=sandbox.s3_endpoint
    )

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    config.add_cleanup(restore)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Apply every selected experiment before the first item; clean up after the last,
    however the loop ends (-x, Ctrl-C, SIGTERM, a crash) (R36, S5)."""
    state = session.config.stash.get(SESSION, None)
    if state is None or state.live_factory is None or session.config.option.collectonly:
        return (yield)
    live_items = []
    if state.collected:
        from pytest_experiment.collect import ExperimentItem

        live_items = [
            item
            for item in session.items
            if isinstance(item, ExperimentItem) and item.step in _LIVE_STEPS
        ]
    previous = signal.getsignal(signal.SIGTERM)
    if _main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if live_items and not hasattr(session.config, "workerinput"):
            # Under xdist each worker applies what it is given, as it reaches it.
            live = state.live
            assert live is not None
            live.start(
                live.add(item.experiment, nodeid=item.nodeid.split("::", 1)[0])
                for item in live_items
            )
        return (yield)
    finally:
        if _main_thread():
            signal.signal(signal.SIGTERM, previous)
        # Whatever used the cluster (items, the experiment_run fixture) is cleaned up.
        live = state.live_started
        if live is not None:
            try:
                live.finish()
            finally:
                _publish_facts(session.config, live)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI job cancelled) takes the Ctrl-C path, so the cleanup policy still runs.
    raise KeyboardInterrupt(f"signal {signum}")


def _publish_facts(config: pytest.Config, live: Any) -> None:
    facts = {
        "toil": [entry.as_json() for entry in live.toil.logged],
        "cleanup": [c.as_json() for c in live.cleanups],
        "session": {"apiRequests": live.api_requests(), "watch": live.watch_stats()},
    }
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_FACTS] = json.dumps(facts)
    else:
        config.stash[SCOREBOARD].merge_facts(facts)


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session: pytest.Session) -> Generator[None, None, None]:
    """On an xdist worker under ``--dist loadgroup``, the ids sent to the scheduler
    carry each experiment's group; the items keep their plain ids for the run."""
    config = session.config
    if (
        not hasattr(config, "workerinput")
        or not getattr(config.option, "loadgroup", False)
        or not config.stash[SESSION].collected
    ):
        return (yield)
    from pytest_experiment.collect import ExperimentItem, id_part
    from pytest_experiment.compat import grouped_for_scheduling

    grouped = [
        (item, item.plain_nodeid, id_part(item.experiment.name))
        for item in session.items
        if isinstance(item, ExperimentItem)
    ]
    with grouped_for_scheduling(grouped):
        return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """A crashed worker's item is reported under its plain id, like every other report."""
    if not crashitem.split("::", 1)[0].endswith("experiment.yaml"):
        return
    from pytest_experiment.compat import without_group

    plain = without_group(crashitem)
    report.nodeid = plain
    if isinstance(report.longrepr, str):
        report.longrepr = report.longrepr.replace(crashitem, plain)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name != "experiment.yaml":
        return None
    from pytest_experiment.collect import ExperimentFile

    node = ExperimentFile.for_path(parent, file_path)
    if node is not None:
        parent.config.stash[SESSION].collected = True
    return node


class _ReportListener:
    """Feeds every report's verdict properties into the scoreboard (controller side under xdist)."""

    def __init__(self, board: Scoreboard, state: ExperimentSession) -> None:
        self.board = board
        self.state = state
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
        live = self.state.live_started
        if report.failed and live is not None:
            live.item_failed(report.nodeid.split("::", 1)[0])

    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        # An experiment's items run together: the last one's end means an interrupt or -x
        # from here on loses none of its checks, so on-success may delete it.
        live = self.state.live_started
        if live is not None and (nextitem is None or nextitem.path != item.path):
            live.items_done(item.nodeid.split("::", 1)[0])

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        facts = getattr(node, "workeroutput", {}).get(_FACTS)
        if facts:
            self.board.merge_facts(json.loads(facts))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    board = config.stash[SCOREBOARD]
    if not board.experiments and not board.cleanup and not board.toil:
        return
    terminalreporter.write_sep("=", "experiment scorecard")
    for line in board.terminal_lines(verbose=config.get_verbosity() > 0):
        terminalreporter.write_line(line)
    for line in board.closing_lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    board = config.stash.get(SCOREBOARD, None)
    state = config.stash.get(SESSION, None)
    if board is None or state is None:
        return
    others = any(entry.get("backend") == "bd" for entry in board.toil)
    if state.live_started is not None or others:
        live = state.live
        assert live is not None
        error = live.toil.finish(others_used_bd=others)
        if error:
            board.toil_error = error
    if not board.experiments:
        return
    if state.options.report is not None:
        board.write_json(state.options.report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(board.markdown())
