"""A simulated experiment operator for the sandbox (R122–R124).

Run as ``python -m pytest_experiment.sandbox.operator --kubeconfig K
--s3-endpoint URL --time-scale 0.001`` (S3 credentials from the standard
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables).

It behaves as the real operator is observed to (shared/upstream/README.md,
seeds/run-experiment.v2.md): finalizer, phases Pending → Provisioning → Ready →
Running → Complete | Failed, GKECluster claims, Argo CD Applications and an
Argo Workflow labelled ``experiment=<instance>``, summary.json in S3, the
analyzer, the publish PR and the review gate. Each phase lasts a realistic
duration (``Durations``) multiplied by the time scale.

Status fields are written only through the status subresource:

- ``phase``, ``phaseTimestamps`` {phase: RFC3339 with microseconds, when entered};
- ``conditions`` (``Progressing``, ``Complete``, ``Failed``), ``observedGeneration``;
- ``targets[]`` {name, phase, clusterName, machineType, nodeCount, components,
  appsCreated}, ``workflowStatus`` {name, phase, startedAt, finishedAt};
- ``completedAt``, ``resultsURL``, ``hypothesisResult``, ``resourcesCleaned``;
- publish: ``published``, ``publishBranch``, ``publishPRNumber``, ``publishPRURL``,
  ``analysisPhase``, ``analysisJobName``, ``analysisPhaseTimestamps``,
  ``reviewPhase``, ``reviewPhaseTimestamps``.

Reconciliation is level-triggered from a list+watch cache; the only waits
are timers for the next simulated transition.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import urllib3
from kubernetes import client

from pytest_experiment.errors import SandboxError
from pytest_experiment.sandbox import kube
from pytest_experiment.sandbox.kube import (
    APPLICATIONS,
    EXPERIMENTS,
    GKE_CLUSTERS,
    WORKFLOW_TEMPLATES,
    WORKFLOWS,
    CustomResource,
    Obj,
)
from pytest_experiment.sandbox.s3 import BUCKET, s3_client
from pytest_experiment.sandbox.scenarios import (
    OPERATOR_NAMESPACE,
    SCENARIO_CONFIGMAP,
    Scenario,
    ScenarioChoice,
    choose,
    operator_down,
    read_scenarios,
    write_operator_readiness,
)
from pytest_experiment.sandbox.summary import (
    build_analysis,
    build_summary,
    machine_verdict,
    parse_time,
    rfc3339,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FINALIZER = "experiments.illm.io/finalizer"
REVIEW_ANNOTATION = "experiments.illm.io/review"
LABEL = "experiment"
TARGET_LABEL = "experiments.illm.io/target"
WORKFLOW_NAMESPACE = "argo-workflows"
ARGOCD_NAMESPACE = "argocd"
PR_REPOSITORY = "https://github.com/illm-lab/benchmarks"
MANAGED_BY = {"app.kubernetes.io/managed-by": "experiment-operator"}
DEFAULT_TIME_SCALE = 0.001
_MERGE = "application/merge-patch+json"

log = logging.getLogger("experiment-operator")


@dataclass(frozen=True, kw_only=True)
class Durations:
    """How long each step takes on the real hub, in seconds (before the time scale)."""

    pending: float = 30.0
    provisioning: float = 480.0
    ready: float = 240.0
    running: float = 1200.0
    analyzer_pending: float = 30.0
    analyzer_running: float = 240.0
    review_pending: float = 10.0
    reviewer_rejects: float = 60.0


@dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    kubeconfig: Path
    s3_endpoint: str
    access_key: str | None = None
    secret_key: str | None = None
    time_scale: float = DEFAULT_TIME_SCALE
    bucket: str = BUCKET
    durations: Durations = field(default_factory=Durations)


def _now() -> datetime:
    return datetime.now(UTC)


def _meta(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("metadata") or {})


def _status(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("status") or {})


def _spec(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("spec") or {})


def pr_number(instance: str) -> int:
    """A stable fake PR number per instance."""
    return 100 + zlib.crc32(instance.encode()) % 9000


class Conflict(Exception):
    """The object changed under a write; the next watch event brings the new state."""


class Operator:
    def __init__(self, config: OperatorConfig) -> None:
        self._config = config
        self._api = kube.api_client(config.kubeconfig)
        self._objects_api = client.CustomObjectsApi(self._api)
        self._core = client.CoreV1Api(self._api)
        self._batch = client.BatchV1Api(self._api)
        self._s3: S3Client = s3_client(
            endpoint=config.s3_endpoint,
            access_key=config.access_key or os.environ.get("AWS_ACCESS_KEY_ID", ""),
            secret_key=config.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        )
        self._events: queue.Queue[tuple[str, str, Obj]] = queue.Queue()
        self._cache: dict[str, Obj] = {}
        self._choices: dict[str, ScenarioChoice] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._synced: set[str] = set()
        self._scenario_data: dict[str, str] = {}
        self._readiness: bool | None = None

    # -- event plumbing ---------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        informers = [
            kube.Informer(
                kube.custom_lister(self._api, EXPERIMENTS, namespace=None),
                name="experiments",
                on_event=lambda kind, obj: self._events.put(("experiment", kind, obj)),
                on_synced=lambda: self._events.put(("synced", "experiments", {})),
            ),
            kube.Informer(
                lambda **kw: self._core.list_namespaced_config_map(OPERATOR_NAMESPACE, **kw),
                name="scenarios",
                on_event=lambda kind, obj: self._events.put(("scenarios", kind, obj)),
                on_synced=lambda: self._events.put(("synced", "scenarios", {})),
                field_selector=f"metadata.name={SCENARIO_CONFIGMAP}",
            ),
        ]
        for informer in informers:
            threading.Thread(target=informer.run, args=(stop,), daemon=True).start()
        log.info("operator started (time scale %s)", self._config.time_scale)
        while not stop.is_set():
            try:
                source, kind, obj = self._events.get(timeout=self._next_timeout())
            except queue.Empty:
                self._fire_timers()
                continue
            self._handle(source, kind, obj)
            self._fire_timers()

    def _next_timeout(self) -> float | None:
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _schedule(self, key: str, *, at_wall: datetime | None = None) -> None:
        delay = 0.0 if at_wall is None else (at_wall - _now()).total_seconds()
        heapq.heappush(
            self._timers, (time.monotonic() + max(0.0, delay), next(self._sequence), key)
        )

    def _fire_timers(self) -> None:
        due: set[str] = set()
        while self._timers and self._timers[0][0] <= time.monotonic():
            due.add(heapq.heappop(self._timers)[2])
        for key in sorted(due):
            self._reconcile_safely(key)

    def _handle(self, source: str, kind: str, obj: Obj) -> None:
        if source == "synced":
            self._synced.add(kind)
            self._sync_readiness()
            return
        if source == "scenarios":
            self._scenario_data = {} if kind == "DELETED" else dict(obj.get("data") or {})
            self._sync_readiness()
            return
        key = kube.object_key(obj)
        if kind == "DELETED":
            self._cache.pop(key, None)
            self._choices.pop(key, None)
            return
        self._remember(obj)
        self._reconcile_safely(key)

    def _remember(self, obj: Obj) -> None:
        key = kube.object_key(obj)
        cached = self._cache.get(key)
        if cached is None or kube.resource_version(obj) >= kube.resource_version(cached):
            self._cache[key] = obj

    def _sync_readiness(self) -> None:
        if not {"experiments", "scenarios"} <= self._synced:
            return
        ready = not operator_down(self._scenario_data)
        if ready != self._readiness:
            write_operator_readiness(self._api, ready=ready)
            self._readiness = ready
            log.info("operator deployment readyReplicas=%d", int(ready))

    def _reconcile_safely(self, key: str) -> None:
        try:
            self._reconcile(key)
        except Conflict:
            log.debug("%s changed meanwhile; waiting for its next event", key)
        except (
            client.ApiException,
            urllib3.exceptions.HTTPError,
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            OSError,
        ) as exc:
            log.warning("experiment=%s reconcile failed: %s; retrying", key, exc)
            self._schedule(key, at_wall=_now() + timedelta(seconds=0.2))

    # -- reconciliation -----------------------------------------------------

    def _choice(self, obj: Obj) -> ScenarioChoice:
        key = kube.object_key(obj)
        if key not in self._choices:
            meta = _meta(obj)
            try:
                choice = choose(
                    read_scenarios(self._api),
                    instance=str(meta.get("name")),
                    generate_name=meta.get("generateName"),
                )
            except SandboxError as exc:
                # A bad ConfigMap value must not stop the operator.
                log.warning("experiment=%s scenario unreadable (%s); using happy", key, exc)
                choice = ScenarioChoice()
            if choice.scenario is not Scenario.HAPPY:
                log.info("experiment=%s scenario %s", key, choice.encode())
            self._choices[key] = choice
        return self._choices[key]

    def _reconcile(self, key: str) -> None:
        obj = self._cache.get(key)
        if obj is None:
            return
        meta = _meta(obj)
        choice = self._choice(obj)
        if choice.scenario is Scenario.OPERATOR_DOWN:
            return
        if meta.get("deletionTimestamp"):
            self._finalize(obj)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            self._set_finalizers(obj, [*(meta.get("finalizers") or []), FINALIZER])
            return
        phase = _status(obj).get("phase")
        if not phase:
            self._transition(obj, "Pending", message="Experiment accepted")
        elif phase == "Pending":
            self._step_pending(obj, choice)
        elif phase == "Provisioning":
            self._step_provisioning(obj, choice)
        elif phase == "Ready":
            self._step_ready(obj, choice)
        elif phase == "Running":
            self._step_running(obj, choice)
        elif phase == "Complete":
            self._step_complete(obj, choice)

    def _due(self, obj: Obj, stamps_field: str, state: str, duration: float) -> bool:
        """Whether ``duration`` (simulated seconds) has passed since ``state`` was entered."""
        entered_text = (_status(obj).get(stamps_field) or {}).get(state)
        if not entered_text:
            return True
        due_at = parse_time(str(entered_text)) + timedelta(
            seconds=duration * self._config.time_scale
        )
        if _now() >= due_at:
            return True
        self._schedule(kube.object_key(obj), at_wall=due_at)
        return False

    def _step_pending(self, obj: Obj, choice: ScenarioChoice) -> None:
        if choice.stuck_in == "Pending" or not self._due(
            obj, "phaseTimestamps", "Pending", self._config.durations.pending
        ):
            return
        if choice.fails_in == "Pending":
            self._fail(
                obj,
                "Pending",
                choice.option(
                    "message", "admission failed: target quota exceeded for project illm-lab"
                ),
            )
            return
        targets = []
        for target in _spec(obj).get("targets") or []:
            cluster = (target or {}).get("cluster") or {}
            name = str(target.get("name"))
            cluster_name = self._cluster_name(obj, name, cluster)
            if cluster.get("type") == "gke":
                self._create_claim(obj, name, cluster_name, cluster)
            targets.append(
                {
                    "name": name,
                    "phase": "Provisioning",
                    "clusterName": cluster_name,
                    "machineType": cluster.get("machineType") or "e2-medium",
                    "nodeCount": int(cluster.get("nodeCount") or 1),
                    "components": [
                        str(c.get("app")) for c in target.get("components") or [] if c.get("app")
                    ],
                }
            )
        self._transition(
            obj, "Provisioning", message="Provisioning target clusters", targets=targets
        )

    def _step_provisioning(self, obj: Obj, choice: ScenarioChoice) -> None:
        if choice.stuck_in == "Provisioning" or not self._due(
            obj, "phaseTimestamps", "Provisioning", self._config.durations.provisioning
        ):
            return
        instance = _meta(obj)["name"]
        namespace = _meta(obj)["namespace"]
        targets = [dict(t) for t in _status(obj).get("targets") or []]
        if choice.fails_in == "Provisioning":
            message = choice.option(
                "message",
                "GKECluster claim failed: googleapi: Error 403: Insufficient regional quota "
                'to satisfy request: resource "CPUS"',
            )
            self._update_claims(instance, namespace, ready=False, message=str(message))
            for target in targets:
                target["phase"] = "Failed"
            self._fail(obj, "Provisioning", str(message), targets=targets)
            return
        self._update_claims(instance, namespace, ready=True, message="Cluster is running")
        layers = ["infrastructure", "applications"]
        for target in targets:
            self._create_applications(obj, target)
            target.update(phase="Ready", appsCreated=True, deployedLayers=layers)
        self._transition(
            obj, "Ready", message="Clusters ready; applications syncing", targets=targets
        )

    def _step_ready(self, obj: Obj, choice: ScenarioChoice) -> None:
        if choice.stuck_in == "Ready" or not self._due(
            obj, "phaseTimestamps", "Ready", self._config.durations.ready
        ):
            return
        instance = _meta(obj)["name"]
        if choice.fails_in == "Ready":
            message = str(
                choice.option(
                    "message",
                    "Application health Degraded: Deployment has timed out progressing",
                )
            )
            self._update_applications(instance, health="Degraded", sync="Synced", message=message)
            self._fail(obj, "Ready", message)
            return
        self._update_applications(instance, health="Healthy", sync="Synced", message="")
        workflow_name = f"{instance}-validation"
        self._create_workflow(obj, workflow_name)
        self._transition(
            obj,
            "Running",
            message=f"Workflow {workflow_name} running",
            workflowStatus={
                "name": workflow_name,
                "phase": "Running",
                "startedAt": rfc3339(_now()),
            },
        )

    def _step_running(self, obj: Obj, choice: ScenarioChoice) -> None:
        status = _status(obj)
        workflow = dict(status.get("workflowStatus") or {})
        if workflow.get("phase") != "Running":
            # Manual completion: the workflow is done, the experiment stays Running.
            return
        template = str((_spec(obj).get("workflow") or {}).get("template") or "")
        if not self._template_exists(template):
            # Argo fails a workflow whose template is missing as soon as it sees it.
            message = f'workflowtemplates.argoproj.io "{template}" not found'
            self._finish_workflow(workflow["name"], phase="Error", message=message)
            workflow.update(phase="Error", finishedAt=rfc3339(_now()))
            self._fail(
                obj,
                "Running",
                f"Workflow {workflow['name']} failed: {message}",
                workflowStatus=workflow,
            )
            return
        if choice.stuck_in == "Running" or not self._due(
            obj, "phaseTimestamps", "Running", self._config.durations.running
        ):
            return
        finished = rfc3339(_now())
        if choice.fails_in == "Running":
            message = str(choice.option("message", "step validate-results failed: exit code 1"))
            self._finish_workflow(workflow["name"], phase="Failed", message=message)
            workflow.update(phase="Failed", finishedAt=finished)
            self._fail(
                obj,
                "Running",
                f"Workflow {workflow['name']} failed: {message}",
                workflowStatus=workflow,
            )
            return
        self._finish_workflow(workflow["name"], phase="Succeeded", message="")
        workflow.update(phase="Succeeded", finishedAt=finished)
        mode = ((_spec(obj).get("workflow") or {}).get("completion") or {}).get("mode")
        if mode == "manual":
            self._patch_status(obj, {"workflowStatus": workflow})
            log.info("experiment=%s workflow done; manual mode stays Running", self._key(obj))
            return
        self._complete(obj, choice, workflow)

    def _complete(self, obj: Obj, choice: ScenarioChoice, workflow: Obj) -> None:
        meta = _meta(obj)
        instance = str(meta["name"])
        completed = _now()
        status = {**_status(obj), "workflowStatus": workflow}
        summary = build_summary(
            experiment=obj,
            choice=choice,
            status=status,
            completed_at=completed,
            time_scale=self._config.time_scale,
        )
        self._put_json(f"{instance}/metrics-snapshot.json", summary["metrics"])
        # The summary is in S3 before Complete is visible: readers fetch it on Complete.
        self._put_json(f"{instance}/summary.json", summary)
        self._delete_labelled(instance, str(meta["namespace"]), include_workflows=False)
        fields: Obj = {
            "workflowStatus": workflow,
            "resultsURL": f"s3://{self._config.bucket}/{instance}/",
            "resourcesCleaned": True,
        }
        verdict = machine_verdict(summary)
        if verdict:
            fields["hypothesisResult"] = verdict
        if _spec(obj).get("publish") is True:
            fields.update(self._publish_fields(instance, choice, completed))
        complete = {
            "type": "Complete",
            "status": "True",
            "reason": "Succeeded",
            "message": "Results collected",
        }
        self._transition(
            obj,
            "Complete",
            message="Results collected",
            at=completed,
            conditions=[complete],
            **fields,
        )

    def _publish_fields(self, instance: str, choice: ScenarioChoice, now: datetime) -> Obj:
        fields: Obj = {"published": True}
        if choice.scenario is not Scenario.NO_PR:
            number = pr_number(instance)
            fields.update(
                publishBranch=f"results/{instance}",
                publishPRNumber=number,
                publishPRURL=f"{PR_REPOSITORY}/pull/{number}",
            )
        analysis = "Skipped" if choice.scenario is Scenario.ANALYZER_SKIP else "Pending"
        fields["analysisPhase"] = analysis
        fields["analysisPhaseTimestamps"] = {analysis: rfc3339(now)}
        if analysis == "Pending":
            fields["analysisJobName"] = f"{instance}-analyzer"
        return fields

    def _step_complete(self, obj: Obj, choice: ScenarioChoice) -> None:
        if _spec(obj).get("publish") is not True:
            return
        status = _status(obj)
        durations = self._config.durations
        analysis = status.get("analysisPhase")
        instance = str(_meta(obj)["name"])
        if analysis == "Pending":
            if self._due(obj, "analysisPhaseTimestamps", "Pending", durations.analyzer_pending):
                self._create_analyzer_job(obj)
                self._set_analysis(obj, "Running")
            return
        if analysis == "Running":
            if choice.scenario is Scenario.ANALYZER_TIMEOUT or not self._due(
                obj, "analysisPhaseTimestamps", "Running", durations.analyzer_running
            ):
                return
            if choice.scenario is Scenario.ANALYZER_FAIL:
                self._finish_analyzer_job(instance, succeeded=False)
                self._set_analysis(obj, "Failed")
                return
            self._enrich_summary(obj, choice)
            self._finish_analyzer_job(instance, succeeded=True)
            self._set_analysis(obj, "Succeeded")
            return
        review = status.get("reviewPhase")
        if choice.scenario is Scenario.NO_REVIEW_GATE:
            # An operator from before the review gate: publishes and never sets reviewPhase.
            return
        if not review:
            if self._due(obj, "analysisPhaseTimestamps", str(analysis), durations.review_pending):
                self._set_review(obj, "Pending")
            return
        if review == "Pending":
            self._step_review(obj, choice)

    def _step_review(self, obj: Obj, choice: ScenarioChoice) -> None:
        decision = (_meta(obj).get("annotations") or {}).get(REVIEW_ANNOTATION)
        status = _status(obj)
        number = status.get("publishPRNumber")
        if decision == "approved":
            if number:
                self._event(obj, "PRMerged", f"Squash-merged PR #{number} and deleted its branch")
            self._set_review(obj, "Approved")
        elif decision == "rejected":
            if number:
                self._event(obj, "PRClosed", f"Closed PR #{number} and deleted its branch")
            self._set_review(obj, "Rejected")
        elif choice.scenario is Scenario.REVIEW_REJECTED and self._due(
            obj, "reviewPhaseTimestamps", "Pending", self._config.durations.reviewer_rejects
        ):
            # A reviewer closed the PR on GitHub; the operator notices and records it.
            self._event(obj, "PRClosed", f"PR #{number} was closed by a reviewer")
            self._set_review(obj, "Rejected")

    # -- deletion -----------------------------------------------------------

    def _finalize(self, obj: Obj) -> None:
        meta = _meta(obj)
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER not in finalizers:
            return
        instance = str(meta["name"])
        self._delete_labelled(instance, str(meta["namespace"]), include_workflows=True)
        status = _status(obj)
        if status.get("reviewPhase") == "Pending" and status.get("publishPRNumber"):
            message = (
                f"Closed PR #{status['publishPRNumber']} ({status.get('publishPRURL')}): "
                "experiment deleted while review was pending"
            )
            log.info("experiment=%s %s", self._key(obj), message)
            self._event(obj, "PRClosed", message)
        self._set_finalizers(obj, [f for f in finalizers if f != FINALIZER])
        log.info("experiment=%s finalized", self._key(obj))

    # -- status writes ------------------------------------------------------

    @staticmethod
    def _key(obj: Obj) -> str:
        return kube.object_key(obj)

    def _patch_status(self, obj: Obj, fields: Obj) -> None:
        meta = _meta(obj)
        try:
            updated = self._objects_api.patch_namespaced_custom_object_status(
                EXPERIMENTS.group,
                EXPERIMENTS.version,
                meta["namespace"],
                EXPERIMENTS.plural,
                meta["name"],
                {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": fields},
                _content_type=_MERGE,
            )
        except client.ApiException as exc:
            if exc.status in (404, 409):
                raise Conflict from exc
            raise
        self._remember(updated)
        # Re-evaluate at once: the new state decides the next timer.
        self._schedule(self._key(obj))

    def _set_finalizers(self, obj: Obj, finalizers: Sequence[str]) -> None:
        meta = _meta(obj)
        try:
            updated = self._objects_api.patch_namespaced_custom_object(
                EXPERIMENTS.group,
                EXPERIMENTS.version,
                meta["namespace"],
                EXPERIMENTS.plural,
                meta["name"],
                {
                    "metadata": {
                        "resourceVersion": meta["resourceVersion"],
                        "finalizers": list(finalizers),
                    }
                },
                _content_type=_MERGE,
            )
        except client.ApiException as exc:
            if exc.status in (404, 409):
                raise Conflict from exc
            raise
        self._remember(updated)

    def _conditions(self, obj: Obj, updates: Sequence[Obj], *, at: str) -> list[Obj]:
        current = {c.get("type"): dict(c) for c in _status(obj).get("conditions") or []}
        for update in updates:
            previous = current.get(update["type"]) or {}
            unchanged = previous.get("status") == update["status"]
            current[update["type"]] = {
                **update,
                "lastTransitionTime": previous.get("lastTransitionTime", at) if unchanged else at,
                "observedGeneration": _meta(obj).get("generation", 1),
            }
        return list(current.values())

    def _transition(
        self,
        obj: Obj,
        phase: str,
        *,
        message: str,
        at: datetime | None = None,
        conditions: Sequence[Obj] = (),
        **fields: Any,
    ) -> None:
        """Enter ``phase``: one status write carrying its timestamp, conditions and ``fields``."""
        status = _status(obj)
        entered = rfc3339(at or _now())
        stamps = {**(status.get("phaseTimestamps") or {}), phase: entered}
        terminal = phase in ("Complete", "Failed")
        updates: list[Obj] = [
            {
                "type": "Progressing",
                "status": "False" if terminal else "True",
                "reason": phase,
                "message": message,
            },
            *conditions,
        ]
        if terminal:
            fields.setdefault("completedAt", entered)
        patch = {
            "phase": phase,
            "phaseTimestamps": stamps,
            "observedGeneration": _meta(obj).get("generation", 1),
            "conditions": self._conditions(obj, updates, at=entered),
            **fields,
        }
        self._patch_status(obj, patch)
        log.info(
            "experiment=%s phase %s -> %s: %s", self._key(obj), status.get("phase"), phase, message
        )
        self._event(obj, phase, message, warning=phase == "Failed")

    def _fail(self, obj: Obj, during: str, message: str, **fields: Any) -> None:
        failed = {
            "type": "Failed",
            "status": "True",
            "reason": f"{during}Failed",
            "message": message,
        }
        self._transition(obj, "Failed", message=message, conditions=[failed], **fields)

    def _set_analysis(self, obj: Obj, phase: str) -> None:
        stamps = dict(_status(obj).get("analysisPhaseTimestamps") or {})
        stamps[phase] = rfc3339(_now())
        self._patch_status(obj, {"analysisPhase": phase, "analysisPhaseTimestamps": stamps})
        log.info("experiment=%s analysisPhase %s", self._key(obj), phase)

    def _set_review(self, obj: Obj, phase: str) -> None:
        stamps = dict(_status(obj).get("reviewPhaseTimestamps") or {})
        stamps[phase] = rfc3339(_now())
        self._patch_status(obj, {"reviewPhase": phase, "reviewPhaseTimestamps": stamps})
        log.info("experiment=%s reviewPhase %s", self._key(obj), phase)

    def _event(self, obj: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        meta = _meta(obj)
        now = self._seconds_now()
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": EXPERIMENTS.api_version,
                "kind": "Experiment",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "experiment-operator"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self._core.create_namespaced_event(meta["namespace"], body)
        except client.ApiException as exc:
            log.warning("experiment=%s event %s not recorded: %s", self._key(obj), reason, exc)

    # -- objects the operator owns --------------------------------------------

    def _labels(self, instance: str, **extra: str) -> dict[str, str]:
        return {LABEL: instance, **MANAGED_BY, **extra}

    def _cluster_name(self, obj: Obj, target: str, cluster: Mapping[str, Any]) -> str:
        instance = str(_meta(obj)["name"])
        if cluster.get("type") != "gke":
            return "hub"
        suffix = format(zlib.crc32(f"{instance}/{target}".encode()), "x")[:5].rjust(5, "0")
        return f"illm-{instance}-{target}-{suffix}"

    def _create(self, resource: CustomResource, namespace: str, body: Obj) -> None:
        try:
            self._objects_api.create_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, body
            )
        except client.ApiException as exc:
            if exc.status != 409:
                raise

    def _list_labelled(self, resource: CustomResource, namespace: str, instance: str) -> list[Obj]:
        items, _ = kube.list_raw(
            kube.custom_lister(self._api, resource, namespace=namespace),
            label_selector=f"{LABEL}={instance}",
        )
        return items

    def _create_claim(
        self, obj: Obj, target: str, cluster_name: str, cluster: Mapping[str, Any]
    ) -> None:
        meta = _meta(obj)
        spec = {
            key: cluster[key]
            for key in ("zone", "nodeCount", "machineType", "diskSizeGb", "preemptible")
            if key in cluster
        }
        self._create(
            GKE_CLUSTERS,
            meta["namespace"],
            {
                "apiVersion": GKE_CLUSTERS.api_version,
                "kind": "GKECluster",
                "metadata": {
                    "name": cluster_name,
                    "labels": self._labels(str(meta["name"]), **{TARGET_LABEL: target}),
                },
                "spec": {"zone": "us-central1-a", "machineType": "e2-medium", **spec},
            },
        )
        self._patch_claim(
            meta["namespace"],
            cluster_name,
            ready=False,
            status="PROVISIONING",
            message="Creating GKE cluster",
        )

    def _patch_claim(
        self, namespace: str, name: str, *, ready: bool, status: str, message: str
    ) -> None:
        now = rfc3339(_now())
        body = {
            "status": {
                "clusterName": name,
                "status": status,
                "endpoint": f"https://{name}.gke.sandbox.invalid" if ready else "",
                "conditions": [
                    {
                        "type": "Synced",
                        "status": "True",
                        "reason": "ReconcileSuccess",
                        "lastTransitionTime": now,
                    },
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "reason": "Available"
                        if ready
                        else ("Creating" if status == "PROVISIONING" else "ReconcileError"),
                        "message": message,
                        "lastTransitionTime": now,
                    },
                ],
            }
        }
        self._objects_api.patch_namespaced_custom_object_status(
            GKE_CLUSTERS.group,
            GKE_CLUSTERS.version,
            namespace,
            GKE_CLUSTERS.plural,
            name,
            body,
            _content_type=_MERGE,
        )

    def _update_claims(self, instance: str, namespace: str, *, ready: bool, message: str) -> None:
        for claim in self._list_labelled(GKE_CLUSTERS, namespace, instance):
            self._patch_claim(
                namespace,
                claim["metadata"]["name"],
                ready=ready,
                status="RUNNING" if ready else "ERROR",
                message=message,
            )

    def _create_applications(self, obj: Obj, target: Mapping[str, Any]) -> None:
        instance = str(_meta(obj)["name"])
        apps = list(target.get("components") or []) or [str(target["name"])]
        for app in apps:
            self._create(
                APPLICATIONS,
                ARGOCD_NAMESPACE,
                {
                    "apiVersion": APPLICATIONS.api_version,
                    "kind": "Application",
                    "metadata": {
                        "name": f"{instance}-{target['name']}-{app}",
                        "labels": self._labels(instance, **{TARGET_LABEL: str(target["name"])}),
                    },
                    "spec": {
                        "project": "default",
                        "source": {
                            "repoURL": PR_REPOSITORY,
                            "path": f"components/{app}",
                            "targetRevision": "HEAD",
                        },
                        "destination": {"name": target.get("clusterName"), "namespace": instance},
                    },
                    "status": {
                        "health": {"status": "Progressing"},
                        "sync": {"status": "OutOfSync"},
                    },
                },
            )

    def _update_applications(self, instance: str, *, health: str, sync: str, message: str) -> None:
        for app in self._list_labelled(APPLICATIONS, ARGOCD_NAMESPACE, instance):
            status: Obj = {"health": {"status": health}, "sync": {"status": sync}}
            if message:
                status["health"]["message"] = message
                status["conditions"] = [{"type": "SyncError", "message": message}]
            self._objects_api.patch_namespaced_custom_object(
                APPLICATIONS.group,
                APPLICATIONS.version,
                ARGOCD_NAMESPACE,
                APPLICATIONS.plural,
                app["metadata"]["name"],
                {"status": status},
                _content_type=_MERGE,
            )

    def _template_exists(self, name: str) -> bool:
        try:
            self._objects_api.get_namespaced_custom_object(
                WORKFLOW_TEMPLATES.group,
                WORKFLOW_TEMPLATES.version,
                WORKFLOW_NAMESPACE,
                WORKFLOW_TEMPLATES.plural,
                name,
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _create_workflow(self, obj: Obj, name: str) -> None:
        instance = str(_meta(obj)["name"])
        workflow = _spec(obj).get("workflow") or {}
        parameters = [{"name": "experiment", "value": instance}] + [
            {"name": str(k), "value": str(v)} for k, v in (workflow.get("params") or {}).items()
        ]
        status: Obj = {"phase": "Running", "startedAt": rfc3339(_now()), "progress": "0/1"}
        self._create(
            WORKFLOWS,
            WORKFLOW_NAMESPACE,
            {
                "apiVersion": WORKFLOWS.api_version,
                "kind": "Workflow",
                "metadata": {"name": name, "labels": self._labels(instance)},
                "spec": {
                    "workflowTemplateRef": {"name": workflow.get("template")},
                    "arguments": {"parameters": parameters},
                },
                "status": status,
            },
        )

    def _finish_workflow(self, name: str, *, phase: str, message: str) -> None:
        status: Obj = {"phase": phase, "finishedAt": rfc3339(_now()), "progress": "1/1"}
        if message:
            status["message"] = message
        self._objects_api.patch_namespaced_custom_object(
            WORKFLOWS.group,
            WORKFLOWS.version,
            WORKFLOW_NAMESPACE,
            WORKFLOWS.plural,
            name,
            {"status": status},
            _content_type=_MERGE,
        )

    def _create_analyzer_job(self, obj: Obj) -> None:
        instance = str(_meta(obj)["name"])
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"{instance}-analyzer", "labels": self._labels(instance)},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": self._labels(instance)},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "analyzer",
                                "image": "pytest-experiment/sandbox-analyzer:local",
                                "args": [f"--experiment={instance}"],
                            }
                        ],
                    },
                },
            },
        }
        try:
            self._batch.create_namespaced_job(OPERATOR_NAMESPACE, body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        self._patch_job(instance, {"active": 1, "startTime": self._seconds_now()})

    def _finish_analyzer_job(self, instance: str, *, succeeded: bool) -> None:
        now = self._seconds_now()
        condition = {
            "type": "Complete" if succeeded else "Failed",
            "status": "True",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
        if not succeeded:
            condition.update(
                reason="BackoffLimitExceeded", message="Job has reached the specified backoff limit"
            )
        status: Obj = {"active": None, "conditions": [condition]}
        if succeeded:
            status.update(succeeded=1, completionTime=now)
        else:
            status["failed"] = 1
        self._patch_job(instance, status)

    @staticmethod
    def _seconds_now() -> str:
        return _now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _patch_job(self, instance: str, status: Obj) -> None:
        self._batch.patch_namespaced_job_status(
            f"{instance}-analyzer", OPERATOR_NAMESPACE, {"status": status}, _content_type=_MERGE
        )

    def _delete_labelled(self, instance: str, namespace: str, *, include_workflows: bool) -> None:
        kinds = [(GKE_CLUSTERS, namespace), (APPLICATIONS, ARGOCD_NAMESPACE)]
        if include_workflows:
            kinds.append((WORKFLOWS, WORKFLOW_NAMESPACE))
        for resource, where in kinds:
            for item in self._list_labelled(resource, where, instance):
                try:
                    self._objects_api.delete_namespaced_custom_object(
                        resource.group,
                        resource.version,
                        where,
                        resource.plural,
                        item["metadata"]["name"],
                    )
                except client.ApiException as exc:
                    if exc.status != 404:
                        raise
        if include_workflows:
            try:
                self._batch.delete_namespaced_job(
                    f"{instance}-analyzer", OPERATOR_NAMESPACE, propagation_policy="Background"
                )
            except client.ApiException as exc:
                if exc.status != 404:
                    raise

    # -- results ------------------------------------------------------------

    def _put_json(self, key: str, document: Any) -> None:
        self._s3.put_object(
            Bucket=self._config.bucket,
            Key=key,
            Body=json.dumps(document, indent=2).encode(),
            ContentType="application/json",
        )

    def _enrich_summary(self, obj: Obj, choice: ScenarioChoice) -> None:
        key = f"{_meta(obj)['name']}/summary.json"
        body = self._s3.get_object(Bucket=self._config.bucket, Key=key)["Body"].read()
        summary = json.loads(body)
        summary["analysis"] = build_analysis(
            spec=_spec(obj), summary=summary, choice=choice, generated_at=_now()
        )
        self._put_json(key, summary)


def _parse_args(argv: Sequence[str] | None) -> OperatorConfig:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_experiment.sandbox.operator",
        description="Simulated experiment operator for the pytest-experiment sandbox. "
        "S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--s3-endpoint", required=True)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="multiplier on realistic phase durations (0.001: a lifecycle in ~2 s)",
    )
    parser.add_argument("--bucket", default=BUCKET)
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    return OperatorConfig(
        kubeconfig=args.kubeconfig,
        s3_endpoint=args.s3_endpoint,
        time_scale=args.time_scale,
        bucket=args.bucket,
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    config = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    signal.signal(signal.SIGTERM, _exit_on_signal)
    stop = threading.Event()
    try:
        Operator(config).run(stop)
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
