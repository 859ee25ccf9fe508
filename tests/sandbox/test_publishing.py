"""Published runs end to end against the sandbox: results, analyzer, gate,
auto-fix, review, and deletion while a review is pending.

Each test runs pytest over experiment files in a subprocess, as a user would,
with the fake ``gh`` and ``bd`` on PATH, and asserts the exact outcome of every
quality item, the gate, the root causes, the review and the toil records.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from fakes import FakeTools
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import custom_lister, list_raw, wait_until

from .lifecycle import METRICS, NAMESPACE, OPERATOR_FLAVOURS, Run, SetScenario, experiment_doc
from .runs import SESSION_TIMEOUT, Session, managed, run_live, wait_gone, write

CHECKS = (
    "custom-metrics", "metrics-source", "machine-verdict", "workload-pods",
    "presentation", "intent-coverage", "ai-verdict",
)  # fmt: skip
P, W, F, NA = "pass", "warn", "fail", "n-a"


def scored(session: Session, name: str) -> Obj:
    """The instance whose results were scored (an auto-fix run has earlier ones too)."""
    found: Obj = next(i for i in session.experiment(name)["instances"] if i["checks"])
    return found


def verdicts(session: Session, name: str) -> list[str]:
    """The scored instance's check verdicts, in check order."""
    checks = {c["check"]: c["verdict"] for c in scored(session, name)["checks"]}
    return [checks.get(check, "missing") for check in CHECKS]


def check(session: Session, name: str, which: str) -> Obj:
    found: Obj = next(c for c in scored(session, name)["checks"] if c["check"] == which)
    return found


def toil(session: Session, name: str) -> list[tuple[str, int, list[str]]]:
    return [(t["title"], t["priority"], t["labels"]) for t in session.toil(name)]


def bare_doc(generate_name: str) -> Obj:
    """No kube-prometheus-stack and no metrics-agent/egress: custom metrics cannot arrive."""
    doc = experiment_doc(generate_name, publish=True)
    doc["spec"]["targets"][0]["components"] = [
        {"app": "naive-db-fsync"},
        {"app": "db-benchmark-loadgen"},
    ]
    return doc


def unitless_doc(generate_name: str) -> Obj:
    metrics = copy.deepcopy(METRICS)
    for metric in metrics:
        metric.pop("unit", None)
    return experiment_doc(generate_name, publish=True, metrics=metrics)


# (scenario, verdicts in CHECKS order, gate, the toil title's start or None)
GATE = "Quality gate failed: {i} - "
SCENARIOS: tuple[tuple[str, list[str], str, str | None], ...] = (
    ("happy", [P, P, P, P, P, P, P], P, None),
    ("no-custom-metrics", [F, P, F, P, P, F, F], F, GATE + "Custom metrics: 0/4"),
    ("cadvisor-only", [F, W, F, P, P, F, F], F, GATE + "Custom metrics: 0/4"),
    ("partial-metrics", [W, P, F, P, P, P, F], F, GATE + "Machine verdict: insufficient"),
    ("intent-gap", [W, P, P, P, P, F, P], F, GATE + "Intent coverage: 1/2"),
    ("insufficient-verdict", [P, P, F, P, P, P, F], F, GATE + "Machine verdict"),
    ("unitless-latency", [P, P, P, P, W, P, P], W, None),
    ("analyzer-fail", [P, P, P, P, P, P, NA], P, "Analyzer failed for {i}"),
    ("analyzer-timeout", [P, P, P, P, P, P, NA], P, "Analyzer timeout (6s) for {i}"),
    ("analyzer-skip", [P, P, P, P, P, P, NA], P, None),
    ("no-pr", [P, P, P, P, P, P, P], P, "No PR created for published experiment {i}"),
)  # fmt: skip
# Where the real operator differs: pod queries only in cadvisor mode (workload-pods N/A),
# no metrics section when nothing arrived, criteria on the series' mean, an analyzer
# failure that turns the run Failed (still one toil record), no analysis and review
# Skipped without a PR.
REAL: dict[str, tuple[list[str], str, tuple[str, ...]]] = {
    "happy": ([P, P, P, NA, P, P, P], P, ()),
    "no-custom-metrics": ([F, NA, F, NA, NA, F, F], F, (GATE + "Custom metrics: 0/4",)),
    "partial-metrics": ([W, P, P, NA, P, P, P], W, ()),
    "intent-gap": ([W, P, P, NA, P, F, P], F, (GATE + "Intent coverage: 1/2",)),
    "insufficient-verdict": ([P, P, F, NA, P, P, F], F, (GATE + "Machine verdict",)),
    "unitless-latency": ([P, P, P, NA, W, P, P], W, ()),
    "analyzer-fail": ([P, P, P, NA, P, P, NA], P, ("Analyzer failed for {i}",)),
    "analyzer-timeout": ([P, P, P, NA, P, P, NA], P, ("Analyzer timeout (6s) for {i}",)),
    "analyzer-skip": ([P, P, P, NA, P, P, NA], P, ()),
    "no-pr": ([P, P, P, NA, P, P, NA], P, ("No PR created for published experiment {i}",)),
}  # fmt: skip


def expected(flavour: str) -> list[tuple[str, list[str], str, tuple[str, ...]]]:
    rows = []
    for name, verdicts_, gate, title in SCENARIOS:
        titles: tuple[str, ...] = (title,) if title is not None else ()
        if flavour == "real" and name in REAL:
            verdicts_, gate, titles = REAL[name]
        rows.append((name, verdicts_, gate, titles))
    return rows


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_every_results_scenario_gives_exact_outcomes_gate_causes_and_toil(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None, flavour: str,
) -> None:  # fmt: skip
    for i, (name, *_) in enumerate(SCENARIOS):
        generate = f"{prefix}s{i}-"
        scenario(generate, name, operator=flavour)
        doc = (
            unitless_doc(generate)
            if name == "unitless-latency"
            else experiment_doc(generate, publish=True)
        )
        write(pytester, name, doc)
    scenario(f"{prefix}bare-", "happy", operator=flavour)
    bare = write(pytester, "bare", bare_doc(f"{prefix}bare-"))
    before = (bare / "experiment.yaml").read_bytes()
    # The analyzer budget is short for analyzer-timeout, yet long enough that a failure
    # the sandbox reports at once is still a failure on a loaded machine.
    session = run_live(pytester, sandbox, "--experiment-budget-analyzer=6s", "--junitxml=junit.xml")
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED
    for name, wanted, gate, toil_titles in expected(flavour):
        instance = session.instance(name)
        assert verdicts(session, name) == wanted, (name, instance["checks"])
        assert instance["gate"] == gate, name
        titles = [t for t, *_ in toil(session, name)]
        assert len(titles) == len(toil_titles), (name, titles)
        for title, start in zip(titles, toil_titles, strict=True):
            assert title.startswith(start.format(i=instance["instance"])), titles

    # Toil priorities and labels follow the seed's guide.
    assert toil(session, "analyzer-timeout")[0][1:] == (
        3, ["toil", "analyzer-timeout", "analyzer", "timing"]
    )  # fmt: skip
    assert toil(session, "analyzer-fail")[0][1:] == (3, ["toil", "analyzer-fail", "analyzer"])
    assert toil(session, "no-pr")[0][1:] == (3, ["toil", "no-pr", "operator"])
    assert toil(session, "intent-gap")[0][1:] == (2, ["toil", "intent-gap", "quality"])

    # The analyzer's outcome is the ai-verdict's reason, with the job's state on failure.
    assert check(session, "analyzer-fail", "ai-verdict")["summary"] == (
        "[N/A] AI verdict: analyzer failed"
    )
    failed_job = check(session, "analyzer-fail", "ai-verdict")["details"]
    failed = session.instance("analyzer-fail")["instance"]
    # Found by the name each operator gives it (the real one's is in analysisJobName).
    job = f"experiment-analyzer-{failed}" if flavour == "real" else f"{failed}-analyzer"
    assert any(d.startswith(f"job {job}: Failed (BackoffLimitExceeded") for d in failed_job), (
        failed_job
    )
    assert any(d.startswith("log: logs unavailable: ") for d in failed_job), failed_job
    assert check(session, "analyzer-timeout", "ai-verdict")["summary"] == (
        "[N/A] AI verdict: analyzer timed out"
    )
    assert check(session, "analyzer-skip", "ai-verdict")["summary"] == (
        "[N/A] AI verdict: analyzer skipped"
    )
    word = "validated" if flavour == "real" else "confirmed"
    assert check(session, "happy", "ai-verdict")["summary"] == f"[PASS] AI verdict: {word}"
    assert session.instance("happy")["analysis"] == "Succeeded"

    # Root causes are named on the check they explain.
    bare_checks = session.instance("bare")["checks"]
    metrics = check(session, "bare", "custom-metrics")
    assert metrics["verdict"] == F
    assert (
        "root cause (custom-metrics): experiment lacks kube-prometheus-stack — the operator "
        "queries target-local Prometheus for custom metrics via ServiceMonitor scrapes "
        "[fix: add-kube-prometheus-stack]"
    ) in metrics["details"]
    assert any("[fix: add-metrics-pipeline]" in d for d in metrics["details"])
    verdict = check(session, "bare", "machine-verdict")
    assert (
        "root cause (machine-verdict): criterion not evaluable (passed: null): "
        "fsync_write_p99 lt 0.5"
    ) in verdict["details"]
    assert [c["verdict"] for c in bare_checks] == [F, W, F, P, P, F, F]
    # suggest (the default) prints the fix as a diff and leaves the file alone.
    session.result.stdout.fnmatch_lines(
        [
            "*: quality gate FAIL",
            "*: suggested fix (--experiment-autofix=apply applies it):",
            "  --- a/experiments/bare/experiment.yaml",
            "  +++ b/experiments/bare/experiment.yaml",
            "  +    - app: kube-prometheus-stack",
            "  +    - app: metrics-agent",
            "  +    - app: metrics-egress",
        ]
    )
    assert (bare / "experiment.yaml").read_bytes() == before
    gap = check(session, "intent-gap", "intent-coverage")
    assert any(d.startswith("root cause (intent-coverage):") for d in gap["details"]), gap
    unitless = check(session, "unitless-latency", "presentation")
    assert any("[fix: add-metric-units]" in d for d in unitless["details"]), unitless

    # Reviews: left open by default; none when the operator made no PR or the analyzer
    # never finished.
    assert session.instance("happy")["review"]["summary"].startswith("[N/A] Review: PR #")
    if flavour == "real":
        # No PR: the real operator skips review and says why through the status.
        assert session.instance("no-pr")["review"]["summary"] == (
            "[N/A] Review: skipped by the operator (reviewPhase Skipped: published: false, "
            "no PR number)"
        )
        turned = f"{failed} turned Failed after Complete: AnalysisComplete Failed: "
        assert session.instance("analyzer-fail")["review"]["summary"].startswith(
            f"[N/A] Review: no review gate: {turned}"
        )
        assert any(d.startswith(turned) for d in failed_job), failed_job
    else:
        assert session.instance("no-pr")["review"]["summary"] == (
            f"[N/A] Review: no PR created for {session.instance('no-pr')['instance']}"
        )
    assert "review gate is not open" in session.instance("analyzer-timeout")["review"]["summary"]

    # The scorecard names the gate and the causes.
    session.result.stdout.fnmatch_lines(
        [
            "bare (*)",
            "  Results Quality (*):",
            "    [FAIL] Custom metrics: 0/4 collected",
            "*",
            "    Quality gate: FAIL",
            "    Root causes:",
            "      - (custom-metrics): experiment lacks kube-prometheus-stack*",
        ]
    )

    # JUnit alone tells the gate and each check's verdict.
    tree = ET.parse(pytester.path / "junit.xml")
    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
        if "bare" in (case.get("classname") or "")
    }
    assert cases["quality[custom-metrics]"]["verdict"] == F
    assert cases["quality[custom-metrics]"]["gate"] == F
    assert cases["quality[metrics-source]"]["verdict"] == W


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_autofix_apply_edits_the_file_closes_the_pr_and_reruns_until_the_gate_passes(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None, k8s: client.ApiClient,
    flavour: str,
) -> None:  # fmt: skip
    scenario(f"{prefix}fix-", "happy", operator=flavour)
    folder = write(pytester, "bare", bare_doc(f"{prefix}fix-"))
    before = (folder / "experiment.yaml").read_text()
    session = run_live(
        pytester, sandbox, "--experiment-autofix=apply", "--experiment-review=approve"
    )
    assert session.result.ret == pytest.ExitCode.OK, session.stdout
    attempts = check(session, "bare", "custom-metrics")["figures"]["attempts"]
    assert [(a["attempt"], a["gate"], a["fixes"]) for a in attempts] == [
        (1, F, ["add-kube-prometheus-stack", "add-metrics-pipeline"]),
        (2, P, []),
    ]
    first, final = attempts[0]["instance"], attempts[1]["instance"]
    assert first != final
    session.result.stdout.fnmatch_lines(
        [
            f"{first}: quality gate FAIL",
            "Auto-fix attempt 1/3: add-kube-prometheus-stack (*); add-metrics-pipeline (*)."
            " Re-running...",
            "  closed PR #*",
            f"Applied experiment: {final} (from experiments/bare/)",
        ]
    )
    # The real operator's summary has pod queries only in cadvisor mode.
    pods = NA if flavour == "real" else P
    assert verdicts(session, "bare") == [P, P, P, pods, P, P, P]
    # The file changed only by the inserted lines.
    after = (folder / "experiment.yaml").read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == [
        "    - app: kube-prometheus-stack",
        "    - app: metrics-agent",
        "    - app: metrics-egress",
    ]
    assert [line for line in after.splitlines() if line not in added] == before.splitlines()
    # The PR of the abandoned attempt was closed through gh; the final one was approved.
    closes = [argv for argv in fake_tools.calls("gh") if argv[:2] == ["pr", "close"]]
    assert len(closes) == 1
    assert closes[0][3:] == ["--delete-branch"]
    cleanups = {c["instance"]: c for c in session.report["cleanup"]}
    assert cleanups[first]["action"] == "deleted"
    assert cleanups[first]["reason"].startswith("auto-fix attempt 1: replaced by a re-run")
    assert cleanups[final]["action"] == "deleted"
    assert scored(session, "bare")["review"]["verdict"] == P
    # The first attempt is reported too, with the lifecycle it passed.
    assert {i["instance"] for i in session.experiment("bare")["instances"]} == {first, final}


def test_autofix_apply_stops_when_the_rerun_fails_for_a_cause_no_fix_addresses(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    # The pipeline fix lets custom metrics arrive; the re-run then fails on a machine verdict
    # that cannot be evaluated, which no fix addresses: the loop stops and says so.
    scenario(f"{prefix}nofix-", "insufficient-verdict")
    write(pytester, "bare", bare_doc(f"{prefix}nofix-"))
    session = run_live(pytester, sandbox, "--experiment-autofix=apply")
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED
    attempts = check(session, "bare", "custom-metrics")["figures"]["attempts"]
    assert [(a["attempt"], a["gate"], a["fixes"]) for a in attempts] == [
        (1, F, ["add-kube-prometheus-stack", "add-metrics-pipeline"]),
        (2, F, []),
    ]
    assert verdicts(session, "bare") == [P, P, F, NA, P, P, F]
    stopped = (
        "no new fix applies (already applied: add-kube-prometheus-stack, add-metrics-pipeline)"
    )
    session.result.stdout.fnmatch_lines(
        [
            "Auto-fix attempt 1/3: add-kube-prometheus-stack (*); add-metrics-pipeline (*)."
            " Re-running...",
            f"{attempts[1]['instance']}: auto-fix stopped: {stopped}",
        ]
    )
    assert len([a for a in fake_tools.calls("gh") if a[:2] == ["pr", "close"]]) == 1


@pytest.mark.parametrize(
    ("action", "phase", "verdict", "summary"),
    [
        ("approve", "Approved", P, "[PASS] Review: approved; PR #{n} merged"),
        ("reject", "Rejected", P, "[PASS] Review: rejected as asked; PR #{n} closed"),
        ("auto", "Approved", P, "[PASS] Review: approved; PR #{n} merged"),
        ("skip", "Pending", NA, "[N/A] Review: PR #{n} left open (--experiment-review=skip)"),
    ],
)
@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_review_actions_annotate_and_wait_for_the_operator(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None, k8s: client.ApiClient,
    action: str, phase: str, verdict: str, summary: str, flavour: str,
) -> None:  # fmt: skip
    scenario(f"{prefix}r-", "happy", operator=flavour)
    write(pytester, "fsync", experiment_doc(f"{prefix}r-", publish=True))
    session = run_live(
        pytester, sandbox, f"--experiment-review={action}", "--experiment-cleanup=never"
    )
    instance = session.instance("fsync")
    name = instance["instance"]
    review = instance["review"]
    assert review["verdict"] == verdict
    obj = Run(api=k8s, name=name).get()
    annotation = (obj["metadata"].get("annotations") or {}).get("experiments.illm.io/review")
    expected = {"approve": "approved", "reject": "rejected", "auto": "approved"}.get(action)
    assert annotation == expected
    assert obj["status"]["reviewPhase"] == phase
    number = obj["status"]["publishPRNumber"]
    assert review["summary"] == summary.format(n=number)
    gh = fake_tools.calls("gh")
    assert ["pr", "view", str(number), "--json", "number,title,state,additions,deletions,url"] in gh
    assert review["figures"]["prTitle"] == f"Experiment results #{number}"
    assert (review["figures"]["additions"], review["figures"]["deletions"]) == (128, 4)
    deploy = ["run", "list", "-w", "Deploy Benchmark Site", "-L", "1", "--json",
              "status,conclusion,url"]  # fmt: skip
    assert (deploy in gh) == (phase == "Approved")
    if phase == "Approved":
        assert any(
            d.startswith("Deploy Benchmark Site: completed success") for d in review["details"]
        )
    if action == "skip":
        command = f"kubectl annotate experiment {name} -n experiments experiments.illm.io/review"
        session.result.stdout.fnmatch_lines(
            [f"  To approve later: {command}=approved", f"  To reject later:  {command}=rejected"]
        )
    assert instance["review"]["figures"]["reviewPhase"] == phase
    Run(api=k8s, name=name).delete()


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_auto_leaves_the_pr_of_a_failing_gate_open(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None, flavour: str,
) -> None:  # fmt: skip
    scenario(f"{prefix}w-", "insufficient-verdict", operator=flavour)
    write(pytester, "partial", experiment_doc(f"{prefix}w-", publish=True))
    session = run_live(pytester, sandbox, "--experiment-review=auto", "--experiment-cleanup=always")
    review = session.instance("partial")["review"]
    assert review["verdict"] == W
    assert review["summary"].startswith("[WARN] Review: PR #")
    assert review["summary"].endswith("left open for a person: quality gate FAIL")


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_a_pr_closed_by_a_reviewer_fails_the_review(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None,
    monkeypatch: pytest.MonkeyPatch, k8s: client.ApiClient, flavour: str,
) -> None:  # fmt: skip
    scenario(f"{prefix}rj-", "review-rejected", operator=flavour)
    monkeypatch.setenv("FAKE_GH_PR_STATE", "CLOSED")
    write(pytester, "fsync", experiment_doc(f"{prefix}rj-", publish=True))
    session = run_live(
        pytester, sandbox, "--experiment-review=approve", "--experiment-cleanup=never"
    )
    instance = session.instance("fsync")
    review = instance["review"]
    assert review["verdict"] == F
    assert review["summary"].endswith("rejected by a reviewer; the results are not published")
    obj = Run(api=k8s, name=instance["instance"]).get()
    # A closed PR is not approved over: nothing was annotated.
    assert "experiments.illm.io/review" not in (obj["metadata"].get("annotations") or {})
    assert obj["status"]["reviewPhase"] == "Rejected"
    Run(api=k8s, name=instance["instance"]).delete()


@pytest.mark.parametrize(
    ("action", "gh", "summary"),
    [
        ("approve", ["pr", "merge"], "squash-merged with gh"),
        ("reject", ["pr", "close"], "closed with gh"),
    ],
)
def test_an_operator_without_a_review_gate_is_reviewed_with_gh(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None,
    action: str, gh: list[str], summary: str,
) -> None:  # fmt: skip
    scenario(f"{prefix}ng-", "no-review-gate")
    write(pytester, "fsync", experiment_doc(f"{prefix}ng-", publish=True))
    session = run_live(
        pytester, sandbox, f"--experiment-review={action}", "--experiment-budget-review=1s"
    )
    review = session.instance("fsync")["review"]
    assert review["verdict"] == P, review
    assert review["summary"].endswith(f"{summary} (the operator set no reviewPhase in 1s)")
    calls = [
        argv for argv in fake_tools.calls("gh") if argv[:2] in (["pr", "merge"], ["pr", "close"])
    ]
    assert len(calls) == 1
    assert calls[0][:2] == gh
    assert calls[0][3:] == (
        ["--squash", "--delete-branch"] if action == "approve" else ["--delete-branch"]
    )
    assert session.cleanup("fsync")["action"] == "deleted"


def test_deleting_an_instance_while_its_review_is_pending_reports_the_pr_closed(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    fake_tools: FakeTools, s3_credentials: None, k8s: client.ApiClient,
) -> None:  # fmt: skip
    write(pytester, "kept", experiment_doc(f"{prefix}pk-", publish=True))
    session = run_live(pytester, sandbox)
    kept = session.cleanup("kept")
    # on-success keeps it: deleting would close the PR left open for review.
    assert kept["action"] == "kept"
    assert kept["reason"].startswith("review Pending: PR #")
    Run(api=k8s, name=kept["instance"]).delete()

    write(pytester, "deleted", experiment_doc(f"{prefix}pd-", publish=True))
    (pytester.path / "experiments" / "kept").rename(pytester.path / "kept-done")
    session = run_live(pytester, sandbox, "--experiment-cleanup=always")
    deleted = session.cleanup("deleted")
    assert deleted["action"] == "deleted"
    assert "; review was Pending: the operator closed PR #" in deleted["reason"]
    assert deleted["reason"].endswith("as it deleted the instance")
    items, _ = list_raw(
        custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
        field_selector=f"metadata.name={deleted['instance']}",
    )
    assert items == []


@pytest.mark.parametrize("policy", ["always", "on-success"])
def test_ctrl_c_while_a_review_is_pending_closes_its_pr_only_when_the_policy_deletes(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None, k8s: client.ApiClient,
    policy: str,
) -> None:  # fmt: skip
    # One published experiment reaches review Pending; another never finishes, so the
    # session is still running when Ctrl-C comes.
    scenario(f"{prefix}stuck-", "stuck-running")
    write(pytester, "a-published", experiment_doc(f"{prefix}pub-", publish=True))
    write(pytester, "b-stuck", experiment_doc(f"{prefix}stuck-"))
    report = pytester.path / "experiment-report.json"
    out = pytester.path / "stdout.txt"
    lister = custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE)

    def pending_and_running(objects: dict[str, Obj]) -> bool:
        states = {
            o["metadata"]["name"].split("-")[1]: o.get("status", {})
            for o in objects.values()
            if o["metadata"]["name"].startswith(prefix)
        }
        return bool(
            states.get("pub", {}).get("reviewPhase") == "Pending"
            and states.get("stuck", {}).get("phase") == "Running"
        )

    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "pytest", "experiments", "-v", "-p", "no:cacheprovider",
                f"--experiment-kubeconfig={sandbox.kubeconfig}",
                f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
                f"--experiment-report={report}", f"--experiment-cleanup={policy}",
            ],
            cwd=pytester.path, stdout=stdout, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until(lister, pending_and_running, timeout=SESSION_TIMEOUT, what="review Pending")
            proc.send_signal(signal.SIGINT)
            ret = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for leftover in managed(k8s, prefix):
                Run(api=k8s, name=leftover["metadata"]["name"]).delete()
    text = out.read_text()
    assert ret == pytest.ExitCode.INTERRUPTED, text
    records = {c["experiment"]: c for c in json.loads(report.read_text())["cleanup"]}
    published = records["a-published"]
    # Whether Ctrl-C landed in its quality items or after its review item, the PR's fate is
    # what the record says.
    if policy == "on-success":
        # The review is still open and deleting would close its PR: kept, saying so.
        assert published["action"] == "kept", published
        assert "review Pending: PR #" in published["reason"], published
        assert published["reason"].endswith("deleting the instance closes it"), published
        # The unfinished one holds cloud resources: deleted even under on-success.
        assert records["b-stuck"]["action"] == "deleted", records["b-stuck"]
        return
    assert published["action"] == "deleted", published
    assert "; review was Pending: the operator closed PR #" in published["reason"], published
    assert published["reason"].endswith("as it deleted the instance"), published
    assert f"  deleted {published['instance']} (a-published): " in text
    assert records["b-stuck"]["action"] == "deleted"
    wait_gone(k8s, published["instance"])


def test_the_real_operators_quality_gate_and_a_vanished_analyzer_job(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    """Only the real operator re-collects, exhausts its quality gate and turns Complete runs
    Failed; the harness waits through the one, and names the others on the items left."""
    for i, name in enumerate(("quality-gate-recollect", "quality-gate-exhausted",
                              "analyzer-job-gone")):  # fmt: skip
        scenario(f"{prefix}g{i}-", name)
        write(pytester, name, experiment_doc(f"{prefix}g{i}-", publish=True))
    session = run_live(pytester, sandbox, "--experiment-cleanup=always")
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout

    # Coverage recovered on the first re-collection: scored as usual, nothing to report.
    recollected = session.instance("quality-gate-recollect")
    assert verdicts(session, "quality-gate-recollect") == [P, P, P, NA, P, P, P]
    assert recollected["gate"] == P
    assert toil(session, "quality-gate-recollect") == []

    # Exhausted: the lifecycle stays as observed, every quality item fails naming the
    # condition (the failed run's summary in the details, not scored), review has no gate.
    exhausted = session.instance("quality-gate-exhausted")
    instance = exhausted["instance"]
    assert exhausted["lifecycle"]["verdict"] == P
    turned = (
        f"{instance} turned Failed after Complete: QualityGate Exhausted: Quality gate "
        "exhausted after 3 re-collections: data coverage "
    )
    for item in exhausted["checks"]:
        assert item["verdict"] == F, item
        assert item["summary"].startswith(f"[FAIL] {turned}"), item
        assert item["summary"].endswith("; no results to score"), item
        assert "failed run's summary.json phase: Failed" in item["details"], item
    assert exhausted["review"]["summary"].startswith(f"[N/A] Review: no review gate: {turned}")
    [(title, priority, labels)] = toil(session, "quality-gate-exhausted")
    assert title.startswith(f"Experiment turned Failed after Complete: {instance} - QualityGate")
    assert (priority, labels) == (2, ["toil", "quality-gate-exhausted", "quality"])

    # The analyzer's Job vanished: the results are still scored, the AI verdict is N/A and
    # every item names the turn.
    gone = session.instance("analyzer-job-gone")
    instance = gone["instance"]
    job = f"experiment-analyzer-{instance}"
    turned = (
        f"{instance} turned Failed after Complete: AnalysisComplete JobNotFound: "
        f"Analyzer Job {job} not found"
    )
    assert verdicts(session, "analyzer-job-gone") == [P, P, P, NA, P, P, NA]
    assert turned in check(session, "analyzer-job-gone", "custom-metrics")["details"]
    ai = check(session, "analyzer-job-gone", "ai-verdict")
    assert ai["summary"] == "[N/A] AI verdict: analyzer failed"
    assert turned in ai["details"]
    assert gone["review"]["summary"] == f"[N/A] Review: no review gate: {turned}"
    # One analyzer failure, one record; the turn is on every item.
    assert [t for t, *_ in toil(session, "analyzer-job-gone")] == [
        f"Analyzer failed for {instance}"
    ]
