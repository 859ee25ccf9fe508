"""``--experiment-max-cost`` as a user runs it: the session's estimate is decided before
anything is applied, over the limit nothing is, and every report shows the estimate
beside the published cost. The cluster is the in-memory fake, supplied by a conftest."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUMMARY = "experiments/site/data/web-lat-8fz2q.json"

CONFTEST = f"""
import json, os, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster
from fakes.results import FakeResultsStore

TEMPLATES = None
CLUSTERS = []

def pytest_experiment_make_cluster(config, options):
    CLUSTERS.append(FakeCluster(templates=TEMPLATES))
    return CLUSTERS[-1]

def pytest_experiment_make_results_store(options):
    summary = json.loads(Path({SUMMARY!r}).read_text())
    return FakeResultsStore(default=lambda instance: summary)

def pytest_unconfigure(config):
    # One file per process: xdist workers each build their own cluster.
    done = {{
        "created": [name for c in CLUSTERS for name in c.created],
        "templates": sorted(t for c in CLUSTERS for t in (c.templates or ())),
    }}
    Path(f"cluster-{{os.getpid()}}.json").write_text(json.dumps(done))
"""
# An upper bound per experiment: one preemptible e2-standard-4 ($0.0268/h) for
# 20m + 20m + 10m + 30m of phase budgets.
EACH = 0.134 * 0.2 * 80 / 60
RUNNING = "--experiment-budget-running=30m"


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    for name in ("web-latency", "echo-scaling", "site", "components"):
        shutil.copytree(examples / name, pytester.path / "experiments" / name)
    pytester.makeconftest(CONFTEST)
    return pytester


def created(project: pytest.Pytester) -> list[str]:
    return [
        n for f in project.path.glob("cluster-*.json") for n in json.loads(f.read_text())["created"]
    ]


def junit(project: pytest.Pytester, name: str = "junit.xml") -> dict[str, ET.Element]:
    cases = {}
    for case in ET.parse(project.path / name).getroot().iter("testcase"):
        experiment = next(
            n for n in ("web-latency", "echo-scaling") if n in case.get("classname", "")
        )
        cases[f"{experiment}::{case.get('name')}"] = case
    return cases


def test_over_the_limit_nothing_is_applied_and_each_experiment_says_why(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest(
        "experiments", RUNNING, "--experiment-max-cost=0.05", "--junitxml=junit.xml",
        "--experiment-report=report.json", "-rs",
    )  # fmt: skip
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert created(project) == []
    # The session total is the scorecard's heading.
    result.stdout.fnmatch_lines(
        [
            "=* experiment scorecard: estimated cost $0.0715 for 2 experiments, over "
            "--experiment-max-cost $0.05: nothing applied =*"
        ]
    )
    line = (
        "[FAIL] Cost estimated $0.0357 (upper bound from the phase budgets); the session's "
        "$0.0715 is over --experiment-max-cost $0.05; nothing is applied"
    )
    result.stdout.fnmatch_lines(
        ["web-latency (*)", "  Pre-flight:", f"    {line}".replace("[", "[[]")]
    )
    cases = junit(project)
    for name in ("web-latency", "echo-scaling"):
        failure = cases[f"{name}::preflight[cost]"].find("failure")
        assert failure is not None
        assert failure.get("message") == line
        assert (
            "upper bound: $0.0268/h × (Pending 20m + Provisioning 20m + Ready 10m + Running 30m)"
            in (failure.text or "")
        )
        skipped = cases[f"{name}::lifecycle"].find("skipped")
        assert skipped is not None
        assert f"blocked by {name}::preflight[cost]" in str(skipped.get("message"))
    report = json.loads((project.path / "report.json").read_text())
    assert report["cost"] == {
        "estimatedUSD": pytest.approx(2 * EACH),
        "experiments": 2,
        "unknown": 0,
        "limitUSD": 0.05,
    }
    estimates = {e["name"]: e["estimate"] for e in report["experiments"]}
    assert estimates["web-latency"]["usd"] == pytest.approx(EACH)
    assert estimates["web-latency"]["basis"] == "upper bound"


def test_within_the_limit_the_run_goes_on_and_the_estimate_sits_beside_the_published_cost(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("experiments/web-latency", RUNNING, "--experiment-max-cost=$1")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert len(created(project)) == 1
    result.stdout.fnmatch_lines(
        [
            "=* experiment scorecard: estimated cost $0.0357 for 1 experiment, within "
            "--experiment-max-cost $1.00 =*",
            "*--- Experiment Complete ---",
            "*Duration:*",
            "  Cost:        $0.017 published; estimated $0.0357 (upper bound)",
        ]
    )


def test_an_experiment_that_cannot_be_estimated_stops_the_session(
    project: pytest.Pytester,
) -> None:
    # No Running budget: web-latency counts its published runs' median duration;
    # echo-scaling has no published run, so nothing can be said of its cost.
    result = project.runpytest("experiments", "--experiment-max-cost=100")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert created(project) == []
    result.stdout.fnmatch_lines(
        [
            "=* experiment scorecard: estimated cost unknown for 2 experiments (1 cannot be "
            "estimated), nothing applied =*",
            "echo-scaling (*)",
            "  Pre-flight:",
            "    [[]FAIL[]] Cost cannot be estimated: Running has no budget "
            "(--experiment-budget-running) and no published run of echo-scale- to take a "
            "duration from; the session's cost cannot be estimated (echo-scaling); nothing is "
            "applied",
            "web-latency (*)",
            "  Pre-flight:",
            "    [[]FAIL[]] Cost estimated $0.0193 (expected, from 7 published runs); the "
            "session's cost cannot be estimated (echo-scaling); nothing is applied",
        ]
    )


def test_over_the_limit_no_workflow_template_is_applied_either(project: pytest.Pytester) -> None:
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace("TEMPLATES = None", "TEMPLATES = []"))
    result = project.runpytest(
        "experiments/web-latency", RUNNING, "--experiment-max-cost=0.01",
        "--experiment-apply-templates", "-rs",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    done = [json.loads(f.read_text()) for f in project.path.glob("cluster-*.json")]
    assert done == [{"created": [], "templates": []}]
    result.stdout.fnmatch_lines(
        ["*[[]N/A[]] WorkflowTemplate web-latency-validation not found in argo-workflows; not "
         "applied from experiments/web-latency/workflow/template.yaml: blocked by "
         "web-latency::preflight[[]cost[]]*"]
    )  # fmt: skip
    # Within the limit the same run applies it.
    result = project.runpytest(
        "experiments/web-latency",
        RUNNING,
        "--experiment-max-cost=1",
        "--experiment-apply-templates",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def test_the_limit_and_the_price_table_come_from_the_ini_file_too(project: pytest.Pytester) -> None:
    (project.path / "prices.json").write_text(
        json.dumps({"source": "our negotiated rates, 2026", "hourlyUSD": {"e2-standard-4": 1.0}})
    )
    project.makeini(
        "[pytest]\nexperiment_max_cost = 0.25\nexperiment_price_table = prices.json\n"
        "experiment_budget_running = 30m\n"
    )
    result = project.runpytest("experiments/web-latency")
    # $1/h x 0.2 x 80m: over the ini's limit, priced with the ini's table.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*[[]FAIL[]] Cost estimated $0.2667 (upper bound from the phase budgets); the "
            "session's $0.2667 is over --experiment-max-cost $0.25*",
            "*prices: our negotiated rates, 2026",
        ]
    )
    assert created(project) == []


def test_a_bad_price_table_stops_pytest_at_start_up(project: pytest.Pytester) -> None:
    (project.path / "prices.json").write_text('{"hourlyUSD": {"e2-standard-4": 1}}')
    result = project.runpytest("experiments", "--experiment-price-table=prices.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --experiment-price-table: *prices.json: source: say where the prices come "
            "from (a non-empty string)"
        ]
    )
    assert created(project) == []


def test_under_xdist_every_worker_holds_the_whole_session_to_the_limit(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest(
        "experiments", RUNNING, "--experiment-max-cost=0.05", "-n", "2", "--dist", "loadgroup",
        "--junitxml=junit.xml",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert created(project) == []
    result.stdout.fnmatch_lines(
        ["=* experiment scorecard: estimated cost $0.0715 for 2 experiments, over *"]
    )
    cases = junit(project)
    for name in ("web-latency", "echo-scaling"):
        failure = cases[f"{name}::preflight[cost]"].find("failure")
        assert failure is not None
        assert "the session's $0.0715 is over --experiment-max-cost $0.05" in str(
            failure.get("message")
        )


def test_the_cost_item_is_collected_only_under_a_limit(project: pytest.Pytester) -> None:
    plain = project.runpytest("experiments/web-latency", "--collect-only", "-q")
    limited = project.runpytest(
        "experiments/web-latency", "--collect-only", "-q", "--experiment-max-cost=1"
    )
    assert not [line for line in plain.outlines if "preflight[cost]" in line]
    assert [line for line in limited.outlines if "preflight[" in line] == [
        "experiments/web-latency/experiment.yaml::preflight[cost]",
        "experiments/web-latency/experiment.yaml::preflight[namespace]",
        "experiments/web-latency/experiment.yaml::preflight[workflow-template]",
        "experiments/web-latency/experiment.yaml::preflight[operator]",
    ]


def test_every_report_shows_the_estimate_without_a_limit(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = project.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = project.runpytest(
        "experiments", "--experiment-results=experiments/site/data",
        "--experiment-report=report.json", "--experiment-html=report.html",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # echo-scaling's gate, as before
    report = json.loads((project.path / "report.json").read_text())
    web = next(e for e in report["experiments"] if e["name"] == "web-latency")
    # The median of the seven published durations (2280 s to 2630 s) is 2597 s.
    assert web["estimate"]["usd"] == pytest.approx(0.134 * 0.2 * 2597 / 3600)
    assert web["estimate"]["publishedRuns"] == 7
    published = {i["instance"]: i["costUSD"] for i in web["instances"] if i["instance"]}
    assert published["web-lat-2bc7d"] == 0.015
    assert published["web-lat-8fz2q"] == 0.017
    assert len(published) == 7
    assert report["cost"]["limitUSD"] is None
    rows = [line for line in summary.read_text().splitlines() if line.startswith("| web-latency |")]
    assert len(rows) == 8  # each scored summary, and the lifecycle skipped offline
    assert all(row.endswith("| $0.0193 (expected) |") for row in rows), rows
    assert "| echo-scaling | — | ⚪ N/A | — | ⚪ N/A | — | — | unknown |" in summary.read_text()
    html = (project.path / "report.html").read_text()
    assert "<th>Cost</th><th>Estimate</th>" in html
    assert ">$0.0193 (expected)</td>" in html
    result.stdout.fnmatch_lines(["  Cost:        $0.017 published; estimated $0.0193 (expected)"])


def test_an_experiment_only_the_fixture_names_is_held_to_the_limit(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_user="""
        def test_latency(experiment_run):
            experiment_run("web-latency")
        """
    )
    result = project.runpytest("test_user.py", RUNNING, "--experiment-max-cost=0.01", "-rs")
    assert created(project) == []
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * experiment_run('web-latency'): not applied: blocked by "
            "web-latency::preflight[[]cost[]]"
        ]
    )
