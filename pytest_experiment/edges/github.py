"""The edge to GitHub: the ``gh`` CLI, run with argument lists, never a shell.

Used for what the operator does not report: a PR's title, state and size,
the latest "Deploy Benchmark Site" run, merging when the operator has no
review gate and closing a PR an auto-fix abandons. Every failure becomes a
``GitHubError`` with the CLI's own message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.errors import GitHubError

DEPLOY_WORKFLOW = "Deploy Benchmark Site"
_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    number: int
    title: str
    state: str
    additions: int | None
    deletions: int | None
    url: str

    def line(self) -> str:
        """``PR #12: "Results: kv-base-x" (+128, -4)`` as the seed presents it."""
        size = (
            f" (+{self.additions}, -{self.deletions})"
            if self.additions is not None and self.deletions is not None
            else ""
        )
        return f'PR #{self.number}: "{self.title}"{size}'


@dataclass(frozen=True, kw_only=True)
class WorkflowRun:
    status: str
    conclusion: str
    url: str

    def line(self) -> str:
        outcome = f"{self.status} {self.conclusion}".strip()
        return f"{DEPLOY_WORKFLOW}: {outcome} ({self.url})" if self.url else outcome


class GitHub:
    def __init__(self, executable: str) -> None:
        self.executable = executable

    @classmethod
    def find(cls) -> GitHub | None:
        """The ``gh`` on PATH, or None when there is none (the features that need it say so)."""
        found = shutil.which("gh")
        return cls(found) if found else None

    def _run(self, args: Sequence[str]) -> str:
        argv = [self.executable, *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitHubError(f"gh {' '.join(args[:2])}: {exc}") from exc
        if done.returncode != 0:
            message = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
            raise GitHubError(f"gh {' '.join(args[:3])}: {message}")
        return done.stdout

    def _json(self, args: Sequence[str]) -> Any:
        out = self._run(args)
        try:
            return json.loads(out)
        except ValueError as exc:
            raise GitHubError(f"gh {' '.join(args[:2])} answered non-JSON: {out[:80]!r}") from exc

    def pr_view(self, number: int) -> PullRequest:
        data = self._json(
            ["pr", "view", str(number), "--json", "number,title,state,additions,deletions,url"]
        )
        if not isinstance(data, dict):
            raise GitHubError(f"gh pr view {number} answered {type(data).__name__}")
        return PullRequest(
            number=int(data.get("number") or number),
            title=str(data.get("title") or ""),
            state=str(data.get("state") or ""),
            additions=_int(data.get("additions")),
            deletions=_int(data.get("deletions")),
            url=str(data.get("url") or ""),
        )

    def pr_close(self, number: int) -> str:
        return self._run(["pr", "close", str(number), "--delete-branch"]).strip()

    def pr_merge(self, number: int) -> str:
        return self._run(["pr", "merge", str(number), "--squash", "--delete-branch"]).strip()

    def latest_run(self, workflow: str = DEPLOY_WORKFLOW) -> WorkflowRun | None:
        data = self._json(
            ["run", "list", "-w", workflow, "-L", "1", "--json", "status,conclusion,url"]
        )
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            return None
        run = data[0]
        return WorkflowRun(
            status=str(run.get("status") or ""),
            conclusion=str(run.get("conclusion") or ""),
            url=str(run.get("url") or ""),
        )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["DEPLOY_WORKFLOW", "GitHub", "GitHubError", "PullRequest", "WorkflowRun"]
