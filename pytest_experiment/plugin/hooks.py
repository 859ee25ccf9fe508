"""pytest hooks for pytest-experiment. Hooks only: the logic lives in the modules they call."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.base.errors import EnvironmentFailure, OptionError
from pytest_experiment.core.options import OPTION_SPECS, Options, resolve
from pytest_experiment.plugin.fixtures import experiment_run  # noqa: F401  (registers the fixture)
from pytest_experiment.plugin.state import SESSION, ExperimentSession
from pytest_experiment.reporting.report import Scoreboard

if TYPE_CHECKING:
    from pytest_experiment.core.checks import Check
    from pytest_experiment.run.ports import Cluster, ResultsStore

SCOREBOARD = pytest.StashKey[Scoreboard]()
_XDIST_COLLECTED = pytest.StashKey[dict[str, list[str]]]()
"""Per xdist worker, the experiments with live quality items it collected."""
RUN_ID = pytest.StashKey[str]()
_FACTS = "pytest_experiment"
"""The ``workeroutput`` key an xdist worker sends its live-run facts under."""
_RUN_ID_KEY = "experiment_run_id"
"""The ``workerinput`` key the controller hands its run id to workers under: every
instance of the session carries the one label, so the controller can find what a
worker created and never accounted for."""
# Steps that need the experiment running on the cluster.
_LIVE_STEPS = frozenset({"lifecycle", "quality", "review"})


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_experiment.plugin import hookspecs

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


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Last, so every plugin has registered its markers before series and tags are named.
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
    if options.context and not options.sandbox and options.results is None:
        _check_context(options.kubeconfig, options.context)

    def extra_checks() -> list[Check]:
        return [c for batch in config.hook.pytest_experiment_checks(config=config) for c in batch]

    state = config.stash[SESSION] = ExperimentSession(options=options, extra_checks=extra_checks)
    workerinput = getattr(config, "workerinput", None)
    config.stash[RUN_ID] = (
        str(workerinput[_RUN_ID_KEY])
        if workerinput and _RUN_ID_KEY in workerinput
        else secrets.token_hex(4)
    )
    if options.results is None:
        _prepare_live(config, state)
    if options.sandbox and not hasattr(config, "workerinput") and not config.option.collectonly:
        _start_sandbox(config)
    board = config.stash[SCOREBOARD] = Scoreboard()
    board.budgets = {
        **{phase: options.budget(phase) for phase in ("Pending", "Provisioning", "Ready")},
        "Running": options.budget_running,
        "analyzer": options.budget_analyzer,
        "review": options.budget_review,
    }
    config.pluginmanager.register(_ReportListener(board, state), "experiment-scoreboard")
    if (
        config.pluginmanager.hasplugin("html")
        and getattr(config.option, "htmlpath", None)
        and not hasattr(config, "workerinput")
    ):
        # Only with pytest-html active: its extras API is imported then, never otherwise.
        # Under xdist the controller, which sees every report, attaches them once.
        from pytest_experiment.reporting.html_extras import PytestHtmlExtras

        config.pluginmanager.register(PytestHtmlExtras(board), "experiment-html-extras")
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): keep an experiment's items together")
    if config.option.markers:
        _register_markers(config)


def _register_markers(config: pytest.Config) -> None:
    """``pytest --markers`` lists no collected items: name the series and tags of the
    experiment files under the given paths instead."""
    from pytest_experiment.base.errors import SpecError
    from pytest_experiment.core.spec import load_experiment
    from pytest_experiment.plugin.collect import experiment_markers
    from pytest_experiment.plugin.markers import experiment_files

    for path in experiment_files(config):
        try:
            experiment = load_experiment(path)
        except SpecError:
            continue  # reported as a collection error by a run that collects it
        if experiment is not None:
            experiment_markers(config, experiment)


def _check_context(kubeconfig: Path | None, context: str) -> None:
    """A context the kubeconfig lacks stops the session now, listing the ones it has."""
    from pytest_experiment.base.errors import ClusterError
    from pytest_experiment.edges.kubeconfig import check_context

    try:
        check_context(kubeconfig=kubeconfig, context=context)
    except ClusterError as err:
        raise pytest.UsageError(f"--experiment-context: {err}") from err


def _missing_s3_credentials(needing: set[str]) -> str | None:
    """Why the experiments in ``needing`` (those with live ``quality`` items selected)
    cannot run without S3 credentials, or None when they can.

    Every live ``quality`` item scores the summary.json the operator wrote to S3; without
    credentials each would end unverified, which a CI gate must never read as green.
    """
    if not needing:
        return None
    import boto3
    import botocore.exceptions

    try:
        if boto3.session.Session().get_credentials() is not None:
            return None
    except botocore.exceptions.BotoCoreError as exc:
        # A broken profile or credentials file: as unusable as none, and said in one line.
        return f"S3 credentials cannot be loaded: {exc}"
    names = sorted(needing)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"no S3 credentials: the quality items of {shown} read summary.json from S3; "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or any boto3 credential source), "
        "or deselect them with -k 'not quality'"
    )


def _check_s3_credentials(config: pytest.Config, needing: set[str]) -> None:
    if _store_supplied(config):
        return  # summaries come from where a conftest or plugin said, not from S3
    problem = _missing_s3_credentials(needing)
    if problem is not None:
        # A usage error, like any other bad setting: one line, exit 4, nothing applied.
        raise pytest.UsageError(problem)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist only workers collect: the controller checks what they will run.

    Checked once every worker has reported, before any item is scheduled: stopping the
    session while a worker is still collecting interrupts its imports mid-way, and the
    interpreter then prints a traceback for them.
    """
    config: pytest.Config = node.config
    state = config.stash.get(SESSION, None)
    if state is None or state.live_factory is None:
        return
    reported = config.stash.setdefault(_XDIST_COLLECTED, {})
    reported[str(getattr(node, "gateway", node))] = [
        Path(path).parent.name
        for path, _, name in (nodeid.partition("::") for nodeid in ids)
        if path.endswith("experiment.yaml") and name.startswith("quality[")
    ]
    dsession = config.pluginmanager.getplugin("dsession")
    workers = len(getattr(getattr(dsession, "nodemanager", None), "specs", None) or ())
    if len(reported) >= workers:
        _check_s3_credentials(config, {name for names in reported.values() for name in names})


def _prepare_live(config: pytest.Config, state: ExperimentSession) -> None:
    """How to build the live run; it is built (and connects) only when an item needs it."""

    def build() -> Any:
        from pytest_experiment.edges.tracker import ToilLog
        from pytest_experiment.reporting.progress import TerminalOutput
        from pytest_experiment.run.live import LiveRun

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
            connector=lambda: config.hook.pytest_experiment_make_cluster(
                config=config, options=options
            ),
            results_store=lambda notify: config.hook.pytest_experiment_make_results_store(
                config=config, options=options, notify=notify
            ),
            verbose=config.get_verbosity() > 0,
            run_id=config.stash[RUN_ID],
            controller=_distributing(config),
        )

    state.live_factory = build


@pytest.hookimpl(trylast=True)
def pytest_experiment_make_cluster(options: Options) -> Cluster:
    from pytest_experiment.edges.kubeconfig import connect

    return connect(kubeconfig=options.kubeconfig, context=options.context)


@pytest.hookimpl(trylast=True)
def pytest_experiment_make_results_store(
    options: Options, notify: Callable[[str], None]
) -> ResultsStore:
    from pytest_experiment.edges.results import ResultsStore

    wait = options.results_wait
    return ResultsStore(
        endpoint=options.s3_endpoint,
        wait=wait if wait is not None else float("inf"),
        notify=notify,
    )


def _store_supplied(config: pytest.Config) -> bool:
    """A conftest.py or plugin other than this one supplies the results store."""
    hook = config.pluginmanager.hook.pytest_experiment_make_results_store
    return any(
        impl.function is not pytest_experiment_make_results_store for impl in hook.get_hookimpls()
    )


def _cli_value(config: pytest.Config, dest: str) -> str | None:
    value = config.getoption(f"experiment_{dest}")
    return ",".join(value) if isinstance(value, list) else value


def _start_sandbox(config: pytest.Config) -> None:
    """One sandbox for the session; xdist workers inherit its environment."""
    from pytest_experiment.base.errors import SandboxError
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
    however the loop ends (-x, Ctrl-C, SIGTERM, a crash), per the cleanup policy,
    leaving no instance unaccounted for."""
    state = session.config.stash.get(SESSION, None)
    if state is None or state.live_factory is None or session.config.option.collectonly:
        return (yield)
    live_items = []
    if state.collected:
        from pytest_experiment.plugin.collect import ExperimentItem

        live_items = [
            item
            for item in session.items
            if isinstance(item, ExperimentItem) and item.step in _LIVE_STEPS
        ]
    if not hasattr(session.config, "workerinput"):  # the xdist controller checked for workers
        _check_s3_credentials(
            session.config, {i.experiment.name for i in live_items if i.step == "quality"}
        )
    previous = signal.getsignal(signal.SIGTERM)
    if _main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    worker = hasattr(session.config, "workerinput")
    distributing = _distributing(session.config)
    try:
        if live_items and not worker and not distributing:
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
        if distributing and state.live_factory is not None:
            _sweep_for_workers(session.config, state)
        # Whatever used the cluster (items, the experiment_run fixture) is cleaned up.
        live = state.live_started
        if live is not None and not distributing:
            try:
                live.finish()
            finally:
                _publish_facts(session.config, live)


def _distributing(config: pytest.Config) -> bool:
    """This process is an xdist controller handing items to workers."""
    return not hasattr(config, "workerinput") and config.pluginmanager.has_plugin("dsession")


def _sweep_for_workers(config: pytest.Config, state: ExperimentSession) -> None:
    """The controller owns the final list of instances: whatever carries this session's
    run label and no worker reported on (a worker killed, or stopped by Ctrl-C before
    its cleanup) gets the cleanup policy here.

    The controller collects nothing itself: that experiments ran is known from the
    workers' reports, and where from the namespaces they used (plus the default one,
    for a worker killed before it said)."""
    board = config.stash[SCOREBOARD]
    if not board.experiments:
        return
    live = state.live
    assert live is not None
    try:
        live.sweep(
            namespaces={state.options.namespace, *board.namespaces},
            accounted=(str(c.get("instance")) for c in board.cleanup),
        )
    finally:
        _publish_facts(config, live)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI job cancelled) takes the Ctrl-C path, so the cleanup policy still runs.
    raise KeyboardInterrupt(f"signal {signum}")


def _publish_facts(config: pytest.Config, live: Any) -> None:
    facts = {
        "namespaces": sorted({launch.namespace for launch in live.launches.values()}),
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
    from pytest_experiment.plugin.collect import ExperimentItem, id_part
    from pytest_experiment.plugin.compat import grouped_for_scheduling

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
    from pytest_experiment.plugin.compat import without_group

    plain = without_group(crashitem)
    report.nodeid = plain
    if isinstance(report.longrepr, str):
        report.longrepr = report.longrepr.replace(crashitem, plain)


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
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's limit on a lifecycle item ends its wait the way a phase budget
    does (diagnostics, toil, cleanup of the unfinished instance) instead of dumping the
    stacks of the watch threads; every other item keeps pytest-timeout's own timer."""
    if getattr(item, "step", None) != "lifecycle" or not settings.timeout:
        return None
    from pytest_experiment.plugin.collect import DEADLINE
    from pytest_experiment.run.live import Deadline

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
    last = collector.config.pluginmanager.get_plugin("lfplugin")
    if last is None or not getattr(last, "active", False) or not getattr(last, "lastfailed", None):
        return
    state = collector.config.stash.get(SESSION, None)
    if state is None or state.live_factory is None:
        return  # scoring result files offline: each item stands alone
    from pytest_experiment.plugin.collect import ExperimentFile

    if not isinstance(collector, ExperimentFile):
        return
    prefix = f"{collector.nodeid}::"
    if any(str(nodeid).startswith(prefix) for nodeid in last.lastfailed):
        # Keyed as the plugin keys them: a structured id from pytest 9, the nodeid before.
        last.lastfailed.update((getattr(item, "id", item.nodeid), True) for item in report.result)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name != "experiment.yaml":
        return None
    from pytest_experiment.plugin.collect import ExperimentFile

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

    def pytest_warning_recorded(self, warning_message: Any) -> None:
        # Unreadable site-data files: in the JSON report and the scorecard too,
        # not only in pytest's warnings summary (under xdist, workers forward these).
        from pytest_experiment.plugin.collect import SiteDataWarning

        if isinstance(warning_message.message, SiteDataWarning):
            text = str(warning_message.message)
            if text not in self.board.problems:
                self.board.problems.append(text)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # A malformed experiment file is a collection error, but unlike a
        # broken test module it must not stop the other experiments.
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
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_RUN_ID_KEY] = node.config.stash[RUN_ID]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        facts = getattr(node, "workeroutput", {}).get(_FACTS)
        if facts:
            self.board.merge_facts(json.loads(facts))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    state = config.stash.get(SESSION, None)
    nothing = (pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.USAGE_ERROR)
    if state is not None and not state.collected and exitstatus in nothing:
        # The commonest first-run mistake: a spec saved as demo.yaml is never looked at.
        terminalreporter.write_line(
            "pytest-experiment: no experiment collected; experiment files must be named "
            "experiment.yaml (one per experiment directory, e.g. experiments/<name>/"
            "experiment.yaml)",
            yellow=True,
        )
    live = state.live_started if state is not None else None
    held = live.out.held() if live is not None else ()
    if held:
        terminalreporter.write_sep("-", "experiment progress")
        for line in held:
            terminalreporter.write_line(line)
    board = config.stash[SCOREBOARD]
    if not board.experiments and not board.cleanup and not board.toil and not board.problems:
        return
    terminalreporter.write_sep("=", "experiment scorecard")
    for line in board.terminal_lines(verbose=config.get_verbosity() > 0):
        terminalreporter.write_line(line)
    for line in board.closing_lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
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
    if state.options.html is not None:
        _write_html(config, board, state.options.html)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from pytest_experiment.reporting import step_summary

        interrupted = (
            "interrupted"
            if exitstatus == pytest.ExitCode.INTERRUPTED
            else str(session.shouldstop or session.shouldfail or "")
        )
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(
                step_summary.render(
                    board,
                    interrupted=interrupted,
                    html_file=state.options.html.name if state.options.html else "",
                    artifacts_url=_artifacts_url(),
                )
            )


def _write_html(config: pytest.Config, board: Scoreboard, path: Path) -> None:
    from pytest_experiment.base.errors import ReportError
    from pytest_experiment.reporting import html_report

    try:
        html_report.write(board.as_json(), path)
    except ReportError as err:
        # The run's verdicts stand; the missing file is said, not raised past pytest.
        config.get_terminal_writer().line(f"experiment HTML: {err}", red=True)
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", f"experiment HTML scorecard: {path}")


def _artifacts_url() -> str:
    """Where a reader of the step summary finds the run's uploaded artifacts."""
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo = os.environ.get("GITHUB_REPOSITORY")
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}#artifacts" if repo and run else ""
