"""A run that could not verify its results is never green: a summary that cannot be had
is a pytest error (JUnit ``<error>``, exit 1) saying why, not a skip."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_experiment.core.checks import CHECKS


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester


def test_an_unreadable_summary_is_an_error_of_each_quality_item(project: pytest.Pytester) -> None:
    (project.path / "experiments/site/data/web-lat-zzzzz.json").write_text("{not json")
    result = project.runpytest(
        "-rA",
        "experiments/web-latency",
        "--experiment-results=experiments/site/data/web-lat-zzzzz.json",
        "--experiment-report=report.json",
        "--junitxml=report.xml",
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert result.parseoutcomes()["errors"] == len(CHECKS), out
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of web-latency::quality[[]custom-metrics*web-lat-zzzzz*",
            "[[]ERROR[]] no summary to score: *web-lat-zzzzz.json:1: not valid JSON*",
        ]
    )
    testcases = ET.parse(project.path / "report.xml").getroot().iter("testcase")
    errors = [case for case in testcases if case.find("error") is not None]
    assert len(errors) == len(CHECKS)
    for case in errors:
        error = case.find("error")
        assert error is not None
        assert "no summary to score" in (error.get("message") or "")
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["verdict"] == "error"
    report = json.loads((project.path / "report.json").read_text())
    [experiment] = report["experiments"]
    [instance] = [i for i in experiment["instances"] if i["instance"] == "web-lat-zzzzz"]
    assert {c["verdict"] for c in instance["checks"]} == {"error"}
    assert instance["gate"] == "fail"
