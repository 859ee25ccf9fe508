"""What the session is connected to: the cluster once it answered (or why it did not),
the live CRD's schema, the results store and GitHub, each built from the plugin's
``Connections`` on first use and kept for the session."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytest_experiment.base.errors import HTTP_FORBIDDEN, ClusterError, PermissionDenied
from pytest_experiment.core.schema import SchemaUnavailable, schema_from_crd
from pytest_experiment.run.ports import Cluster, Connections, GitHub, Preparable, ResultsStore


class Connection:
    def __init__(self, connections: Connections, *, say: Callable[[str], None]) -> None:
        self._connections = connections
        # Given to the store: it says its outages from any thread.
        self._say = say
        self.cluster: Cluster | None = None
        self.unreachable: str | None = None
        self.refused = False
        """The API answered but refused access (401/403), as opposed to not answering."""
        self.crd_unreadable: str | None = None
        """Why the live CRD could not be read (validation then uses the bundled schema)."""
        self.crd_read = False
        """The live CRD was read: it is installed."""
        self.crd_schema: Mapping[str, Any] | None = None
        self._store: ResultsStore | None = None
        self._github: tuple[GitHub | None] | None = None

    @property
    def tried(self) -> bool:
        return self.cluster is not None or self.unreachable is not None

    def connect(self) -> Cluster | None:
        """Connect once; on failure remember why and return None."""
        if self.tried:
            return self.cluster
        try:
            cluster = self._connections.cluster()
            try:
                crd = cluster.experiment_crd()  # the first request: proves the API answers
            except PermissionDenied as exc:
                # Answered, so reachable; reading CRDs is a permission a runner may lack.
                if exc.status != HTTP_FORBIDDEN:
                    raise
                crd, self.crd_unreadable = None, str(exc)
        except ClusterError as exc:
            self.unreachable = str(exc)
            self.refused = isinstance(exc, PermissionDenied)
            return None
        self.crd_read = crd is not None
        if crd is not None:
            try:
                self.crd_schema = schema_from_crd(crd)
            except SchemaUnavailable:
                self.crd_schema = None
        self.cluster = cluster
        return cluster

    def prepare_store(self) -> None:
        """Build the results store now, and what its first read would build."""
        store = self.results_store()
        if isinstance(store, Preparable):
            # Building the S3 client loads botocore's endpoint data; a Ctrl-C landing
            # in that loader made pytest crash rendering the interrupt (exit 1, not 2).
            store.prepare()

    def results_store(self) -> ResultsStore:
        if self._store is None:
            self._store = self._connections.results_store(self._say)
        return self._store

    def github(self) -> GitHub | None:
        """GitHub as the session was given it, asked for once; None when there is none."""
        if self._github is None:
            self._github = (self._connections.github(),)
        return self._github[0]

    def api_requests(self) -> dict[str, int]:
        """API requests made so far, by verb."""
        return dict(self.cluster.requests) if self.cluster is not None else {}


__all__ = ["Connection"]
