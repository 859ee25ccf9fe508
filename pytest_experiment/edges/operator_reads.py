"""What the operator made for an instance, read for diagnostics and cleanup.

The Applications, Workflows, claims and pods labelled with an instance, the
Events about it, its analyzer Job and the operator's and the Job's logs: all
reads, through the same retries and error wrapping as every other request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_experiment.base.errors import ClusterError, NotFound
from pytest_experiment.base.resources import (
    CLAIM_LABEL,
    EXPERIMENT_LABEL,
    LEGACY_EXPERIMENT_LABEL,
    NAME_LIMIT,
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    WORKFLOW_NAMESPACE,
    WORKFLOWS,
    Labelled,
)
from pytest_experiment.base.types import Obj, ObjView
from pytest_experiment.base.views import meta, status
from pytest_experiment.edges.api_requests import REQUEST_TIMEOUT, ApiRequests

# Objects are looked up by both operators' instance label.
INSTANCE_LABELS = (EXPERIMENT_LABEL, LEGACY_EXPERIMENT_LABEL)
# Operator log lines read before filtering to one instance: the instance's
# last 50 lines are usually further back than the deployment's last 50.
_LOG_SCAN_LINES = 5000


class OperatorReads(ApiRequests):
    """The reads diagnostics and cleanup make of what the operator created."""

    def list_labelled(self, kind: Labelled, *, instance: str) -> list[Obj]:
        """Objects of ``kind`` labelled with ``instance`` under either label convention."""
        return self._union(kind, [f"{label}={instance}" for label in INSTANCE_LABELS])

    def list_claims(self, *, instance: str, names: Sequence[str] = ()) -> list[Obj]:
        """GKECluster claims of ``instance``: by name through the real operator's
        ``experiments.illm.io/cluster`` label, and by the instance labels."""
        selectors = [f"{label}={instance}" for label in INSTANCE_LABELS]
        return self._union(Labelled.GKE_CLUSTERS, [*_claim_selector(names), *selectors])

    def claims_named(self, names: Sequence[str]) -> list[Obj]:
        """Claims carrying ``experiments.illm.io/cluster`` with one of ``names``: one request."""
        return self._union(Labelled.GKE_CLUSTERS, _claim_selector(names))

    def _union(self, kind: Labelled, selectors: Iterable[str]) -> list[Obj]:
        """Objects of ``kind`` any of ``selectors`` selects, each once."""
        found: dict[tuple[str, str], Obj] = {}
        for selector in selectors:
            for item in self._list(kind, selector):
                where = meta(item)
                found.setdefault((where.namespace, str(where.raw.get("name"))), item)
        return list(found.values())

    def _list(self, kind: Labelled, selector: str) -> list[Obj]:
        resource, namespace = kind.value
        what = f"list {kind.title} labelled {selector}"
        if resource is None:
            listed = self._raw(
                what, "list", self._core.list_namespaced_pod, namespace, label_selector=selector
            )
        else:
            method = (
                self._objects.list_cluster_custom_object
                if namespace is None
                else self._objects.list_namespaced_custom_object
            )
            listed = self._custom(
                what, "list", method, resource, namespace, label_selector=selector
            )
        return list(listed.get("items") or [])

    def get_workflow(self, name: str) -> Obj:
        """The Argo Workflow ``name`` in ``argo-workflows`` (a failed run's reason is there)."""
        return self._custom(
            f"get Workflow {WORKFLOW_NAMESPACE}/{name}",
            "get",
            self._objects.get_namespaced_custom_object,
            WORKFLOWS,
            WORKFLOW_NAMESPACE,
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

    def _operator_deployment(self) -> Obj:
        return self._raw(
            f"get Deployment {OPERATOR_NAMESPACE}/{OPERATOR_DEPLOYMENT}",
            "get",
            self._apps.read_namespaced_deployment,
            OPERATOR_DEPLOYMENT,
            OPERATOR_NAMESPACE,
        )

    def operator_log_tail(self, instance: str, *, lines: int = 50) -> list[str]:
        """The operator's last ``lines`` log lines that mention ``instance``.

        Raises ``ClusterError`` when no operator pod can be read (the reason is
        what diagnostics prints).
        """
        deployment = self._operator_deployment()
        match = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
        pods = self._raw(
            f"list operator pods ({selector})",
            "list",
            self._core.list_namespaced_pod,
            OPERATOR_NAMESPACE,
            label_selector=selector,
        )
        running = [p for p in pods.get("items") or [] if status(p).get("phase") == "Running"]
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
                _request_timeout=REQUEST_TIMEOUT,
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
            key=lambda p: str(meta(p).created or ""),
        )
        if not items:
            raise ClusterError(f"no pod of Job {OPERATOR_NAMESPACE}/{job} to read logs from")
        return self._pod_log(str(items[-1]["metadata"]["name"]), tail_lines=lines).splitlines()


def analyzer_job_names(instance: str, *, named: str | None = None) -> list[str]:
    """Where an instance's analyzer Job may be, in the order to look."""
    real = f"experiment-analyzer-{instance}"[:NAME_LIMIT].rstrip("-")
    return list(dict.fromkeys(n for n in (named, real, f"{instance}-analyzer") if n))


def _claim_selector(names: Sequence[str]) -> list[str]:
    """The one selector for claims of these cluster names (none when no name can be a label)."""
    wanted = sorted({n for n in names if 0 < len(n) <= NAME_LIMIT})
    return [f"{CLAIM_LABEL} in ({','.join(wanted)})"] if wanted else []


def _event_time(event: ObjView) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta(event).created
        or ""
    )
