"""Outages are printed, one line lost and one line back, wherever the run is when they
happen: on an xdist worker (whose own output goes nowhere) and while the session
cleans up after its last item.

The cluster is the in-memory one of tests/fakes, whose API drops every watch stream
at a chosen point (the real watcher then loses and resumes its watch); S3 is real
boto3 against a small server in this process that drops the first connections for
each summary.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CLOCK = r"\d\d:\d\d:\d\d"
NAMESPACE = "experiments"
WATCH_LOST = re.compile(
    rf"watch of Experiments in {NAMESPACE} lost at {CLOCK} UTC: watch Experiments in "
    rf"{NAMESPACE}: connection reset by peer \(the fake API dropped the stream\); reconnecting"
)
WATCH_BACK = re.compile(
    rf"watch of Experiments in {NAMESPACE} back at {CLOCK} UTC after [\d.]+s \(watch resumed\)"
)

CONFTEST = f"""
import json, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FINALIZER, FakeCluster, Script
from fakes.results import FakeResultsStore

def pytest_experiment_make_cluster(config, options):
    return FakeCluster(script=SCRIPT)
"""

FAKE_STORE = """
SUMMARY = json.loads(Path("experiments/site/data/web-lat-8fz2q.json").read_text())

def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=lambda instance: SUMMARY)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    for name in ("web-latency", "echo-scaling", "site", "components"):
        shutil.copytree(examples / name, pytester.path / "experiments" / name)
    return pytester


class _FlakyS3(BaseHTTPRequestHandler):
    """S3 that drops the first connections asking for each object, then serves it."""

    dropped: Counter[str]
    lock: threading.Lock
    body: bytes

    def do_GET(self) -> None:
        with self.lock:
            self.dropped[self.path] += 1
            # More than the S3 client's own attempts at one read (it makes four).
            drop = self.dropped[self.path] <= 6
        if drop:
            self.close_connection = True  # no answer at all: the connection just ends
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky_s3(examples: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    handler = type(
        "Handler",
        (_FlakyS3,),
        {
            "dropped": Counter(),
            "lock": threading.Lock(),
            "body": (examples / "site" / "data" / "web-lat-8fz2q.json").read_bytes(),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def matching(lines: list[str], pattern: re.Pattern[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if pattern.fullmatch(line)]


def test_watch_and_s3_outages_on_xdist_workers_are_printed(
    project: pytest.Pytester, flaky_s3: str
) -> None:
    # Each worker's watch is dropped as its instance enters Running, and its first read
    # of summary.json finds S3 not answering.
    project.makeconftest(CONFTEST + 'SCRIPT = Script(outage="Running")\n')
    result = project.runpytest(
        "experiments", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
        f"--experiment-s3-endpoint={flaky_s3}", "--experiment-report=report.json",
    )  # fmt: skip
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    lines = result.stdout.lines
    lost, back = matching(lines, WATCH_LOST), matching(lines, WATCH_BACK)
    assert len(lost) == 2, out  # one per worker
    assert len(back) == 2, out
    assert all(a < b for a, b in zip(sorted(lost), sorted(back), strict=True)), out
    s3 = re.escape(flaky_s3)
    s3_lost = matching(
        lines, re.compile(rf"S3 {s3} not answering at {CLOCK} UTC: .*Connection.*; retrying")
    )
    s3_back = matching(lines, re.compile(rf"S3 {s3} answering again at {CLOCK} UTC after [\d.]+s"))
    assert len(s3_lost) == 2, out
    assert len(s3_back) == 2, out
    # Printed once the item that saw them reports, before the scorecard.
    scorecard = next(i for i, line in enumerate(lines) if "experiment scorecard" in line)
    assert max(back + s3_back) < scorecard, out


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_a_watch_outage_while_the_session_cleans_up_is_printed(
    project: pytest.Pytester, xdist: bool
) -> None:
    # Each deletion waits on the operator's finalizer; meanwhile the API drops the watch
    # the cleanup waits on, and the finalizer is let go once the watch is back.
    project.makeconftest(
        CONFTEST + FAKE_STORE + 'SCRIPT = Script(finalizers=(FINALIZER,), outage="deleting")\n'
    )
    result = project.runpytest(
        "experiments", "-p", "no:cacheprovider", "--experiment-cleanup=always",
        *(["-n", "2", "--dist", "loadgroup"] if xdist else []),
    )  # fmt: skip
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    lines = result.stdout.lines
    lost, back = matching(lines, WATCH_LOST), matching(lines, WATCH_BACK)
    # Under xdist each worker's watch has its outage; serially the one watch has one per
    # deletion, or one for both if they overlap.
    assert len(lost) == len(back), out
    assert len(lost) == 2 if xdist else 1 <= len(lost) <= 2, out
    assert all(a < b for a, b in zip(lost, back, strict=True)), out
    at = lines.index("Instances:")
    assert max(back) < at, out
    deleted = [line for line in lines[at + 1 :] if line.startswith("  deleted ")]
    assert len(deleted) == 2, out
