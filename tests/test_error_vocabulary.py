"""The errors a cluster raises are the project's, by status, importable without the edges.

A cluster handed to the run by another plugin raises these; the run decides on the
type alone (a 404 is gone for good, a 410 means re-list, an unknown outcome means
look for what was made), so each type must carry its status and sit under
``ClusterError``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pytest_experiment.base import errors
from pytest_experiment.base.resources import Labelled


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.NotFound("get Experiment experiments/x: not found"), errors.HTTP_NOT_FOUND),
        (errors.Gone("watch: too old resource version"), errors.HTTP_GONE),
        (errors.OutcomeUnknown("create: HTTP 504", status=504), 504),
        (errors.PermissionDenied("list: forbidden", status=403), errors.HTTP_FORBIDDEN),
    ],
)
def test_each_answer_is_a_cluster_error_with_its_status(
    error: errors.ClusterError, status: int
) -> None:
    assert isinstance(error, errors.ClusterError)
    assert error.status == status


def test_a_server_error_may_have_been_done_a_429_was_not() -> None:
    assert errors.HTTP_TOO_MANY in errors.TRANSIENT
    assert errors.HTTP_TOO_MANY not in errors.MAYBE_DONE
    assert {500, 502, 503, 504} <= errors.MAYBE_DONE


def test_every_labelled_kind_has_a_title_naming_where_it_is_looked_for() -> None:
    titles = {kind: kind.title for kind in Labelled}
    assert titles[Labelled.PODS] == "pods in experiments"
    assert titles[Labelled.GKE_CLUSTERS] == "gkeclusters (all namespaces)"


def test_the_in_memory_cluster_needs_nothing_of_the_edges() -> None:
    """The fake injected through ``pytest_experiment_make_cluster`` stands for a
    third-party cluster: it is written against ``base`` and ``run.ports`` alone."""
    source = Path(__file__).parent / "fakes" / "cluster.py"
    imported = {
        node.module
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    harness = {m for m in imported if m.startswith("pytest_experiment.")}
    assert harness, "the fake imports the harness's vocabulary"
    assert all(
        m.startswith(("pytest_experiment.base", "pytest_experiment.run.ports")) for m in harness
    ), harness
