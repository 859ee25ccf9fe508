"""A create whose answer is lost on its way back from a real kube-apiserver.

The harness reaches the API server through a ``Link`` that relays the create
and cuts the connection as the answer arrives: the server made the instance,
the harness never heard. The create is not sent again; the launcher finds the
instance by its labels and follows it to the end, and cleanup treats it as the
launch's own, not as a stray.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fakes.live import connections
from fakes.output import Lines
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.core.options import Options
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import Status
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.run.cleanup import Cleanup
from pytest_experiment.run.launcher import RUN_LABEL
from pytest_experiment.run.live_run import LiveRun
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.faults import Link

from .lifecycle import NAMESPACE, TIMEOUT, experiment_doc


@pytest.fixture
def link(sandbox: Sandbox) -> Iterator[Link]:
    with Link(sandbox.ports["apiserver"]) as relay:
        yield relay


def test_a_create_whose_answer_was_lost_is_found_and_followed_to_the_end(
    sandbox: Sandbox,
    k8s: client.ApiClient,
    workflow_template: str,
    link: Link,
    prefix: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "lost" / "experiment.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(experiment_doc(prefix)))
    kubeconfig = link.kubeconfig(sandbox.kubeconfig, tmp_path / "kubeconfig")
    out = Lines()
    live = LiveRun(
        options=Options(namespace=NAMESPACE),
        connections=connections(
            lambda: connect(kubeconfig=kubeconfig), toil_file=tmp_path / "toil.jsonl"
        ),
        validation_failure=lambda _: None,
        output=out,
    )
    launch = live.add(Experiment.from_source(read_source(path)))
    live.prepare(launch)
    assert launch.preflight.blocked is None, launch.preflight.checks
    cluster = live.cluster
    assert cluster is not None
    watcher = live.watcher(NAMESPACE)
    # The watch's request must be on its way before the fault is armed, or the watch's
    # answer would be the one lost. The watcher offers no event for it: poll its count.
    deadline = time.monotonic() + TIMEOUT
    while watcher.stats.watches < 1:
        assert time.monotonic() < deadline, "the watch never started"
        time.sleep(0.01)
    # A read while the watch holds its connection leaves one idle in the client's pool:
    # the create goes out on it, as it does in a session that has been running a while.
    cluster.list_experiments(namespace=NAMESPACE)
    link.lose_next_answer()
    try:
        live.start([launch])
        assert link.answers_lost == 1
        assert launch.apply.error is None, launch.apply.error
        assert cluster.requests["create"] == 1
        made = client.CustomObjectsApi(k8s).list_namespaced_custom_object(
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            NAMESPACE,
            EXPERIMENTS.plural,
            label_selector=f"{RUN_LABEL}={live.run_id}",
        )["items"]
        assert [obj["metadata"]["name"] for obj in made] == [launch.instance]
        assert any(
            line.startswith(f"Applied experiment: {launch.instance} ")
            and "the create's answer was lost" in line
            and line.endswith("found it by its labels")
            for line in out.lines
        ), out.lines
        assert live.follow(launch).status is Status.PASS
    finally:
        cleanups = live.finish()
    assert cleanups == [
        Cleanup(experiment="lost", instance=launch.instance, action="deleted", reason="passed")
    ]
