"""What a session under pytest-xdist needs beyond a serial one.

* One run label for the whole session: the controller draws it and hands it to
  every worker, so each instance a worker creates carries it and the controller
  can find what a worker created and never accounted for.
* The live-run facts (namespaces used, toil, cleanup, API counts) a worker sends
  back when it ends, merged into the controller's scoreboard.
* After an interrupt, the controller passes it on to its workers and waits for
  each to clean up what it created and report it.
* The controller's sweep of the run label's instances once the workers are done.
* Under ``--dist loadgroup``, the ids the scheduler reads carry each experiment's
  group; reports never do.

Nothing here is imported by a run without xdist beyond the two predicates.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.core.durations import format_duration
from pytest_experiment.plugin.compat import grouped_for_scheduling, without_group
from pytest_experiment.plugin.progress import relayed, taken
from pytest_experiment.reporting.report import Scoreboard

if TYPE_CHECKING:
    from pytest_experiment.plugin.state import PluginState
    from pytest_experiment.run.live_run import LiveRun

RUN_ID = pytest.StashKey[str]()
"""The label every instance of this session carries."""
_COLLECTED = pytest.StashKey[dict[str, list[str]]]()
"""Per xdist worker, the experiment files (as its ids name them) with live quality items."""
_FACTS = "pytest_experiment"
"""The ``workeroutput`` key a worker sends its live-run facts under."""
_RUN_ID_KEY = "experiment_run_id"
"""The ``workerinput`` key the controller hands its run label to workers under."""
_CLEANUP_MARGIN = 30.0
"""How much longer than a deletion's budget an interrupted worker's cleanup may take."""


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def distributing(config: pytest.Config) -> bool:
    """This process is an xdist controller handing items to workers."""
    return not is_worker(config) and config.pluginmanager.has_plugin("dsession")


def assign_run_id(config: pytest.Config) -> str:
    """The controller's label on a worker, a new one anywhere else."""
    workerinput = getattr(config, "workerinput", None)
    run_id = (
        str(workerinput[_RUN_ID_KEY])
        if workerinput and _RUN_ID_KEY in workerinput
        else secrets.token_hex(4)
    )
    config.stash[RUN_ID] = run_id
    return run_id


def quality_files_once_all_collected(node: Any, ids: list[str]) -> set[str] | None:
    """Record which experiment files (as the ids name them) with live ``quality`` items
    ``node`` (a worker) collected; once every worker has reported, all of them, else None."""
    from pytest_experiment.plugin.compat import xdist_worker_count
    from pytest_experiment.plugin.items import QualityItem, step_of

    config: pytest.Config = node.config
    reported = config.stash.setdefault(_COLLECTED, {})
    reported[str(getattr(node, "gateway", node))] = [
        nodeid.partition("::")[0] for nodeid in ids if step_of(nodeid) == QualityItem.step
    ]
    if len(reported) < xdist_worker_count(config):
        return None
    return {path for paths in reported.values() for path in paths}


def publish_facts(config: pytest.Config, live: LiveRun, board: Scoreboard) -> None:
    """What this process's live run did outside any item: sent to the controller from
    a worker, merged into the scoreboard anywhere else."""
    facts = {
        "namespaces": sorted({launch.namespace for launch in live.launches.values()}),
        "toil": [entry.as_json() for entry in live.toil.logged],
        "cleanup": [c.as_json() for c in live.cleanups],
        "orphans": [o.as_json() for o in live.orphans],
        "session": {"apiRequests": live.api_requests(), "watch": live.watch_stats()},
    }
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        # What it said after its last report (its cleanup) travels with the facts.
        workeroutput[_FACTS] = json.dumps({**facts, "lines": taken(config)})
    else:
        board.merge_facts(facts)


def hear_out_workers(config: pytest.Config, *, budget_delete: float | None) -> None:
    """After an interrupt of the controller: pass it on to every worker still running,
    and wait for each to clean up what it created and report it, as each does in a
    serial run, at most ``budget_delete`` and a margin. A further interrupt stops the
    wait; whatever a worker had not accounted for is then the controller's sweep's."""
    from pytest_experiment.plugin.compat import hear_workers, interrupt_worker, running_workers
    from pytest_experiment.plugin.progress import own_line

    workers = running_workers(config)
    if not workers:
        return
    for node in workers:
        interrupt_worker(node)
    wait = (budget_delete or 0.0) + _CLEANUP_MARGIN
    own_line(
        config,
        f"interrupted: waiting up to {format_duration(wait)} for {len(workers)} xdist "
        "worker(s) to clean up what they created (interrupt again to stop waiting)",
    )
    try:
        unheard = hear_workers(config, workers, until=time.monotonic() + wait)
    except KeyboardInterrupt:
        unheard = workers
    if unheard:
        own_line(
            config,
            "stopped waiting for the xdist workers: what they did not account for is "
            "cleaned up by the controller",
        )


def sweep_for_workers(config: pytest.Config, state: PluginState, board: Scoreboard) -> None:
    """The controller owns the final list of instances: whatever carries this session's
    run label and no worker reported on (a worker killed, or not heard from in time
    after an interrupt) gets the cleanup policy here.

    The controller collects nothing itself: that experiments ran is known from the
    workers' reports, and where from the namespaces they used (plus the default one,
    for a worker killed before it said)."""
    if not board.experiments and state.live_if_built is None:
        return  # nothing ran, nothing was swept
    live = state.live
    assert live is not None
    try:
        live.sweep(
            namespaces={state.options.default_namespace, *board.namespaces},
            accounted=(str(c.get("instance")) for c in board.cleanup),
        )
    finally:
        publish_facts(config, live, board)


@contextmanager
def scheduled_by_group(session: pytest.Session) -> Iterator[None]:
    """Inside, while a worker under ``--dist loadgroup`` reports its collection, the
    ids the scheduler reads carry each experiment's group; the items keep their plain
    ids for the run."""
    from pytest_experiment.plugin.collect import id_part
    from pytest_experiment.plugin.items import ExperimentItem

    grouped = [
        (item, item.plain_nodeid, id_part(item.experiment.name))
        for item in session.items
        if isinstance(item, ExperimentItem)
    ]
    with grouped_for_scheduling(grouped):
        yield


def loadgroup_worker(config: pytest.Config) -> bool:
    return is_worker(config) and bool(getattr(config.option, "loadgroup", False))


def report_crash_under_plain_id(crashitem: str, report: pytest.TestReport) -> None:
    """A crashed worker's item is reported under its plain id, like every other report."""
    if not crashitem.split("::", 1)[0].endswith("experiment.yaml"):
        return
    plain = without_group(crashitem)
    report.nodeid = plain
    if isinstance(report.longrepr, str):
        report.longrepr = report.longrepr.replace(crashitem, plain)


def worker_facts(node: Any) -> dict[str, Any]:
    """What worker ``node`` reported of its live run when it went down (empty if nothing)."""
    facts = getattr(node, "workeroutput", {}).get(_FACTS)
    found: dict[str, Any] = json.loads(facts) if facts else {}
    return found


class WorkerFacts:
    """The controller's side of the exchange: hands out the run label, merges what
    each worker reports when it goes down."""

    def __init__(self, board: Scoreboard) -> None:
        self.board = board
        self._merged: set[int] = set()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_RUN_ID_KEY] = node.config.stash[RUN_ID]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        facts = getattr(node, "workeroutput", {}).get(_FACTS)
        # xdist reports an interrupted worker down twice (finished, then errored):
        # its facts count once.
        if not facts or id(node) in self._merged:
            return
        self._merged.add(id(node))
        merged = json.loads(facts)
        relayed(node.config, merged.pop("lines", None))
        self.board.merge_facts(merged)
