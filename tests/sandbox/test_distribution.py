"""Every pytest-xdist ``--dist`` mode against the sandbox, counting the instances it
creates: one per experiment under load, loadscope, loadfile and loadgroup; none under
worksteal and each, which a live session refuses at start-up."""

from __future__ import annotations

import collections

import pytest
from kubernetes import client

from pytest_experiment.run.launcher import EXPERIMENT_LABEL
from pytest_experiment.sandbox import Sandbox

from .lifecycle import Run, experiment_doc
from .runs import managed, run_live, write

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")

EXPERIMENTS = ("one", "two", "three")


@pytest.mark.parametrize(
    "dist", ["load", "loadscope", "loadfile", "loadgroup", "worksteal", "each"]
)
def test_instances_created_per_experiment_under_each_dist_mode(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str, dist: str
) -> None:
    for name in EXPERIMENTS:
        write(pytester, name, experiment_doc(prefix))
    try:
        if dist in ("worksteal", "each"):
            result = pytester.runpytest_subprocess(
                "experiments", "-p", "no:cacheprovider", "-n", "2", f"--dist={dist}",
                f"--experiment-kubeconfig={sandbox.kubeconfig}",
                f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
            )  # fmt: skip
            assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
            [line] = [line for line in result.stderr.lines if line.strip()]
            assert line.startswith(f"ERROR: --dist {dist} "), line
            assert "one, three, two" in line
            assert managed(k8s, prefix) == []
            return
        session = run_live(
            pytester, sandbox, "-n", "2", f"--dist={dist}", "--experiment-cleanup=never"
        )
        assert session.result.ret == pytest.ExitCode.OK, session.stdout
        on_cluster = managed(k8s, prefix)
        per_experiment = collections.Counter(
            o["metadata"]["labels"][EXPERIMENT_LABEL] for o in on_cluster
        )
        print(f"--dist {dist}: instances per experiment {dict(sorted(per_experiment.items()))}")
        assert per_experiment == dict.fromkeys(EXPERIMENTS, 1), session.stdout
        for name in EXPERIMENTS:
            instance = session.instance(name)  # exactly one in the report
            assert instance["lifecycle"]["verdict"] == "pass"
            assert session.cleanup(name)["instance"] == instance["instance"]
        assert session.report["session"]["apiRequests"]["create"] == len(EXPERIMENTS)
    finally:
        for obj in managed(k8s, prefix):
            Run(api=k8s, name=obj["metadata"]["name"]).delete()
