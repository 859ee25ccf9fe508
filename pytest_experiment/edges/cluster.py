"""The project's one edge to the Kubernetes API: own client, bounded retries, secrets unshown.

Everything the plugin asks of the hub cluster goes through ``Cluster``:
objects travel as plain dicts (``_preload_content=False`` + ``json.loads``) so
custom and core resources are handled alike and nothing is lost to the
client's model classes. Every client-library failure becomes a
``ClusterError`` whose message names what was attempted and what the API
said, with the cause chained; a 404 is a ``NotFound``.

Transient failures (429, 5xx, connection resets) are retried a bounded number
of times with exponential backoff; any other 4xx fails at once. A create is
only retried when the server cannot have acted on it (429, or the connection
was never made), because a blind retry of a ``generateName`` create could
leave a second instance nobody accounts for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from pytest_experiment.base.errors import ClusterError, PermissionDenied

Obj = dict[str, Any]
T = TypeVar("T")

EXPERIMENT_NAMESPACE = "experiments"
WORKFLOW_NAMESPACE = "argo-workflows"
ARGOCD_NAMESPACE = "argocd"
OPERATOR_NAMESPACE = "experiment-operator-system"
OPERATOR_DEPLOYMENT = "experiment-operator-controller-manager"
EXPERIMENT_CRD = "experiments.experiments.illm.io"
# The real operator labels what it creates for an instance with the first; the
# seeds' operator with the second. Objects are looked up by both.
INSTANCE_LABELS = ("experiments.illm.io/experiment", "experiment")
CLAIM_LABEL = "experiments.illm.io/cluster"
# Kubernetes names and label values are at most 63 characters.
_NAME_LIMIT = 63
FIELD_MANAGER = "pytest-experiment"

HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
HTTP_GONE = 410
HTTP_TOO_MANY = 429
_TRANSIENT = frozenset({HTTP_TOO_MANY, 500, 502, 503, 504})
# (connect, read) seconds for ordinary requests: a hung server must not hang the run.
_REQUEST_TIMEOUT = (10.0, 60.0)
# Operator log lines read before filtering to one instance: the instance's
# last 50 lines are usually further back than the deployment's last 50.
_LOG_SCAN_LINES = 5000
_MERGE_PATCH = "application/merge-patch+json"
_APPLY_PATCH = "application/apply-patch+yaml"


class NotFound(ClusterError):
    """The object (or its kind) does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=HTTP_NOT_FOUND)


class Gone(ClusterError):
    """A watch's resourceVersion was compacted away: the caller must re-list."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=HTTP_GONE)


@dataclass(frozen=True, kw_only=True)
class Resource:
    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


EXPERIMENTS = Resource(group="experiments.illm.io", version="v1alpha1", plural="experiments")
WORKFLOWS = Resource(group="argoproj.io", version="v1alpha1", plural="workflows")
WORKFLOW_TEMPLATES = Resource(group="argoproj.io", version="v1alpha1", plural="workflowtemplates")
APPLICATIONS = Resource(group="argoproj.io", version="v1alpha1", plural="applications")
GKE_CLUSTERS = Resource(group="illm.io", version="v1alpha1", plural="gkeclusters")


class Labelled(Enum):
    """Objects the operator creates for an instance, labelled with it (either convention).

    The value is (resource or None for core pods, namespace or None for all namespaces).
    """

    APPLICATIONS = (APPLICATIONS, ARGOCD_NAMESPACE)
    WORKFLOWS = (WORKFLOWS, WORKFLOW_NAMESPACE)
    # Crossplane claims live next to the experiment on the hub, but a
    # composition may put them elsewhere: look everywhere.
    GKE_CLUSTERS = (GKE_CLUSTERS, None)
    PODS = (None, EXPERIMENT_NAMESPACE)

    @property
    def namespace(self) -> str | None:
        namespace: str | None = self.value[1]
        return namespace

    @property
    def title(self) -> str:
        resource: Resource | None = self.value[0]
        kind = resource.plural if resource else "pods"
        return f"{kind} in {self.namespace}" if self.namespace else f"{kind} (all namespaces)"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Bounded retries for transient failures (429, 5xx, connection resets)."""

    attempts: int = 4
    first_delay: float = 0.2
    max_delay: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where ``connect`` pointed the client, named when no cluster answers.

    Never holds credentials."""

    server: str
    context: str | None
    source: str

    def describe(self) -> str:
        context = f"context {self.context!r}" if self.context else "no context"
        return f"{context}, server {self.server} ({self.source})"


def _status_message(exc: client.ApiException) -> str:
    """The API's own message from a Status body, else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
    return str(exc.reason or "no message")


# The authorizer's own wording, e.g. 'User "system:serviceaccount:ci:runner" cannot list
# resource "experiments" in API group "experiments.illm.io" in the namespace "experiments"'.
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]+)"| at the cluster scope)?'
)


def _details(exc: client.ApiException) -> Mapping[str, Any]:
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    try:
        details = json.loads(body or "{}").get("details")
    except (ValueError, AttributeError):
        return {}
    return details if isinstance(details, Mapping) else {}


def _refused(what: str, exc: client.ApiException, status: int, verb: str) -> PermissionDenied:
    """A 401/403 as a permission problem naming verb, resource, namespace and identity."""
    message = _status_message(exc)
    if status == HTTP_UNAUTHORIZED:
        return PermissionDenied(
            f"{what}: unauthorized: the API rejected the credentials (HTTP 401): {message}",
            status=status,
        )
    found = _FORBIDDEN.search(message)
    if found is None:
        # Some refusals (a server-side apply that would create) name no user or verb:
        # say what was asked, from the Status details and the request made.
        details = _details(exc)
        kind, group = str(details.get("kind") or ""), str(details.get("group") or "core")
        if not kind:
            return PermissionDenied(f"{what}: forbidden (HTTP 403): {message}", status=status)
        hint = " (an apply that creates the object needs create too)" if verb == "patch" else ""
        return PermissionDenied(
            f"{what}: forbidden: cannot {verb or 'access'} {kind} ({group}){hint} (HTTP 403): "
            "the runner's role lacks this permission",
            status=status,
            verb=verb,
            resource=kind if group == "core" else f"{kind}.{group}",
        )
    resource = found["resource"]
    group = found["group"] or "core"
    namespace = found["namespace"]
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    return PermissionDenied(
        f"{what}: forbidden: cannot {found['verb']} {resource} ({group}) {where} "
        f"as {found['user']} (HTTP 403): the runner's role lacks this permission",
        status=status,
        verb=found["verb"],
        resource=resource if group == "core" else f"{resource}.{group}",
        namespace=namespace,
        user=found["user"],
    )


def _retry_after(exc: client.ApiException) -> float | None:
    headers = exc.headers or {}
    try:
        return float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None


def _never_sent(exc: urllib3.exceptions.HTTPError) -> bool:
    """Whether the request certainly did not reach the server (safe to retry a create)."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )


def _connection_reason(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    text = str(reason)
    # "HTTPSConnection(host=…, port=…): Failed to establish…": the server is named elsewhere.
    return text.split("): ", 1)[-1] if text.startswith("HTTP") else text


def unreachable(what: str, endpoint: Endpoint, exc: BaseException) -> ClusterError:
    return ClusterError(
        f"{what}: cannot reach the Kubernetes API ({endpoint.describe()}): "
        f"{_connection_reason(exc)}"
    )


class Cluster:
    """An ApiClient for one kubeconfig context, with domain errors and retries."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        endpoint: Endpoint,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self.endpoint = endpoint
        self._retry = retry
        self._sleep = sleep
        self._objects = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._apps = client.AppsV1Api(api)
        self._batch = client.BatchV1Api(api)
        self._extensions = client.ApiextensionsV1Api(api)
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()

    def __repr__(self) -> str:
        # The ApiClient's configuration holds the token: never let a repr show it.
        return f"Cluster({self.endpoint.describe()})"

    def describe(self) -> str:
        return self.endpoint.describe()

    def close(self) -> None:
        self._api.close()

    @property
    def requests(self) -> Mapping[str, int]:
        """API requests made so far, by verb (``list``, ``watch``, ``get``…), for benchmarks."""
        with self._lock:
            return dict(self._requests)

    # -- plumbing ---------------------------------------------------------------

    def _call(
        self, what: str, verb: str, fn: Callable[..., T], *args: Any, idempotent: bool = True
    ) -> T:
        """``fn(*args)`` with retries; failures become ``ClusterError`` naming ``what``."""
        delays = self._retry.delays()
        while True:
            with self._lock:
                self._requests[verb] += 1
            try:
                return fn(*args)
            except client.ApiException as exc:
                status = int(exc.status) if exc.status else None
                retryable = status in _TRANSIENT and (idempotent or status == HTTP_TOO_MANY)
                delay = next(delays, None) if retryable else None
                if delay is None:
                    raise self._api_error(what, exc, verb=verb) from exc
                self._sleep(min(_retry_after(exc) or delay, self._retry.max_delay))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                retryable = idempotent or (
                    isinstance(exc, urllib3.exceptions.HTTPError) and _never_sent(exc)
                )
                delay = next(delays, None) if retryable else None
                if delay is None:
                    raise self._connection_error(what, exc) from exc
                self._sleep(delay)

    def _api_error(self, what: str, exc: client.ApiException, *, verb: str = "") -> ClusterError:
        message = f"{what}: {_status_message(exc)}"
        if exc.status == HTTP_NOT_FOUND:
            return NotFound(message)
        if exc.status == HTTP_GONE:
            return Gone(message)
        status = int(exc.status) if exc.status else None
        if status in (HTTP_UNAUTHORIZED, HTTP_FORBIDDEN):
            return _refused(what, exc, status, verb)
        return ClusterError(f"{message} (HTTP {status})", status=status)

    def _connection_error(self, what: str, exc: BaseException) -> ClusterError:
        return unreachable(what, self.endpoint, exc)

    def _raw(
        self,
        what: str,
        verb: str,
        fn: Callable[..., Any],
        *args: Any,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Obj:
        def request() -> Obj:
            response = fn(
                *args, _preload_content=False, _request_timeout=_REQUEST_TIMEOUT, **kwargs
            )
            document: Obj = json.loads(response.data)
            return document

        return self._call(what, verb, request, idempotent=idempotent)

    # -- experiments ------------------------------------------------------------

    def create_experiment(self, experiment_doc: Mapping[str, Any], *, namespace: str) -> str:
        """Create the Experiment and return the instance name the server generated."""
        created = self._raw(
            f"create Experiment {_name_hint(experiment_doc)} in {namespace}",
            "create",
            self._objects.create_namespaced_custom_object,
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            namespace,
            EXPERIMENTS.plural,
            dict(experiment_doc),
            idempotent=False,
        )
        return str(created["metadata"]["name"])

    def get_experiment(self, name: str, *, namespace: str) -> Obj:
        return self._raw(
            f"get Experiment {namespace}/{name}",
            "get",
            self._objects.get_namespaced_custom_object,
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            namespace,
            EXPERIMENTS.plural,
            name,
        )

    def delete_experiment(self, name: str, *, namespace: str) -> bool:
        """Delete the instance; False when it was already gone (cleanup is idempotent)."""
        try:
            self._raw(
                f"delete Experiment {namespace}/{name}",
                "delete",
                self._objects.delete_namespaced_custom_object,
                EXPERIMENTS.group,
                EXPERIMENTS.version,
                namespace,
                EXPERIMENTS.plural,
                name,
            )
        except NotFound:
            return False
        return True

    def annotate_experiment(
        self, name: str, *, namespace: str, annotations: Mapping[str, str | None]
    ) -> Obj:
        """Set (or, with None, remove) annotations; returns the updated object."""
        return self._raw(
            f"annotate Experiment {namespace}/{name}",
            "patch",
            self._objects.patch_namespaced_custom_object,
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            namespace,
            EXPERIMENTS.plural,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            _content_type=_MERGE_PATCH,
        )

    def list_experiments(
        self, *, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        """Items and the list's resourceVersion (to start a watch from)."""
        extra: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        listed = self._raw(
            f"list Experiments in {namespace}",
            "list",
            self._objects.list_namespaced_custom_object,
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            namespace,
            EXPERIMENTS.plural,
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
                _request_timeout=(_REQUEST_TIMEOUT[0], timeout_seconds + 15),
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
            self._raw(
                f"get WorkflowTemplate {WORKFLOW_NAMESPACE}/{name}",
                "get",
                self._objects.get_namespaced_custom_object,
                WORKFLOW_TEMPLATES.group,
                WORKFLOW_TEMPLATES.version,
                WORKFLOW_NAMESPACE,
                WORKFLOW_TEMPLATES.plural,
                name,
            )
        except NotFound:
            return False
        return True

    def apply_workflow_template(self, doc: Mapping[str, Any]) -> Obj:
        """Server-side apply of a WorkflowTemplate into ``argo-workflows``."""
        name = str((doc.get("metadata") or {}).get("name") or "")
        if not name:
            raise ClusterError("apply WorkflowTemplate: the document has no metadata.name")
        body = {**doc, "metadata": {**doc["metadata"], "namespace": WORKFLOW_NAMESPACE}}
        return self._raw(
            f"apply WorkflowTemplate {WORKFLOW_NAMESPACE}/{name}",
            "patch",
            self._objects.patch_namespaced_custom_object,
            WORKFLOW_TEMPLATES.group,
            WORKFLOW_TEMPLATES.version,
            WORKFLOW_NAMESPACE,
            WORKFLOW_TEMPLATES.plural,
            name,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=_APPLY_PATCH,
        )

    def operator_ready_replicas(self) -> int:
        deployment = self._raw(
            f"get Deployment {OPERATOR_NAMESPACE}/{OPERATOR_DEPLOYMENT}",
            "get",
            self._apps.read_namespaced_deployment,
            OPERATOR_DEPLOYMENT,
            OPERATOR_NAMESPACE,
        )
        return int((deployment.get("status") or {}).get("readyReplicas") or 0)

    # -- diagnostics ------------------------------------------------------------

    def list_labelled(self, kind: Labelled, *, instance: str) -> list[Obj]:
        """Objects of ``kind`` labelled with ``instance`` under either label convention."""
        found: dict[tuple[str, str], Obj] = {}
        for label in INSTANCE_LABELS:
            for item in self._list(kind, f"{label}={instance}"):
                meta = item.get("metadata") or {}
                found.setdefault((str(meta.get("namespace") or ""), str(meta.get("name"))), item)
        return list(found.values())

    def list_claims(self, *, instance: str, names: Sequence[str] = ()) -> list[Obj]:
        """GKECluster claims of ``instance``: by name through the real operator's
        ``experiments.illm.io/cluster`` label, and by the instance labels."""
        found: dict[tuple[str, str], Obj] = {}
        wanted = sorted({n for n in names if 0 < len(n) <= _NAME_LIMIT})
        selectors = [f"{CLAIM_LABEL} in ({','.join(wanted)})"] if wanted else []
        selectors += [f"{label}={instance}" for label in INSTANCE_LABELS]
        for selector in selectors:
            for item in self._list(Labelled.GKE_CLUSTERS, selector):
                meta = item.get("metadata") or {}
                found.setdefault((str(meta.get("namespace") or ""), str(meta.get("name"))), item)
        return list(found.values())

    def claims_named(self, names: Sequence[str]) -> list[Obj]:
        """Claims carrying ``experiments.illm.io/cluster`` with one of ``names``: one request."""
        wanted = sorted({n for n in names if 0 < len(n) <= _NAME_LIMIT})
        if not wanted:
            return []
        return self._list(Labelled.GKE_CLUSTERS, f"{CLAIM_LABEL} in ({','.join(wanted)})")

    def _list(self, kind: Labelled, selector: str) -> list[Obj]:
        resource, namespace = kind.value
        what = f"list {kind.title} labelled {selector}"
        if resource is None:
            listed = self._raw(
                what, "list", self._core.list_namespaced_pod, namespace, label_selector=selector
            )
        elif namespace is None:
            listed = self._raw(
                what,
                "list",
                self._objects.list_cluster_custom_object,
                resource.group,
                resource.version,
                resource.plural,
                label_selector=selector,
            )
        else:
            listed = self._raw(
                what,
                "list",
                self._objects.list_namespaced_custom_object,
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                label_selector=selector,
            )
        return list(listed.get("items") or [])

    def get_workflow(self, name: str) -> Obj:
        """The Argo Workflow ``name`` in ``argo-workflows`` (a failed run's reason is there)."""
        return self._raw(
            f"get Workflow {WORKFLOW_NAMESPACE}/{name}",
            "get",
            self._objects.get_namespaced_custom_object,
            WORKFLOWS.group,
            WORKFLOWS.version,
            WORKFLOW_NAMESPACE,
            WORKFLOWS.plural,
            name,
        )

    def events(self, instance: str, *, namespaces: Sequence[str]) -> list[Obj]:
        """Kubernetes Events about ``instance`` or an object named after it, oldest first.

        The operator's objects are all named from the instance (``<instance>-app``,
        ``<instance>-validation``, ``experiment-analyzer-<instance>``), so an event
        belongs to it when its object's name contains the instance name.
        """
        found: list[Obj] = []
        for namespace in dict.fromkeys(namespaces):
            listed = self._raw(
                f"list events in {namespace}", "list", self._core.list_namespaced_event, namespace
            )
            for event in listed.get("items") or []:
                involved = event.get("involvedObject") or {}
                if instance in str(involved.get("name") or ""):
                    found.append(event)
        return sorted(found, key=_event_time)

    def operator_log_tail(self, instance: str, *, lines: int = 50) -> list[str]:
        """The operator's last ``lines`` log lines that mention ``instance``.

        Raises ``ClusterError`` when no operator pod can be read (the reason is
        what diagnostics prints).
        """
        deployment = self._raw(
            f"get Deployment {OPERATOR_NAMESPACE}/{OPERATOR_DEPLOYMENT}",
            "get",
            self._apps.read_namespaced_deployment,
            OPERATOR_DEPLOYMENT,
            OPERATOR_NAMESPACE,
        )
        match = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
        pods = self._raw(
            f"list operator pods ({selector})",
            "list",
            self._core.list_namespaced_pod,
            OPERATOR_NAMESPACE,
            label_selector=selector,
        )
        running = [
            p for p in pods.get("items") or [] if (p.get("status") or {}).get("phase") == "Running"
        ]
        if not running:
            raise ClusterError(
                f"no running pod of Deployment {OPERATOR_NAMESPACE}/{OPERATOR_DEPLOYMENT}"
            )
        found: list[str] = []
        # With leader election only one pod reconciles; read them all rather than guess which.
        for pod in running:
            text = self._pod_log(str(pod["metadata"]["name"]), tail_lines=_LOG_SCAN_LINES)
            found.extend(line for line in text.splitlines() if instance in line)
        return found[-lines:]

    def _pod_log(self, pod: str, *, tail_lines: int) -> str:
        """The last ``tail_lines`` of a pod in the operator namespace, decoded leniently."""

        def read() -> str:
            response = self._core.read_namespaced_pod_log(
                pod,
                OPERATOR_NAMESPACE,
                tail_lines=tail_lines,
                _preload_content=False,
                _request_timeout=_REQUEST_TIMEOUT,
            )
            return bytes(response.data).decode("utf-8", errors="replace")

        return self._call(f"read logs of {OPERATOR_NAMESPACE}/{pod}", "log", read)

    def analyzer_job(self, instance: str, *, named: str | None = None) -> tuple[str, Obj]:
        """The analyzer Job of ``instance`` and its name: ``named`` (the status's
        ``analysisJobName``), else the real operator's ``experiment-analyzer-<instance>``,
        else the seeds' ``<instance>-analyzer``. ``NotFound`` names every one tried."""
        tried: list[str] = []
        for name in analyzer_job_names(instance, named=named):
            tried.append(name)
            try:
                return name, self._raw(
                    f"get Job {OPERATOR_NAMESPACE}/{name}",
                    "get",
                    self._batch.read_namespaced_job,
                    name,
                    OPERATOR_NAMESPACE,
                )
            except NotFound:
                continue
        raise NotFound(f"no analyzer Job in {OPERATOR_NAMESPACE} (tried {', '.join(tried)})")

    def job_log_tail(self, job: str, *, lines: int = 50) -> list[str]:
        """The last ``lines`` log lines of the newest pod of ``job`` in the operator namespace.

        Raises ``ClusterError`` saying why when there is no pod to read.
        """
        pods = self._raw(
            f"list pods of Job {OPERATOR_NAMESPACE}/{job}",
            "list",
            self._core.list_namespaced_pod,
            OPERATOR_NAMESPACE,
            label_selector=f"job-name={job}",
        )
        items = sorted(
            pods.get("items") or [],
            key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""),
        )
        if not items:
            raise ClusterError(f"no pod of Job {OPERATOR_NAMESPACE}/{job} to read logs from")
        return self._pod_log(str(items[-1]["metadata"]["name"]), tail_lines=lines).splitlines()


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


def analyzer_job_names(instance: str, *, named: str | None = None) -> list[str]:
    """Where an instance's analyzer Job may be, in the order to look."""
    real = f"experiment-analyzer-{instance}"[:_NAME_LIMIT].rstrip("-")
    return list(dict.fromkeys(n for n in (named, real, f"{instance}-analyzer") if n))


def _event_time(event: Mapping[str, Any]) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def _name_hint(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    if meta.get("generateName"):
        return f"{meta['generateName']}*"
    return str(meta.get("name") or "<unnamed>")


SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod's projected ServiceAccount token and cluster CA are mounted."""


def _kubeconfig_files(kubeconfig: Path | None) -> str:
    # Read KUBECONFIG now, not at kubernetes import time (its module default is frozen then).
    return str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or "~/.kube/config"


def connect(
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    retry: RetryPolicy = RetryPolicy(),
    service_account: Path = SERVICE_ACCOUNT_DIR,
) -> Cluster:
    """A ``Cluster`` for ``kubeconfig`` (else ``$KUBECONFIG``, else ``~/.kube/config``),
    falling back to in-cluster config when there is no kubeconfig and no context asked for.

    In-cluster config reads ``token`` and ``ca.crt`` from ``service_account`` (a pod's
    mount unless a caller says otherwise) and the ``KUBERNETES_SERVICE_HOST``/``_PORT``
    environment, through the client's own loader. The process-global client
    configuration is never touched: two sessions in one process may use two clusters.
    """
    files = _kubeconfig_files(kubeconfig)
    paths = [Path(p).expanduser() for p in files.split(os.pathsep) if p]
    if not any(p.exists() for p in paths) and context is None:
        return _in_cluster(files, retry=retry, service_account=service_account)
    configuration = client.Configuration()
    try:
        _, active = config.list_kube_config_contexts(config_file=files)
        api = config.new_client_from_config(
            config_file=files,
            context=context,
            persist_config=False,
            client_configuration=configuration,
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        tried = f"context {context!r}" if context else "the current context"
        raise ClusterError(f"cannot load kubeconfig {files} ({tried}): {exc}") from exc
    name = context or (active or {}).get("name")
    endpoint = Endpoint(server=configuration.host, context=name, source=f"kubeconfig {files}")
    return Cluster(api, endpoint=endpoint, retry=retry)


def check_context(*, kubeconfig: Path | None, context: str) -> None:
    """``ClusterError`` listing the contexts the kubeconfig has, when ``context`` is not one.

    Checked at start-up so a typo stops the session in one line instead of failing
    every pre-flight item.
    """
    files = _kubeconfig_files(kubeconfig)
    try:
        contexts, _ = config.list_kube_config_contexts(config_file=files)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ClusterError(
            f"context {context!r}: cannot read kubeconfig {files}: {_one_line(exc)}"
        ) from exc
    names = [str(c.get("name")) for c in contexts or [] if isinstance(c, Mapping)]
    if context not in names:
        raise ClusterError(
            f"context {context!r} is not in kubeconfig {files}; "
            f"it has: {', '.join(names) if names else 'no contexts'}"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _in_cluster(files: str, *, retry: RetryPolicy, service_account: Path) -> Cluster:
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = client.Configuration()
    try:
        InClusterConfigLoader(
            token_filename=str(service_account / "token"),
            cert_filename=str(service_account / "ca.crt"),
        ).load_and_set(configuration)
    except ConfigException as exc:
        raise ClusterError(
            f"no kubeconfig at {files} and not running in a cluster ({exc})"
        ) from exc
    endpoint = Endpoint(server=configuration.host, context=None, source="in-cluster config")
    return Cluster(client.ApiClient(configuration), endpoint=endpoint, retry=retry)


__all__ = [
    "APPLICATIONS",
    "EXPERIMENTS",
    "GKE_CLUSTERS",
    "WORKFLOWS",
    "WORKFLOW_TEMPLATES",
    "Cluster",
    "Endpoint",
    "Gone",
    "Labelled",
    "NotFound",
    "Resource",
    "RetryPolicy",
    "WatchStream",
    "check_context",
    "connect",
]
