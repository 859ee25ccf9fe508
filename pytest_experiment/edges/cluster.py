"""The project's one edge to the Kubernetes API, as the run layer sees it: ``Cluster``.

Experiments are created, read, annotated, listed, watched and deleted here,
and the pre-flight reads (the CRD, WorkflowTemplates, the operator's replicas)
made; the reads diagnostics need come from ``OperatorReads``, and the retries,
error wrapping and request counts from ``ApiRequests`` below both. ``connect``
(in ``kubeconfig``) builds one.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3
from kubernetes.watch.watch import iter_resp_lines

from pytest_experiment.base.errors import HTTP_GONE, ClusterError, Gone, NotFound
from pytest_experiment.base.resources import (
    EXPERIMENT_CRD,
    EXPERIMENTS,
    WORKFLOW_NAMESPACE,
    WORKFLOW_TEMPLATES,
)
from pytest_experiment.base.types import Obj, ObjView
from pytest_experiment.base.views import meta, status
from pytest_experiment.edges.api_errors import Endpoint, unreachable
from pytest_experiment.edges.api_requests import REQUEST_TIMEOUT
from pytest_experiment.edges.operator_reads import OperatorReads

FIELD_MANAGER = "pytest-experiment"
_MERGE_PATCH = "application/merge-patch+json"
_APPLY_PATCH = "application/apply-patch+yaml"


class Cluster(OperatorReads):
    """Everything the plugin asks of the hub cluster, for one kubeconfig context."""

    # -- experiments ------------------------------------------------------------

    def create_experiment(self, experiment_doc: ObjView, *, namespace: str) -> str:
        """Create the Experiment and return the instance name the server generated."""
        created = self._custom(
            f"create Experiment {_name_hint(experiment_doc)} in {namespace}",
            "create",
            self._objects.create_namespaced_custom_object,
            EXPERIMENTS,
            namespace,
            dict(experiment_doc),
            idempotent=False,
        )
        return str(created["metadata"]["name"])

    def get_experiment(self, name: str, *, namespace: str) -> Obj:
        return self._custom(
            f"get Experiment {namespace}/{name}",
            "get",
            self._objects.get_namespaced_custom_object,
            EXPERIMENTS,
            namespace,
            name,
        )

    def delete_experiment(self, name: str, *, namespace: str) -> bool:
        """Delete the instance; False when it was already gone (cleanup is idempotent)."""
        try:
            self._custom(
                f"delete Experiment {namespace}/{name}",
                "delete",
                self._objects.delete_namespaced_custom_object,
                EXPERIMENTS,
                namespace,
                name,
            )
        except NotFound:
            return False
        return True

    def annotate_experiment(
        self, name: str, *, namespace: str, annotations: Mapping[str, str | None]
    ) -> Obj:
        """Set (or, with None, remove) annotations; returns the updated object."""
        return self._custom(
            f"annotate Experiment {namespace}/{name}",
            "patch",
            self._objects.patch_namespaced_custom_object,
            EXPERIMENTS,
            namespace,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            _content_type=_MERGE_PATCH,
        )

    def list_experiments(
        self, *, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        """Items and the list's resourceVersion (to start a watch from)."""
        extra: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        listed = self._custom(
            f"list Experiments in {namespace}",
            "list",
            self._objects.list_namespaced_custom_object,
            EXPERIMENTS,
            namespace,
            **extra,
        )
        return list(listed.get("items") or []), str(listed["metadata"]["resourceVersion"])

    def watch_experiments(
        self, *, namespace: str, resource_version: str, timeout_seconds: int
    ) -> WatchStream:
        """A watch after ``resource_version``; ``Gone`` when that version is too old."""
        what = f"watch Experiments in {namespace}"

        def request() -> urllib3.HTTPResponse:
            response: urllib3.HTTPResponse = self._objects.list_namespaced_custom_object(
                EXPERIMENTS.group,
                EXPERIMENTS.version,
                namespace,
                EXPERIMENTS.plural,
                watch=True,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True,
                _preload_content=False,
                # A read timeout beyond the server's own closes a silently dead connection.
                _request_timeout=(REQUEST_TIMEOUT[0], timeout_seconds + 15),
            )
            return response

        return WatchStream(self._call(what, "watch", request), what=what, endpoint=self.endpoint)

    # -- pre-flight -------------------------------------------------------------

    def experiment_crd(self) -> Obj | None:
        """The live Experiment CRD (for the schema rule), or None when it is not installed."""
        try:
            return self._raw(
                f"read CRD {EXPERIMENT_CRD}",
                "get",
                self._extensions.read_custom_resource_definition,
                EXPERIMENT_CRD,
            )
        except NotFound:
            return None

    def workflow_template_exists(self, name: str) -> bool:
        try:
            self._custom(
                f"get WorkflowTemplate {WORKFLOW_NAMESPACE}/{name}",
                "get",
                self._objects.get_namespaced_custom_object,
                WORKFLOW_TEMPLATES,
                WORKFLOW_NAMESPACE,
                name,
            )
        except NotFound:
            return False
        return True

    def apply_workflow_template(self, doc: ObjView) -> Obj:
        """Server-side apply of a WorkflowTemplate into ``argo-workflows``."""
        name = meta(doc).name
        if not name:
            raise ClusterError("apply WorkflowTemplate: the document has no metadata.name")
        body = {**doc, "metadata": {**doc["metadata"], "namespace": WORKFLOW_NAMESPACE}}
        return self._custom(
            f"apply WorkflowTemplate {WORKFLOW_NAMESPACE}/{name}",
            "patch",
            self._objects.patch_namespaced_custom_object,
            WORKFLOW_TEMPLATES,
            WORKFLOW_NAMESPACE,
            name,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=_APPLY_PATCH,
        )

    def operator_ready_replicas(self) -> int:
        deployment = self._operator_deployment()
        return int(status(deployment).get("readyReplicas") or 0)


class WatchStream:
    """One open watch: iterate for events; ``close()`` from any thread ends it.

    Yields ``{"type", "object"}`` dicts (BOOKMARK included, so the caller can
    advance its resourceVersion). Raises ``Gone`` for an in-stream 410 and
    ``ClusterError`` for other in-stream errors or a dropped connection.
    """

    def __init__(self, response: urllib3.HTTPResponse, *, what: str, endpoint: Endpoint) -> None:
        self._response = response
        self._what = what
        self._endpoint = endpoint
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Obj]:
        try:
            for line in iter_resp_lines(self._response):
                event: Obj = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    message = f"{self._what}: {status.get('message', 'error event')}"
                    if status.get("code") == HTTP_GONE:
                        raise Gone(message)
                    raise ClusterError(message, status=status.get("code"))
                yield event
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if self._closed.is_set():
                return
            raise unreachable(self._what, self._endpoint, exc) from exc
        finally:
            # Closed here, on the reading thread: closing from ``close()`` would pull
            # the file object from under a read in progress.
            self._response.close()
            self._response.release_conn()

    def close(self) -> None:
        """Interrupt a blocked read from any thread; the reader then ends quietly."""
        self._closed.set()
        # The reading thread may have closed the socket a moment ago (the stream ended, or
        # it is handling an error): there is nothing left to interrupt. urllib3 says so
        # with ValueError once the connection is released, OSError (EBADF) just before.
        with contextlib.suppress(OSError, ValueError):
            self._response.shutdown()


def _name_hint(doc: ObjView) -> str:
    found = meta(doc)
    if found.raw.get("generateName"):
        return f"{found.raw['generateName']}*"
    return found.name or "<unnamed>"


__all__ = ["Cluster", "WatchStream"]
