"""What a CI reader relies on: JUnit properties, WARN told from skip, step summary."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


@pytest.fixture
def junit(pytester: pytest.Pytester, examples: Path) -> ET.Element:
    shutil.copytree(examples, pytester.path / "experiments")
    # Default junit_family (xunit2): properties must still be written, with no warning.
    result = pytester.runpytest(
        "experiments/web-latency",
        "--experiment-results=experiments/site/data",
        "--junitxml=report.xml",
        "-W",
        "error::pytest.PytestWarning",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return ET.parse(pytester.path / "report.xml").getroot()


def case(root: ET.Element, check: str, instance: str = "") -> ET.Element:
    # Found by properties, not by name: check and instance are what a CI reader filters on.
    (found,) = [
        c
        for c in root.iter("testcase")
        if props(c)["check"] == check and props(c)["instance"] == instance
    ]
    return found


def props(testcase: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in testcase.iter("property")}


def test_every_testcase_carries_the_verdict_properties(junit: ET.Element) -> None:
    for testcase in junit.iter("testcase"):
        p = props(testcase)
        assert p["experiment"] == "web-latency"
        assert p["verdict"] in {"pass", "warn", "fail", "n-a"}
        assert {"instance", "check", "summary"} <= set(p)


def test_warn_is_told_apart_from_a_skip(junit: ET.Element) -> None:
    warn = case(junit, "metrics-source", "web-lat-2bc7d")
    skip = case(junit, "lifecycle")
    warn_skipped, skip_skipped = warn.find("skipped"), skip.find("skipped")
    assert warn_skipped is not None
    assert skip_skipped is not None
    assert props(warn)["verdict"] == "warn"  # ...but the properties say which is which
    assert props(skip)["verdict"] == "n-a"
    assert warn_skipped.get("message", "").startswith("[WARN] Metrics source: target:cadvisor")
    assert skip_skipped.get("message", "").startswith("[N/A] offline")


def test_failure_message_is_the_scorecard_line_with_figures(junit: ET.Element) -> None:
    failed = case(junit, "custom-metrics", "web-lat-2bc7d")
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message") == "[FAIL] Custom metrics: 0/3 collected"
    assert "request_p99" in (failure.text or "")  # the missing metric is named
    p = props(failed)
    assert p["instance"] == "web-lat-2bc7d"
    assert p["check"] == "custom-metrics"
    assert p["collected"] == "0"
    assert p["declared"] == "3"


def test_github_step_summary_gets_markdown(
    pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    summary = pytester.path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.runpytest("experiments/kv-hyperdisk", "--experiment-results=experiments/site/data")
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten
    assert "### kv-hyperdisk — `kv-hdb-t9r3k`: quality FAIL" in text
    assert "| 🔴 **FAIL** | `intent-coverage` |" in text


CAMEL = re.compile(r"^(figure\.)?[a-z][a-zA-Z0-9]*$")


def test_every_junit_property_name_is_camel_case(junit: ET.Element) -> None:
    names = {p.get("name", "") for p in junit.iter("property")}
    assert {"workloadPods", "infrastructurePods", "customMetrics"} & names  # converted figures
    assert [n for n in names if not CAMEL.match(n)] == []


def test_outages_come_from_the_phases_the_watch_did_not_observe() -> None:
    from pytest_experiment.reporting.report import outages_of

    down = {"from": "2026-11-25T18:02:11+00:00", "to": "2026-11-25T18:02:19+00:00"}
    later = {"from": "2026-11-25T18:10:00+00:00", "to": "2026-11-25T18:10:05+00:00"}
    run = {"notObserved": {"Ready": later, "Provisioning": down, "Running": later}}
    assert outages_of(run) == [
        {"start": down["from"], "end": down["to"]},
        {"start": later["from"], "end": later["to"]},
    ]
    assert outages_of({"timeline": {"Pending": "x"}}) == []
