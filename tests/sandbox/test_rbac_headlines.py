"""The shipped runner role is complete: a run's failures read the same as the runner as
they do with admin, headline first (the JUnit failure message, the JSON summary, the
scorecard), then the details.

A permission the role lacks turns a read the harness makes on the failure path into a
403; it shows as a different headline (``workflow …: forbidden …`` where admin reads
``workflow … Failed: …``) or a detail line naming the refusal, never as a failed run of its
own. So the same scenarios run once as admin and once as the ServiceAccount bound to
``deploy/rbac.yaml``, and what a user reads is compared item by item.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeTools
from kubernetes import client

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox

from .lifecycle import SetScenario, experiment_doc
from .rbac import install_runner
from .runs import run_live, write

# name: (scenario, its options, published). Items run in the order of the names: the
# failed run's lifecycle item comes first, so it reads the Workflow before the operator's
# cleanup deletes it (15 s on the lab's hub, milliseconds at the sandbox's time scale).
SCENARIOS: dict[str, tuple[str, dict[str, Any], bool]] = {
    # Failed in Running: the reason is read from the Argo Workflow.
    "a-failed-running": ("fail-running", {"message": "workflow step crashed"}, False),
    # The real operator marks the target Failed and never the experiment: stuck.
    "b-stuck-target": ("fail-provisioning", {"message": "quota exceeded"}, False),
    # Complete, then Failed by the operator's own quality gate.
    "c-gate-exhausted": ("quality-gate-exhausted", {}, True),
    # Complete, and the analyzer Job failed: its log is read.
    "d-analyzer-failed": ("analyzer-fail", {}, True),
}
REFUSED = re.compile(r"forbidden|HTTP 40[13]|cannot (get|list|watch) ", re.IGNORECASE)
# What differs between two runs of one scenario whatever the identity: times and counts
# of the simulated operator's clock.
_DURATION = re.compile(r"\b\d+(\.\d+)?(ms|s|m|h)\b")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?|\b\d{2}:\d{2}:\d{2}\b")


@dataclass(frozen=True)
class Item:
    outcome: str
    message: str
    """The JUnit failure/skip message: the scorecard line CI gates on."""
    summary: str
    """The JSON report's verdict line for the item."""


@dataclass(frozen=True)
class Seen:
    """What one run showed, normalised: per item, its details, the scorecard lines."""

    items: dict[str, Item]
    details: dict[str, list[str]]
    scorecard: list[str]
    stdout: str


def normalise(text: str, instances: dict[str, str]) -> str:
    for instance, name in instances.items():
        text = text.replace(instance, f"<{name}>")
    return _TIMESTAMP.sub("<time>", _DURATION.sub("<duration>", text))


def junit_items(path: Path) -> dict[str, tuple[str, str]]:
    """``<experiment>::<item>`` → (outcome, message) from a JUnit file."""
    found = {}
    for case in ET.parse(path).iter("testcase"):
        properties = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        experiment = properties.get("experiment")
        if experiment is None:
            continue
        marks = [c for c in case if c.tag in ("failure", "error", "skipped")]
        found[f"{experiment}::{case.get('name')}"] = (
            marks[0].tag if marks else "passed",
            marks[0].get("message", "") if marks else "",
        )
    return found


def report_findings(report: Obj) -> dict[str, tuple[str, list[str]]]:
    """``<experiment>::<item>`` → (summary, details) from the JSON report."""
    found: dict[str, tuple[str, list[str]]] = {}
    for experiment in report["experiments"]:
        name = experiment["name"]
        for finding in experiment["preflight"]:
            found[f"{name}::preflight[{finding['check']}]"] = (finding["summary"], [])
        for run in experiment["instances"]:
            lifecycle = run["lifecycle"]
            found[f"{name}::lifecycle"] = (lifecycle["summary"], lifecycle.get("details") or [])
            for check in run["checks"]:
                found[f"{name}::quality[{check['check']}]"] = (
                    check["summary"],
                    check.get("details") or [],
                )
            review = run.get("review")
            if review:
                found[f"{name}::review"] = (review["summary"], review.get("details") or [])
    return found


def instances_of(report: Obj) -> dict[str, str]:
    return {
        run["instance"]: experiment["name"]
        for experiment in report["experiments"]
        for run in experiment["instances"]
        if run.get("instance")
    }


def titles(details: list[str]) -> list[str]:
    return [line.split(": ")[0] for line in details if not line.startswith(" ")]


def scorecard(stdout: str, instances: dict[str, str]) -> list[str]:
    """The scorecard lines of the terminal summary (verdict lines), normalised."""
    lines = [line.strip() for line in stdout.splitlines()]
    picked = [line for line in lines if re.match(r"\[(PASS|WARN|FAIL|N/A)\] ", line)]
    return sorted(normalise(line, instances) for line in picked)


def test_failed_runs_read_the_same_as_the_runner_as_with_admin(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, fake_tools: FakeTools,
    s3_credentials: None,
) -> None:  # fmt: skip
    for i, (name, (chosen, options, published)) in enumerate(SCENARIOS.items()):
        scenario(f"{prefix}{i}-", chosen, **options)
        write(pytester, name, experiment_doc(f"{prefix}{i}-", publish=published))
    runner = install_runner(k8s, sandbox, pytester.path / "runner")
    seen: dict[str, Seen] = {}
    for who, kubeconfig in (("admin", sandbox.kubeconfig), ("runner", runner.kubeconfig)):
        session = run_live(
            pytester, sandbox, "--experiment-cleanup=always", f"--junitxml={who}.xml",
            kubeconfig=kubeconfig,
        )  # fmt: skip
        assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
        instances = instances_of(session.report)
        assert sorted(instances.values()) == sorted(SCENARIOS), instances
        junit = junit_items(pytester.path / f"{who}.xml")
        findings = report_findings(session.report)
        seen[who] = Seen(
            items={
                key: Item(
                    outcome=outcome,
                    message=normalise(message, instances),
                    summary=normalise(findings[key][0], instances) if key in findings else "",
                )
                for key, (outcome, message) in junit.items()
            },
            details={
                key: [normalise(line, instances) for line in details]
                for key, (_, details) in findings.items()
            },
            scorecard=scorecard(session.stdout, instances),
            stdout=session.stdout,
        )
    admin, runner_seen = seen["admin"], seen["runner"]
    # Each scenario failed where it should, as admin (so the comparison means something).
    failed = {k for k, item in admin.items.items() if item.outcome == "failure"}
    assert {k.split("::")[0] for k in failed} == set(SCENARIOS) - {"d-analyzer-failed"}, failed
    assert admin.items["d-analyzer-failed::quality[ai-verdict]"].message == (
        "[N/A] AI verdict: analyzer failed"
    )
    assert "workflow <a-failed-running>-validation Failed: workflow step crashed" in (
        admin.items["a-failed-running::lifecycle"].message
    )
    # The headline: every item's outcome, JUnit message and JSON summary, as admin's.
    for key, item in admin.items.items():
        assert runner_seen.items.get(key) == item, key
    assert runner_seen.items.keys() == admin.items.keys()
    assert runner_seen.scorecard == admin.scorecard
    # The details: every diagnostic part read, none refused.
    for key, lines in admin.details.items():
        theirs = runner_seen.details[key]
        refused = [line for line in theirs if REFUSED.search(line)]
        assert refused == [], (key, refused)
        # A part's title, not its content: the operator's cleanup may delete the objects
        # between the two runs' reads.
        assert titles(theirs) == titles(lines), key
    assert not REFUSED.search(runner_seen.stdout), runner_seen.stdout
