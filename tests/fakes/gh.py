#!/usr/bin/env python3
"""A fake ``gh`` for tests: logs argv to $FAKE_GH_LOG and answers like the real CLI.

Handles ``pr view N [--json fields]``, ``pr close N [--delete-branch]``,
``pr merge N --squash [--delete-branch]``, ``pr diff N`` and
``run list -w WORKFLOW [-L N] [--json fields]``. PR states live in
$FAKE_GH_STATE (default: $FAKE_GH_LOG.state.json). $FAKE_GH_FAIL names a
command prefix that fails, e.g. ``pr view``; $FAKE_GH_PR_STATE is the state of a PR
nobody has changed (default OPEN).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# Run as a script (by hand or through the fake_tools wrapper): make `fakes` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import _log

REPOSITORY = "https://github.com/illm-lab/benchmarks"


def _pr(number: int, state: dict[str, Any]) -> dict[str, Any]:
    stored = state.get("prs", {}).get(str(number), {})
    return {
        "number": number,
        "title": stored.get("title", f"Experiment results #{number}"),
        "state": stored.get("state", os.environ.get("FAKE_GH_PR_STATE", "OPEN")),
        "additions": stored.get("additions", 128),
        "deletions": stored.get("deletions", 4),
        "url": f"{REPOSITORY}/pull/{number}",
        "headRefName": stored.get("headRefName", f"results/pr-{number}"),
    }


def _fields(document: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    if wanted is None:
        return document
    return {name: document.get(name) for name in wanted.split(",") if name}


def _set_state(number: int, value: str) -> dict[str, Any]:
    path = _log.state_path("FAKE_GH_STATE", "FAKE_GH_LOG", ".fake-gh-state.json")
    state = _log.load(path)
    state.setdefault("prs", {}).setdefault(str(number), {})["state"] = value
    _log.save(path, state)
    return _pr(number, state)


def _pr_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gh pr")
    parser.add_argument("action", choices=["view", "close", "merge", "diff"])
    parser.add_argument("number", type=int)
    parser.add_argument("--json")
    parser.add_argument("--delete-branch", action="store_true")
    parser.add_argument("--squash", action="store_true")
    args = parser.parse_args(argv)
    state = _log.load(_log.state_path("FAKE_GH_STATE", "FAKE_GH_LOG", ".fake-gh-state.json"))
    pr = _pr(args.number, state)
    if args.action == "view":
        if args.json:
            print(json.dumps(_fields(pr, args.json)))
        else:
            print(f"title:\t{pr['title']}\nstate:\t{pr['state']}\nnumber:\t{pr['number']}")
            print(f"url:\t{pr['url']}\nadditions:\t{pr['additions']}")
            print(f"deletions:\t{pr['deletions']}")
        return 0
    if args.action == "diff":
        print(f"diff --git a/site/data/pr-{args.number}.json b/site/data/pr-{args.number}.json")
        print(f"--- /dev/null\n+++ b/site/data/pr-{args.number}.json\n@@ -0,0 +1 @@\n+{{}}")
        return 0
    if pr["state"] != "OPEN":
        print(f"X Pull request #{args.number} is already {pr['state'].lower()}", file=sys.stderr)
        return 1
    if args.action == "close":
        pr = _set_state(args.number, "CLOSED")
        print(f"✓ Closed pull request #{args.number} ({pr['title']})")
    else:
        if not args.squash:
            print("--squash is the only merge method the fake knows", file=sys.stderr)
            return 1
        pr = _set_state(args.number, "MERGED")
        print(f"✓ Squashed and merged pull request #{args.number} ({pr['title']})")
    if args.delete_branch:
        print(f"✓ Deleted branch {pr['headRefName']}")
    return 0


def _run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gh run")
    parser.add_argument("action", choices=["list"])
    parser.add_argument("-w", "--workflow")
    parser.add_argument("-L", "--limit", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    workflow = args.workflow or "Deploy Benchmark Site"
    runs: list[dict[str, Any]] = [
        {
            "status": "completed",
            "conclusion": "success",
            "displayTitle": workflow,
            "workflowName": workflow,
            "headBranch": "main",
            "event": "push",
            "databaseId": 9876543210 - i,
            "url": f"{REPOSITORY}/actions/runs/{9876543210 - i}",
            "createdAt": "2026-02-18T20:40:00Z",
        }
        for i in range(max(0, min(args.limit, 3)))
    ]
    if args.json:
        print(json.dumps([_fields(run, args.json) for run in runs]))
        return 0
    for run in runs:
        print(
            "\t".join(
                str(value)
                for value in (
                    *(run[k] for k in ("status", "conclusion", "displayTitle", "workflowName")),
                    *(run[k] for k in ("headBranch", "event", "databaseId")),
                    "1m12s",
                    "about 1 minute ago",
                )
            )
        )
    return 0


def main(argv: list[str]) -> int:
    _log.record("FAKE_GH_LOG")
    if _log.fail_requested("FAKE_GH_FAIL"):
        print(
            "GraphQL: Could not resolve to a PullRequest (repository.pullRequest)", file=sys.stderr
        )
        return 1
    if argv[:1] == ["pr"]:
        return _pr_command(argv[1:])
    if argv[:1] == ["run"]:
        return _run_command(argv[1:])
    print(f"unknown command {' '.join(argv[:1])!r} for fake gh", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
