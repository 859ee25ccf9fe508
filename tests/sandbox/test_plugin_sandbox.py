"""`pytest --experiment-sandbox` as a user runs it: one sandbox for the session, gone afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_experiment.sandbox.assets import bin_dir

# Read before pytester points HOME at a temporary directory, so the nested
# pytest finds the binaries already built instead of building them again.
ASSETS = bin_dir()

USER_TEST = """
import json, os
from pathlib import Path

import boto3
from kubernetes import client, config

def test_points_at_the_sandbox():
    api = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
    s3 = boto3.client("s3", endpoint_url=os.environ["EXPERIMENT_S3_ENDPOINT"])
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    state = Path(os.environ["KUBECONFIG"]).parent / "state.json"
    pids = [p["pid"] for p in json.loads(state.read_text())["processes"]]
    Path("seen.json").write_text(json.dumps({"namespaces": sorted(names), "buckets": buckets,
                                             "pids": pids}))
"""


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for this machine's init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_option_starts_one_sandbox_and_stops_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(ASSETS))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("--experiment-sandbox", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    seen = json.loads(Path(pytester.path / "seen.json").read_text())
    assert {"experiments", "argo-workflows", "argocd", "experiment-operator-system"} <= set(
        seen["namespaces"]
    )
    assert "experiment-results" in seen["buckets"]
    pids = [int(p) for p in seen["pids"]]
    assert len(pids) >= 4  # etcd, kube-apiserver, SeaweedFS, the simulated operator
    assert not [p for p in pids if alive(p)], "sandbox processes outlived the session"


def test_collect_only_starts_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import os\n"
        "def pytest_collection_finish(session):\n"
        "    print('KUBECONFIG=' + os.environ.get('KUBECONFIG', 'unset'))\n"
    )
    result = pytester.runpytest_subprocess("--experiment-sandbox", "--collect-only", "-q", "-s")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["KUBECONFIG=unset"])
    assert "sandbox ready" not in result.stderr.str()
