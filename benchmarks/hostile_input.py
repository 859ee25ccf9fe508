"""Hostile input at the limits: what a file or summary the limits accept costs, and Ctrl-C.

  collection  `pytest --collect-only` of one experiment file at the limits (the
              most distinct tags the node and byte limits allow, about 199,900
              markers; and one long tag aliased 60,000 times) against the plain
              example, in interleaved runs: median CPU and wall time, and the ratio.
  scoring     `pytest web-latency --experiment-results <summary>` of the costliest
              summary shape (points `{}`, the most objects per byte) at the value
              limit, and of the one filling the 32 MiB byte limit (11.2 million
              values): CPU time and peak RSS of that pytest process alone.
  ctrl-c      `pytest --collect-only --full-trace` over a batch (files whose one
              tag is aliased 60,000 times, then an alias bomb), sent SIGINT once
              pytest collects the first file's items: the time to exit, the exit
              code and peak RSS. A run that has not exited after --patience seconds, or
              grows past --memory-cap MB, is killed and reported as such.

Run: .venv/bin/python benchmarks/hostile_input.py [collection|scoring|ctrl-c ...] [--repeat N]
(to measure another checkout's code, put its package first on PYTHONPATH.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import (  # noqa: E402
    aliased_tag_text,
    bomb,
    empties_summary,
    example_text,
    most_tags_text,
)

import pytest_experiment  # noqa: E402

QUIET = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
FULL_SUMMARY_VALUES = 11_184_008  # `{}` points filling 32 MiB
OBSERVER = """import os


def pytest_collectstart(collector):
    if collector.path.name == "experiment.yaml" and collector.nodeid.endswith(".yaml"):
        with open(os.environ["HOSTILE_COLLECTION_LOG"], "a") as log:
            log.write(collector.nodeid + "\\n")
"""


@dataclass(frozen=True)
class Run:
    code: int | None  # None: killed by the benchmark
    wall: float
    cpu: float
    peak_mb: float


def run(args: list[str], *, cwd: Path, patience: float = 3600, cap_mb: float = 1e9) -> Run:
    """One pytest process, its own CPU time and peak RSS (wait4), killed past patience or cap."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", *QUIET, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # A background shell ignores SIGINT, and a child inherits that: restore it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return _reap(child, started, patience=patience, cap_mb=cap_mb)


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _reap(child: subprocess.Popen[bytes], started: float, *, patience: float, cap_mb: float) -> Run:
    killed = False
    seen_mb = 0.0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        seen_mb = max(seen_mb, _rss_mb(child.pid))
        if not killed and (time.perf_counter() - started > patience or seen_mb > cap_mb):
            child.kill()
            killed = True
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        code=None if killed else child.returncode,
        wall=time.perf_counter() - started,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mb=max(usage.ru_maxrss / 1024, seen_mb),
    )


def collection(tmp: Path, repeat: int, patience: float) -> None:
    files = {
        "plain": example_text(),
        "most-tags": most_tags_text(),
        "aliased-tag": aliased_tag_text(),
    }
    for name, text in files.items():
        (tmp / name).mkdir()
        (tmp / name / "experiment.yaml").write_text(text)
    runs: dict[str, list[Run]] = {name: [] for name in files}
    run(["--collect-only", "-q", "plain"], cwd=tmp)  # untimed: writes the bytecode
    for _ in range(repeat):
        for name in files:
            runs[name].append(run(["--collect-only", "-q", name], cwd=tmp, patience=patience))
    print(f"collection, {repeat} interleaved rounds (median, min-max):")
    plain = statistics.median(r.cpu for r in runs["plain"])
    for name in files:
        timed = runs[name]
        codes = {r.code for r in timed}
        cpu = statistics.median(r.cpu for r in timed)
        wall = statistics.median(r.wall for r in timed)
        print(
            f"  {name:11}: CPU {cpu:6.2f} s ({min(r.cpu for r in timed):.2f}-"
            f"{max(r.cpu for r in timed):.2f}), wall {wall:6.2f} s, "
            f"{cpu / plain:5.1f} x plain (CPU), exit {codes}"
        )


def scoring(tmp: Path, values: int) -> None:
    shutil.copytree(ROOT / "experiments" / "web-latency", tmp / "web-latency")
    print("scoring one summary (pytest process: CPU, peak RSS):")
    for count in (values, FULL_SUMMARY_VALUES):
        path = tmp / f"web-lat-{count}.json"
        path.write_bytes(empties_summary(count, name=path.stem))
        result = run(["web-latency", f"--experiment-results={path}", "-rs"], cwd=tmp, patience=1800)
        print(
            f"  {count:>10,} values ({path.stat().st_size / 2**20:5.1f} MiB):"
            f" CPU {result.cpu:6.2f} s,"
            f" wall {result.wall:6.2f} s, peak RSS {result.peak_mb:6.0f} MB, exit {result.code}"
        )


def ctrl_c(tmp: Path, *, files: int, patience: float, cap_mb: float) -> None:
    batch = tmp / "batch"
    text = aliased_tag_text()
    for i in range(files):
        (batch / f"a-{i:03d}").mkdir(parents=True)
        (batch / f"a-{i:03d}" / "experiment.yaml").write_text(text)
    (batch / "z-bomb").mkdir()
    (batch / "z-bomb" / "experiment.yaml").write_text(bomb(9))
    (batch / "conftest.py").write_text(OBSERVER)
    log = tmp / "collection.log"
    log.write_text("")
    os.environ["HOSTILE_COLLECTION_LOG"] = str(log)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", *QUIET, "--collect-only", "--full-trace", "-q", "batch"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    while not log.read_text() and child.poll() is None:
        time.sleep(0.01)  # until pytest collects the first file's items
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    result = _reap(child, started, patience=sent - started + patience, cap_mb=cap_mb)
    read = len(log.read_text().splitlines())
    ended = "killed" if result.code is None else f"exit {result.code}"
    print(
        f"ctrl-c during collection of {files + 1} files (SIGINT at file {read}):"
        f" {ended} {result.wall - (sent - started):.2f} s after SIGINT, peak RSS"
        f" {result.peak_mb:.0f} MB, CPU {result.cpu:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["collection", "scoring", "ctrl-c"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--values", type=int, default=1_000_000, help="the value limit")
    parser.add_argument("--files", type=int, default=40, help="files of the ctrl-c batch")
    parser.add_argument("--patience", type=float, default=120, help="seconds before a kill")
    parser.add_argument("--memory-cap", type=float, default=3000)
    args = parser.parse_args()
    print(f"package: {Path(pytest_experiment.__file__).parent}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for part in args.parts:
            here = tmp / part
            here.mkdir()
            if part == "collection":
                collection(here, args.repeat, args.patience)
            elif part == "scoring":
                scoring(here, args.values)
            elif part == "ctrl-c":
                ctrl_c(here, files=args.files, patience=args.patience, cap_mb=args.memory_cap)
            else:
                sys.exit(f"unknown part {part!r}")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
