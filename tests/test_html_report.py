"""The HTML scorecard: what it draws from a report document, and the option as a user
runs it (``--experiment-html``, its ini and environment twins, pytest-html entries)."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from shared_run import shared_run

from pytest_experiment.reporting import html_findings, html_report, html_series, html_view
from pytest_experiment.reporting.report import Scoreboard
from pytest_experiment.reporting.step_summary import render as step_summary

BUDGETS = {"Pending": 60.0, "Provisioning": 20.0, "Ready": 600.0, "Running": None}


def instance(**fields: Any) -> dict[str, Any]:
    return {
        "instance": "run-1",
        "timeline": {},
        "lifecycle": None,
        "checks": [],
        "gate": None,
        "review": None,
        "cleanup": None,
        **fields,
    }


def finding(check: str, verdict: str, summary: str = "", **more: Any) -> dict[str, Any]:
    label = html_view.verdict(verdict).label
    return {
        "check": check,
        "verdict": verdict,
        "summary": f"[{label}] {summary or check}",
        "details": more.pop("details", []),
        "figures": more.pop("figures", {}),
    }


def document(*instances: dict[str, Any], name: str = "web") -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "session": {},
        "toil": [],
        "cleanup": [],
        "budgets": BUDGETS,
        "experiments": [
            {
                "name": name,
                "path": f"experiments/{name}/experiment.yaml",
                "intent": {},
                "validation": [],
                "preflight": [],
                "instances": list(instances),
            }
        ],
    }


TIMELINE = {
    "Pending": "2026-01-01T10:00:00+00:00",
    "Provisioning": "2026-01-01T10:00:10+00:00",
    "Ready": "2026-01-01T10:00:40+00:00",
    "Running": "2026-01-01T10:01:00+00:00",
    "Complete": "2026-01-01T10:02:00+00:00",
}


# -- what the page draws -------------------------------------------------------------


def test_timeline_bars_are_as_wide_as_their_phases_on_one_axis() -> None:
    drawn = html_view.timeline(instance(timeline=TIMELINE), BUDGETS)
    assert drawn is not None
    bars = {b.phase: b for b in drawn.bars}
    assert [b.phase for b in drawn.bars] == [
        "Pending",
        "Provisioning",
        "Ready",
        "Running",
        "Complete",
    ]
    assert {p: b.seconds for p, b in bars.items()} == {
        "Pending": 10, "Provisioning": 30, "Ready": 20, "Running": 60, "Complete": 0,
    }  # fmt: skip
    per_second = drawn.plot / 120
    for bar in drawn.bars[:-1]:
        assert bar.width == pytest.approx(bar.seconds * per_second)
    # Bars follow one another on the shared axis.
    assert bars["Ready"].x == pytest.approx(bars["Provisioning"].x + bars["Provisioning"].width)
    assert bars["Complete"].point
    assert not bars["Running"].point


def test_a_phase_over_its_budget_is_an_overrun_with_the_budget_marked() -> None:
    drawn = html_view.timeline(instance(timeline=TIMELINE), BUDGETS)
    assert drawn is not None
    bars = {b.phase: b for b in drawn.bars}
    # Provisioning took 30 s of its 20 s: the overrun starts where the budget ended.
    assert bars["Provisioning"].overrun
    assert bars["Provisioning"].budget_x == pytest.approx(
        bars["Provisioning"].x + 20 * drawn.plot / 120
    )
    assert bars["Provisioning"].overrun_x == bars["Provisioning"].budget_x
    # Pending (10 s of 60 s) is within budget; Ready's 10 m budget is beyond the axis.
    assert not bars["Pending"].overrun
    assert bars["Pending"].budget_x is not None
    assert not bars["Ready"].overrun
    assert bars["Ready"].budget_x is None
    assert bars["Running"].budget is None
    assert not bars["Running"].overrun


def test_a_phase_the_budget_ended_lasts_its_budget_and_is_open() -> None:
    lifecycle = finding("lifecycle", "fail", figures={"timedOutIn": "Provisioning"})
    timeline = {k: TIMELINE[k] for k in ("Pending", "Provisioning")}
    drawn = html_view.timeline(instance(timeline=timeline, lifecycle=lifecycle), BUDGETS)
    assert drawn is not None
    last = drawn.bars[-1]
    assert (last.phase, last.seconds, last.open, last.point) == ("Provisioning", 20.0, True, False)


def test_watch_outages_are_spans_not_observed() -> None:
    outages = [{"start": "2026-01-01T10:00:30+00:00", "end": "2026-01-01T10:01:30+00:00"}]
    drawn = html_view.timeline(instance(timeline=TIMELINE, outages=outages), BUDGETS)
    assert drawn is not None
    [span] = drawn.outages
    assert span.label == "not observed"
    assert span.width == pytest.approx(60 * drawn.plot / 120)


def test_analyzer_and_review_follow_complete_with_their_outcomes() -> None:
    run = instance(
        timeline=TIMELINE,
        checks=[finding("ai-verdict", "pass", "AI verdict: confirmed")],
        review=finding("review", "warn", "Review: PR #7 left open for a person"),
    )
    drawn = html_view.timeline(run, BUDGETS)
    assert drawn is not None
    assert [(s.name, s.verdict.label, s.text) for s in drawn.stages] == [
        ("analyzer", "PASS", "AI verdict: confirmed"),
        ("review", "WARN", "Review: PR #7 left open for a person"),
    ]
    assert drawn.stages[0].y > drawn.bars[-1].y


def test_no_timeline_without_phases() -> None:
    assert html_view.timeline(instance(), BUDGETS) is None


def test_the_metrics_matrix_tells_arrived_empty_errored_and_missing() -> None:
    check = finding(
        "custom-metrics",
        "warn",
        details=[
            "b: no data",
            "c: query error: bad_data",
            "d: not in results",
        ],
        figures={
            "metrics": ["a", "b", "c", "d"],
            "missing": ["b", "c", "d"],
            "gaps": {"b": "empty", "c": "error", "d": "absent"},
        },
    )
    cells = html_findings.metrics_matrix(instance(checks=[check]))
    assert [(c.name, c.state) for c in cells] == [
        ("a", "arrived"), ("b", "empty"), ("c", "error"), ("d", "missing"),
    ]  # fmt: skip
    assert [c.reason for c in cells[1:]] == ["no data", "query error: bad_data", "not in results"]


def test_the_metrics_matrix_reads_the_kind_of_gap_not_the_wording_of_its_detail() -> None:
    check = finding(
        "custom-metrics",
        "warn",
        details=["b: the query failed (bad_data)", "c: query error: reworded as empty"],
        figures={
            "metrics": ["b", "c"],
            "missing": ["b", "c"],
            "gaps": {"b": "error", "c": "empty"},
        },
    )
    cells = html_findings.metrics_matrix(instance(checks=[check]))
    assert [(c.name, c.state) for c in cells] == [("b", "error"), ("c", "empty")]


def test_root_causes_are_read_from_the_figure_whatever_the_detail_lines_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_experiment.core import gate

    # The detail line's wording is the gate's to choose; the report follows it.
    monkeypatch.setattr(gate, "cause_line", lambda text: f"because {text}")
    cause = "(custom-metrics): lacks kube-prometheus-stack [fix: add-kube-prometheus-stack]"
    coverage = finding(
        "custom-metrics",
        "fail",
        details=["db: no data", f"because {cause}", "root cause (a line a check wrote)"],
        figures={"rootCauses": [cause]},
    )
    also = finding(
        "intent-coverage", "fail", details=[f"because {cause}"], figures={"rootCauses": [cause]}
    )
    run = instance(checks=[coverage, also])
    assert html_findings.root_causes(run) == [cause]
    assert html_findings.plain_details(coverage) == [
        "db: no data",
        "root cause (a line a check wrote)",
    ]
    assert html_findings.plain_details(also) == []


def test_verdict_labels_keep_warn_na_and_not_run_apart() -> None:
    shown = {w: html_view.verdict(w) for w in ("warn", "n-a", None, "pass")}
    assert {v.label for v in shown.values()} == {"WARN", "N/A", "—", "PASS"}
    assert len({v.css for v in shown.values()}) == 4


def test_criterion_chart_runs_oldest_to_newest_and_shows_unevaluated_runs() -> None:
    def run(name: str, when: str, actual: Any, passed: Any) -> dict[str, Any]:
        criterion = {"metric": "p99", "operator": "lt", "value": "0.05", "actualValue": actual}
        return instance(instance=name, completedAt=when, criteria=[{**criterion, "passed": passed}])

    experiment = document(
        run("new", "2026-03-01", "0.06", False),
        run("mid", "2026-02-01", None, None),
        run("old", "2026-01-01", "0.04", True),
    )["experiments"][0]
    [chart] = html_series.criterion_charts(experiment)
    assert [(p.instance, p.value, p.css) for p in chart.points] == [
        ("old", 0.04, "dot-pass"), ("mid", None, "dot-none"), ("new", 0.06, "dot-fail"),
    ]  # fmt: skip
    # Higher values are drawn higher; the line joins only measured runs.
    assert chart.points[2].y < chart.points[0].y
    assert chart.path.count("L") == 1
    assert chart.threshold == "lt 0.05"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained_and_escapes_what_it_shows() -> None:
    run = instance(
        timeline=TIMELINE,
        gate="warn",
        checks=[finding("presentation", "warn", "<b>unescaped</b>")],
    )
    page = html_report.render(document(run))
    tags = _Tags()
    tags.feed(page)
    assert not [a for t, a in tags.tags if t in ("script", "img", "iframe") or a.get("src")]
    assert not [a for t, a in tags.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert "<b>unescaped</b>" not in page
    assert "&lt;b&gt;unescaped&lt;/b&gt;" in page
    assert not re.search(r"url\((?!#)", page), "styles fetch nothing"
    assert 'class="v v-warn" data-verdict="WARN"' in page


# -- as a user runs it -----------------------------------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester


SCORE = ("experiments", "-p", "no:cacheprovider", "--experiment-results=experiments/site/data")
# What a CI job asks for: the scorecard, the JSON report, and the step summary of a
# GitHub Actions job.
EVERY_OUTPUT = ("--experiment-html=out/report.html", "--experiment-report=r.json")
ACTIONS = {
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "lab/benchmarks",
    "GITHUB_RUN_ID": "42",
}


def score(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(*SCORE, *args)


@dataclass(frozen=True)
class Scored:
    path: Path
    result: pytest.RunResult


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, examples: Path) -> Scored:
    """One offline run with every output, which several tests below only read: the HTML
    scorecard, the JSON report, pytest-html's page, JUnit and the Actions step summary."""

    def prepare(path: Path) -> None:
        shutil.copytree(examples, path / "experiments")

    args = [*SCORE, *EVERY_OUTPUT, "--html=ph.html", "--junitxml=with.xml"]
    env = {**ACTIONS, "GITHUB_STEP_SUMMARY": "summary.md"}
    return Scored(*shared_run(tmp_path_factory, "html-scored", prepare, args, env))


def test_experiment_html_writes_the_scorecard_of_an_offline_run(scored: Scored) -> None:
    result = scored.result
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*experiment HTML scorecard: *out/report.html*"])
    page = (scored.path / "out" / "report.html").read_text()
    doc = json.loads((scored.path / "r.json").read_text())
    assert doc["budgets"]["Pending"] == 1200.0
    assert doc["budgets"]["Running"] is None
    web = next(e for e in doc["experiments"] if e["name"] == "web-latency")
    # Newest first: the five runs of the sandbox's history, then the two older ones.
    names = [i["instance"] for i in web["instances"]]
    assert (
        names.index("web-lat-2797d") < names.index("web-lat-8fz2q") < names.index("web-lat-2bc7d")
    )
    run = web["instances"][names.index("web-lat-8fz2q")]
    assert run["criteria"][0]["actualValue"] == "0.0413"
    assert 'data-kind="offline"' in page
    # The series history, newest first, and the criterion chart from the published value.
    history = page[page.index('<table class="history">') :]
    assert history.index("web-lat-8fz2q") < history.index("web-lat-2bc7d")
    assert 'class="chart" data-metric="request_p99"' in page
    assert "not applied (validation FAIL)" in page  # lint-demo never ran
    assert 'data-metric="request_p50" data-state="missing"' in page


@pytest.mark.parametrize("how", ["ini", "env"])
def test_the_html_option_has_ini_and_environment_twins(
    project: pytest.Pytester, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "ini":
        project.makeini("[pytest]\nexperiment_html = from-ini.html\n")
        written = project.path / "from-ini.html"
    else:
        monkeypatch.setenv("EXPERIMENT_HTML", "from-env.html")
        written = project.path / "from-env.html"
    score(project)
    assert "Experiment scorecard" in written.read_text()


def test_a_run_without_the_option_imports_no_template_library(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            names = ("jinja2", "pytest_experiment.reporting.html_report",
                     "pytest_experiment.reporting.html_extras")
            print("IMPORTED", sorted(m for m in names if m in sys.modules))
        """
    )
    # pytest-html imports Jinja2 itself: without it loaded, this plugin must not. A fresh
    # interpreter: this one has loaded them all.
    result = project.runpytest_subprocess(*SCORE, "-p", "no:html", "-s")
    result.stdout.fnmatch_lines(["IMPORTED []"])
    assert not list(project.path.glob("*.html"))


def pytest_html_tests(path: Path, result: pytest.RunResult) -> dict[str, Any]:
    """pytest-html's entries of an offline run (its page ph.html), by node id (each a list
    of rows)."""
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = (path / "ph.html").read_text()
    # pytest-html keeps its rows as JSON inside the page: read them back.
    blob = re.search(r'data-jsonblob="([^"]*)"', text)
    assert blob is not None
    tests: dict[str, Any] = json.loads(html_lib.unescape(blob.group(1)))["tests"]
    return tests


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="serial"),
        pytest.param(("-n", "2", "--dist", "loadgroup"), id="xdist-loadgroup"),
        pytest.param(("-n", "2", "--dist", "load"), id="xdist-load"),
    ],
)
def test_pytest_html_carries_each_scorecard_once_and_links_to_it(
    request: pytest.FixtureRequest, args: tuple[str, ...]
) -> None:
    if args:
        project: pytest.Pytester = request.getfixturevalue("project")
        path = project.path
        result = score(project, "--html=ph.html", "--experiment-report=r.json", *args)
    else:  # the shared run is the serial one
        serial: Scored = request.getfixturevalue("scored")
        path, result = serial.path, serial.result
    tests = pytest_html_tests(path, result)
    doc = json.loads((path / "r.json").read_text())
    experiments = {e["name"]: e for e in doc["experiments"]}
    rows = [row for entries in tests.values() for row in entries]
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(row["testId"].split("/")[1], []).append(row)
    assert set(by_experiment) == set(experiments)
    for name, entries in by_experiment.items():
        contents = [extra["content"] for row in entries for extra in row["extras"]]
        assert all(row["extras"] for row in entries), f"{name}: an entry without its extra"
        scorecards = [c for c in contents if "xr-extra" in c]
        links = [c for c in contents if "xr-scorecard-link" in c]
        # Once per experiment; every other entry of it links to that one.
        assert len(scorecards) == 1, name
        assert len(links) == len(entries) - 1, name
        [anchor] = [row for row in entries if "xr-extra" in row["extras"][0]["content"]]
        href = "#" + quote(anchor["testId"], safe="/:@")
        assert all(f'<a href="{html_lib.escape(href)}">' in link for link in links), name
        # The whole experiment as it ended, whatever order its items ran in: every run and
        # every check, also those reported after the entry that carries it.
        page = html_lib.unescape(scorecards[0])
        runs = [run for run in experiments[name]["instances"] if run["instance"]]
        for run in runs:
            assert f'data-instance="{run["instance"]}"' in page, (name, run["instance"])
            for check in run["checks"]:
                assert check["summary"].split("] ", 1)[-1] in page, check
    assert sum(len(r["checks"]) for e in experiments.values() for r in e["instances"]) > 20
    web = by_experiment["web-latency"]
    warn = next(r for r in web if r["testId"].endswith("quality[metrics-source@web-lat-2bc7d]"))
    na = next(
        row
        for row in by_experiment["kv-baseline"]
        if row["testId"].endswith("quality[machine-verdict@kv-base-m4x2p]")
    )
    assert ">⚠ WARN</span>" in "".join(warn["resultsTableRow"])
    assert ">N/A</span>" in "".join(na["resultsTableRow"])


def test_pytest_html_report_is_at_most_three_times_its_size_without_the_scorecards(
    scored: Scored, project: pytest.Pytester
) -> None:
    score(project, "--html=without.html", "-p", "no:experiment-html-extras")
    with_extras = (scored.path / "ph.html").stat().st_size
    without = (project.path / "without.html").stat().st_size
    assert "xr-extra" in (scored.path / "ph.html").read_text()
    assert "xr-extra" not in (project.path / "without.html").read_text()
    assert with_extras <= 3 * without, (with_extras, without)


def test_without_pytest_html_the_run_is_the_same(
    scored: Scored, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the shared run's other outputs, so that pytest-html is the one difference.
    for name, value in ACTIONS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.path / "summary.md"))
    without = score(project, *EVERY_OUTPUT, "-p", "no:html", "--junitxml=without.xml")
    with_html = scored.result
    assert without.ret == with_html.ret == pytest.ExitCode.TESTS_FAILED
    assert without.parseoutcomes() == with_html.parseoutcomes()

    def cases(path: Path) -> list[str]:
        text = path.read_text()
        return sorted(re.findall(r'<testcase classname="[^"]*" name="[^"]*"', text))

    assert cases(project.path / "without.xml") == cases(scored.path / "with.xml")


def test_the_step_summary_points_at_the_html_artifact() -> None:
    board = Scoreboard()
    board.add(
        nodeid="experiments/web/experiment.yaml::lifecycle",
        properties=[("experiment", "web"), ("step", "lifecycle"), ("instance", "web-1"),
                    ("verdict", "pass"), ("summary", "[PASS] done")],
    )  # fmt: skip
    text = step_summary(
        board,
        html_file="report.html",
        artifacts_url="https://github.com/o/r/actions/runs/9#artifacts",
    )
    assert (
        "The HTML scorecard (phase timelines, metrics, suggested fixes) is `report.html` in "
        "[the run's artifacts](https://github.com/o/r/actions/runs/9#artifacts)."
    ) in text
    assert "HTML scorecard" not in step_summary(board)


def test_in_actions_the_step_summary_links_to_the_artifacts(scored: Scored) -> None:
    lines = (scored.path / "summary.md").read_text().splitlines()
    assert lines[:3] == [
        "## Experiment results",
        "",
        "The HTML scorecard (phase timelines, metrics, suggested fixes) is `report.html` in "
        "[the run's artifacts](https://github.example/lab/benchmarks/actions/runs/42#artifacts).",
    ]
