"""Bad settings stop pytest at start-up: exit 4, one line naming what to fix, no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.kubeconfig import write_unreachable
from troubleshooting import documented


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(examples / "web-latency", pytester.path / "experiments" / "web-latency")
    shutil.copytree(examples / "components", pytester.path / "experiments" / "components")
    write_unreachable(pytester.path / "kubeconfig", "lab-hub", "staging-hub")
    # No S3 credential from anywhere boto3 looks: environment, files, instance metadata.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(pytester.path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(pytester.path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return pytester.path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "experiments", "--experiment-kubeconfig=kubeconfig", "-p", "no:cacheprovider", *args
    )


def one_line_usage_error(result: pytest.RunResult) -> str:
    """The single line pytest printed on stderr, after asserting exit 4 and no traceback."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_an_s3_endpoint_that_is_not_a_url(pytester: pytest.Pytester, project: Path) -> None:
    result = run(pytester, "--experiment-s3-endpoint=not-a-url")
    assert one_line_usage_error(result) == (
        "ERROR: --experiment-s3-endpoint: 'not-a-url' is not a URL (like http://127.0.0.1:8333)"
    )


def test_an_s3_endpoint_from_the_environment_names_the_variable(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPERIMENT_S3_ENDPOINT", "ftp://seaweed:8333")
    line = one_line_usage_error(run(pytester))
    assert line.startswith("ERROR: EXPERIMENT_S3_ENDPOINT: 'ftp://seaweed:8333' is not a URL")


def test_a_context_the_kubeconfig_lacks_lists_the_ones_it_has(
    pytester: pytest.Pytester, project: Path
) -> None:
    result = run(pytester, "--experiment-context=prod-hub")
    line = one_line_usage_error(result)
    assert line == (
        f"ERROR: --experiment-context: context 'prod-hub' is not in kubeconfig "
        f"{project / 'kubeconfig'}; it has: lab-hub, staging-hub"
    )
    documented(
        "A kubeconfig context that does not exist",
        line.replace(str(project / "kubeconfig"), "~/.kube/config"),
    )
    assert "collected" not in result.stdout.str()  # stopped before collecting anything


def test_no_s3_credentials_while_live_quality_items_are_selected(
    pytester: pytest.Pytester, project: Path
) -> None:
    result = run(pytester)
    line = one_line_usage_error(result)
    assert line == (
        "ERROR: no S3 credentials: the quality items of web-latency read summary.json from S3; "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or any boto3 credential source), "
        "or deselect them with -k 'not quality'"
    )
    documented("No S3 credentials for a published experiment", line)
    assert "Applied experiment" not in result.stdout.str()


def test_without_quality_items_no_s3_credentials_are_needed(
    pytester: pytest.Pytester, project: Path
) -> None:
    # The run goes on to the cluster (unreachable here): the pre-flight fails, not start-up.
    result = run(pytester, "-k", "not quality")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "no S3 credentials" not in result.stderr.str()


def test_an_unpublished_experiment_needs_no_s3_credentials(
    pytester: pytest.Pytester, project: Path
) -> None:
    # Its quality items are N/A without reading S3, so they need no credentials either.
    spec = project / "experiments" / "web-latency" / "experiment.yaml"
    spec.write_text(spec.read_text().replace("publish: true", "publish: false"))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "no S3 credentials" not in result.stderr.str()


def test_a_valid_context_and_endpoint_start_normally(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    result = run(
        pytester,
        "--experiment-context=staging-hub",
        "--experiment-s3-endpoint=http://127.0.0.1:8333",
        "-k", "preflight",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the unreachable cluster, not a setting
    result.stdout.fnmatch_lines(["*No cluster reachable: *context 'staging-hub'*"])


def test_no_s3_credentials_under_xdist_is_the_same_one_line(
    pytester: pytest.Pytester, project: Path
) -> None:
    # Only the workers collect; the controller checks what they reported before any item runs.
    result = run(pytester, "-n", "2")
    assert one_line_usage_error(result).startswith("ERROR: no S3 credentials: the quality items")
    assert "INTERNALERROR" not in result.stdout.str()


def test_an_unpublished_experiment_needs_no_s3_credentials_under_xdist_either(
    pytester: pytest.Pytester, project: Path
) -> None:
    # The controller sees only ids; it reads the file to know the experiment publishes.
    spec = project / "experiments" / "web-latency" / "experiment.yaml"
    spec.write_text(spec.read_text().replace("publish: true", "publish: false"))
    result = run(pytester, "-n", "2")
    assert "no S3 credentials" not in result.stderr.str() + result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the unreachable cluster, not a setting


def test_a_named_profile_that_does_not_exist_is_one_line(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ci-results")
    line = one_line_usage_error(run(pytester))
    assert line.startswith("ERROR: S3 credentials cannot be loaded: ")
    assert "ci-results" in line


def test_a_session_without_experiments_imports_none_of_the_collection_code(
    pytester: pytest.Pytester,
) -> None:
    # The plugin is installed for every pytest run in the environment: one with no
    # experiment file must not pay for the rules, the schema or jsonschema.
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            names = ("pytest_experiment.plugin.collect", "pytest_experiment.core.rules",
                     "jsonschema", "kubernetes", "boto3", "scipy", "numpy")
            print("IMPORTED", sorted(m for m in names if m in sys.modules))
        """
    )
    # A fresh interpreter: this one has loaded all of them already.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["IMPORTED []"])
