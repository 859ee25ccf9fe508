"""Hooks a conftest.py or plugin implements to extend pytest-experiment."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_experiment.core.checks import Check
    from pytest_experiment.core.options import Options
    from pytest_experiment.core.toil import ToilRecord
    from pytest_experiment.run.ports import Cluster, GitHub, ResultsStore, ToilLog


@pytest.hookspec
def pytest_experiment_checks(config: pytest.Config) -> list[Check]:  # type: ignore[empty-body]
    """Return extra quality checks, run after the built-in seven.

    Each becomes its own ``quality[<name>]`` item, scored and gated like the
    built-in ones. A check is a pure function of the same ``CheckInput``.
    """


@pytest.hookspec
def pytest_experiment_toil(config: pytest.Config, record: ToilRecord) -> None:
    """Called for every toil record as it is logged (after bd or the JSON-lines file took it).

    ``record`` has ``title``, ``priority``, ``experiment`` and ``labels``; use it
    to forward friction to another tracker or to a chat channel.
    """


@pytest.hookspec(firstresult=True)
def pytest_experiment_make_cluster(config: pytest.Config, options: Options) -> Cluster | None:
    """Return the cluster the live run uses, or None to leave it to the next implementation.

    Called once per session (per xdist worker), when the first item needs the
    cluster. The first non-None result is used; the plugin's own implementation
    runs last and connects to ``options.kubeconfig``/``options.context``. The
    object must satisfy ``pytest_experiment.run.ports.Cluster`` (the calls the
    run makes) and raise the errors of ``pytest_experiment.base.errors`` as the
    real one does (``ClusterError``, ``NotFound`` on a 404); raising
    ``ClusterError`` here reports the cluster as unreachable.
    """


@pytest.hookspec(firstresult=True)
def pytest_experiment_make_results_store(
    config: pytest.Config, options: Options, notify: Callable[[str], None]
) -> ResultsStore | None:
    """Return the store summary.json is read from, or None to leave it to the next one.

    Called once, when the first summary is read (by a quality item or by
    ``experiment_run``). The first non-None result is used; the plugin's own
    implementation runs last and reads S3 at ``options.s3_endpoint``, retrying a
    summary not written yet for ``options.results_wait``. ``notify(line)`` shows
    a line in the session's output from any thread (an outage, say). The object
    must satisfy ``pytest_experiment.run.ports.ResultsStore`` and raise
    ``pytest_experiment.base.errors.ResultsError`` saying why when there is no summary to score.
    """


@pytest.hookspec(firstresult=True)
def pytest_experiment_make_github(config: pytest.Config, options: Options) -> GitHub | None:
    """Return what the run asks GitHub through, or None to leave it to the next implementation.

    Called once per session (per xdist worker), when a review or an auto-fix first
    needs GitHub. The first non-None result is used; the plugin's own
    implementation runs last and returns the ``gh`` on PATH, or None when there is
    none (the review then says it cannot merge or close, and shows no PR details).
    The object must satisfy ``pytest_experiment.run.ports.GitHub`` and raise
    ``pytest_experiment.base.errors.GitHubError`` saying why a call failed.
    """


@pytest.hookspec(firstresult=True)
def pytest_experiment_make_toil_log(config: pytest.Config, options: Options) -> ToilLog | None:
    """Return where the session's toil records go, or None to leave it to the next one.

    Called once per session (per xdist worker), when the live run is built. The
    first non-None result is used; the plugin's own implementation runs last and
    files each record in ``bd`` when it is on PATH, else appends it to
    ``options.toil_file`` (nothing when ``options.toil`` is off). The object must
    satisfy ``pytest_experiment.run.ports.ToilLog``: ``log(record)`` returns a
    ``core.toil.Logged`` saying where the record went (the summary and the JSON
    report show it), and ``finish()`` is called once at the session's end. To be
    told of each record without replacing the log, implement
    ``pytest_experiment_toil``.
    """
