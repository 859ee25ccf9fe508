"""Verdicts do not depend on the wording of any message.

Every scorecard line goes through one formatter (``CheckResult.line`` with its
``Status.tag``), and the lines that stand in for a missing reason are module
constants. Here they are all reworded, and what the harness decides (the pytest
outcomes, the verdicts, the gate, what it logs as toil, whether a stuck target
is explained) must come out the same: the decisions read types, flags and
class attributes, never text meant for a person.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.core.lifecycle import phases, stuck
from pytest_experiment.core.verdict import CheckResult, Status, blocked
from pytest_experiment.plugin.items import LIVE_STEPS, STEPS, QualityItem, step_of
from pytest_experiment.reporting.report import Scoreboard

TESTS = Path(__file__).resolve().parent


def reword(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every formatter and every stand-in text says something else."""
    monkeypatch.setattr(Status, "tag", property(lambda s: f"<<{s.name.lower()}>>"))
    monkeypatch.setattr(
        CheckResult, "line", property(lambda r: f"{r.summary} -- {r.status.tag} (reworded)")
    )
    monkeypatch.setattr(phases, "NO_CONDITION_MESSAGE", "the conditions are silent")
    monkeypatch.setattr(stuck, "NO_REASON", "nothing said")


@pytest.fixture(params=["as shipped", "reworded"])
def wording(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "reworded":
        reword(monkeypatch)
    return str(request.param)


# -- stuck targets


def _experiment(target: dict[str, Any], conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-x1"},
        "spec": {"targets": [{"name": "app"}]},
        "status": {"phase": "Provisioning", "targets": [target], "conditions": conditions},
    }


CLAIM = {
    "metadata": {"name": "web-x1-app"},
    "status": {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ReconcileError", "message": "quota"}
        ]
    },
}


def test_a_target_without_a_reason_is_explained_by_its_claim_however_worded(
    wording: str,
) -> None:
    obj = _experiment({"name": "app", "phase": "Failed", "clusterName": "web-x1-app"}, [])
    found = stuck.failed_target(obj)
    assert found is not None
    assert found.unexplained
    explained = stuck.explained(found, obj=obj, claims=[CLAIM])
    assert not explained.unexplained
    assert explained.reason == "GKECluster web-x1-app Ready=False (ReconcileError): quota"


def test_a_target_whose_condition_says_why_is_not_looked_up_however_worded(
    wording: str,
) -> None:
    # A condition message that happens to read like the stand-in text is still a reason.
    said = [{"type": "Failed", "status": "True", "message": phases.NO_CONDITION_MESSAGE}]
    obj = _experiment({"name": "app", "phase": "Failed"}, said)
    found = stuck.failed_target(obj)
    assert found is not None
    assert not found.unexplained
    assert stuck.explained(found, obj=obj, claims=[CLAIM]) is found
    assert phases.condition_message(obj) == phases.NO_CONDITION_MESSAGE
    assert phases.condition_message(_experiment({"name": "app"}, [])) is None


# -- the gate and blocked findings


def _board(results: dict[str, CheckResult]) -> Scoreboard:
    board = Scoreboard()
    for check, result in results.items():
        properties = [
            ("experiment", "web"),
            ("instance", "web-x1"),
            ("step", "quality"),
            ("check", check),
            ("verdict", result.status.value),
            ("summary", result.line),
            *([("blocked", True)] if result.blocked else []),
        ]
        board.add(
            nodeid=f"experiments/web/experiment.yaml::quality[{check}]", properties=properties
        )
    return board


def test_blocked_findings_never_count_in_the_gate_however_worded(wording: str) -> None:
    record = (
        _board(
            {
                "data-completeness": blocked("blocked by web::lifecycle"),
                "metric-health": CheckResult(Status.PASS, "every metric has data"),
                "cost": CheckResult(Status.NA, "blocked by nothing: no price for the zone"),
            }
        )
        .experiments["web"]
        .instances["web-x1"]
    )
    assert record.gate_verdicts == {"metric-health": Status.PASS, "cost": Status.NA}
    assert record.gate is Status.PASS


# -- item steps


def test_an_items_step_is_its_class_and_read_back_from_its_id() -> None:
    for step, cls in STEPS.items():
        assert cls.step == step
        nodeid = f"experiments/web/experiment.yaml::{cls.item_name('x@web-1')}"
        assert step_of(nodeid) == step
    assert step_of("experiments/web/experiment.yaml::lifecycle") == "lifecycle"
    assert step_of("experiments/web/test_quality.py::quality[x]") is None
    assert step_of("experiments/web/experiment.yaml::qualityish[x]") is None
    assert {"lifecycle", "quality", "review"} == LIVE_STEPS
    assert QualityItem.live
    assert not STEPS["validate"].live


# -- a whole session, through the plugin

CONFTEST = f"""
import sys

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster, Script
from fakes.results import FakeResultsStore


def pytest_experiment_make_cluster(config, options):
    return FakeCluster(script=Script(), ready_replicas=1)


def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=lambda instance: {{}})
"""


def _decisions(pytester: pytest.Pytester, examples: Path) -> dict[str, Any]:
    shutil.copytree(examples / "lint-demo", pytester.path / "experiments" / "lint-demo")
    shutil.copytree(examples / "components", pytester.path / "experiments" / "components")
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_inprocess(
        "experiments",
        "-p",
        "no:cacheprovider",
        "--experiment-report=report.json",
        "--experiment-toil-file=toil.jsonl",
    )
    outcomes = {
        r.nodeid: r.outcome
        for r in result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        if r.when == "call" or r.outcome != "passed"
    }
    report = json.loads((pytester.path / "report.json").read_text())
    toil = [json.loads(line) for line in (pytester.path / "toil.jsonl").read_text().splitlines()]
    return {
        "exit": result.ret,
        "outcomes": outcomes,
        "report": report["experiments"],
        "toil": [(t.get("title"), t.get("labels")) for t in toil],
    }


def _verdicts(experiments: Any) -> Any:
    """The report's decisions without its lines: every verdict and gate, by name."""
    if isinstance(experiments, dict):
        return {k: _verdicts(v) for k, v in experiments.items() if k not in ("summary", "details")}
    if isinstance(experiments, list):
        return [_verdicts(v) for v in experiments]
    return experiments


def test_a_session_decides_the_same_whatever_its_messages_say(
    pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _decisions(pytester, examples)
    assert plain["exit"] == 1, "lint-demo fails validation"
    assert "skipped" in plain["outcomes"].values(), "its later steps are blocked"
    assert plain["toil"], "its validation failure is logged as toil"
    for path in ("experiments", "report.json", "toil.jsonl", "conftest.py"):
        target = pytester.path / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    reword(monkeypatch)
    reworded = _decisions(pytester, examples)
    assert reworded["exit"] == plain["exit"]
    assert reworded["outcomes"] == plain["outcomes"]
    assert reworded["toil"] == plain["toil"]
    assert _verdicts(reworded["report"]) == _verdicts(plain["report"])
