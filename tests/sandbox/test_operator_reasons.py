"""Reasons as the real operator and its store give them, against the sandbox: a
summary.json cut short in transit, a review the operator cannot merge or close, a
failed Argo Workflow (its failed step, or the Workflow already deleted at cleanup).

Instances are driven by hand (the ``by_hand`` prefix, which the simulated operator
leaves alone) where the order of events is the point, each step taken once the
pytest run, watched line by line, has reached it; by the simulated operator where
it reproduces the behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from pytest_experiment.sandbox import Sandbox

from .lifecycle import BUCKET, Run, experiment_doc
from .runs import LiveProcess, write
from .test_real_operator import by_hand, patch_status, put_summary, seconds, toil

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("s3_credentials", "workflow_template", "no_bd")
__all__ = ["by_hand"]  # the fixture, used by name


# -- a summary.json cut short in transit -------------------------------------------------


def test_a_summary_cut_short_in_transit_is_read_again_within_the_results_wait(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, s3: S3Client,
    by_hand: str,
) -> None:  # fmt: skip
    run = Run.create(k8s, experiment_doc(by_hand, publish=True))
    url = put_summary(s3, run.name)
    key = f"{run.name}/summary.json"
    whole = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    # What a store that sends no checksum can hand over: the first half of the object.
    s3.put_object(Bucket=BUCKET, Key=key, Body=whole[: len(whole) // 2])
    patch_status(k8s, run.name, {
        "phase": "Complete", "completedAt": seconds(), "resultsURL": url,
        "hypothesisResult": "validated", "published": False, "analysisPhase": "Skipped",
        "reviewPhase": "Skipped",
    })  # fmt: skip
    write(pytester, "cut", experiment_doc(by_hand, publish=True))
    live = LiveProcess(
        pytester, sandbox, f"--experiment-instance=cut={run.name}", "--experiment-results-wait=2m"
    )
    try:
        # The harness has read the truncated object and says it will read it again...
        said = live.wait_line(f"s3://{BUCKET}/{key} is not JSON: *")
        assert said.endswith("; reading it again (for up to 120s)"), said
        # ...and the next read gets the whole of it.
        s3.put_object(Bucket=BUCKET, Key=key, Body=whole)
        code, report, text = live.finish()
    finally:
        run.delete()
    [instance] = report["experiments"][0]["instances"]
    checks = {c["check"]: c["verdict"] for c in instance["checks"]}
    # Scored: the verdicts of the whole summary (its presentation warns), no error.
    assert checks == {
        "custom-metrics": "pass", "metrics-source": "pass", "machine-verdict": "pass",
        "workload-pods": "n-a", "presentation": "warn", "intent-coverage": "pass",
        "ai-verdict": "n-a",
    }, text  # fmt: skip
    assert instance["gate"] == "warn", text
    assert [t["title"] for t in toil(report) if t["title"].startswith("No results")] == []
    assert code == pytest.ExitCode.OK, text
