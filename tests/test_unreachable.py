"""No cluster reachable: every pre-flight item fails naming the context and the error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes.kubeconfig import TOKEN, write_unreachable
from troubleshooting import documented


def test_unreachable_cluster_fails_preflight_and_applies_nothing(
    pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials are checked at start-up; these never reach an S3 endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    shutil.copytree(examples / "web-latency", pytester.path / "experiments" / "web-latency")
    shutil.copytree(examples / "components", pytester.path / "experiments" / "components")
    kubeconfig = pytester.path / "kubeconfig"
    write_unreachable(kubeconfig)
    result = pytester.runpytest(
        "experiments",
        "--experiment-kubeconfig", str(kubeconfig),
        "--experiment-toil-file", "toil.jsonl",
        "-p", "no:cacheprovider",
        "-rA",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 3
    for check in ("namespace", "workflow-template", "operator"):
        result.stdout.fnmatch_lines(
            [
                f"*web-latency::preflight[[]{check}[]]*",
                "[[]FAIL[]] No cluster reachable: *cannot reach the Kubernetes API "
                "(context 'lab-hub', server https://127.0.0.1:1 *): *",
            ]
        )
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] *: [[]N/A[]] blocked by web-latency::preflight[[]workflow-template[]]"]
    )
    [line, *_] = [x for x in result.stdout.lines if x.startswith("[FAIL] No cluster reachable")]
    documented(
        "No cluster answers (a wrong kubeconfig or context, a VPN down)",
        line.replace(str(kubeconfig), "~/.kube/config"),
    )
    assert "Applied experiment" not in result.stdout.str()
    assert TOKEN not in result.stdout.str()
    (record,) = [json.loads(x) for x in (pytester.path / "toil.jsonl").read_text().splitlines()]
    assert record["priority"] == 1
    assert record["labels"] == ["toil", "web-latency", "networking"]
    assert record["title"].startswith("Cluster unreachable at experiment start: web-latency")
