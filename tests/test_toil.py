"""Toil records through a fake bd on PATH and through the JSON-lines fallback, no shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeTools, install_fake_tools

from pytest_experiment.core.toil import ToilRecord, summary_lines, toil_record
from pytest_experiment.edges.tracker import ToilLog

HOSTILE = 'Experiment failed: gw-comp-b5jbs - "quota" exceeded; $(rm -rf /) `id` && echo pwned'


@pytest.fixture
def bd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    tools = install_fake_tools(tmp_path / "bin")
    for key, value in tools.env().items():
        monkeypatch.setenv(key, value)
    return tools


def record(title: str = "Phase timeout", priority: int = 2) -> ToilRecord:
    return ToilRecord(
        title=title, priority=priority, experiment="gateway-comparison",
        categories=("timing", "crossplane"),
    )  # fmt: skip


def test_bd_gets_the_arguments_as_a_list_and_the_message_intact(
    bd: FakeTools, tmp_path: Path
) -> None:
    log = ToilLog(file=tmp_path / "toil.jsonl", bd=str(bd.bin_dir / "bd"))
    entry = log.log(record(HOSTILE))
    assert entry is not None
    assert entry.backend == "bd"
    assert entry.reference.startswith("bd-")
    assert bd.calls("bd") == [[
        "create", f"--title={HOSTILE}", "--type=bug", "--priority=2",
        "-l", "toil", "-l", "gateway-comparison", "-l", "timing", "-l", "crossplane",
    ]]  # fmt: skip
    assert not (tmp_path / "toil.jsonl").exists()


def test_bd_sync_runs_once_at_the_end(bd: FakeTools, tmp_path: Path) -> None:
    log = ToilLog(file=tmp_path / "toil.jsonl", bd=str(bd.bin_dir / "bd"))
    log.log(record("one"))
    log.log(record("two", priority=3))
    assert log.finish() is None
    assert [c[0] for c in bd.calls("bd")] == ["create", "create", "sync"]
    assert summary_lines(e.as_json() for e in log.logged) == [
        "Toil logged: 2 issue(s) — run bd list -l gateway-comparison to review"
    ]


def test_sync_runs_for_records_a_worker_sent_to_bd(bd: FakeTools, tmp_path: Path) -> None:
    log = ToilLog(file=tmp_path / "toil.jsonl", bd=str(bd.bin_dir / "bd"))
    assert log.finish(others_used_bd=True) is None
    assert bd.calls("bd") == [["sync"]]


def test_no_sync_when_nothing_went_to_bd(bd: FakeTools, tmp_path: Path) -> None:
    log = ToilLog(file=tmp_path / "toil.jsonl", bd=str(bd.bin_dir / "bd"))
    assert log.finish() is None
    assert bd.calls("bd") == []


def test_json_lines_fallback_without_bd(tmp_path: Path) -> None:
    path = tmp_path / "toil.jsonl"
    log = ToilLog(file=path, bd=None)
    log.log(record(HOSTILE, priority=1))
    (line,) = path.read_text().splitlines()
    data = json.loads(line)
    assert data["title"] == HOSTILE
    assert data["priority"] == 1
    assert data["labels"] == ["toil", "gateway-comparison", "timing", "crossplane"]
    assert data["type"] == "bug"
    assert log.finish() is None
    # No "run bd list" where there is no bd: the file, and how to file its records later.
    assert summary_lines(e.as_json() for e in log.logged) == [
        f"Toil logged: 1 issue(s) for gateway-comparison in {path} (bd is not on PATH)",
        f"File them in bd later with: experiment-toil import {path}",
    ]


def test_failing_bd_falls_back_to_the_file_and_says_why(
    bd: FakeTools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_BD_FAIL", "create")
    path = tmp_path / "toil.jsonl"
    entry = ToilLog(file=path, bd=str(bd.bin_dir / "bd")).log(record())
    assert entry is not None
    assert entry.backend == "file"
    assert entry.note == "bd exited 1: Error: database is locked"
    assert len(path.read_text().splitlines()) == 1
    assert summary_lines([entry.as_json()]) == [
        f"Toil logged: 1 issue(s) for gateway-comparison in {path} "
        "(bd exited 1: Error: database is locked)",
        f"File them in bd later with: experiment-toil import {path}",
    ]


def test_off_logs_nothing(bd: FakeTools, tmp_path: Path) -> None:
    log = ToilLog(file=tmp_path / "toil.jsonl", bd=str(bd.bin_dir / "bd"), enabled=False)
    assert log.log(record()) is None
    assert bd.calls("bd") == []
    assert not (tmp_path / "toil.jsonl").exists()


@pytest.mark.parametrize(
    ("priority", "categories", "message"),
    [(5, ("timing",), "priority must be 0-4"), (2, ("cosmic-rays",), "unknown toil categories")],
)
def test_bad_records_are_refused(priority: int, categories: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ToilRecord(title="x", priority=priority, experiment="e", categories=categories)


def test_the_summary_names_each_file_once_with_its_import_command(tmp_path: Path) -> None:
    entries = [
        {"experiment": "a", "backend": "bd", "reference": "bd-1"},
        {"experiment": "b", "backend": "file", "reference": "/x/toil file.jsonl"},
        {"experiment": "c", "backend": "file", "reference": "/x/toil file.jsonl"},
        {"experiment": "b", "backend": "file", "reference": "/x/toil file.jsonl"},
    ]
    assert summary_lines(entries) == [
        "Toil logged: 1 issue(s) — run bd list -l a to review",
        "Toil logged: 2 issue(s) for b in /x/toil file.jsonl (bd is not on PATH)",
        "Toil logged: 1 issue(s) for c in /x/toil file.jsonl (bd is not on PATH)",
        "File them in bd later with: experiment-toil import '/x/toil file.jsonl'",
    ]


def experiment_toil(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed ``experiment-toil`` command, as a user runs it."""
    script = Path(sys.executable).parent / "experiment-toil"
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def test_the_import_command_files_the_records_in_bd_as_the_run_would_have(
    bd: FakeTools, tmp_path: Path
) -> None:
    path = tmp_path / "toil.jsonl"
    log = ToilLog(file=path, bd=None)
    log.log(record(HOSTILE, priority=1))
    log.log(record("Phase timeout", priority=3))
    env = {**os.environ, "PATH": f"{bd.bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = experiment_toil("import", str(path), env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"filed 2 issue(s) in bd from {path}\n"
    assert bd.calls("bd") == [
        ["create", f"--title={HOSTILE}", "--type=bug", "--priority=1",
         "-l", "toil", "-l", "gateway-comparison", "-l", "timing", "-l", "crossplane"],
        ["create", "--title=Phase timeout", "--type=bug", "--priority=3",
         "-l", "toil", "-l", "gateway-comparison", "-l", "timing", "-l", "crossplane"],
        ["sync"],
    ]  # fmt: skip
    assert not path.exists(), "filed records leave the file: a second import files nothing"


def test_records_bd_refused_stay_in_the_file(
    bd: FakeTools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "toil.jsonl"
    ToilLog(file=path, bd=None).log(record())
    before = path.read_text()
    env = {**os.environ, "PATH": f"{bd.bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = experiment_toil("import", str(path), env={**env, "FAKE_BD_FAIL": "create"})
    assert done.returncode == 1
    assert done.stderr == f"experiment-toil: {path}:1: bd exited 1: Error: database is locked\n"
    assert path.read_text() == before


def test_the_import_command_without_bd_says_so(tmp_path: Path) -> None:
    path = tmp_path / "toil.jsonl"
    ToilLog(file=path, bd=None).log(record())
    done = experiment_toil("import", str(path), env={**os.environ, "PATH": str(tmp_path)})
    assert (done.returncode, done.stderr) == (2, "experiment-toil: bd is not on PATH\n")


def test_a_title_is_one_line_of_at_most_200_characters() -> None:
    record = ToilRecord(title="a\n b " + "x" * 300, priority=2, experiment="e", categories=())
    title = record.bd_argv("bd")[2].removeprefix("--title=")
    assert title == ("a b " + "x" * 300)[:200]
    assert len(title) == 200


def test_an_operator_down_is_priority_1_under_operator_naming_the_instance_and_silence() -> None:
    record = toil_record("operator-down", "exp", instance="exp-abc", silent="5m")
    assert record == ToilRecord(
        title="Operator down: no status on exp-abc after 5m",
        priority=1,
        experiment="exp",
        categories=("operator",),
    )
