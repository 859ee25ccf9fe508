"""Offline scoring (R110–R112): published results scored with no cluster, as a user runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

OUTCOME = {"passed": "pass", "xfailed": "warn", "failed": "fail", "skipped": "n-a"}


def verdicts(result: pytest.RunResult, instance: str) -> dict[str, str]:
    """check → verdict for one scored instance, read from pytest's own -rA lines."""
    got: dict[str, str] = {}
    for line in result.outlines:
        word = line.split(" ", 1)[0]
        marker = f"@{instance}"
        if word in ("PASSED", "XFAIL", "FAILED", "SKIPPED") and marker in line:
            check = line.split("quality[", 1)[1].split("]", 1)[0]
            got[check] = {"PASSED": "pass", "XFAIL": "warn", "FAILED": "fail", "SKIPPED": "n-a"}[
                word
            ]
    return got


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester


def score(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "-rA", "experiments", "--experiment-results=experiments/site/data", *args
    )


def test_examples_score_with_the_expected_verdicts(project: pytest.Pytester) -> None:
    result = score(project)
    assert verdicts(result, "web-lat-8fz2q") == dict.fromkeys(
        [
            "custom-metrics",
            "metrics-source",
            "machine-verdict",
            "workload-pods",
            "presentation",
            "intent-coverage",
            "ai-verdict",
        ],
        "pass",
    )
    assert verdicts(result, "web-lat-2bc7d") == {
        "custom-metrics": "fail",
        "metrics-source": "warn",
        "machine-verdict": "fail",
        "workload-pods": "fail",
        "presentation": "pass",
        "intent-coverage": "fail",
        "ai-verdict": "fail",
    }
    assert verdicts(result, "kv-hdb-t9r3k") == {
        "custom-metrics": "warn",
        "metrics-source": "pass",
        "machine-verdict": "n-a",
        "workload-pods": "pass",
        "presentation": "warn",
        "intent-coverage": "fail",
        "ai-verdict": "fail",
    }
    # The series prior (kv-baseline) published ssd and cluster: only hdb differentiates.
    result.stdout.fnmatch_lines(
        ["*quality[[]intent-coverage[]]@kv-hdb-t9r3k*0/1 differentiating groups*hdb: 0/2*"]
    )


def test_lifecycle_and_review_are_skipped_offline(project: pytest.Pytester) -> None:
    result = score(project, "-k", "web-latency and (lifecycle or review or preflight)")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["SKIPPED*[[]N/A[]] offline*"])


def test_scorecard_and_summary_block(project: pytest.Pytester) -> None:
    result = score(project, "-k", "web-latency")
    result.stdout.fnmatch_lines(
        [
            "*= experiment scorecard =*",
            "web-latency (experiments/web-latency/experiment.yaml)",
            "  Results Quality (web-lat-8fz2q):",
            "    [[]PASS[]] Experiment completed (41m, $0.017)",
            "    [[]PASS[]] Custom metrics: 3/3 collected",
            "*",
            "  Results Quality (web-lat-2bc7d):",
            "*",
            "    [[]FAIL[]] Custom metrics: 0/3 collected",
            "    [[]WARN[]] Metrics source: target:cadvisor (no custom metric pipeline)",
            "*",
            "  --- Experiment Complete ---",
            "  Experiment:  web-lat-8fz2q",
            "  Phase:       Complete",
            "  Duration:    41m",
            "*",
            "  Quality:     PASS (Custom metrics: 3/3 collected)",
        ]
    )


def test_single_summary_file_scores_the_one_selected_experiment(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "-rA",
        "experiments/web-latency",
        "--experiment-results=experiments/site/data/web-lat-8fz2q.json",
    )
    result.stdout.fnmatch_lines(["PASSED*quality[[]ai-verdict[]]@web-lat-8fz2q*"])


def test_unmatched_experiment_says_why(project: pytest.Pytester) -> None:
    result = score(project, "-k", "lint-demo and quality")
    result.stdout.fnmatch_lines(["SKIPPED*no result in*matches generateName*"])


def test_corrupt_summary_is_a_skip_not_a_crash(project: pytest.Pytester) -> None:
    (project.path / "experiments/site/data/web-lat-zzzzz.json").write_text("{not json")
    result = score(project, "-k", "web-latency")
    assert "Traceback" not in result.stdout.str()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def test_json_report_holds_every_check(project: pytest.Pytester) -> None:
    score(project, "--experiment-report=out/report.json")
    report = json.loads((project.path / "out/report.json").read_text())
    by_name = {e["name"]: e for e in report["experiments"]}
    assert set(by_name) == {"web-latency", "lint-demo", "kv-baseline", "kv-hyperdisk"}
    hdb = {i["instance"]: i for i in by_name["kv-hyperdisk"]["instances"]}["kv-hdb-t9r3k"]
    assert hdb["gate"] == "fail"
    assert [c["check"] for c in hdb["checks"]][:2] == ["custom-metrics", "metrics-source"]
    assert hdb["checks"][0]["verdict"] == "warn"
    lint = {f["check"]: f["verdict"] for f in by_name["lint-demo"]["validation"]}
    assert lint["namespace-var"] == "fail"
    assert by_name["kv-hyperdisk"]["intent"]["differentiating"] == ["hdb"]


def test_whole_real_corpus_scores_without_a_crash(
    pytester: pytest.Pytester, upstream: Path
) -> None:
    result = pytester.runpytest(
        str(upstream / "experiments"),
        f"--experiment-results={upstream / 'site-data'}",
        f"--experiment-site-data={upstream / 'site-data'}",
        f"--experiment-components-dir={upstream / 'components'}",
        "--experiment-report=report.json",
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    assert "INTERNALERROR" not in result.stdout.str()
    report = json.loads((pytester.path / "report.json").read_text())
    scored = {
        i["instance"]
        for e in report["experiments"]
        for i in e["instances"]
        if i["checks"] and i["instance"]
    }
    site = {p.stem for p in (upstream / "site-data").glob("*.json") if not p.name.startswith("_")}
    # Every published result whose name matches an experiment's generateName is scored.
    matched = {
        s
        for s in site
        if s.startswith(
            ("db-fvm-", "db-dsc-", "logging-comparison-", "tsdb-comparison-", "tracing-comparison-")
        )
    }
    assert scored == matched
    # No error that is not a check verdict: every failure is a [FAIL] scorecard line.
    failures = [line for line in result.outlines if line.startswith("FAILED")]
    assert all("[FAIL]" in line for line in failures)
