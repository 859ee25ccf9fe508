"""The results store against real SeaweedFS and the experiment_run fixture."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import yaml

from pytest_experiment.base.errors import ResultsError
from pytest_experiment.edges.results import ResultsStore
from pytest_experiment.sandbox import Sandbox

from .lifecycle import BUCKET, experiment_doc

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture
def store(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> ResultsStore:
    # Credentials come from boto3's own chain, as in a user's session.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sandbox.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sandbox.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return ResultsStore(endpoint=sandbox.s3_endpoint, wait=1.0)


def test_reads_the_summary_the_results_url_names(
    store: ResultsStore, s3: S3Client, prefix: str
) -> None:
    key = f"{prefix}x1/summary.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"name": f"{prefix}x1"}).encode())
    assert store.summary(f"s3://{BUCKET}/{prefix}x1/") == {"name": f"{prefix}x1"}


def test_a_summary_written_late_is_waited_for(
    sandbox: Sandbox, s3: S3Client, prefix: str, store: ResultsStore
) -> None:
    key = f"{prefix}late/summary.json"
    retries: list[float] = []

    def sleep(seconds: float) -> None:
        # The operator's write lands while the store waits to retry.
        if not retries:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"phase": "Complete"}')
        retries.append(seconds)

    late = ResultsStore(endpoint=sandbox.s3_endpoint, wait=20.0, sleep=sleep)
    assert late.summary(f"s3://{BUCKET}/{prefix}late/") == {"phase": "Complete"}
    assert len(retries) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [(None, "not found after 1s"), (b"", "is empty"), (b"{not json", "is not JSON"),
     (b"[1, 2]", "holds array, not an object")],
)  # fmt: skip
def test_missing_empty_or_corrupt_summaries_are_a_clear_error(
    store: ResultsStore, s3: S3Client, prefix: str, body: bytes | None, reason: str
) -> None:
    if body is not None:
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}bad/summary.json", Body=body)
    with pytest.raises(ResultsError, match=reason) as caught:
        store.summary(f"s3://{BUCKET}/{prefix}bad/")
    assert f"s3://{BUCKET}/{prefix}bad/summary.json" in str(caught.value)


@pytest.mark.usefixtures("store")  # for its credentials
def test_a_summary_that_stays_cut_short_is_read_until_the_wait_ends_and_said_once(
    sandbox: Sandbox, s3: S3Client, prefix: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}cut/summary.json", Body=b'{"name": "x", "ph')
    said: list[str] = []
    pauses: list[float] = []
    store = ResultsStore(
        endpoint=sandbox.s3_endpoint, wait=1.0, sleep=pauses.append, notify=said.append
    )
    url = f"s3://{BUCKET}/{prefix}cut/summary.json"
    with pytest.raises(ResultsError) as caught:
        store.summary(f"s3://{BUCKET}/{prefix}cut/")
    # Read again after each pause, until the 1 s wait left no room for another.
    assert len(pauses) >= 1
    message = str(caught.value)
    assert message.startswith(f"{url} is not JSON: Unterminated string starting at: "), message
    problem, _, reads = message.partition(f" (read {len(pauses) + 1} times in ")
    assert reads.endswith("s)"), message
    assert said == [f"{problem}; reading it again (for up to 1s)"]


def test_unreachable_s3_is_a_clear_error() -> None:
    store = ResultsStore(endpoint="http://127.0.0.1:9", wait=0.5)
    with pytest.raises(ResultsError, match="S3 unreachable") as caught:
        store.summary("s3://experiment-results/x/")
    assert caught.value.__cause__ is not None


USER_TEST = """
def test_asserts_on_a_metric(experiment_run):
    run = experiment_run("fsync")
    assert run.phase == "Complete"
    assert run.instance.startswith("{prefix}")
    assert run.lifecycle.status.name == "PASS"
    assert run.summary["name"] == run.instance
    assert run.metric("fsync_write_p99"), "the metric has data"
"""


def test_experiment_run_fixture_gives_instance_status_and_summary(
    pytester: pytest.Pytester,
    sandbox: Sandbox,
    store: ResultsStore,
    workflow_template: str,
    prefix: str,
) -> None:
    root = pytester.path / "experiments"
    (root / "fsync").mkdir(parents=True)
    (root / "fsync" / "experiment.yaml").write_text(
        yaml.safe_dump(experiment_doc(prefix, publish=True))
    )
    pytester.makepyfile(test_user=USER_TEST.replace("{prefix}", prefix))
    result = pytester.runpytest_subprocess(
        "test_user.py",
        "--experiment-kubeconfig", str(sandbox.kubeconfig),
        "--experiment-s3-endpoint", sandbox.s3_endpoint,
        "--experiment-toil", "off",
        "--experiment-cleanup", "always",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    # Nothing reviewed it, so its review gate may be Pending when it is deleted.
    result.stdout.fnmatch_lines(
        [f"Applied experiment: {prefix}* (from experiments/fsync/)", f"  deleted {prefix}*"]
    )
