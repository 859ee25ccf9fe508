"""Where toil records go: the ``bd`` tracker when it is on PATH, else a JSON-lines file.

Titles carry messages from the cluster (condition messages, API errors), so
``bd`` is always run with an argument list, never through a shell: a message
holding quotes, ``$()`` or ``;`` arrives as one literal argument.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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
        entry = self._to_bd(record) if self.bd else None
        if entry is None or entry.backend != "bd":
            entry = self._to_file(record, note=entry.note if entry else "")
        self.logged.append(entry)
        return entry

    def _to_bd(self, record: ToilRecord) -> Logged:
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
            return Logged(record, "file", "", note=f"bd exited {done.returncode}: {reason[-1:]}")
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
