"""When and where the orphan sweep (``run.orphans``) runs.

At the start of a session with live items, and of any session under
``--experiment-sweep``, before anything is applied: in the serial process, or
on the xdist controller once every worker has collected (the workers never
sweep, so two of them never race for one orphan). It looks in
``--experiment-namespace`` and in the namespace of every experiment with a
live item.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.base.errors import SpecError
from pytest_experiment.plugin.state import PluginState
from pytest_experiment.plugin.xdist import worker_facts
from pytest_experiment.reporting.report import Scoreboard

if TYPE_CHECKING:
    from pytest_experiment.core.spec import Experiment


def experiments_at(root: Path, files: Iterable[str]) -> dict[str, Experiment]:
    """The experiments in ``files`` (relative to ``root``, as item ids name them), each
    read once: the xdist controller has ids, not items. A file that cannot be read is
    left out: the worker that collected it reports its validation failing."""
    from pytest_experiment.core.spec import Experiment, read_source

    found = {}
    for name in files:
        try:
            found[name] = Experiment.from_source(read_source(root / name))
        except SpecError:
            continue
    return found


def sweep_at_start(state: PluginState, board: Scoreboard, namespaces: Iterable[str]) -> None:
    """Sweep ``namespaces`` and ``--experiment-namespace``; a sweep asked for with
    ``--experiment-sweep`` that cannot reach the cluster is a problem of the session."""
    live = state.live
    assert live is not None
    if live.sweep_orphans({state.options.default_namespace, *namespaces}):
        return
    problem = f"--experiment-sweep: no orphan was looked for: {live.unreachable}"
    if state.options.sweep and problem not in board.problems:  # a replaced worker asks again
        board.problems.append(problem)


def asked_and_failed(state: PluginState, board: Scoreboard) -> bool:
    """``--experiment-sweep`` was given and could not sweep."""
    return state.options.sweep and any(p.startswith("--experiment-sweep:") for p in board.problems)


def only_sweep(state: PluginState, exitstatus: int | pytest.ExitCode) -> bool:
    """A session that collected nothing and swept: it did what it was asked."""
    return (
        state.options.sweep
        and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
        and state.live_if_built is not None
    )


class LeasesWorkersKept:
    """On the xdist controller: a worker's decision to keep an instance reaches the
    controller when the worker goes down; only then is the instance's lease ended."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        kept = [
            entry
            for entry in worker_facts(node).get("cleanup") or []
            if entry.get("action") == "kept" and not entry.get("error") and entry.get("namespace")
        ]
        live = self.state.live if kept else None
        for entry in kept:
            assert live is not None
            live.end_lease(
                str(entry["namespace"]), str(entry["instance"]), reason=str(entry["reason"])
            )
