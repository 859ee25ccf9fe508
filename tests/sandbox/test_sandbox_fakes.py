"""The fake gh and bd answer like the real tools and log every argv."""

from __future__ import annotations

import json
import subprocess

import pytest
from fakes import FakeTools


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    # Resolved through PATH on purpose: the fixture must put the fakes first.
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)


def test_gh_pr_view_close_merge(fake_tools: FakeTools) -> None:
    view = _run("gh", "pr", "view", "42", "--json", "title,state,additions,deletions,url")
    assert view.returncode == 0
    pr = json.loads(view.stdout)
    assert set(pr) == {"title", "state", "additions", "deletions", "url"}
    assert pr["state"] == "OPEN"
    assert pr["url"].endswith("/pull/42")

    closed = _run("gh", "pr", "close", "42", "--delete-branch")
    assert closed.returncode == 0
    assert "Closed pull request #42" in closed.stdout
    assert json.loads(_run("gh", "pr", "view", "42", "--json", "state").stdout) == {
        "state": "CLOSED"
    }

    merged = _run("gh", "pr", "merge", "43", "--squash", "--delete-branch")
    assert merged.returncode == 0
    assert "merged pull request #43" in merged.stdout
    assert _run("gh", "pr", "merge", "43", "--squash").returncode == 1

    assert fake_tools.calls("gh")[0] == [
        "pr",
        "view",
        "42",
        "--json",
        "title,state,additions,deletions,url",
    ]
    assert len(fake_tools.calls("gh")) == 5


def test_gh_run_list(fake_tools: FakeTools) -> None:
    table = _run("gh", "run", "list", "-w", "Deploy Benchmark Site", "-L", "1")
    assert table.returncode == 0
    (line,) = table.stdout.splitlines()
    assert line.split("\t")[:4] == [
        "completed",
        "success",
        "Deploy Benchmark Site",
        "Deploy Benchmark Site",
    ]

    as_json = _run(
        "gh",
        "run",
        "list",
        "-w",
        "Deploy Benchmark Site",
        "-L",
        "1",
        "--json",
        "status,conclusion,url",
    )
    (run,) = json.loads(as_json.stdout)
    assert run["conclusion"] == "success"
    assert fake_tools.calls("gh")[0][:3] == ["run", "list", "-w"]


def test_gh_failure_on_request(fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GH_FAIL", "pr view")
    assert _run("gh", "pr", "view", "1", "--json", "url").returncode == 1
    assert _run("gh", "run", "list", "-w", "x").returncode == 0


def test_bd_create_sync_list(fake_tools: FakeTools) -> None:
    created = _run(
        "bd",
        "create",
        "--title=Phase timeout for db-fvm-x",
        "--type=bug",
        "--priority=2",
        "-l",
        "toil",
        "-l",
        "db-fsync-vs-memory",
        "-l",
        "timing",
    )
    assert created.returncode == 0
    issue_id = created.stdout.split("Created issue: ")[1].split()[0]
    assert issue_id.startswith("bd-")

    assert _run("bd", "sync").returncode == 0
    listed = _run("bd", "list", "-l", "db-fsync-vs-memory")
    assert issue_id in listed.stdout
    assert "Phase timeout for db-fvm-x" in listed.stdout
    assert _run("bd", "list", "-l", "other").stdout == ""

    assert fake_tools.calls("bd") == [
        [
            "create",
            "--title=Phase timeout for db-fvm-x",
            "--type=bug",
            "--priority=2",
            "-l",
            "toil",
            "-l",
            "db-fsync-vs-memory",
            "-l",
            "timing",
        ],
        ["sync"],
        ["list", "-l", "db-fsync-vs-memory"],
        ["list", "-l", "other"],
    ]


def test_bd_rejects_bad_priority(fake_tools: FakeTools) -> None:
    assert _run("bd", "create", "--title=x", "--priority=9").returncode != 0
