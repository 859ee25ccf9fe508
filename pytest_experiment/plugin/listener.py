"""Feeds every report into the scoreboard and tells the live run what the items did
(on the controller under xdist, which sees every report)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_experiment.plugin.compat import continue_on_collection_errors
from pytest_experiment.plugin.progress import LINES, relayed
from pytest_experiment.plugin.state import PluginState
from pytest_experiment.reporting.report import Scoreboard, carries_verdict


class ReportListener:
    def __init__(self, board: Scoreboard, state: PluginState, config: pytest.Config) -> None:
        self.board = board
        self.state = state
        self.config = config
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
            continue_on_collection_errors(session.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # First, so the pytest-html extras drawn from this report see its verdict, and
        # the lines an xdist worker said while the item ran come before its outcome.
        relayed(self.config, getattr(report, LINES, None))
        if carries_verdict(when=report.when, passed=report.passed):
            self.board.add(nodeid=report.nodeid, properties=report.user_properties)
        live = self.state.live_if_built
        if report.failed and live is not None:
            live.item_failed(report.nodeid.split("::", 1)[0])

    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        # An experiment's items run together: the last one's end means an interrupt or -x
        # from here on loses none of its checks, so on-success may delete it.
        live = self.state.live_if_built
        if live is not None and (nextitem is None or nextitem.path != item.path):
            live.items_done(item.nodeid.split("::", 1)[0])
