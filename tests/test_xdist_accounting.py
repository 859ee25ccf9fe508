"""The controller's accounting of what xdist workers did: each worker's facts once.

xdist reports a worker that ended with an interrupt down twice (``pytest_testnodedown``
from its "finished" event, then again as "errored"), and the controller may hear a
worker out itself after its own interrupt: the facts it sent count once.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from pytest_experiment.plugin.xdist import WorkerFacts
from pytest_experiment.reporting.report import Scoreboard

FACTS = {
    "namespaces": ["experiments"],
    "toil": [{"title": "Operator unhealthy at experiment start: web-latency", "priority": 1}],
    "cleanup": [{"experiment": "web-latency", "instance": "web-lat-1", "action": "deleted"}],
    "session": {"apiRequests": {"create": 1, "get": 5}},
    "lines": [],
}


def worker(facts: dict[str, object]) -> SimpleNamespace:
    return SimpleNamespace(
        config=SimpleNamespace(), workeroutput={"pytest_experiment": json.dumps(facts)}
    )


def test_a_worker_reported_down_twice_counts_once() -> None:
    board = Scoreboard()
    facts = WorkerFacts(board)
    node = worker(FACTS)
    facts.pytest_testnodedown(node=node, error=None)
    facts.pytest_testnodedown(node=node, error="keyboard-interrupt")
    assert [t["title"] for t in board.toil] == [
        "Operator unhealthy at experiment start: web-latency"
    ]
    assert board.session["apiRequests"] == {"create": 1, "get": 5}
    assert [c["instance"] for c in board.cleanup] == ["web-lat-1"]


def test_two_workers_with_the_same_facts_both_count() -> None:
    board = Scoreboard()
    facts = WorkerFacts(board)
    facts.pytest_testnodedown(node=worker(FACTS), error=None)
    facts.pytest_testnodedown(node=worker(FACTS), error=None)
    assert board.session["apiRequests"] == {"create": 2, "get": 10}
