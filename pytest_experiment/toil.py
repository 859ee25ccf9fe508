"""Toil records: friction logged without asking whenever the happy path did not happen.

Backends, in order: the ``bd`` tracker when it is on PATH, else a JSON-lines
file. Titles carry messages from the cluster (condition messages, API errors),
so ``bd`` is always run with an argument list, never through a shell: a
message holding quotes, ``$()`` or ``;`` arrives as one literal argument.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

CATEGORIES = frozenset(
    {
        "flaky", "config", "timing", "resources", "networking", "crossplane",
        "argocd", "operator", "analyzer", "workflow", "quality",
    }
)  # fmt: skip
_TITLE_LIMIT = 200
_CREATED = re.compile(r"Created issue:\s*(\S+)")
_BD_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToilRecord:
    """One bead: ``bd create --title=… --type=bug --priority=N -l toil -l <experiment> -l …``."""

    title: str
    priority: int
    """0–4 per the seed's guide: 1 cannot run, 2 failed or needed a hand, 3 friction, 4 minor."""
    experiment: str
    """The experiment's directory name, so toil can be filtered per experiment."""
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.priority <= 4:
            raise ValueError(f"toil priority must be 0-4, got {self.priority}")
        unknown = set(self.categories) - CATEGORIES
        if unknown:
            raise ValueError(f"unknown toil categories: {', '.join(sorted(unknown))}")

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toil", self.experiment, *self.categories)

    def bd_argv(self, bd: str) -> list[str]:
        # One line, bounded: a multi-line condition message would make a poor title.
        title = " ".join(self.title.split())[:_TITLE_LIMIT]
        argv = [bd, "create", f"--title={title}", "--type=bug", f"--priority={self.priority}"]
        for label in self.labels:
            argv += ["-l", label]
        return argv


@dataclass(frozen=True, slots=True)
class Logged:
    record: ToilRecord
    backend: Literal["bd", "file"]
    reference: str
    """The bead id bd printed, or the file the record was appended to."""
    note: str = ""
    """Why bd was not used when it was on PATH (its error), for the summary."""

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.record.title,
            "priority": self.record.priority,
            "experiment": self.record.experiment,
            "labels": list(self.record.labels),
            "backend": self.backend,
            "reference": self.reference,
            "note": self.note,
        }


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


def summary_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """``Toil logged: N issue(s) — run bd list -l <name> to review`` per experiment.

    ``entries`` are ``Logged.as_json()`` documents, so the controller of an xdist
    run can summarise what its workers logged.
    """
    counts: dict[str, int] = {}
    files: dict[str, str] = {}
    for entry in entries:
        name = str(entry["experiment"])
        counts[name] = counts.get(name, 0) + 1
        if entry.get("backend") == "file":
            files[name] = str(entry.get("reference"))
    lines = []
    for name, count in counts.items():
        where = f" (in {files[name]})" if name in files else ""
        command = shlex.join(["bd", "list", "-l", name])
        lines.append(f"Toil logged: {count} issue(s) — run {command} to review{where}")
    return lines
