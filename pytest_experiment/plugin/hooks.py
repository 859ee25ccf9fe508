"""pytest hooks for pytest-experiment, its entry point. Hooks only: the logic lives in the
modules they call; its other parts are registered by name at configure time, not imported."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.base.errors import EnvironmentFailure
from pytest_experiment.core.option_table import OPTION_SPECS
from pytest_experiment.plugin import connections, distribution, run_loop, sweep, xdist
from pytest_experiment.plugin.connections import check_s3_credentials, prepare_live, start_sandbox
from pytest_experiment.plugin.interrupt import interrupted_once, sigterm_as_interrupt
from pytest_experiment.plugin.listener import ReportListener
from pytest_experiment.plugin.option_reading import check_output_files, session_options
from pytest_experiment.plugin.state import STATE, PluginState
from pytest_experiment.reporting.report import Scoreboard

if TYPE_CHECKING:
    from pytest_experiment.core.checks import Check

SCOREBOARD = pytest.StashKey[Scoreboard]()
_GREEN = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)


def _register_parts(pluginmanager: pytest.PytestPluginManager) -> None:
    """The modules with the plugin's own, last, answers to its hooks and with its
    fixtures, by name: shown by ``--trace-config``, blocked by ``-p no:<name>``."""
    from pytest_experiment.plugin import fixtures

    parts = {"experiment-connections": connections, "experiment-fixtures": fixtures}
    for name, module in parts.items():
        if not pluginmanager.is_registered(module):
            pluginmanager.register(module, name)  # unless blocked with -p no:<name>


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_experiment.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("experiment", "Kubernetes Experiments as test items")
    for spec in OPTION_SPECS:
        # argparse formats help with %: a percentage in it must be written %%.
        help_text = f"{spec.help} [ini: {spec.ini}; env: {spec.env}]".replace("%", "%%")
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


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    from pytest_experiment.plugin.markers import remember_ini_markers

    remember_ini_markers(early_config)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Last, so every plugin has registered its markers before series and tags are named.
    _register_parts(config.pluginmanager)
    options = session_options(config)
    if xdist.is_worker(config):
        config.add_cleanup(interrupted_once())
    else:
        check_output_files(config)
        from pytest_experiment.plugin.compat import junit_written_whole

        junit_written_whole(config, say_error=lambda text: _say_error(config, text))

    def extra_checks() -> list[Check]:
        return [c for batch in config.hook.pytest_experiment_checks(config=config) for c in batch]

    state = config.stash[STATE] = PluginState(options=options, extra_checks=extra_checks)
    xdist.assign_run_id(config)
    if options.results is None:
        prepare_live(config, state)
    if options.sandbox and not xdist.is_worker(config) and not config.option.collectonly:
        start_sandbox(config)
    board = config.stash[SCOREBOARD] = Scoreboard()
    board.max_cost = options.max_cost
    board.budgets = {
        **{phase: options.budget(phase) for phase in ("Pending", "Provisioning", "Ready")},
        "Running": options.budget_running,
        "analyzer": options.budget_analyzer,
        "review": options.budget_review,
    }
    config.pluginmanager.register(ReportListener(board, state, config), "experiment-scoreboard")
    config.pluginmanager.register(xdist.WorkerFacts(board), "experiment-xdist-facts")
    if xdist.distributing(config) and state.live_factory is not None:
        config.pluginmanager.register(sweep.LeasesWorkersKept(state), "experiment-xdist-leases")
    if (
        config.pluginmanager.hasplugin("html")
        and getattr(config.option, "htmlpath", None)
        and not xdist.is_worker(config)
    ):
        # Only with pytest-html active: its extras API is imported then, never otherwise.
        # Under xdist the controller, which sees every report, attaches them once.
        from pytest_experiment.reporting.html_extras import PytestHtmlExtras

        config.pluginmanager.register(PytestHtmlExtras(board), "experiment-html-extras")
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): keep an experiment's items together")
    if config.option.markers:
        from pytest_experiment.plugin.markers import register_from_files

        register_from_files(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist only workers collect: the controller checks what they will run.

    Checked once every worker has reported, before any item is scheduled: stopping the
    session while a worker is still collecting interrupts its imports mid-way, and the
    interpreter then prints a traceback for them.
    """
    state = node.config.stash.get(STATE, None)
    if state is None or state.live_factory is None:
        return
    if any(distribution.experiment_item(nodeid) for nodeid in ids):
        # The controller collects nothing: what its workers collected is what it ran.
        state.collected = True
    files = distribution.check_once_all_collected(node, ids)
    quality = xdist.quality_files_once_all_collected(node, ids)
    if files is None or quality is None:
        return  # a worker has yet to report
    read = sweep.experiments_at(node.config.rootpath, files | quality)
    # Only a published experiment's quality items read a summary, as in a serial session.
    check_s3_credentials(
        node.config, {read[f].name for f in quality if f in read and read[f].publish}
    )
    if not node.config.option.collectonly and (files or state.options.sweep):
        namespaces = {
            read[f].namespace or state.options.default_namespace for f in files if f in read
        }
        sweep.sweep_at_start(state, node.config.stash[SCOREBOARD], namespaces)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any | None:
    """Under ``--dist load``, an experiment file's items go to one worker."""
    return distribution.make_scheduler(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Apply every selected experiment before the first item; clean up after the last,
    however the loop ends (-x, Ctrl-C, SIGTERM, a crash), per the cleanup policy,
    leaving no instance unaccounted for."""
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or state.live_factory is None or config.option.collectonly:
        return (yield)
    board = config.stash[SCOREBOARD]
    live_items, reading = run_loop.selected_live(session)
    state.reads_results = bool(reading)
    run_loop.check_credentials(config, reading)
    interrupted = False
    try:
        # A worker takes its interrupts once, from start-up on (see pytest_configure).
        with sigterm_as_interrupt() if not xdist.is_worker(config) else nullcontext():
            run_loop.start(session, state, board, live_items)
            return (yield)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if xdist.distributing(config):
            run_loop.account_for_workers(config, state, board, interrupted=interrupted)
        else:
            run_loop.finish(config, state, board)


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session: pytest.Session) -> Generator[None, None, None]:
    """On an xdist worker under ``--dist loadgroup``, the ids sent to the scheduler
    carry each experiment's group; the items keep their plain ids for the run."""
    config = session.config
    if not xdist.loadgroup_worker(config) or not config.stash[STATE].collected:
        return (yield)
    with xdist.scheduled_by_group(session):
        return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Before the terminal renders a Ctrl-C, drop the frames it cannot render: a live
    run is interrupted in its waits and threads, where CPython sometimes has no line."""
    from pytest_experiment.plugin.compat import drop_unlocated_frames

    drop_unlocated_frames(excinfo)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    xdist.report_crash_under_plain_id(crashitem, report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """An environment failure in an item's setup is shown as its one line, as a failed
    verdict is, instead of a traceback through pytest's runner (pytest formats setup
    errors without asking the item)."""
    report = yield
    excinfo = call.excinfo
    if call.when == "setup" and excinfo and isinstance(excinfo.value, EnvironmentFailure):
        report.longrepr = item.repr_failure(excinfo)
    if xdist.is_worker(item.config):
        # A worker's lines reach the controller's terminal on its reports.
        from pytest_experiment.plugin.progress import relay

        state = item.config.stash.get(STATE, None)
        live = state.live_if_built if state is not None else None
        if live is not None:
            live.flush()
        relay(item.config, report)
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's limit on a lifecycle item ends its wait the way a phase budget
    does (diagnostics, toil, cleanup of the unfinished instance) instead of dumping the
    stacks of the watch threads; every other item keeps pytest-timeout's own timer."""
    if getattr(item, "step", None) != "lifecycle" or not settings.timeout:
        return None
    from pytest_experiment.plugin.items import DEADLINE
    from pytest_experiment.run.follow import Deadline

    item.stash[DEADLINE] = Deadline.after(float(settings.timeout))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _rerun_whole_experiments(collector, report)
    return report


def _rerun_whole_experiments(collector: pytest.Collector, report: pytest.CollectReport) -> None:
    """Under ``--lf``/``--ff`` in a live run, an experiment with any failed item is
    re-selected whole.

    Its items are one run on the cluster: re-running only a failed pre-flight item
    would never apply the experiment, and its skipped (blocked) items are exactly what
    the fix should now let run. The last-failed plugin filters this file's items after
    this hook returns, so every item marked failed here is kept.
    """
    state = collector.config.stash.get(STATE, None)
    if state is None or state.live_factory is None:
        return  # scoring result files offline: each item stands alone
    if collector.path.name != "experiment.yaml":
        return  # and a session without experiments never imports the collection code
    from pytest_experiment.plugin.collect import ExperimentFile
    from pytest_experiment.plugin.compat import rerun_also

    if isinstance(collector, ExperimentFile):
        rerun_also(collector.config, f"{collector.nodeid}::", report.result)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name != "experiment.yaml":
        return None
    from pytest_experiment.plugin.collect import ExperimentFile

    node = ExperimentFile.for_path(parent, file_path)
    if node is not None:
        parent.config.stash[STATE].collected = True
    return node


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    from pytest_experiment.plugin.progress import held_lines
    from pytest_experiment.reporting.terminal import write_summary

    state = config.stash.get(STATE, None)
    nothing = (pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.USAGE_ERROR)
    write_summary(
        terminalreporter,
        config.stash[SCOREBOARD],
        held=held_lines(config),
        verbose=config.get_verbosity() > 0,
        nothing_collected=(
            state is not None
            and not state.collected
            and not state.options.sweep  # a sweep alone needs no experiment
            and exitstatus in nothing
        ),
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    config = session.config
    if xdist.is_worker(config):
        return
    board = config.stash.get(SCOREBOARD, None)
    state = config.stash.get(STATE, None)
    if board is None or state is None:
        return
    others = any(entry.get("backend") == "bd" for entry in board.toil)
    if state.live_if_built is not None or others:
        live = state.live
        assert live is not None
        error = live.toil.finish(others_used_bd=others)
        if error:
            board.toil_error = error
    status = exitstatus
    if sweep.only_sweep(state, status):
        status = session.exitstatus = pytest.ExitCode.OK
    if (board.kept_by_error() or sweep.asked_and_failed(state, board)) and status in _GREEN:
        # An instance the policy said to delete is still on the cluster, billing.
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not board.experiments and not board.orphans and not state.options.sweep:
        return
    from pytest_experiment.plugin.progress import own_line
    from pytest_experiment.reporting import files

    files.write_all(
        board,
        report=state.options.report,
        html=state.options.html,
        interrupted=(
            "interrupted"
            if exitstatus == pytest.ExitCode.INTERRUPTED
            else str(session.shouldstop or session.shouldfail or "")
        ),
        say=lambda text: own_line(config, text, sep="-"),
        say_error=lambda text: _say_error(config, text),
    )


def _say_error(config: pytest.Config, text: str) -> None:
    from pytest_experiment.plugin.progress import own_line

    own_line(config, text, red=True)
