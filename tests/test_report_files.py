"""Report files that cannot be written: refused at start-up when that can be known then,
one line each when the write itself fails at the end (a full disk), and never a file
left half-written.

A full disk is a real one: a small tmpfs mounted for the test and filled (root only;
the tests that need it skip elsewhere). The run is live, on the in-memory cluster of
tests/fakes, so the session has instances to account for.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

LIVE = f"""
import json, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster
from fakes.results import FakeResultsStore

SUMMARY = json.loads(Path("experiments/site/data/web-lat-8fz2q.json").read_text())

def pytest_experiment_make_cluster(config, options):
    return FakeCluster()

def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=lambda instance: SUMMARY)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("web-latency", "site", "components"):
        shutil.copytree(examples / name, pytester.path / "experiments" / name)
    pytester.makeconftest(LIVE)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return pytester.path


@contextlib.contextmanager
def mounted(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs at ``where``; the test skips where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", ",".join(("size=64k", *options)), "tmpfs", str(where)]
    try:
        done = subprocess.run(mount, capture_output=True, text=True, check=False)
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(disk: Path) -> None:
    """Use up every byte of ``disk`` (new files can still be created, not written)."""

    def write_until_full() -> None:
        with (disk / "filler").open("wb", buffering=0) as out:
            while out.write(b"\0" * 4096):
                pass

    with pytest.raises(OSError) as full:
        write_until_full()
    assert full.value.errno == errno.ENOSPC, full.value


# -- at start-up -------------------------------------------------------------------------


def one_line_usage_error(result: pytest.RunResult) -> str:
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "Traceback" not in out
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "option",
    [
        "--junitxml",
        "--experiment-report",
        "--experiment-html",
        "EXPERIMENT_REPORT",
        "GITHUB_STEP_SUMMARY",
    ],
)
def test_a_report_below_a_file_stops_the_session_at_start_up(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    (project / "out").write_text("a file where a directory was meant\n")
    target = project / "out" / "reports" / "report.file"
    args = [f"{option}={target}"] if option.startswith("--") else []
    if not args:
        monkeypatch.setenv(option, str(target))
    result = pytester.runpytest("experiments", "-p", "no:cacheprovider", *args)
    line = one_line_usage_error(result)
    assert line == (
        f"ERROR: {option}: cannot write {target}: {project / 'out'} is a file, not a directory"
    ), line
    assert "web-lat-" not in result.stdout.str()  # nothing was applied


@pytest.mark.parametrize("option", ["--junitxml", "--experiment-report", "GITHUB_STEP_SUMMARY"])
def test_a_report_in_a_read_only_directory_stops_the_session_at_start_up(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    with mounted(project / "ro", "ro") as readonly:
        target = readonly / "report.file"
        args = [f"{option}={target}"] if option.startswith("--") else []
        if not args:
            monkeypatch.setenv(option, str(target))
        result = pytester.runpytest("experiments", "-p", "no:cacheprovider", *args)
        line = one_line_usage_error(result)
    assert line == f"ERROR: {option}: cannot write {target}: {readonly} is not writable", line


def test_a_missing_directory_is_not_a_problem(pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest(
        "experiments", "-p", "no:cacheprovider", "--junitxml=new/junit.xml",
        "--experiment-report=new/deeper/report.json",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert (project / "new" / "junit.xml").is_file()
    assert (project / "new" / "deeper" / "report.json").is_file()


# -- at the end: a full disk -------------------------------------------------------------


def test_a_full_disk_at_the_end_costs_the_files_not_the_verdicts(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mounted(project / "disk") as disk:
        # What an earlier step or run left there stays exactly as it was.
        # A whole page: tmpfs would take an append into the unused end of one.
        (disk / "summary.md").write_text("## an earlier step\n".ljust(4095, ".") + "\n")
        (disk / "report.json").write_text('{"from": "the last run"}\n')
        before = {p.name: p.read_bytes() for p in disk.iterdir()}
        fill(disk)
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(disk / "summary.md"))
        result = pytester.runpytest(
            "experiments", "-p", "no:cacheprovider",
            f"--junitxml={disk / 'junit.xml'}",
            f"--experiment-report={disk / 'report.json'}",
            f"--experiment-html={disk / 'report.html'}",
        )  # fmt: skip
        left = {p.name: p.read_bytes() for p in disk.iterdir() if p.name != "filler"}
    out = result.stdout.str() + result.stderr.str()
    # Every item passed: the exit code says so, whatever became of the files.
    assert result.ret == pytest.ExitCode.OK, out
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 20, outcomes
    assert "failed" not in outcomes, outcomes
    assert "Traceback" not in out
    full = "No space left on device"
    lines = result.stdout.lines
    for what, name in [
        ("--junitxml", "junit.xml"),
        ("experiment report", "report.json"),
        ("experiment HTML", "report.html"),
        ("GITHUB_STEP_SUMMARY", "summary.md"),
    ]:
        assert lines.count(f"{what}: cannot write {disk / name}: {full}") == 1, lines
    assert not any("generated xml file" in line for line in lines), lines
    assert not any("experiment HTML scorecard:" in line for line in lines), lines
    # The scorecard and the fate of every instance are still printed.
    assert any("experiment scorecard" in line for line in lines), lines
    at = lines.index("Instances:")
    assert lines[at + 1].startswith("  deleted web-lat-00001 (web-latency): "), lines
    # Nothing half-written: what was there is intact, nothing new was left behind.
    assert left == before, {k: v[:80] for k, v in left.items()}


def test_a_replaced_report_leaves_no_temporary_file_and_the_usual_mode(
    pytester: pytest.Pytester, project: Path
) -> None:
    (project / "out").mkdir()
    (project / "out" / "report.json").write_text("x" * 100_000)  # longer than the new one
    result = pytester.runpytest(
        "experiments", "-p", "no:cacheprovider", "--experiment-report=out/report.json",
        "--junitxml=out/junit.xml",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    document = json.loads((project / "out" / "report.json").read_text())
    assert document["experiments"][0]["name"] == "web-latency"
    assert sorted(os.listdir(project / "out")) == ["junit.xml", "report.json"]
    assert oct((project / "out" / "report.json").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
