"""The live run's connections for tests that build ``LiveRun`` themselves: the given
cluster and store, the plugin's own watch and GitHub (the ``gh`` on PATH), and the
toil in a file (never bd)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fakes.results import FakeResultsStore
from pytest_experiment.edges.github import GitHub as GhCli
from pytest_experiment.edges.tracker import ToilLog
from pytest_experiment.plugin.connections import start_watch
from pytest_experiment.run.ports import Cluster, Connections, GitHub, ResultsStore


def connections(
    cluster: Callable[[], Cluster],
    *,
    toil_file: Path,
    store: Callable[[Callable[[str], None]], ResultsStore] = lambda _: FakeResultsStore(),
    github: Callable[[], GitHub | None] = GhCli.find,
) -> Connections:
    return Connections(
        cluster=cluster,
        results_store=store,
        watch=start_watch,
        github=github,
        toil=ToilLog(file=toil_file, bd=None),
    )
