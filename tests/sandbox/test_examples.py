"""The project's examples through the sandbox, read back from the JUnit file alone (issue #5.6).

This is ``make demo`` as a test: a CI job that keeps only ``report.xml`` must
be able to tell, per experiment, the gate, each check's verdict and figures,
the review outcome and the PR URL.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakes import FakeTools

from pytest_experiment.core.checks import CHECKS as REGISTRY
from pytest_experiment.sandbox import Sandbox

from .runs import run_live

CHECKS = tuple(c.name for c in REGISTRY)
P, W, F, NA = "pass", "warn", "fail", "n-a"


@dataclass
class Scorecard:
    """What one experiment's testcases say, and nothing else."""

    outcomes: dict[str, str] = field(default_factory=dict)
    """Item name → passed / failure / skipped, as JUnit records it."""
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    def verdicts(self) -> list[str]:
        return [self.properties[f"quality[{c}]"]["verdict"] for c in CHECKS]

    def gates(self) -> set[str]:
        return {self.properties[f"quality[{c}]"]["gate"] for c in CHECKS}


def scorecards(junit: Path) -> dict[str, Scorecard]:
    cards: dict[str, Scorecard] = {}
    for case in ET.parse(junit).iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        if "experiment" not in props:
            continue
        card = cards.setdefault(props["experiment"], Scorecard())
        name = case.get("name", "")
        marks = [c for c in case if c.tag in ("failure", "error", "skipped")]
        card.outcomes[name] = marks[0].tag if marks else "passed"
        card.messages[name] = marks[0].get("message", "") if marks else ""
        card.properties[name] = props
    return cards


@pytest.fixture
def examples_project(pytester: pytest.Pytester, examples: Path) -> Path:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester.path


def test_the_junit_file_of_the_examples_is_a_complete_scorecard(
    pytester: pytest.Pytester, sandbox: Sandbox, examples_project: Path,
    fake_tools: FakeTools, s3_credentials: None, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    step_summary = examples_project / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    session = run_live(
        pytester, sandbox,
        "--experiment-apply-templates", "--experiment-review=auto",
        "--experiment-cleanup=always", "--junitxml=report.xml",
    )  # fmt: skip
    # lint-demo fails validation on purpose and echo-scaling fails its gate.
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
    cards = scorecards(examples_project / "report.xml")
    assert set(cards) == {"web-latency", "echo-scaling", "kv-baseline", "kv-hyperdisk", "lint-demo"}

    # A clean published experiment: every check passes with its figures, the gate
    # passes, auto approves, and the merged PR is named.
    web = cards["web-latency"]
    # The lab's operator queries pods only in cadvisor mode: workload-pods has nothing to
    # classify when the target's Prometheus answered.
    # Reproducibility: compared with the four shipped runs of its fingerprint, p99 agrees
    # and the sandbox's fresh p50 and CPU are inconclusive; that WARN does not hold the gate.
    assert web.verdicts() == [P, P, P, NA, P, P, P, W]
    assert web.messages["quality[reproducibility]"] == (
        "[WARN] Reproducibility: inconclusive for 2 of 3 metrics (request_p50, server_cpu) — "
        "noise between runs (±182%) is wider than the 10% shift that matters"
    )
    assert web.gates() == {P}
    metrics = web.properties["quality[custom-metrics]"]
    assert (metrics["collected"], metrics["declared"]) == ("3", "3")
    assert metrics["summary"] == "[PASS] Custom metrics: 3/3 collected"
    assert web.properties["quality[ai-verdict]"]["summary"] == "[PASS] AI verdict: validated"
    review = web.properties["review"]
    assert review["verdict"] == P
    assert review["reviewPhase"] == "Approved"
    assert review["summary"] == f"[PASS] Review: approved; PR #{review['prNumber']} merged"
    assert review["prURL"].startswith("https://github.com/illm-lab/benchmarks/pull/")

    # Published without the pipeline: only cAdvisor data arrived. JUnit carries the
    # failing checks as failures, the WARN as a skip with its verdict, the root causes,
    # the suggested fix, and the PR auto left open for a person.
    echo = cards["echo-scaling"]
    assert echo.verdicts() == [F, W, F, P, P, F, F, NA]
    assert echo.gates() == {F}
    assert echo.outcomes["quality[custom-metrics]"] == "failure"
    assert echo.messages["quality[custom-metrics]"] == "[FAIL] Custom metrics: 0/2 collected"
    assert echo.outcomes["quality[metrics-source]"] == "skipped"
    assert echo.messages["quality[metrics-source]"].startswith("[WARN] Metrics source: ")
    details = json.loads(echo.properties["quality[custom-metrics]"]["details"])
    assert any(
        d.startswith("root cause (custom-metrics): experiment lacks kube-prometheus-stack")
        for d in details
    ), details
    assert json.loads(echo.properties["quality[custom-metrics]"]["missing"]) == [
        "request_p99", "server_cpu"
    ]  # fmt: skip
    review = echo.properties["review"]
    assert review["verdict"] == W
    assert review["reviewPhase"] == "Pending"
    assert review["summary"] == (
        f"[WARN] Review: PR #{review['prNumber']} left open for a person: quality gate FAIL"
    )
    assert review["prURL"].startswith("https://github.com/illm-lab/benchmarks/pull/")
    gate = json.loads(review["gateReport"])
    assert gate["gate"] == F
    assert "+        - app: kube-prometheus-stack" in gate["fixDiff"]

    # The series: both steps pass their gates and are approved.
    for name in ("kv-baseline", "kv-hyperdisk"):
        assert cards[name].gates() == {P}, name
        assert cards[name].properties["review"]["reviewPhase"] == "Approved", name

    # Not applied: the validation failures are the failures, the run items say why.
    lint = cards["lint-demo"]
    failed = sorted(n for n, o in lint.outcomes.items() if o == "failure")
    assert failed == [
        "validate[gke-name-length]", "validate[namespace-var]", "validate[storage-machine]"
    ]  # fmt: skip
    assert lint.outcomes["lifecycle"] == "skipped"
    assert lint.messages["lifecycle"] == "[N/A] blocked by lint-demo::validate[gke-name-length]"

    # The GitHub step summary tells the same story in Markdown.
    markdown = step_summary.read_text()
    echo_review = echo.properties["review"]
    web_review = web.properties["review"]
    for line in (
        f"### echo-scaling — `{echo_review['instance']}`: quality FAIL",
        "| 🔴 **FAIL** | `custom-metrics` | Custom metrics: 0/2 collected |",
        "Root causes:",
        f"{echo_review['summary']} — {echo_review['prURL']}",
        f"### web-latency — `{web_review['instance']}`: quality PASS",
        f"{web_review['summary']} — {web_review['prURL']}",
    ):
        assert line in markdown.splitlines(), (line, markdown)
    assert any(
        x.startswith("- (custom-metrics): experiment lacks kube-prometheus-stack")
        for x in markdown.splitlines()
    ), markdown
    # The fix suggested for echo-scaling, collapsed, as the diff a person would apply.
    fix = markdown.split("<details><summary>Suggested fix (experiment.yaml)</summary>", 1)
    assert len(fix) == 2, markdown
    assert fix[1].lstrip().startswith("```diff\n--- "), fix[1][:200]
    assert "+        - app: kube-prometheus-stack" in fix[1].split("</details>")[0]
