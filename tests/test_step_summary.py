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
    assert cells[3] == "🔴 **FAIL**"  # the quality gate, a red badge
    assert cells[5] == "44m", cells  # 2640 s, written as the scorecard writes it
    assert cells[6].startswith("$"), cells
    # lint-demo never ran: the overview says where it stopped, the failures say why.
    row = "| lint-demo | — | 🔴 not applied (validation **FAIL**) | — | ⚪ N/A | — | — | unknown |"
    assert row in lines
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
    row = (
        "| web-latency | — | 🔴 not applied (pre-flight **FAIL**) | — | ⚪ N/A | — | — | unknown |"
    )
    assert row in lines, text
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


def test_every_verdict_in_the_tables_is_a_coloured_badge_and_fail_rows_stand_out(
    pytester: pytest.Pytester, examples: Path, summary: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    pytester.runpytest("experiments", "--experiment-results=experiments/site/data")
    lines = summary.read_text().splitlines()
    badges = {"🟢 PASS", "🟡 WARN", "🔴 **FAIL**", "⚪ N/A", "🟣 **ERROR**"}
    words = {"PASS", "WARN", "FAIL", "N/A", "ERROR"}
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Exp")]
    cells = [c.strip() for row in rows for c in row.strip("|").split(" | ")]
    # No bare verdict word is left in any table: each one wears its badge.
    assert [c for c in cells if c in words] == []
    shown = {c for c in cells if c in badges}
    assert {"🟢 PASS", "🔴 **FAIL**", "🟡 WARN", "⚪ N/A"} <= shown, rows
    # Each run whose gate failed has a red badge on its row of the overview.
    header = next(line for line in lines if line.startswith("| Experiment |"))
    overview = [r for r in rows if r.count("|") == header.count("|")]
    gates = {r.split(" | ")[1]: r.split(" | ")[3] for r in overview}
    assert gates["`kv-hdb-t9r3k`"] == "🔴 **FAIL**"
    failing = [r for r in overview if "FAIL" in r]
    assert len(failing) >= 2
    assert all("🔴" in r for r in failing), failing
    # A check table's rows too.
    assert "| 🔴 **FAIL** | `intent-coverage` |" in "\n".join(lines)
