"""An in-memory hub cluster implementing ``pytest_experiment.run.ports.Cluster``.

Not a mock of the kubernetes client: a small fake of the project's own
interface. Experiments are kept by namespace and name with a cluster-wide
resourceVersion; every change is appended to an event log that watches replay
from the version they start at, as the API server does. A scripted operator
walks each created instance through its phases; tests can hold an instance in
a phase, keep a finalizer on it, refuse the watch verb, make the next call
of a verb fail, make the next create fail after it made its instance (its
answer lost), or pause every watch.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pytest_experiment.base.errors import ClusterError, NotFound
from pytest_experiment.base.resources import Labelled
from pytest_experiment.base.types import Obj

FINALIZER = "experiments.illm.io/finalizer"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True)
class Script:
    """How the fake operator runs every instance it is given."""

    phases: tuple[str, ...] = ("Provisioning", "Ready", "Running", "Complete")
    hold: str | None = None
    """A phase each instance stays in until ``FakeCluster.release(name)``."""
    final: Callable[[str], Mapping[str, Any]] = field(
        default=lambda name: {
            "resultsURL": f"s3://results/{name}/",
            "analysisPhase": "Succeeded",
            "reviewPhase": "Skipped",
            "hypothesisResult": "validated",
        }
    )
    """Status fields written with the last phase (given the instance name)."""
    finalizers: tuple[str, ...] = ()
    """Put on each instance: a deletion then waits for ``FakeCluster.let_go(name)``."""
    outage: str | None = None
    """A phase in which the API drops every watch stream, as a cut connection does,
    before the instance is seen in it; ``"deleting"``: once a deletion is requested, after
    which the finalizers are let go. The operator goes on once a watch is taken again."""


class FakeStream:
    """A watch: the namespace's events after ``version``, then new ones as they come."""

    def __init__(self, cluster: FakeCluster, *, namespace: str, version: int, timeout: float):
        self._cluster = cluster
        self._namespace = namespace
        self._version = version
        self._timeout = timeout
        self._closed = threading.Event()
        self._cuts = cluster.cuts

    def __iter__(self) -> Iterator[Obj]:
        changed = self._cluster.changed
        # The server ends a watch at its timeout; the watcher then resumes it.
        deadline = time.monotonic() + self._timeout
        while not self._closed.is_set():
            with changed:
                if self._cluster.cuts != self._cuts:
                    raise ClusterError(
                        f"watch Experiments in {self._namespace}: connection reset by peer "
                        "(the fake API dropped the stream)"
                    )
                fresh = [
                    (version, kind, obj)
                    for version, namespace, kind, obj in self._cluster.log
                    if namespace == self._namespace
                    and version > self._version
                    and not self._cluster.watch_paused
                ]
                if not fresh:
                    if time.monotonic() >= deadline:
                        return
                    changed.wait(max(0.0, deadline - time.monotonic()))
                    continue
            for version, kind, obj in fresh:
                self._version = version
                yield {"type": kind, "object": copy.deepcopy(obj)}

    def close(self) -> None:
        self._closed.set()
        with self._cluster.changed:
            self._cluster.changed.notify_all()


class FakeCluster:
    """Experiments in memory, a watch over them, and a scripted operator."""

    def __init__(
        self,
        *,
        script: Script | None = None,
        templates: Sequence[str] | None = None,
        ready_replicas: int = 1,
        refuse_watch: bool = False,
    ) -> None:
        self.script = script or Script()
        self.templates = None if templates is None else set(templates)
        """WorkflowTemplates present (None: every one asked for)."""
        self.ready_replicas = ready_replicas
        self.refuse_watch = refuse_watch
        """Answer watches with 403, as an API that allows list but not watch does."""
        self.objects: dict[tuple[str, str], Obj] = {}
        self.log: list[tuple[int, str, str, Obj]] = []
        """(resourceVersion, namespace, event type, object) of every change."""
        self.created: list[str] = []
        self.selectors: list[str | None] = []
        """The label selector of every list asked for, in order."""
        self.deleted: list[str] = []
        self.changed = threading.Condition()
        self._versions = itertools.count(1)
        self._names = itertools.count(1)
        self._failures: dict[str, list[ClusterError]] = {}
        self._lost_answers: list[tuple[ClusterError, int]] = []
        self._released: dict[str, threading.Event] = {}
        self._requests: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        self.cuts = 0
        """How often every watch stream was dropped (``drop_watches``)."""
        self.watch_paused = False
        """Watches deliver nothing while set (a paused reader: events wait on the stream)."""
        self.workflows: dict[str, Obj] = {}
        """Argo Workflows by name (a test puts them and deletes them, as the operator does)."""
        self.workflow_reads: list[str] = []
        """The name of every Workflow asked for, in order."""

    # -- what tests do ---------------------------------------------------------------

    def pause_watches(self) -> None:
        """Events wait undelivered on every watch, as on the stream of a stopped process."""
        with self.changed:
            self.watch_paused = True

    def resume_watches(self) -> None:
        with self.changed:
            self.watch_paused = False
            self.changed.notify_all()

    def fail_next(self, verb: str, error: ClusterError) -> None:
        """The next call of ``verb`` (create, get, delete, list, watch, patch) raises ``error``."""
        with self.changed:
            self._failures.setdefault(verb, []).append(error)

    def lose_next_answer(self, error: ClusterError, *, copies: int = 1) -> None:
        """The next create makes ``copies`` instances (as a proxy replaying it would),
        then raises ``error`` as if its answer had been lost."""
        with self.changed:
            self._lost_answers.append((error, copies))

    def release(self, name: str) -> None:
        """Let an instance held by ``Script.hold`` move on."""
        self._release_event(name).set()

    def let_go(self, name: str) -> None:
        """Remove the finalizers of a deleted instance, which then disappears."""
        with self.changed:
            key = self._key_of(name)
            obj = self.objects[key]
            obj["metadata"]["finalizers"] = []
            if obj["metadata"].get("deletionTimestamp"):
                self._remove(key)

    def set_status(self, name: str, **status: Any) -> None:
        """Patch the status of ``name``, as the operator would (one event)."""
        self.set_statuses(name, status)

    def set_statuses(self, name: str, *updates: Mapping[str, Any]) -> None:
        """Several status patches, one event each, with no list able to see between them."""
        with self.changed:
            key = self._key_of(name)
            for update in updates:
                obj = self.objects[key]
                obj["status"] = {**(obj.get("status") or {}), **update}
                self._record(key, "MODIFIED")

    def phases_of(self, name: str) -> list[str]:
        """Every phase the API held for ``name``, in order."""
        seen: list[str] = []
        for _, _, _, obj in self.log:
            if obj["metadata"]["name"] == name:
                phase = (obj.get("status") or {}).get("phase")
                if phase and (not seen or seen[-1] != phase):
                    seen.append(phase)
        return seen

    def version_of(self, name: str, phase: str) -> int:
        """The resourceVersion at which ``name`` entered ``phase`` (created: ``"created"``)."""
        for version, _, kind, obj in self.log:
            if obj["metadata"]["name"] != name:
                continue
            if phase == "created" and kind == "ADDED":
                return version
            if (obj.get("status") or {}).get("phase") == phase:
                return version
        raise KeyError(f"{name} never {phase}")

    def drop_watches(self) -> None:
        """Drop every open watch stream, as an API server restart or a cut connection
        does; return once a new watch has been asked for."""
        with self.changed:
            self.cuts += 1
            watches = self._requests["watch"]
            self.changed.notify_all()
            while self._requests["watch"] == watches:
                self.changed.wait()

    def stop(self) -> None:
        for event in list(self._released.values()):
            event.set()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- the Cluster protocol -------------------------------------------------------

    @property
    def requests(self) -> Mapping[str, int]:
        with self.changed:
            return dict(self._requests)

    def describe(self) -> str:
        return "fake cluster (in memory)"

    def create_experiment(self, experiment_doc: Mapping[str, Any], *, namespace: str) -> str:
        self._request("create")
        with self.changed:
            lost = self._lost_answers.pop(0) if self._lost_answers else None
        if lost is None:
            return self._create(experiment_doc, namespace=namespace)
        error, copies = lost
        for _ in range(copies):
            self._create(experiment_doc, namespace=namespace)
        raise error

    def _create(self, experiment_doc: Mapping[str, Any], *, namespace: str) -> str:
        obj = copy.deepcopy(dict(experiment_doc))
        meta = obj.setdefault("metadata", {})
        with self.changed:
            name = meta.get("name") or f"{meta.get('generateName', 'exp-')}{next(self._names):05d}"
            meta.update(
                name=name,
                namespace=namespace,
                creationTimestamp=_now(),
                finalizers=list(self.script.finalizers),
            )
            meta.pop("generateName", None)
            self.objects[(namespace, name)] = obj
            self.created.append(name)
            self._record((namespace, name), "ADDED")
        self._spawn(self._operate, name)
        return name

    def _spawn(self, target: Callable[[str], None], name: str) -> None:
        thread = threading.Thread(target=target, args=(name,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def get_experiment(self, name: str, *, namespace: str) -> Obj:
        self._request("get")
        with self.changed:
            obj = self.objects.get((namespace, name))
            if obj is None:
                raise NotFound(f"get Experiment {namespace}/{name}: not found")
            return copy.deepcopy(obj)

    def delete_experiment(self, name: str, *, namespace: str) -> bool:
        self._request("delete")
        with self.changed:
            key = (namespace, name)
            obj = self.objects.get(key)
            if obj is None:
                return False
            self.deleted.append(name)
            if not obj["metadata"].get("finalizers"):
                self._remove(key)
                return True
            again = bool(obj["metadata"].get("deletionTimestamp"))
            obj["metadata"]["deletionTimestamp"] = _now()
            self._record(key, "MODIFIED")
        if self.script.outage == "deleting" and not again:
            self._spawn(self._outage_then_let_go, name)
        return True

    def _outage_then_let_go(self, name: str) -> None:
        self.drop_watches()
        self.let_go(name)

    def annotate_experiment(
        self, name: str, *, namespace: str, annotations: Mapping[str, str | None]
    ) -> Obj:
        self._request("patch")
        with self.changed:
            obj = self.objects.get((namespace, name))
            if obj is None:
                raise NotFound(f"annotate Experiment {namespace}/{name}: not found")
            current = obj["metadata"].setdefault("annotations", {})
            for key, value in annotations.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            self._record((namespace, name), "MODIFIED")
            return copy.deepcopy(obj)

    def list_experiments(
        self, *, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        with self.changed:
            self.selectors.append(label_selector)
        self._request("list")
        wanted = dict(s.split("=", 1) for s in (label_selector or "").split(",") if "=" in s)
        with self.changed:
            items = [
                copy.deepcopy(obj)
                for (space, _), obj in sorted(self.objects.items())
                if space == namespace
                and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
            ]
            return items, str(self.log[-1][0] if self.log else 0)

    def watch_experiments(
        self, *, namespace: str, resource_version: str, timeout_seconds: int
    ) -> FakeStream:
        self._request("watch")
        if self.refuse_watch:
            raise ClusterError(
                f"watch Experiments in {namespace}: forbidden (HTTP 403)", status=403
            )
        return FakeStream(
            self, namespace=namespace, version=int(resource_version), timeout=timeout_seconds
        )

    def experiment_crd(self) -> Obj | None:
        self._request("get")
        return None

    def workflow_template_exists(self, name: str) -> bool:
        self._request("get")
        return self.templates is None or name in self.templates

    def apply_workflow_template(self, doc: Mapping[str, Any]) -> Obj:
        self._request("patch")
        if self.templates is not None:
            self.templates.add(str(doc["metadata"]["name"]))
        return dict(doc)

    def operator_ready_replicas(self) -> int:
        self._request("get")
        return self.ready_replicas

    def list_labelled(self, kind: Labelled, *, instance: str) -> list[Obj]:
        self._request("list")
        return []

    def list_claims(self, *, instance: str, names: Sequence[str] = ()) -> list[Obj]:
        self._request("list")
        return []

    def claims_named(self, names: Sequence[str]) -> list[Obj]:
        self._request("list")
        return []

    def get_workflow(self, name: str) -> Obj:
        self._request("get")
        with self.changed:
            self.workflow_reads.append(name)
            self.changed.notify_all()
            found = self.workflows.get(name)
        if found is None:
            raise NotFound(f"get Workflow argo-workflows/{name}: not found")
        return copy.deepcopy(found)

    def events(self, instance: str, *, namespaces: Sequence[str]) -> list[Obj]:
        self._request("list")
        return []

    def operator_log_tail(self, instance: str, *, lines: int = 50) -> list[str]:
        self._request("log")
        return [f"reconciling {instance}"]

    def analyzer_job(self, instance: str, *, named: str | None = None) -> tuple[str, Obj]:
        self._request("get")
        raise NotFound(f"no analyzer Job for {instance}")

    def job_log_tail(self, job: str, *, lines: int = 50) -> list[str]:
        self._request("log")
        return []

    # -- inside ------------------------------------------------------------------------

    def _request(self, verb: str) -> None:
        with self.changed:
            self._requests[verb] += 1
            self.changed.notify_all()  # drop_watches waits for the next watch
            pending = self._failures.get(verb)
            if pending:
                raise pending.pop(0)

    def _key_of(self, name: str) -> tuple[str, str]:
        return next(key for key in self.objects if key[1] == name)

    def _record(self, key: tuple[str, str], kind: str) -> None:
        """Called holding ``changed``: a new resourceVersion and an event."""
        obj = self.objects[key]
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        self.log.append((int(obj["metadata"]["resourceVersion"]), key[0], kind, copy.deepcopy(obj)))
        self.changed.notify_all()

    def _remove(self, key: tuple[str, str]) -> None:
        self._record(key, "DELETED")
        del self.objects[key]

    def _release_event(self, name: str) -> threading.Event:
        with self.changed:
            return self._released.setdefault(name, threading.Event())

    def _operate(self, name: str) -> None:
        """The scripted operator: one status patch per phase, holding where told."""
        script = self.script
        for phase in script.phases:
            if phase == script.outage:
                self.drop_watches()
            with self.changed:
                key = next((k for k in self.objects if k[1] == name), None)
                if key is None or self.objects[key]["metadata"].get("deletionTimestamp"):
                    return  # deleted: the operator stops reconciling it
                extra = dict(script.final(name)) if phase == script.phases[-1] else {}
                if phase in ("Complete", "Failed"):
                    extra["completedAt"] = _now()
                self.objects[key]["status"] = {
                    **(self.objects[key].get("status") or {}),
                    "phase": phase,
                    **extra,
                }
                self._record(key, "MODIFIED")
            if phase == script.hold:
                self._release_event(name).wait()


class ListOnlyCluster:
    """A ``FakeCluster`` with no ``watch_experiments`` attribute at all, as a cluster
    written for another plugin may be: everything else is the fake's."""

    def __init__(self, inner: FakeCluster) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "watch_experiments":
            raise AttributeError(name)
        return getattr(self.inner, name)


__all__ = ["FINALIZER", "FakeCluster", "FakeStream", "ListOnlyCluster", "Script"]
