"""The orphan sweep and a refused delete as a user sees them: the lines, the JSON report,
the exit code. The cluster is the in-memory fake a conftest supplies, holding, when the
session starts, an instance an earlier (killed) run left with an expired owner lease."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fakes.kubeconfig import write_unreachable

TESTS = Path(__file__).resolve().parent
SUMMARY = "experiments/site/data/web-lat-2bc7d.json"
ORPHAN = "web-lat-00001"

CONFTEST = f"""
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster
from fakes.results import FakeResultsStore
from pytest_experiment.base.errors import PermissionDenied
from pytest_experiment.core.lease import Lease, Owner, MANAGED_BY

SUMMARY = json.loads(Path({SUMMARY!r}).read_text()) if Path({SUMMARY!r}).exists() else {{}}
CLUSTER = FakeCluster()
expired = Lease(
    owner=Owner(run="0ld0ld00", host="ci-runner-7", pid=4242),
    expires=datetime.now(UTC) - timedelta(minutes=50),
)
CLUSTER.create_experiment(
    {{"metadata": {{
        "generateName": "web-lat-",
        "labels": {{**dict([MANAGED_BY]), "pytest-experiment/experiment": "web-latency"}},
        "annotations": expired.annotations(),
    }}}},
    namespace="experiments",
)


def pytest_experiment_make_cluster(config, options):
    return CLUSTER


def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=lambda instance: SUMMARY)
"""

REFUSING = """
REFUSED = PermissionDenied(
    "delete Experiment experiments/{name}: forbidden: cannot delete experiments "
    "(experiments.illm.io) in namespace experiments as "
    "system:serviceaccount:experiment-ci:experiment-runner (HTTP 403): "
    "the runner's role lacks this permission",
    status=403,
)


class Refusing(FakeCluster):
    def delete_experiment(self, name, *, namespace):
        raise PermissionDenied(REFUSED.args[0].format(name=name), status=403)


CLUSTER.__class__ = Refusing
"""


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    for name in ("web-latency", "site", "components"):
        shutil.copytree(examples / name, pytester.path / "experiments" / name)
    pytester.makeconftest(CONFTEST)
    return pytester


def run(project: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = project.runpytest("-p", "no:cacheprovider", "--experiment-report=report.json", *args)
    path = project.path / "report.json"
    assert path.exists(), result.stdout.str() + result.stderr.str()
    return result, json.loads(path.read_text())


def test_a_live_session_sweeps_an_expired_instance_before_it_applies(
    project: pytest.Pytester,
) -> None:
    result, report = run(project, "experiments", "-k", "not quality and not review")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"Orphan {ORPHAN} (web-latency, experiments): owner lease expired: made by run "
            "0ld0ld00 (host ci-runner-7, pid 4242), * old, its lease expired 50m* ago; "
            "deleting it (--experiment-cleanup=on-success)",
            "Applied experiment: web-lat-00002 *",
            "Orphans of earlier runs (owner lease expired):",
            f"  deleted {ORPHAN} (web-latency, experiments): owner lease expired: made by run "
            "0ld0ld00 (host ci-runner-7, pid 4242), *; --experiment-cleanup=on-success",
        ]
    )
    [orphan] = report["orphans"]
    assert orphan["instance"] == ORPHAN
    assert orphan["action"] == "deleted"
    assert (orphan["run"], orphan["host"], orphan["pid"]) == ("0ld0ld00", "ci-runner-7", 4242)
    assert 50 * 60 <= orphan["leaseExpiredSeconds"] < 55 * 60
    # Its own instance is not an orphan: it is cleaned up as its session's.
    assert [c["instance"] for c in report["cleanup"]] == ["web-lat-00002"]


def test_sweep_alone_needs_no_experiment_and_exits_0(project: pytest.Pytester) -> None:
    (project.path / "empty").mkdir()
    result, report = run(project, "empty", "--experiment-sweep")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert [(o["instance"], o["action"]) for o in report["orphans"]] == [(ORPHAN, "deleted")]
    assert report["experiments"] == []


def test_a_session_without_live_items_sweeps_nothing(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider", "experiments", "-k", "validate")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "Orphan" not in result.stdout.str()


def test_under_never_the_sweep_lists_the_orphan_with_its_delete_command(
    project: pytest.Pytester,
) -> None:
    (project.path / "empty").mkdir()
    result, report = run(project, "empty", "--experiment-sweep", "--experiment-cleanup=never")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    [orphan] = report["orphans"]
    assert orphan["action"] == "kept"
    assert orphan["command"] == f"kubectl delete experiment {ORPHAN} -n experiments"
    result.stdout.fnmatch_lines(
        [
            "*; kept (--experiment-cleanup=never); delete with: "
            f"kubectl delete experiment {ORPHAN} -n experiments"
        ]
    )


def test_under_xdist_the_controller_sweeps_once(project: pytest.Pytester) -> None:
    # Each process has its own copy of the fake (and of the orphan): only the
    # controller's is swept, so the report names it once.
    result, report = run(project, "experiments", "-n", "2", "-k", "not quality and not review")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert [(o["instance"], o["action"]) for o in report["orphans"]] == [(ORPHAN, "deleted")]


def test_a_refused_delete_fails_the_session_with_the_whole_reason_and_the_command(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(CONFTEST + REFUSING)
    result, report = run(
        project, "experiments", "--experiment-cleanup=always", "-k", "not quality and not review"
    )
    out = result.stdout.str()
    # Every item passed; the instance is still on the cluster, billing.
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    identity = "system:serviceaccount:experiment-ci:experiment-runner (HTTP 403)"
    [cleanup] = report["cleanup"]
    assert cleanup["action"] == "kept"
    assert cleanup["error"] is True
    assert cleanup["reason"] == (
        "delete refused: delete Experiment experiments/web-lat-00002: forbidden: cannot delete "
        f"experiments (experiments.illm.io) in namespace experiments as {identity}: the "
        "runner's role lacks this permission"
    )
    assert cleanup["command"] == "kubectl delete experiment web-lat-00002 -n experiments"
    [orphan] = report["orphans"]
    assert (orphan["action"], orphan["error"]) == ("kept", True)
    result.stdout.fnmatch_lines(
        [
            f"  kept web-lat-00002 (web-latency): delete refused: *as {identity}: the runner's "
            "role lacks this permission; delete with: kubectl delete experiment web-lat-00002 "
            "-n experiments",
            f"Cleanup failed: web-lat-00002, {ORPHAN} could not be deleted and still hold cloud "
            "resources; the session fails",
        ]
    )


def test_a_sweep_asked_for_that_cannot_reach_the_cluster_fails(pytester: pytest.Pytester) -> None:
    write_unreachable(pytester.path / "kubeconfig")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--experiment-sweep", "--experiment-kubeconfig=kubeconfig"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["Problem: --experiment-sweep: no orphan was looked for: *127.0.0.1*"]
    )


@pytest.mark.parametrize("value", ["0", "none", "-5m", "soon"])
def test_a_lease_that_is_not_a_duration_above_zero_stops_pytest(
    pytester: pytest.Pytester, value: str
) -> None:
    result = pytester.runpytest(f"--experiment-lease={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [line] = [x for x in result.stderr.lines if x.strip()]
    assert line.startswith("ERROR: --experiment-lease: ")
