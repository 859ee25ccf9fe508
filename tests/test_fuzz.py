"""Hypothesis fuzzing from the real corpus (the strategies are in ``fuzzing.py``): mutated
experiments and summaries, every class of hostile input.

Properties:

* reading never raises anything but a ``SpecError`` naming file and line;
* keys YAML reads as equal (``1`` and ``0x1``) are a duplicate key, with both lines;
* no rule or check ever ends in ``rule error``/``check error``;
* collection (pytester, in process) never ends in an INTERNALERROR or a raw
  traceback, every collection error names file and line, one bad experiment or
  summary never changes another experiment's verdicts, a result file that is not
  a summary is reported (never dropped), and no file within the limits costs
  more than a CPU budget to collect and score.

``test_fuzz_verdicts.py`` checks the verdicts themselves against the README's rules.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
from pathlib import Path
from typing import Any

import pytest
from fuzzing import (
    COLLECTION,
    EQUAL_KEYS,
    EXAMPLES,
    PROFILE,
    catalogue,
    corpus_experiment,
    equal_keys_text,
    experiment_files,
    experiment_texts,
)
from fuzzing_summaries import summary_files
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiment.base.errors import SpecError
from pytest_experiment.core.checks import CheckInput, run_checks
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.limits import LimitError, parse_json
from pytest_experiment.core.rules import RuleContext, run_rules
from pytest_experiment.core.spec import Experiment, is_experiment, read_source
from pytest_experiment.plugin.markers import BUILTIN, marker_name

__all__ = ["PROFILE", "experiment_files"]  # tests/sandbox/test_fuzz_apply.py draws from them

# A limit that stops holding makes an example run for minutes (an alias bomb
# expanded): fail then, instead of holding CI until its own timeout.
pytestmark = pytest.mark.timeout(
    300 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 3600
)
# CPU seconds one pytester run over the good experiment and one fuzzed file and
# summary may take: a file within the limits collects in seconds (a quadratic
# marker registration took 580 s at the limits, a summary of 11 million values 57 s).
CPU_BUDGET_S = 60.0


# -- properties: reading, rules, checks ---------------------------------------------------------


def _write(directory: Path, text: str) -> Path:
    path = directory / "experiment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def _no_crash_reported(results: list[tuple[str, Any]], word: str) -> None:
    crashed = [result.line for _, result in results if f"{word} error" in result.line]
    assert not crashed


@PROFILE
@given(case=experiment_files())
def test_reading_and_rules_never_crash(tmp_path_factory: pytest.TempPathFactory, case: Any) -> None:
    _, text = case
    path = _write(tmp_path_factory.mktemp("fuzz") / "fuzzed", text)
    error: SpecError | None = None
    try:
        source = read_source(path)
    except SpecError as err:
        error = err
    if error is not None:
        assert error.line is not None
        assert error.line >= 1
        assert str(error).startswith(f"{path}:{error.line}: ")
        return
    if not is_experiment(source.data):
        return
    experiment = Experiment.from_source(source)
    _no_crash_reported(run_rules(RuleContext(experiment=experiment, catalogue=catalogue())), "rule")
    intent = build_intent(experiment)
    for label in (*experiment.tags, intent.series or ""):
        name = marker_name(label)
        # Never a name pytest refuses, nor one of pytest's own.
        assert name
        assert not name.startswith("_")
        assert name not in BUILTIN


@PROFILE
@given(case=st.sampled_from(experiment_texts()), keys=st.sampled_from(EQUAL_KEYS))
def test_keys_read_as_equal_are_a_duplicate_key_with_both_lines(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, str], keys: tuple[str, str]
) -> None:
    """kubectl sends JSON, where ``1`` and ``0x1`` are one key: a value would be lost."""
    text, line = equal_keys_text(case[1], *keys)
    path = _write(tmp_path_factory.mktemp("fuzz") / "equal", text)
    with pytest.raises(SpecError) as info:
        read_source(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: duplicate key ")
    assert f"(first at line {line - 1}" in str(info.value)


@PROFILE
@given(text=summary_files(), which=st.integers(0, 100))
def test_summaries_parse_or_fail_cleanly_and_checks_never_crash(text: str, which: int) -> None:
    limit: LimitError | None = None
    try:
        summary = parse_json(text.encode("utf-8", "surrogatepass"))
    except LimitError as err:
        limit = err
    except ValueError:  # not JSON or not UTF-8: reported by the callers with the line
        return
    if limit is not None:
        assert limit.line is None or limit.line >= 1
        return
    if not isinstance(summary, dict):
        return
    experiment = corpus_experiment(which)
    inp = CheckInput(experiment=experiment, summary=summary, intent=build_intent(experiment))
    _no_crash_reported(run_checks(inp), "check")


# -- properties: collection as a user runs it ---------------------------------------------------

GOOD = "web-latency"


def _outcomes(recorder: pytest.HookRecorder) -> dict[str, tuple[str, str, str]]:
    """nodeid → (outcome, verdict, scorecard line) of every item."""
    found: dict[str, tuple[str, str, str]] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            properties = dict(report.user_properties)
            verdict, summary = properties.get("verdict", ""), properties.get("summary", "")
            found[report.nodeid] = (report.outcome, str(verdict), str(summary))
    return found


_BASELINES: dict[Path, dict[str, tuple[str, str, str]]] = {}


@pytest.fixture
def workspace(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLES / GOOD, pytester.path / GOOD)
    shutil.copytree(EXAMPLES / "site" / "data", pytester.path / "results")
    return pytester


def _run(pytester: pytest.Pytester) -> pytest.HookRecorder:
    return pytester.inline_run("-p", "no:cacheprovider", "--experiment-results=results")


# Named after no experiment, or after an instance of the good one (which then
# gains items for it, but keeps the verdicts of the others).
SUMMARY_NAMES = ["fuzzed-aaaaa.json", "web-lat-zzzzz.json"]


@COLLECTION
@given(case=experiment_files(), summary=summary_files(), name=st.sampled_from(SUMMARY_NAMES))
def test_collection_never_crashes_and_one_bad_file_changes_nothing_else(
    workspace: pytest.Pytester, case: Any, summary: str, name: str
) -> None:
    pytester = workspace
    for leftover in ("bad", *(f"results/{n}" for n in SUMMARY_NAMES)):
        target = pytester.path / leftover
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if pytester.path not in _BASELINES:  # the fixture lives across examples
        _BASELINES[pytester.path] = _outcomes(_run(pytester))
    baseline = _BASELINES[pytester.path]
    assert baseline

    _, text = case
    _write(pytester.path / "bad", text)
    raw = summary.encode("utf-8", "surrogatepass")
    (pytester.path / "results" / name).write_bytes(raw)
    started = resource.getrusage(resource.RUSAGE_SELF)
    recorder = _run(pytester)
    ended = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ended.ru_utime - started.ru_utime + ended.ru_stime - started.ru_stime
    assert cpu < CPU_BUDGET_S, f"{cpu:.0f} s of CPU for files within the limits"
    assert recorder.ret != pytest.ExitCode.INTERNAL_ERROR

    for report in recorder.getreports("pytest_collectreport"):
        if report.failed:
            text = str(report.longrepr)
            assert "Traceback" not in text
            assert re.search(r"bad/experiment\.yaml:\d+: ", text), text
    after = _outcomes(recorder)
    for nodeid, (outcome, verdict, line) in after.items():
        if nodeid.startswith("bad/") and outcome == "failed":
            assert verdict in ("fail", "error"), f"{nodeid} crashed instead of concluding"
        assert "rule error" not in line
        assert "check error" not in line

    # The good experiment's verdicts do not move (a summary named after one of its
    # instances may add items; it may not change the others). Reproducibility excepted:
    # a published run of the same experiment is history the others are compared with.
    def kept(outcomes: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, str, str]]:
        return {k: v for k, v in outcomes.items() if "::quality[reproducibility@" not in k}

    assert kept({k: v for k, v in after.items() if k in baseline}) == kept(baseline)
    if name.startswith("web-lat-") and not _names_an_instance(raw):
        # Unreadable, or not an object naming its instance: reported by the experiment
        # it is named after, never dropped without a word.
        instance = name.removesuffix(".json")
        reported = [k for k in after if k.startswith(f"{GOOD}/") and f"@{instance}]" in k]
        assert reported, f"{name} vanished"
        assert all(after[k][0] == "failed" for k in reported), after


def _names_an_instance(raw: bytes) -> bool:
    try:
        summary = parse_json(raw)
    except ValueError:
        return False
    return (
        isinstance(summary, dict) and isinstance(summary.get("name"), str) and summary["name"] != ""
    )
