"""``--lf`` and ``--ff`` re-select a whole experiment when any of its items failed last time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.kubeconfig import write_unreachable


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(examples / "web-latency", pytester.path / "experiments" / "web-latency")
    shutil.copytree(examples / "components", pytester.path / "experiments" / "components")
    write_unreachable(pytester.path / "kubeconfig")
    pytester.makepyfile(test_other="def test_passes():\n    pass\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    return pytester.path


def selected(result: pytest.RunResult) -> set[str]:
    return {line for line in result.stdout.lines if "::" in line}


def test_a_preflight_failure_makes_lf_rerun_the_whole_experiment(
    pytester: pytest.Pytester, project: Path
) -> None:
    kube = "--experiment-kubeconfig=kubeconfig"
    first = pytester.runpytest(kube, "-rA")
    outcomes = first.parseoutcomes()
    # The cluster is unreachable: every pre-flight item fails and blocks the rest.
    assert outcomes["failed"] == 3
    everything = selected(pytester.runpytest(kube, "--co", "-q"))
    experiment = {n for n in everything if n.startswith("experiments/web-latency/")}
    assert len(experiment) == 25

    again = pytester.runpytest(kube, "--lf", "--co", "-q")
    assert selected(again) == experiment  # not only the two failed pre-flight items
    assert "test_other.py::test_passes" not in selected(again)

    first_failed = pytester.runpytest(kube, "--ff", "--co", "-q")
    names = [line for line in first_failed.stdout.lines if "::" in line]
    assert set(names[: len(experiment)]) == experiment  # the whole experiment first
    assert names[-1] == "test_other.py::test_passes"


def test_lf_leaves_experiments_that_passed_alone(pytester: pytest.Pytester, project: Path) -> None:
    pytester.makepyfile(test_broken="def test_fails():\n    assert False\n")
    pytester.runpytest("--experiment-kubeconfig=kubeconfig", "-k", "validate or test_")
    again = pytester.runpytest("--experiment-kubeconfig=kubeconfig", "--lf", "--co", "-q")
    assert selected(again) == {"test_broken.py::test_fails"}
