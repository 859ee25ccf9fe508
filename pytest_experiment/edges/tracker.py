"""Where toil records go: the ``bd`` tracker when it is on PATH, else a JSON-lines file,
whose records ``experiment-toil import FILE`` files in bd later.

Titles carry messages from the cluster (condition messages, API errors), so
``bd`` is always run with an argument list, never through a shell: a message
holding quotes, ``$()`` or ``;`` arrives as one literal argument.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pytest_experiment.core.toil import Logged, ToilRecord

_CREATED = re.compile(r"Created issue:\s*(\S+)")
_BD_TIMEOUT = 30.0


@dataclass
class ToilLog:
    """Where this session's toil goes; ``finish()`` runs ``bd sync`` once."""

    file: Path
    enabled: bool = True
    bd: str | None = field(default_factory=lambda: shutil.which("bd"))
    logged: list[Logged] = field(default_factory=list)

    def log(self, record: ToilRecord) -> Logged | None:
        if not self.enabled:
            return None
        entry = self.create_in_bd(record) if self.bd else None
        if entry is None or entry.backend != "bd":
            entry = self._to_file(record, note=entry.note if entry else "")
        self.logged.append(entry)
        return entry

    def create_in_bd(self, record: ToilRecord) -> Logged:
        assert self.bd is not None
        try:
            done = subprocess.run(
                record.bd_argv(self.bd),
                capture_output=True,
                text=True,
                timeout=_BD_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return Logged(record, "file", "", note=f"bd failed: {err}")
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()
            said = f": {reason[-1]}" if reason else ""
            return Logged(record, "file", "", note=f"bd exited {done.returncode}{said}")
        created = _CREATED.search(done.stdout)
        first = next((line.strip() for line in done.stdout.splitlines() if line.strip()), "")
        return Logged(record, "bd", created.group(1) if created else first)

    def _to_file(self, record: ToilRecord, *, note: str) -> Logged:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        line = {
            **asdict(record),
            "labels": list(record.labels),
            "type": "bug",
            "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self.file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
        return Logged(record, "file", str(self.file), note=note)

    def finish(self, *, others_used_bd: bool = False) -> str | None:
        """Run ``bd sync`` once when bd took any record here or, under xdist, on a worker
        (``others_used_bd``); returns its error, if any."""
        used = any(e.backend == "bd" for e in self.logged) or others_used_bd
        if self.bd is None or not used:
            return None
        try:
            done = subprocess.run(
                [self.bd, "sync"], capture_output=True, text=True, timeout=_BD_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bd sync failed: {err}"
        return None if done.returncode == 0 else f"bd sync exited {done.returncode}"


def import_file(path: Path, *, bd: str) -> tuple[int, list[str]]:
    """File every record of a JSON-lines toil file in bd, as the live run would have
    (``bd create`` with the same arguments, then ``bd sync``).

    Returns how many were filed and why the others were not. The filed lines leave the
    file (it is removed once empty), so importing it again files only what is left.
    """
    log = ToilLog(file=path, bd=bd)
    left: list[str] = []
    problems: list[str] = []
    filed = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            record = ToilRecord(
                title=str(data["title"]),
                priority=int(data["priority"]),
                experiment=str(data["experiment"]),
                categories=tuple(str(c) for c in data.get("categories", ())),
            )
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}:{number}: not a toil record ({exc})")
            left.append(line)
            continue
        entry = log.create_in_bd(record)
        if entry.backend == "bd":
            log.logged.append(entry)
            filed += 1
        else:
            problems.append(f"{path}:{number}: {entry.note}")
            left.append(line)
    sync = log.finish()
    if sync is not None:
        problems.append(sync)
    if left:
        path.write_text("".join(f"{line}\n" for line in left), encoding="utf-8")
    else:
        path.unlink()
    return filed, problems


def main(argv: Sequence[str] | None = None) -> int:
    """``experiment-toil import FILE``: file the toil a run without bd wrote to FILE."""
    parser = argparse.ArgumentParser(
        prog="experiment-toil", description="Toil records of pytest-experiment runs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser(
        "import", help="file every record of a JSON-lines toil file in bd (bd create each)"
    )
    command.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    bd = shutil.which("bd")
    if bd is None:
        print("experiment-toil: bd is not on PATH", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"experiment-toil: {args.file}: no such file", file=sys.stderr)
        return 2
    filed, problems = import_file(args.file, bd=bd)
    for problem in problems:
        print(f"experiment-toil: {problem}", file=sys.stderr)
    print(f"filed {filed} issue(s) in bd from {args.file}")
    return 1 if problems else 0
