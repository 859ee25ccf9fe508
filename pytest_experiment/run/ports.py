"""What the live run asks of the world outside it, as Protocols: a cluster, its watch, a
results store, GitHub and the toil tracker.

The plugin's own implementations talk to the Kubernetes API, S3, ``gh`` and
``bd``; a conftest.py or plugin may hand the run others through the
``pytest_experiment_make_cluster``, ``…_make_results_store``, ``…_make_github``
and ``…_make_toil_log`` hooks (an in-memory cluster for fast tests, a store
reading a local directory, a GitHub that records what it was asked). Such an
implementation needs only this module and ``pytest_experiment.base``: every
type it must implement is here, and every error it must raise is in
``base.errors``. A cluster raises ``ClusterError`` (``NotFound`` for a 404,
``PermissionDenied`` for 401/403, ``OutcomeUnknown`` for a create that may
have been carried out); a store raises ``ResultsError``; GitHub raises
``GitHubError``.

What the run hands back (an observation of the watch, a toil record) is the
core's plain data, named here by type only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pytest_experiment.base.resources import Labelled
from pytest_experiment.base.types import Obj

if TYPE_CHECKING:
    from pytest_experiment.core.toil import Logged, ToilRecord
    from pytest_experiment.core.watch_state import Change, Observed


class EventStream(Protocol):
    """One open watch: ``{"type", "object"}`` events until the server ends it or
    ``close()`` (callable from any thread) does."""

    def __iter__(self) -> Iterator[Obj]: ...

    def close(self) -> None: ...


class Listed(Protocol):
    """What the watch needs of a cluster: a list of the namespace's Experiments, and a read
    of one (to catch up after a pause). A cluster that is also ``Watchable`` is watched
    from the list's version; any other is polled, a list every poll interval."""

    def describe(self) -> str:
        """Where the cluster is, for the message of a failed first list."""
        ...

    def list_experiments(
        self, *, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        """The items and the list's resourceVersion."""
        ...

    def get_experiment(self, name: str, *, namespace: str) -> Obj:
        """``NotFound`` once it has gone."""
        ...


@runtime_checkable
class Watchable(Protocol):
    """A cluster that can stream the changes after a list's version."""

    def watch_experiments(
        self, *, namespace: str, resource_version: str, timeout_seconds: int
    ) -> EventStream:
        """Changes after ``resource_version``; ``Gone`` when that version is too old,
        ``ClusterError`` with status 403 or 405 when the server refuses to watch (the
        watch then polls)."""
        ...


class Cluster(Listed, Protocol):
    """The hub cluster as the run uses it: Experiments, pre-flight and diagnostics.

    ``watch_experiments`` (``Watchable``) is optional: without it, instances are
    followed by listing."""

    @property
    def requests(self) -> Mapping[str, int]:
        """API requests made so far, by verb, for the session's figures."""
        ...

    # -- experiments
    def create_experiment(self, experiment_doc: Mapping[str, Any], *, namespace: str) -> str:
        """The generated name; ``OutcomeUnknown`` when the create failed but may have made
        the instance all the same (never re-sent: the launcher looks for it by its labels)."""
        ...

    def delete_experiment(self, name: str, *, namespace: str) -> bool: ...

    def annotate_experiment(
        self, name: str, *, namespace: str, annotations: Mapping[str, str | None]
    ) -> Obj: ...

    # -- pre-flight
    def experiment_crd(self) -> Obj | None: ...

    def workflow_template_exists(self, name: str) -> bool: ...

    def apply_workflow_template(self, doc: Mapping[str, Any]) -> Obj: ...

    def operator_ready_replicas(self) -> int: ...

    # -- diagnostics
    def list_labelled(self, kind: Labelled, *, instance: str) -> list[Obj]: ...

    def list_claims(self, *, instance: str, names: Sequence[str] = ()) -> list[Obj]: ...

    def claims_named(self, names: Sequence[str]) -> list[Obj]: ...

    def get_workflow(self, name: str) -> Obj: ...

    def events(self, instance: str, *, namespaces: Sequence[str]) -> list[Obj]: ...

    def operator_log_tail(self, instance: str, *, lines: int = 50) -> list[str]: ...

    def analyzer_job(self, instance: str, *, named: str | None = None) -> tuple[str, Obj]: ...

    def job_log_tail(self, job: str, *, lines: int = 50) -> list[str]: ...


class ResultsStore(Protocol):
    """Where the operator published an instance's results."""

    def summary(self, results_url: str) -> Mapping[str, Any]:
        """summary.json for ``status.resultsURL``; ``ResultsError`` saying why there is none."""
        ...


class WatchFigures(Protocol):
    """What one watch cost, for the session's figures."""

    @property
    def lists(self) -> int: ...

    @property
    def watches(self) -> int: ...

    @property
    def relists(self) -> int:
        """Lists after the first: after ``410 Gone``, a dropped stream or an outage."""
        ...

    @property
    def outages(self) -> int: ...


class NamespaceWatch(Protocol):
    """The one watch of a namespace, shared by every instance in it (started by the
    ``WatchFactory``, stopped at the session's end). Waits raise the core's
    ``WatchTimeout`` or ``InstanceDeleted``."""

    @property
    def stats(self) -> WatchFigures: ...

    def observed(self, instance: str) -> Observed:
        """Everything seen of ``instance`` so far."""
        ...

    def wait_for(
        self, instance: str, predicate: Callable[[Obj], bool], *, timeout: float, what: str = ""
    ) -> Obj:
        """The object once ``predicate`` holds."""
        ...

    def catch_up(self, instance: str, *, timeout: float) -> Observed:
        """What the watch knows once it has caught up with one direct read of ``instance``."""
        ...

    def wait_deleted(self, instance: str, *, timeout: float) -> None:
        """Return once ``instance`` is gone; ``WatchTimeout`` when it outlives ``timeout``."""
        ...

    def subscribe(self, instance: str, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback`` on each change to ``instance`` (first a replay of what was seen);
        returns the function that unsubscribes."""
        ...

    def subscribe_all(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """``subscribe`` for every instance of the namespace."""
        ...

    def stop(self) -> None: ...


class WatchFactory(Protocol):
    """Starts the watch of ``namespace``: it returns after the first list, or raises
    ``ClusterError`` saying why that failed. ``notify`` takes a line to show from any
    thread (an outage, its end)."""

    def __call__(
        self,
        cluster: Listed,
        *,
        namespace: str,
        poll_interval: float,
        notify: Callable[[str], None],
    ) -> NamespaceWatch: ...


class PullRequest(Protocol):
    """A pull request as ``gh pr view`` shows it."""

    @property
    def title(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def additions(self) -> int | None: ...

    @property
    def deletions(self) -> int | None: ...

    def line(self) -> str:
        """``PR #12: "Results: kv-base-x" (+128, -4)``."""
        ...


class DeployRun(Protocol):
    """The latest run of the workflow that deploys the benchmark site."""

    @property
    def url(self) -> str: ...

    def line(self) -> str: ...


class GitHub(Protocol):
    """What the run asks of GitHub that the operator does not report (the PR's title and
    size, the site's deploy) or does not do (merge or close without a review gate, close
    the PR an auto-fix abandons). Every failure is a ``GitHubError``."""

    def pr_view(self, number: int) -> PullRequest: ...

    def pr_close(self, number: int) -> str: ...

    def pr_merge(self, number: int) -> str:
        """Squash-merge and delete the branch."""
        ...

    def latest_run(self) -> DeployRun | None:
        """The latest run of the site's deploy workflow; None when there is none."""
        ...


class ToilLog(Protocol):
    """Where the toil records of the session go."""

    @property
    def logged(self) -> Sequence[Logged]:
        """Every record taken so far, and where it went."""
        ...

    def log(self, record: ToilRecord) -> Logged | None:
        """Take ``record``; None when toil logging is off."""
        ...

    def finish(self, *, others_used_bd: bool = False) -> str | None:
        """At the session's end (sync the tracker); why that failed, if it did."""
        ...


@runtime_checkable
class Clocked(Protocol):
    """A cluster that can tell the time on the API server (owner leases are judged on it)."""

    def server_now(self) -> datetime: ...


@runtime_checkable
class Preparable(Protocol):
    """A results store with set-up worth doing before the run rather than during it."""

    def prepare(self) -> None:
        """Build what the first read would build (clients, endpoint data)."""
        ...


@dataclass(frozen=True, kw_only=True)
class Connections:
    """Everything the live run takes from outside, each built when first needed: the
    plugin fills it from its hooks, a test from the fakes."""

    cluster: Callable[[], Cluster]
    """Connects (called once); ``ClusterError`` reports the cluster unreachable."""
    results_store: Callable[[Callable[[str], None]], ResultsStore]
    """Given the run's way of saying a line from any thread (S3 outages are said)."""
    watch: WatchFactory
    github: Callable[[], GitHub | None]
    """None: no GitHub to ask (``gh`` is not on PATH); the features that need it say so."""
    toil: ToilLog
    on_toil: Callable[[ToilRecord], None] = lambda _: None
    """Told every toil record once the log took it."""


__all__ = [
    "Clocked",
    "Cluster",
    "Connections",
    "DeployRun",
    "EventStream",
    "GitHub",
    "Listed",
    "NamespaceWatch",
    "Preparable",
    "PullRequest",
    "ResultsStore",
    "ToilLog",
    "WatchFactory",
    "WatchFigures",
    "Watchable",
]
