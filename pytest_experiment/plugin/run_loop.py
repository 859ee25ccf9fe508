"""What the run loop does around the items, one job a function: what the selection
needs, the S3 credentials it needs, the sweep and the start before the first item, and
after the last, the workers heard out on an xdist controller or the live run finished
anywhere else. ``pytest_runtestloop`` sequences them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_experiment.plugin import sweep, xdist
from pytest_experiment.plugin.connections import check_s3_credentials
from pytest_experiment.plugin.state import STATE, PluginState

if TYPE_CHECKING:
    from pytest_experiment.plugin.items import ExperimentItem
    from pytest_experiment.reporting.report import Scoreboard


def selected_live(session: pytest.Session) -> tuple[list[ExperimentItem], set[str]]:
    """The selected items that need the cluster, and the experiments whose summaries
    they read from S3: only a published experiment's quality items read one."""
    from pytest_experiment.plugin.items import QualityItem

    live_items = _live_items(session) if session.config.stash[STATE].collected else []
    reading = {
        i.experiment.name for i in live_items if isinstance(i, QualityItem) and i.experiment.publish
    }
    return live_items, reading


def check_credentials(config: pytest.Config, reading: set[str]) -> None:
    """S3 credentials for the experiments whose summaries are read, before anything is
    applied; under xdist the controller checked them once its workers had collected."""
    if not xdist.is_worker(config):
        check_s3_credentials(config, reading)


def start(
    session: pytest.Session,
    state: PluginState,
    board: Scoreboard,
    live_items: list[ExperimentItem],
) -> None:
    """Decide the cost guard, then sweep the namespaces and apply every live experiment.

    Under xdist each worker applies what it is given, as it reaches it, and the
    controller swept once its workers had collected: only a serial run starts here."""
    config = session.config
    # Every worker collects the whole selection, so each decides the same guard.
    state.guard_costs(i.experiment for i in _experiment_items(session))
    if xdist.is_worker(config) or xdist.distributing(config):
        return
    if not (live_items or state.options.sweep):
        return
    live = state.live
    assert live is not None
    launches = [
        live.add(item.experiment, nodeid=item.nodeid.split("::", 1)[0]) for item in live_items
    ]
    sweep.sweep_at_start(state, board, {launch.namespace for launch in launches})
    live.start(launches)


def account_for_workers(
    config: pytest.Config, state: PluginState, board: Scoreboard, *, interrupted: bool
) -> None:
    """On the xdist controller: after an interrupt, wait for each worker to clean up and
    account for what it created, as serially; then sweep what none accounted for."""
    if interrupted and board.experiments:
        xdist.hear_out_workers(config, budget_delete=state.options.budget_delete)
    if state.live_factory is not None:
        xdist.sweep_for_workers(config, state, board)


def finish(config: pytest.Config, state: PluginState, board: Scoreboard) -> None:
    """Clean up whatever used the cluster (items, the experiment_run fixture) and hand
    on what the live run did outside any item: to the controller from a worker, to the
    scoreboard in a serial run."""
    live = state.live_if_built
    if live is not None:
        try:
            live.finish()
        finally:
            xdist.publish_facts(config, live, board)


def _live_items(session: pytest.Session) -> list[ExperimentItem]:
    return [item for item in _experiment_items(session) if item.live]


def _experiment_items(session: pytest.Session) -> list[ExperimentItem]:
    if not session.config.stash[STATE].collected:
        return []
    from pytest_experiment.plugin.items import ExperimentItem

    return [item for item in session.items if isinstance(item, ExperimentItem)]
