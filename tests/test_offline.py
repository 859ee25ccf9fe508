"""Offline scoring: published results scored with no cluster, as a user runs it."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def verdicts(project: pytest.Pytester, instance: str) -> dict[str, str]:
    """check → verdict for one scored instance, from the JSON report of the last run."""
    report = json.loads((project.path / "report.json").read_text())
    for experiment in report["experiments"]:
        for record in experiment["instances"]:
            if record["instance"] == instance:
                return {c["check"]: c["verdict"] for c in record["checks"]}
    raise AssertionError(f"{instance} was not scored")


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester


def score(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "-rA",
        "experiments",
        "--experiment-results=experiments/site/data",
        "--experiment-report=report.json",
        *args,
    )


def test_examples_score_with_the_expected_verdicts(project: pytest.Pytester) -> None:
    result = score(project)
    assert verdicts(project, "web-lat-8fz2q") == dict.fromkeys(
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
    assert verdicts(project, "web-lat-2bc7d") == {
        "custom-metrics": "fail",
        "metrics-source": "warn",
        "machine-verdict": "fail",
        "workload-pods": "fail",
        "presentation": "pass",
        "intent-coverage": "fail",
        "ai-verdict": "fail",
    }
    assert verdicts(project, "kv-hdb-t9r3k") == {
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
        [
            "*kv-hyperdisk::quality[[]intent-coverage@kv-hdb-t9r3k[]]*",
            "[[]FAIL[]] Intent coverage: 0/1 differentiating groups (hdb: 0/2 metrics)",
            "  Experiment's differentiating data missing — hdb has no results",
        ]
    )


def test_lifecycle_and_review_are_skipped_offline(project: pytest.Pytester) -> None:
    result = score(project, "-k", "web-latency and (lifecycle or review or preflight)")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines(["SKIPPED*[[]N/A[]] offline*"])


def test_skips_are_reported_at_the_experiment_file(project: pytest.Pytester) -> None:
    # -rs groups skips by location: the experiment file a reader can open, not plugin source.
    result = score(project, "-rs", "-k", "web-latency and (lifecycle or review or preflight)")
    lines = [line for line in result.stdout.lines if line.startswith("SKIPPED [")]
    assert lines, result.stdout.str()
    assert all("] experiments/web-latency/experiment.yaml:1: [N/A] " in x for x in lines), lines


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
            "  Quality:     PASS (3/3 metrics, AI verdict: validated)",
        ]
    )


def test_single_summary_file_scores_the_one_selected_experiment(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "-rA",
        "experiments/web-latency",
        "--experiment-results=experiments/site/data/web-lat-8fz2q.json",
    )
    result.stdout.fnmatch_lines(["PASSED*quality[[]ai-verdict@web-lat-8fz2q[]]*"])


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
    assert set(by_name) == {
        "web-latency",
        "echo-scaling",
        "lint-demo",
        "kv-baseline",
        "kv-hyperdisk",
    }
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
        "--junitxml=junit.xml",
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
    # Nothing failed except as a check verdict: every failure is a [FAIL] scorecard line.
    junit = ET.parse(pytester.path / "junit.xml").getroot()
    messages = [f.get("message", "") for f in junit.iter("failure")]
    assert messages
    assert all(m.startswith("[FAIL] ") for m in messages), messages


def test_intent_summary_printed_in_verbose_mode(project: pytest.Pytester) -> None:
    result = score(project, "-v", "-k", "kv-hyperdisk")
    result.stdout.fnmatch_lines(
        [
            "kv-hyperdisk (experiments/kv-hyperdisk/experiment.yaml)",
            "  Intent:",
            "    Series: storage-internals (#2)",
            '    Claim: "Hyperdisk Balanced halves p99 write latency against PD-SSD."',
            "    Metric groups: ssd, hdb, cluster",
            "    Differentiator: hdb",
            "    Machine: c3-standard-4 (preemptible: true)",
        ]
    )
    assert "Intent:" not in score(project, "-k", "kv-hyperdisk").stdout.str()


def test_xdist_controller_prints_the_same_scorecard(project: pytest.Pytester) -> None:
    def scorecard(result: pytest.RunResult) -> list[str]:
        lines = result.outlines
        start = next(i for i, line in enumerate(lines) if "experiment scorecard" in line)
        end = next(i for i, line in enumerate(lines) if "short test summary" in line)
        return lines[start:end]

    serial = scorecard(score(project))
    parallel = scorecard(score(project, "-n", "2", "--dist", "loadgroup"))
    assert len(serial) > 40
    assert parallel == serial


def test_loadgroup_keeps_each_experiment_on_one_worker(project: pytest.Pytester) -> None:
    # Each worker applies what it runs: an experiment split over two workers runs twice.
    result = score(project, "-n", "2", "--dist", "loadgroup", "-v")
    workers: dict[str, set[str]] = {}
    for line in result.outlines:
        if line.startswith("[gw") and "experiments/" in line:
            worker = line.split("]", 1)[0].strip("[")
            experiment = line.split("experiments/", 1)[1].split("/", 1)[0]
            workers.setdefault(experiment, set()).add(worker)
    assert set(workers) == {
        "web-latency",
        "echo-scaling",
        "lint-demo",
        "kv-baseline",
        "kv-hyperdisk",
    }
    assert all(len(found) == 1 for found in workers.values()), workers
