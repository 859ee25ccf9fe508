"""What the stages of a run use of the live run, so none of them needs ``LiveRun`` itself.

``LiveRun`` (``run.live_run``) implements every protocol here; a test can hand
a stage any object that implements the one it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pytest_experiment.base.types import Obj
from pytest_experiment.core.options import Options
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.verdict import CheckResult
from pytest_experiment.core.watch_state import Observed
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.output import Output
from pytest_experiment.run.ports import Cluster, GitHub


class Watch(Protocol):
    """The namespace's shared watch, as the stages read it."""

    def observed(self, instance: str) -> Observed: ...

    def wait_for(
        self, instance: str, predicate: Callable[[Obj], bool], *, timeout: float, what: str = ""
    ) -> Obj:
        """The object once ``predicate`` holds; ``WatchTimeout`` or ``InstanceDeleted`` else."""
        ...

    def catch_up(self, instance: str, *, timeout: float) -> Observed:
        """What the watch knows once it has caught up with one direct read of ``instance``:
        asked before a budget is declared spent, so a paused harness judges the present."""
        ...


class RunContext(Protocol):
    """What following, publishing and reviewing one instance read and report through."""

    @property
    def options(self) -> Options: ...

    @property
    def out(self) -> Output: ...

    @property
    def cluster(self) -> Cluster | None: ...

    @property
    def verbose(self) -> bool: ...

    def watcher(self, namespace: str) -> Watch: ...

    def log_toil(self, record: ToilRecord) -> None: ...

    def flush(self) -> None:
        """Write the lines other threads left for the item thread."""
        ...

    def read_summary(self, url: str) -> Mapping[str, Any]:
        """summary.json at ``url``; ``ResultsError`` saying why it cannot be read."""
        ...

    def github(self) -> GitHub | None:
        """GitHub, as the session was given it; None when there is none to ask."""
        ...


class FollowContext(RunContext, Protocol):
    """Following may end a run itself (``--experiment-on-timeout=abort``, a running budget)."""

    def request_delete(self, launch: Launch) -> None: ...

    def wait_gone(self, namespace: str, instance: str) -> str | None:
        """None once the instance has gone, else why it is still there."""
        ...


class PublishContext(RunContext, Protocol):
    """Publishing may replace the instance by an auto-fix re-run."""

    def retire(self, launch: Launch, *, reason: str) -> None:
        """Delete the instance the re-run replaces."""
        ...

    def rerun(self, launch: Launch, experiment: Experiment) -> CheckResult:
        """Apply ``experiment`` as the launch's next attempt and follow it."""
        ...


__all__ = ["FollowContext", "PublishContext", "RunContext", "Watch"]
