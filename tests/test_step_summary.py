"""The GitHub step summary tells every failure, wherever it happened, as a CI user reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.kubeconfig import TOKEN, write_unreachable


@pytest.fixture
def summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def test_offline_overview_names_every_run_and_every_failure(
    pytester: pytest.Pytester, examples: Path, summary: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    pytester.runpytest("experiments", "--experiment-results=experiments/site/data")
    lines = summary.read_text().splitlines()
    assert lines[:4] == [
        "## Experiment results",
        "",
        "| Experiment | Instance | Lifecycle | Gate | Review | Duration | Cost | Estimate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith("| kv-hyperdisk |")}
    assert "`kv-hdb-t9r3k`" in rows, lines
    cells = [c.strip() for c in rows["`kv-hdb-t9r3k`"].strip("|").split("|")]
    assert cells[0] == "kv-hyperdisk"
    assert cells[3] == "FAIL"  # the quality gate
    assert cells[5] == "44m", cells  # 2640 s, written as the scorecard writes it
    assert cells[6].startswith("$"), cells
    # lint-demo never ran: the overview says where it stopped, the failures say why.
    assert "| lint-demo | — | not applied (validation FAIL) | — | N/A | — | — | unknown |" in lines
    assert "### Failures" in lines
    assert any(
        line.startswith("- **lint-demo** `validate[namespace-var]`: [FAIL] ") for line in lines
    ), lines


def test_an_unreachable_cluster_is_in_the_summary_not_just_a_heading(
    pytester: pytest.Pytester, examples: Path, summary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 credentials are checked at start-up; these never reach an endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    shutil.copytree(examples / "web-latency", pytester.path / "experiments" / "web-latency")
    kubeconfig = pytester.path / "kubeconfig"
    write_unreachable(kubeconfig)
    result = pytester.runpytest(
        "experiments", f"--experiment-kubeconfig={kubeconfig}", "--experiment-toil=off"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = summary.read_text()
    lines = text.splitlines()
    assert (
        "| web-latency | — | not applied (pre-flight FAIL) | — | N/A | — | — | unknown |" in lines
    ), text
    failure = next(
        line for line in lines if line.startswith("- **web-latency** `preflight[operator]`: ")
    )
    assert "[FAIL] No cluster reachable: " in failure
    assert "context 'lab-hub'" in failure
    assert TOKEN not in text
    # The terminal scorecard says where the experiment stopped, too.
    result.stdout.fnmatch_lines(
        ["web-latency (*)", "  Pre-flight:", "    [[]FAIL[]] No cluster reachable: *"]
    )
