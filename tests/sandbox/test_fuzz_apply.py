"""Fuzzed experiment files that fail validation (or do not read) are never applied.

A handful of mutated real experiments (the strategies of ``tests/test_fuzz.py``)
run through a live pytest session against the sandbox. Only files that fail to
read, or fail a rule that does not depend on the cluster's schema, are kept:
for those the run must apply nothing, in any namespace.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from fuzzing import PROFILE, experiment_files
from hypothesis import HealthCheck, Phase, assume, given, settings
from kubernetes import client

from pytest_experiment.base.errors import SpecError
from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.core.rules import RuleContext, run_rules
from pytest_experiment.core.spec import Experiment, is_experiment, read_source
from pytest_experiment.core.verdict import Status
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import custom_lister, list_raw

from .runs import SESSION_TIMEOUT

APPLY = settings(
    PROFILE,
    max_examples=int(os.environ.get("FUZZ_APPLY_EXAMPLES", "4")),
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[*HealthCheck],
)


def everywhere(k8s: client.ApiClient) -> set[str]:
    """Every Experiment on the sandbox, in every namespace."""
    items, _ = list_raw(custom_lister(k8s, EXPERIMENTS, namespace=None))
    return {f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in items}


def fails_without_the_cluster(path: Any) -> bool:
    """The file does not read, or a rule that does not use the live CRD fails it."""
    try:
        source = read_source(path)
    except SpecError:
        return True
    if not is_experiment(source.data):
        return False
    experiment = Experiment.from_source(source)
    # No catalogue: the run finds no components directory beside the file either.
    return any(
        result.status is Status.FAIL
        for name, result in run_rules(RuleContext(experiment=experiment, catalogue=None))
        if name != "schema"
    )


@APPLY
@given(case=experiment_files())
def test_nothing_is_applied_for_a_file_that_fails_validation(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, case: Any
) -> None:
    _, text = case
    folder = pytester.path / "experiments" / "fuzzed"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "experiment.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assume(fails_without_the_cluster(path))

    before = everywhere(k8s)
    result = pytester.runpytest_subprocess(
        "experiments",
        "-p",
        "no:cacheprovider",
        f"--experiment-kubeconfig={sandbox.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        timeout=SESSION_TIMEOUT,
    )
    applied = everywhere(k8s) - before
    for name in applied:  # leave the sandbox as found, whatever the outcome
        namespace, instance = name.split("/", 1)
        client.CustomObjectsApi(k8s).delete_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, namespace, EXPERIMENTS.plural, instance
        )
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    assert "Traceback" not in out
    assert not applied, out[-3000:]
    assert result.ret in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED), out[-3000:]
