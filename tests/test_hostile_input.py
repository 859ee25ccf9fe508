"""Hostile input as a user meets it: bad site data, huge and deep documents, alias bombs.

Every case runs the plugin the way a user does (pytester) and asserts the one
clear problem, with file and line, and that nothing else changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hostile_files import bomb, empties_summary

# Imported before any in-process run (see tests/test_markers.py).
import pytest_experiment.core.spec  # noqa: F401
from pytest_experiment.core.checks import CHECKS
from pytest_experiment.core.limits import MAX_JSON_VALUES

RESULTS = "experiments/site/data"


def outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    """nodeid → outcome of every item (setup errors and call outcomes)."""
    recorder = pytester.inline_run("-p", "no:cacheprovider", *args)
    found: dict[str, str] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            found[report.nodeid] = report.outcome
    return found


def test_one_bad_site_data_file_changes_only_its_own_experiment(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    args = ["experiments", f"--experiment-results={RESULTS}"]
    baseline = outcomes(pytester, *args)

    truncated = pytester.path / RESULTS / "web-lat-2bc7d.json"
    truncated.write_text(truncated.read_text()[:300])
    after = outcomes(pytester, *args)
    changed = {
        nodeid
        for nodeid in baseline.keys() | after.keys()
        if baseline.get(nodeid) != after.get(nodeid)
    }
    assert changed
    assert all(nodeid.startswith("experiments/web-latency/") for nodeid in changed)

    result = pytester.runpytest("-p", "no:cacheprovider", "-rs", *args)
    text = result.stdout.str()
    assert "Traceback" not in text
    # The truncated result is reported against its experiment, not dropped.
    assert f"no summary to score: {truncated}:14: not valid JSON" in text
    assert f"Problem: site data: {truncated}:14: not valid JSON" in text


@pytest.mark.parametrize("where", ["_series.json", "kv-base-m4x2p.json"])
def test_a_5001_digit_integer_in_site_data_is_a_problem_not_a_collection_failure(
    pytester: pytest.Pytester, examples: Path, where: str
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    path = pytester.path / RESULTS / where
    data = json.loads(path.read_text())
    data["hostile"] = 0
    path.write_text(json.dumps(data, indent=1).replace('"hostile": 0', '"hostile": ' + "9" * 5001))
    line = path.read_text().splitlines().index(' "hostile": ' + "9" * 5001) + 1
    report = pytester.path / "report.json"
    summary = pytester.path / "summary.md"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_STEP_SUMMARY", str(summary))
        result = pytester.runpytest(
            "-p",
            "no:cacheprovider",
            "experiments",
            f"--experiment-results={RESULTS}",
            f"--experiment-report={report}",
        )
    text = result.stdout.str()
    assert "Traceback" not in text
    assert "Exceeds the limit" not in text
    assert "error" not in result.parseoutcomes()
    problem = f"site data: {path}:{line}: an integer of 5001 digits, more than the 1000 allowed"
    assert problem in text  # the warnings summary and the scorecard
    assert json.loads(report.read_text())["problems"] == [problem]
    assert f"- {problem}" in summary.read_text()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # lint-demo fails, as always


def test_a_100000_deep_results_file_is_reported_not_a_recursion_error(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples / "web-latency", pytester.path / "web-latency")
    deep = pytester.path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-rs", "web-latency", f"--experiment-results={deep}"
    )
    text = result.stdout.str()
    assert "RecursionError" not in text
    assert "Traceback" not in text
    assert f"no summary to score: {deep}:1: nesting deeper than 64 levels" in text


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("recursive", 4, "recursive YAML alias"),
        ("bomb8", 7, "expands to more than 200000 nodes"),
        ("bomb9", 7, "expands to more than 200000 nodes"),
        ("deep", 2, "nesting deeper than 64 levels"),
        ("digits", 4, "integer of 5001 characters"),
        ("duplicate", 5, "duplicate key 'title' (first at line 3)"),
        ("read-as-equal", 5, "duplicate key '0x1' (first at line 3 as '1'; both read as '1')"),
        ("control", 3, "control characters are not allowed"),
    ],
)
def test_limits_fire_at_collection_with_file_and_line(
    pytester: pytest.Pytester, examples: Path, text: str, line: int, message: str
) -> None:
    documents = {
        "recursive": "kind: Experiment\nspec:\n  targets:\n    - &t {name: a, again: *t}\n",
        "bomb8": bomb(8),
        "bomb9": bomb(9),
        "deep": "kind: Experiment\nspec: " + "[" * 100 + "]" * 100 + "\n",
        "digits": "kind: Experiment\nmetadata: {}\nspec:\n  replicas: " + "9" * 5001 + "\n",
        "duplicate": "kind: Experiment\nspec:\n  title: a\n  series: b\n  title: c\n",
        "read-as-equal": "kind: Experiment\nspec:\n  1: a\n  series: b\n  0x1: c\n",
        "control": "kind: Experiment\nspec:\n  title: a\x1bb\n",
    }
    shutil.copytree(examples / "web-latency", pytester.path / "good")
    (pytester.path / "bad").mkdir()
    bad = pytester.path / "bad" / "experiment.yaml"
    bad.write_text(documents[text])
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    out = result.stdout.str()
    assert f"bad/experiment.yaml:{line}: " in out
    assert message in out
    assert "Traceback" not in out
    assert "rule error" not in out
    assert "good/experiment.yaml::validate[schema]" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!omap [[a]: 1]", "YAML error: found a key that is a list or a mapping"),
        ("!!pairs [{a: 1}: 2]", "YAML error: found a key that is a list or a mapping"),
        ("!!bool maybe", "YAML error: cannot read this value: 'maybe' is not a valid !!bool"),
        ("!!int ''", "YAML error: cannot read this value: '' is not a valid !!int"),
        ("!!float", "YAML error: cannot read this value: '' is not a valid !!float"),
    ],
)
def test_a_tag_its_value_cannot_take_fails_its_file_and_the_others_run(
    pytester: pytest.Pytester, examples: Path, value: str, message: str
) -> None:
    """Each was a raw traceback naming the directory, and an interrupted session."""
    shutil.copytree(examples, pytester.path / "experiments")
    bad = pytester.path / "experiments" / "bad" / "experiment.yaml"
    bad.parent.mkdir()
    bad.write_text(f"kind: Experiment\nmetadata: {{}}\nspec:\n  replicas: {value}\n")
    recorder = pytester.inline_run(
        "-p", "no:cacheprovider", "experiments/web-latency", "experiments/bad",
        f"--experiment-results={RESULTS}",
    )  # fmt: skip
    assert recorder.ret == pytest.ExitCode.TESTS_FAILED  # not INTERRUPTED
    failed = [r for r in recorder.getreports("pytest_collectreport") if r.failed]
    assert [r.nodeid for r in failed] == ["experiments/bad/experiment.yaml"]
    assert str(failed[0].longrepr) == f"{bad}:4: {message}"
    ran = {
        r.nodeid: r.outcome
        for r in recorder.getreports("pytest_runtest_logreport")
        if r.when == "call"
    }
    assert ran["experiments/web-latency/experiment.yaml::validate[schema]"] == "passed"
    assert all(nodeid.startswith("experiments/web-latency/") for nodeid in ran)


def test_a_summary_over_the_value_limit_is_a_problem_of_its_experiment(
    pytester: pytest.Pytester, examples: Path
) -> None:
    """Within 32 MiB but past a million values: refused before it is parsed."""
    shutil.copytree(examples / "web-latency", pytester.path / "web-latency")
    results = pytester.path / "results"
    results.mkdir()
    huge = results / "web-lat-hhhhh.json"
    huge.write_bytes(empties_summary(MAX_JSON_VALUES + 1, name=huge.stem))
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-rs", "web-latency", f"--experiment-results={results}"
    )
    text = result.stdout.str()
    problem = f"{huge}:1: {MAX_JSON_VALUES + 1} values, more than the 1000000 allowed"
    assert f"no summary to score: {problem}" in text
    assert f"Problem: site data: {problem}" in text
    assert result.parseoutcomes()["errors"] == len(CHECKS)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("null", "holds null, not an object"),
        ("[]", "holds array, not an object"),
        ('{"phase": "Complete", "metrics": {}}', 'has no "name" (the instance it is a result of)'),
        ('{"name": 7, "phase": "Complete"}', '"name" is integer, not a string'),
    ],
    ids=["null", "list", "no-name", "name-not-text"],
)
def test_a_result_that_is_not_a_summary_is_reported_not_dropped(
    pytester: pytest.Pytester, examples: Path, document: str, problem: str
) -> None:
    """As the experiment's only result it vanished: N/A "no result matches", exit 0."""
    shutil.copytree(examples / "web-latency", pytester.path / "web-latency")
    results = pytester.path / "results"
    results.mkdir()
    only = results / "web-lat-nnnnn.json"
    only.write_text(document)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-rs", "web-latency", f"--experiment-results={results}"
    )
    text = result.stdout.str()
    assert f"no summary to score: {only}:1: {problem}" in text
    assert f"Problem: site data: {only}:1: {problem}" in text
    assert "no result in" not in text
    assert result.parseoutcomes()["errors"] == len(CHECKS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
