#!/usr/bin/env python3
"""A fake ``bd`` (beads) for tests: logs argv to $FAKE_BD_LOG and keeps issues in a file.

Handles ``create --title=… --type=… --priority=N -l LABEL…`` (prints the new
id), ``sync`` and ``list [-l LABEL] [--json]``. Issues live in
$FAKE_BD_STATE (default: $FAKE_BD_LOG.state.json). $FAKE_BD_FAIL names a
command prefix that fails, e.g. ``create``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

# Run as a script (by hand or through the fake_tools wrapper): make `fakes` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import _log


def _state_path() -> Path:
    return _log.state_path("FAKE_BD_STATE", "FAKE_BD_LOG", ".fake-bd-state.json")


def _create(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bd create")
    parser.add_argument("--title", required=True)
    parser.add_argument("--type", default="task")
    parser.add_argument("--priority", type=int, default=2, choices=range(5))
    parser.add_argument("-l", "--label", action="append", default=[])
    args = parser.parse_args(argv)
    path = _state_path()
    state = _log.load(path)
    issues = state.setdefault("issues", [])
    digest = hashlib.sha1(f"{len(issues)}:{args.title}".encode()).hexdigest()[:4]
    issue = {
        "id": f"bd-{digest}",
        "title": args.title,
        "type": args.type,
        "priority": args.priority,
        "labels": args.label,
        "status": "open",
    }
    issues.append(issue)
    _log.save(path, state)
    print(f"✓ Created issue: {issue['id']}")
    print(f"  Title: {args.title}")
    print(f"  Priority: P{args.priority}")
    print("  Status: open")
    return 0


def _list(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bd list")
    parser.add_argument("-l", "--label", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    issues = [
        issue
        for issue in _log.load(_state_path()).get("issues", [])
        if set(args.label) <= set(issue.get("labels", []))
    ]
    if args.json:
        print(json.dumps(issues))
        return 0
    for issue in issues:
        print(
            f"{issue['id']} [P{issue['priority']}] [{issue['type']}] {issue['status']} - "
            f"{issue['title']}"
        )
    return 0


def main(argv: list[str]) -> int:
    _log.record("FAKE_BD_LOG")
    if _log.fail_requested("FAKE_BD_FAIL"):
        print("Error: database is locked", file=sys.stderr)
        return 1
    if argv[:1] == ["create"]:
        return _create(argv[1:])
    if argv[:1] == ["list"]:
        return _list(argv[1:])
    if argv[:1] == ["sync"]:
        print("✓ Synced with remote")
        return 0
    print(f"Error: unknown command {' '.join(argv[:1])!r} for fake bd", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
