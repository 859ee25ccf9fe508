"""Ctrl-C during a slow collection, and a collection error under ``--full-trace``.

pytest renders the arguments of every frame of the tracebacks it shows: a
Ctrl-C's always, a collection error's under ``--full-trace``. Where a frame held
a YAML node or an object holding the file's data, that rendering followed every
alias: an alias bomb's 10⁹ nodes, or one tag aliased 60,000 times (30 GB of
text). The process grew by gigabytes and did not end; a Ctrl-C landing in the
rendering started it again.

Each case runs pytest in a child process (pytester), watched: it is killed past
a memory cap, and its peak RSS comes from ``wait4``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_files import aliased_tag_text, bomb

MEMORY_CAP_MB = 1000
PEAK_MB = 400
# Generous for a loaded machine: a run that renders what it should not never
# ends, and the memory cap catches it long before.
DEADLINE_S = 120.0

# Says when pytest starts collecting each experiment file (its items, markers, ...).
OBSERVER = """import os


def pytest_collectstart(collector):
    if collector.path.name == "experiment.yaml" and collector.nodeid.endswith(".yaml"):
        with open(os.environ["COLLECTION_LOG"], "a") as log:
            log.write(collector.nodeid + "\\n")
"""


@dataclass(frozen=True)
class Ended:
    code: int | None
    """None: killed past the memory cap or the deadline."""
    seconds: float
    peak_mb: float
    output: str


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def start(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[bytes]:
    child: subprocess.Popen[bytes] = pytester.popen(
        # Without this repository's hypothesis plugin: it imports hypothesis at the end.
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A child of a process that ignores SIGINT (a background job, an xdist
        # worker) would ignore it too.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return child


def wait_for_exit(child: subprocess.Popen[bytes]) -> Ended:
    """Reap ``child``, killing it past the memory cap or the deadline."""
    started = time.monotonic()
    peak = 0.0
    killed = False
    assert child.stdout is not None
    os.set_blocking(child.stdout.fileno(), False)
    output = b""
    while True:
        output += child.stdout.read() or b""
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _rss_mb(child.pid))
        if not killed and (peak > MEMORY_CAP_MB or time.monotonic() - started > DEADLINE_S):
            child.kill()
            killed = True
        time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)
    output += child.stdout.read() or b""
    return Ended(
        code=None if killed else child.returncode,
        seconds=time.monotonic() - started,
        peak_mb=max(peak, usage.ru_maxrss / 1024),
        output=output.decode(errors="replace"),
    )


def test_ctrl_c_during_collection_ends_it_promptly_and_small(pytester: pytest.Pytester) -> None:
    """A batch of files whose one tag is aliased 60,000 times (each accepted), then an
    alias bomb: SIGINT once the first one's items are being collected, as a user's Ctrl-C."""
    text = aliased_tag_text()
    files = 40
    for index in range(files):
        (pytester.path / f"a-{index:02d}").mkdir()
        (pytester.path / f"a-{index:02d}" / "experiment.yaml").write_text(text)
    (pytester.path / "z-bomb").mkdir()
    (pytester.path / "z-bomb" / "experiment.yaml").write_text(bomb(9))
    pytester.makeconftest(OBSERVER)
    log = pytester.path / "collection.log"
    log.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLLECTION_LOG", str(log))
        child = start(pytester, "--collect-only", "--full-trace", "-q", ".")
    deadline = time.monotonic() + DEADLINE_S
    while not log.read_text() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until collection is observably under way
    assert log.read_text(), "collection never started"
    child.send_signal(signal.SIGINT)
    ended = wait_for_exit(child)
    read = log.read_text().splitlines()
    print(f"exit {ended.code} {ended.seconds:.1f} s after SIGINT, {ended.peak_mb:.0f} MB")
    assert ended.code == pytest.ExitCode.INTERRUPTED, ended.output[-3000:]
    assert ended.peak_mb < PEAK_MB
    assert len(read) < files + 1, "collection had ended before the interrupt"
    assert "KeyboardInterrupt" in ended.output


def test_a_bomb_under_full_trace_is_reported_promptly_and_small(
    pytester: pytest.Pytester,
) -> None:
    """Its collection error alone never finished rendering: 10⁹ nodes in a frame's argument."""
    (pytester.path / "bomb").mkdir()
    (pytester.path / "bomb" / "experiment.yaml").write_text(bomb(9))
    ended = wait_for_exit(start(pytester, "--collect-only", "--full-trace", "-q", "bomb"))
    assert ended.code == pytest.ExitCode.TESTS_FAILED, ended.output[-3000:]
    assert ended.peak_mb < PEAK_MB
    assert "bomb/experiment.yaml:7: document expands to more than 200000 nodes" in ended.output
