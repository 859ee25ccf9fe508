"""The results store is prepared when the run connects, not at the first read.

Building an S3 client loads botocore's endpoint data; a Ctrl-C that lands in that
loader made pytest crash while rendering the interrupt (exit 1 instead of 2), so the
run builds it while the session is being set up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fakes.cluster import FakeCluster
from fakes.live import connections

from pytest_experiment.core.options import Options
from pytest_experiment.edges.results import ResultsStore
from pytest_experiment.run.live_run import LiveRun
from pytest_experiment.run.output import Output
from pytest_experiment.run.ports import Preparable


class Quiet(Output):
    def line(self, text: str) -> None:
        pass


class CountingStore:
    def __init__(self) -> None:
        self.prepared = 0

    def prepare(self) -> None:
        self.prepared += 1

    def summary(self, results_url: str) -> Mapping[str, Any]:
        return {}


def live_run(
    tmp_path: Path, cluster: FakeCluster, store: Callable[[object], Any], **kw: Any
) -> LiveRun:
    return LiveRun(
        options=Options(),
        connections=connections(lambda: cluster, toil_file=tmp_path / "toil.jsonl", store=store),
        validation_failure=lambda _: None,
        output=Quiet(),
        **kw,
    )


def test_connecting_prepares_the_results_store_once(tmp_path: Path) -> None:
    store = CountingStore()
    cluster = FakeCluster()
    live = live_run(tmp_path, cluster, lambda _: store)
    try:
        assert store.prepared == 0, "nothing is built before the run connects"
        assert live.connect() is cluster
        live.connect()
        assert store.prepared == 1
    finally:
        cluster.stop()
        live.finish()


def test_the_s3_store_builds_its_client_when_prepared() -> None:
    store = ResultsStore(endpoint="http://127.0.0.1:9")
    assert isinstance(store, Preparable)
    store.prepare()
    # The client exists without a request having been made (nothing listens on port 9).
    assert store._client is not None


def test_a_run_that_reads_no_summary_builds_no_store(tmp_path: Path) -> None:
    store = CountingStore()
    made: list[object] = []
    cluster = FakeCluster()

    def make(_: object) -> CountingStore:
        made.append(store)
        return store

    live = live_run(tmp_path, cluster, make, reads_results=False)
    try:
        assert live.connect() is cluster
        assert made == [], "no S3 client for a session whose items read no summary"
    finally:
        cluster.stop()
        live.finish()
