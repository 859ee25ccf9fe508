"""A missing real corpus skips its tests on a developer's machine and fails the run under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT

USES_CORPUS = """
def test_reads_corpus(upstream):
    assert (upstream / "experiments").is_dir()

def test_needs_nothing():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose conftest is this repository's own, so its real guard is what runs."""
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makepyfile(test_corpus=USES_CORPUS)
    return pytester


def _run(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, corpus: Path, ci: str | None
) -> pytest.RunResult:
    monkeypatch.setenv("EXPERIMENT_UPSTREAM", str(corpus))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the guard is under test
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    # importlib: this repository's conftest is already imported under the name "conftest".
    return project.runpytest_inprocess("-p", "no:cacheprovider", "--import-mode=importlib")


def test_missing_corpus_skips_outside_ci(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(project, monkeypatch, project.path / "absent", ci=None)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_corpus_fails_the_run_under_ci(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    absent = project.path / "absent"
    result = _run(project, monkeypatch, absent, ci=ci)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*real corpus not found at {absent}*CI is set*"])
    result.stdout.no_fnmatch_line("*passed*")


@pytest.mark.parametrize("ci", ["false", ""])
def test_ci_switched_off_still_skips(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    result = _run(project, monkeypatch, project.path / "absent", ci=ci)
    result.assert_outcomes(passed=1, skipped=1)


def test_present_corpus_runs_under_ci(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = project.mkdir("corpus")
    (corpus / "experiments").mkdir()
    result = _run(project, monkeypatch, corpus, ci="true")
    result.assert_outcomes(passed=2)
