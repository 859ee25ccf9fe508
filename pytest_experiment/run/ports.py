"""What the live run asks of a cluster and of a results store, as Protocols.

The plugin's own implementations talk to the Kubernetes API and to S3; a
conftest.py or plugin may hand the run others through the
``pytest_experiment_make_cluster`` and ``pytest_experiment_make_results_store``
hooks (an in-memory cluster for fast tests, a store reading a local
directory). Such an implementation needs only this module and
``pytest_experiment.base``: every type named here, and every error it must
raise, is there. A cluster raises ``base.errors.ClusterError`` (``NotFound``
for a 404, ``PermissionDenied`` for 401/403, ``OutcomeUnknown`` for a create
that may have been carried out); a store raises ``ResultsError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pytest_experiment.base.resources import Labelled
from pytest_experiment.base.types import Obj


class EventStream(Protocol):
    """One open watch: ``{"type", "object"}`` events until the server ends it or
    ``close()`` (callable from any thread) does."""

    def __iter__(self) -> Iterator[Obj]: ...

    def close(self) -> None: ...


class Cluster(Protocol):
    """The hub cluster as the run uses it: Experiments, pre-flight and diagnostics."""

    @property
    def requests(self) -> Mapping[str, int]:
        """API requests made so far, by verb, for the session's figures."""
        ...

    def describe(self) -> str: ...

    # -- experiments
    def create_experiment(self, experiment_doc: Mapping[str, Any], *, namespace: str) -> str:
        """The generated name; ``OutcomeUnknown`` when the create failed but may have made
        the instance all the same (never re-sent: the launcher looks for it by its labels)."""
        ...

    def get_experiment(self, name: str, *, namespace: str) -> Obj: ...

    def delete_experiment(self, name: str, *, namespace: str) -> bool: ...

    def annotate_experiment(
        self, name: str, *, namespace: str, annotations: Mapping[str, str | None]
    ) -> Obj: ...

    def list_experiments(
        self, *, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]: ...

    def watch_experiments(
        self, *, namespace: str, resource_version: str, timeout_seconds: int
    ) -> EventStream: ...

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


__all__ = ["Clocked", "Cluster", "EventStream", "Preparable", "ResultsStore"]
