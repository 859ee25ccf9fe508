"""What a user sees of a live run whose cluster and results store a conftest.py supplies
through ``pytest_experiment_make_cluster`` / ``pytest_experiment_make_results_store``:
JUnit under xdist, the toil hook, and ``experiment_run`` honouring
``--experiment-results-wait``. No sandbox: the in-memory fakes of tests/fakes."""

from __future__ import annotations

import json
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUMMARY = "experiments/site/data/web-lat-2bc7d.json"

CONFTEST = f"""
import json, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster, Script
from fakes.results import FakeResultsStore

SCRIPT = Script()
READY = 1

def pytest_experiment_make_cluster(config, options):
    return FakeCluster(script=SCRIPT, ready_replicas=READY)
"""

STORE = f"""
SUMMARY = json.loads(Path({SUMMARY!r}).read_text())

def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=lambda instance: SUMMARY)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    for name in ("web-latency", "echo-scaling", "site", "components"):
        shutil.copytree(examples / name, pytester.path / "experiments" / name)
    return pytester


def _cases(path: Path) -> dict[str, ET.Element]:
    """Test cases by ``<experiment>::<item>`` (the classname names the file)."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        experiment = next(
            n for n in ("web-latency", "echo-scaling") if n in case.get("classname", "")
        )
        cases[f"{experiment}::{case.get('name')}"] = case
    return cases


def _outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def test_junit_under_xdist_has_every_item_with_its_outcome_and_verdict(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(CONFTEST + STORE)
    collected = project.runpytest("experiments", "--collect-only", "-q")
    ids = [
        f"{Path(path).parent.name}::{item}"
        for path, _, item in (line.partition("::") for line in collected.outlines)
        if item
    ]
    result = project.runpytest(
        "experiments", "-n", "2", "--dist", "loadgroup", "--junitxml=report.xml"
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out  # echo-scaling's gate fails
    cases = _cases(project.path / "report.xml")
    assert len(ids) > 40
    assert sorted(cases) == sorted(ids)
    verdicts: dict[str, tuple[str, str]] = {}
    for name, case in cases.items():
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        verdicts[name] = (str(properties.get("verdict")), _outcome(case))
    expected_outcome = {"pass": "passed", "fail": "failure", "warn": "skipped", "n-a": "skipped"}
    assert all(expected_outcome[v] == outcome for v, outcome in verdicts.values()), verdicts
    assert verdicts["web-latency::lifecycle"] == ("pass", "passed")
    assert verdicts["echo-scaling::lifecycle"] == ("pass", "passed")
    assert verdicts["web-latency::preflight[operator]"] == ("pass", "passed")
    assert verdicts["echo-scaling::quality[custom-metrics]"] == ("fail", "failure")


FAILING = """
READY = 0
SCRIPT = Script(
    phases=("Provisioning", "Failed"),
    final=lambda _: {"conditions": [{"type": "Failed", "status": "True", "message": "quota"}]},
)

def pytest_experiment_toil(config, record):
    with open("hooked.jsonl", "a") as out:
        out.write(json.dumps({"title": record.title, "priority": record.priority}) + "\\n")
"""


def test_the_toil_hook_gets_every_record_the_run_logs(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST + STORE + FAILING)
    result = project.runpytest("experiments/web-latency", "--experiment-toil-file=toil.jsonl")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    logged = [json.loads(line) for line in (project.path / "toil.jsonl").read_text().splitlines()]
    hooked = [json.loads(line) for line in (project.path / "hooked.jsonl").read_text().splitlines()]
    assert [(r["title"], r["priority"]) for r in logged] == [
        (r["title"], r["priority"]) for r in hooked
    ]
    assert [r["title"] for r in hooked] == [
        "Operator unhealthy at experiment start: web-latency",
        "Experiment failed: web-lat-00001 - quota",
    ]


class _NoSuchKey(BaseHTTPRequestHandler):
    """S3 that has no summary yet: every GetObject is a 404 NoSuchKey."""

    def do_GET(self) -> None:
        body = b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>"
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def empty_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchKey)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_experiment_run_waits_for_a_summary_only_as_long_as_results_wait(
    project: pytest.Pytester, empty_s3: str
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(
        test_user="""
        import pytest
        from pytest_experiment.base.errors import ResultsError

        def test_summary(experiment_run):
            run = experiment_run("web-latency")
            assert run.phase == "Complete"
            with pytest.raises(ResultsError) as missing:
                run.summary
            print("MISSING:", missing.value)
        """
    )
    result = project.runpytest(
        "test_user.py", "-s", f"--experiment-s3-endpoint={empty_s3}", "--experiment-results-wait=2s"
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["MISSING: s3://results/web-lat-*/summary.json not found after 2s"])


TURNED = """
PR = {
    "published": True,
    "publishPRNumber": 42,
    "publishBranch": "experiment/web-lat",
    "publishPRURL": "https://github.com/illm-lab/benchmarks/pull/42",
}
FAILED = {
    "type": "AnalysisComplete", "status": "False", "reason": "Failed",
    "message": "Analyzer Job failed: Job has reached the specified backoff limit",
}
# Published, then its analyzer failed: the operator turns the Complete run Failed.
SCRIPT = Script(
    phases=("Provisioning", "Ready", "Running", "Complete", "Failed"),
    final=lambda name: {
        "resultsURL": f"s3://results/{name}/", "analysisPhase": "Failed",
        "reviewPhase": "Skipped", "conditions": [FAILED], **PR,
    },
)
"""


def test_a_run_turned_failed_after_complete_says_failed_and_still_shows_its_pr(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(CONFTEST + STORE + TURNED)
    result = project.runpytest(
        "experiments/web-latency",
        "--experiment-report=report.json",
        "--experiment-toil-file=toil.jsonl",
    )
    out = result.stdout.str()
    report = json.loads((project.path / "report.json").read_text())
    [experiment] = report["experiments"]
    [instance] = experiment["instances"]
    name = instance["instance"]
    url = "https://github.com/illm-lab/benchmarks/pull/42"
    # The lifecycle saw it complete; the run ended Failed, and its PR is still there.
    assert instance["lifecycle"]["verdict"] == "pass", instance["lifecycle"]
    assert instance["phase"] == "Failed", instance
    assert instance["pr"] == url, instance
    assert instance["review"]["summary"].startswith(
        f"[N/A] Review: no review gate: {name} turned Failed after Complete: AnalysisComplete"
    )
    result.stdout.fnmatch_lines(
        [
            "  --- Experiment Failed ---",
            f"  Experiment:  {name}",
            "  Phase:       Failed",
            "*",
            f"  PR:          {url}",
        ]
    )
    # One analyzer failure, one toil record (beside the failed gate's, of the scored results).
    logged = [json.loads(line) for line in (project.path / "toil.jsonl").read_text().splitlines()]
    assert [r["title"] for r in logged if "Quality gate failed" not in r["title"]] == [
        f"Analyzer failed for {name}"
    ], out


@pytest.mark.parametrize("mode", ["live", "offline"])
def test_k_selecting_one_check_keeps_the_gate_decided_on_every_check(
    project: pytest.Pytester, mode: str
) -> None:
    # echo-scaling's gate fails on five checks; metrics-source alone only warns.
    project.makeconftest(CONFTEST + STORE)
    args = ["experiments/echo-scaling", "-k", "metrics-source", "--experiment-report=r.json"]
    if mode == "offline":
        args.append(f"--experiment-results={SUMMARY}")
    selected = project.runpytest(*args)
    out = selected.stdout.str()
    if mode == "live":
        selected.stdout.fnmatch_lines(["echo-scale-00001: quality gate FAIL"])
    scorecard = out[out.index("experiment scorecard") :]
    assert "    Quality gate: decided on all 7 checks (FAIL); 1 selected here" in scorecard, out
    assert "  Quality:     FAIL" in scorecard, out
    (run,) = json.loads((project.path / "r.json").read_text())["experiments"][0]["instances"]
    assert run["gate"] == "fail"
    assert [c["check"] for c in run["checks"]] == ["metrics-source"]
    assert run["checks"][0]["figures"]["gateVerdicts"]["intent-coverage"] == "fail"

    # Every check selected: the plain gate line, nothing said about a selection.
    everything = project.runpytest(*args[:1], *args[3:])
    assert "    Quality gate: FAIL" in everything.stdout.str().splitlines()
    assert "selected here" not in everything.stdout.str()


def test_k_selecting_only_checks_that_pass_keeps_the_instance_whose_gate_failed(
    project: pytest.Pytester,
) -> None:
    """On-success means the gate decided on every check passed, not only the selected
    items: the instance is kept, and the cleanup line says why."""
    project.makeconftest(CONFTEST + STORE)
    result = project.runpytest(
        "experiments/echo-scaling", "-k", "metrics-source", "--experiment-cleanup=on-success",
        "--experiment-report=r.json",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()  # the selection only warns
    report = json.loads((project.path / "r.json").read_text())
    [cleanup] = report["cleanup"]
    reason = "quality gate FAIL (decided on all 7 checks)"
    assert (cleanup["action"], cleanup["reason"]) == ("kept", reason), cleanup
    result.stdout.fnmatch_lines(
        [f"  kept echo-scale-00001 (echo-scaling): {reason}; delete with: kubectl delete *"]
    )


def test_a_manual_run_ended_by_the_running_budget_is_summarised_as_deleted_by_it(
    project: pytest.Pytester,
) -> None:
    """The run's summary block says how a manual-completion run ended: deleted by the
    running budget, not still Running."""
    project.makeconftest(CONFTEST + STORE + "\nSCRIPT = Script(hold='Running')\n")
    spec = project.path / "experiments" / "web-latency" / "experiment.yaml"
    spec.write_text(spec.read_text().replace("mode: workflow", "mode: manual"))
    result = project.runpytest("experiments/web-latency", "--experiment-budget-running=1s")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "  --- Experiment Deleted ---",
            "  Experiment:  web-lat-00001",
            "  Phase:       Deleted by --experiment-budget-running (manual completion)",
        ]
    )
    assert "Experiment Running" not in result.stdout.str()


LIST_ONLY = """
from fakes.cluster import ListOnlyCluster

SEEN = []

def pytest_experiment_make_cluster(config, options):
    SEEN.append(FakeCluster(script=SCRIPT, ready_replicas=READY))
    return ListOnlyCluster(SEEN[-1])

def pytest_sessionfinish(session):
    with open("requests.json", "w") as out:
        json.dump({"requests": dict(SEEN[0].requests), "selectors": SEEN[0].selectors}, out)
"""


def test_a_cluster_without_a_watch_is_followed_by_listing(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST + STORE + LIST_ONLY)
    # The quality checks are left out: the corpus's summary is not web-latency's own.
    result = project.runpytest(
        "experiments/web-latency",
        "-k",
        "not quality",
        "--experiment-poll-interval=0.1",
        "--experiment-report=r.json",
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    result.assert_outcomes(passed=17, skipped=1)
    # What no list could show is said to have fallen between two polls.
    result.stdout.fnmatch_lines(["web-lat-00001: Running (not observed: between two polls *"])
    seen = json.loads((project.path / "requests.json").read_text())
    # Never a watch: the instance went from Provisioning to Complete in lists alone, the
    # namespace's (no selector) listed at the start and at each poll until it was done.
    assert "watch" not in seen["requests"], seen
    assert seen["selectors"].count(None) >= 2, seen
    report = json.loads((project.path / "r.json").read_text())
    [instance] = report["experiments"][0]["instances"]
    assert instance["lifecycle"]["verdict"] == "pass", instance["lifecycle"]
    assert report["session"]["watch"]["watches"] == 0, report["session"]
    assert report["session"]["watch"]["lists"] == seen["selectors"].count(None), report["session"]


GITHUB = """
from dataclasses import dataclass

SCRIPT = Script(
    final=lambda name: {
        "resultsURL": f"s3://results/{name}/", "analysisPhase": "Succeeded",
        "reviewPhase": "Approved", "published": True, "publishPRNumber": 42,
        "publishPRURL": "https://github.com/illm-lab/benchmarks/pull/42",
    }
)

@dataclass
class PullRequest:
    title: str = "Results from the conftest's GitHub"
    state: str = "MERGED"
    additions: int = 7
    deletions: int = 3

    def line(self):
        return f'PR #42: "{self.title}" (+7, -3)'

class RecordingGitHub:
    def pr_view(self, number):
        self._record("pr_view", number)
        return PullRequest()

    def pr_close(self, number):
        self._record("pr_close", number)
        return ""

    def pr_merge(self, number):
        self._record("pr_merge", number)
        return ""

    def latest_run(self):
        self._record("latest_run")
        return None

    def _record(self, *call):
        with open("github.jsonl", "a") as out:
            out.write(json.dumps(call) + "\\n")

def pytest_experiment_make_github(config, options):
    return RecordingGitHub()
"""


def test_the_review_asks_the_github_a_conftest_supplies(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(project.path))  # no gh to find
    project.makeconftest(CONFTEST + STORE + GITHUB)
    result = project.runpytest(
        "experiments/web-latency", "-k", "review", "--experiment-report=r.json", "-v"
    )
    out = result.stdout.str()
    calls = [json.loads(line) for line in (project.path / "github.jsonl").read_text().splitlines()]
    # The PR's details for the reviewer, then the site deploy the merge started.
    assert calls == [["pr_view", 42], ["latest_run"]], out
    assert result.ret == pytest.ExitCode.OK, out
    report = json.loads((project.path / "r.json").read_text())
    [instance] = report["experiments"][0]["instances"]
    assert instance["review"]["figures"]["prTitle"] == "Results from the conftest's GitHub"


TRACKER = """
from pytest_experiment.core.toil import Logged

class RecordingToil:
    def __init__(self):
        self.logged = []

    def log(self, record):
        with open("tracked.jsonl", "a") as out:
            out.write(json.dumps({"title": record.title}) + "\\n")
        entry = Logged(record, "bd", f"T-{len(self.logged) + 1}")
        self.logged.append(entry)
        return entry

    def finish(self, *, others_used_bd=False):
        with open("finished.txt", "a") as out:
            out.write(f"{len(self.logged)}\\n")
        return None

def pytest_experiment_make_toil_log(config, options):
    return RecordingToil()
"""


def test_toil_goes_to_the_log_a_conftest_supplies(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST + STORE + FAILING + TRACKER)
    result = project.runpytest("experiments/web-latency", "--experiment-toil-file=toil.jsonl")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    tracked = [
        json.loads(line) for line in (project.path / "tracked.jsonl").read_text().splitlines()
    ]
    hooked = [json.loads(line) for line in (project.path / "hooked.jsonl").read_text().splitlines()]
    assert [r["title"] for r in tracked] == [r["title"] for r in hooked]
    assert len(tracked) == 2, out
    assert not (project.path / "toil.jsonl").exists()  # the plugin's own log took nothing
    # Finished once, at the session's end, with every record taken; the summary says
    # where they went as the log answered.
    assert (project.path / "finished.txt").read_text() == "2\n"
    result.stdout.fnmatch_lines(["Toil logged: 2 issue(s)*web-latency*"])
