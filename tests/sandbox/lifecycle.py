"""Helpers for driving experiments on the sandbox directly with the kubernetes client."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import (
    EXPERIMENTS,
    GKE_CLUSTERS,
    OPERATOR_NAMESPACE,
    WORKFLOW_TEMPLATES,
    Resource,
)
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox, SandboxConfig, start_sandbox
from pytest_experiment.sandbox.core import crd_from_env
from pytest_experiment.sandbox.kube import (
    WaitTimeout,
    custom_lister,
    list_raw,
    wait_for_object,
    wait_until,
)
from pytest_experiment.sandbox.operator import EXPERIMENT_LABEL, FINALIZER, GITHUB_CONFIGMAP
from pytest_experiment.sandbox.scenarios import OPERATOR_FLAVOURS as OPERATOR_FLAVOURS
from pytest_experiment.sandbox.scenarios import (
    Scenario,
    ScenarioChoice,
    clear_scenario,
    set_scenario,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# scenario(generate_name, "fail-ready", message="…") as the `scenario` fixture provides it.
SetScenario = Callable[..., ScenarioChoice]

# 0.0005 × the realistic ~35 min makes a lifecycle about one second.
TIME_SCALE = 0.0005
TEMPLATE = "sandbox-test-validation"
NAMESPACE = "experiments"
TIMEOUT = 30.0
# Long enough for several phases at TIME_SCALE; only where no witness run can finish.
QUIET_PERIOD = 1.5
BUCKET = "experiment-results"

METRICS: list[Obj] = [
    {
        "name": "fsync_write_p99",
        "query": "histogram_quantile(0.99, "
        'sum(rate(w_bucket{ns=~"$EXPERIMENT"}[$DURATION])) by (le))',
        "unit": "seconds",
        "group": "fsync",
    },
    {
        "name": "fsync_write_throughput",
        "query": 'sum(rate(ops_total{ns=~"$EXPERIMENT"}[$DURATION]))',
        "unit": "ops/s",
        "group": "fsync",
    },
    {
        "name": "hdb_write_p99",
        "query": 'histogram_quantile(0.99, sum(rate(h_bucket{ns=~"$EXPERIMENT"}[5m])) by (le))',
        "unit": "seconds",
        "group": "hdb",
    },
    {
        "name": "hdb_write_latency",
        "query": 'avg(h_latency{ns=~"$EXPERIMENT"})',
        "type": "range",
        "unit": "seconds",
        "group": "hdb",
    },
]


def experiment_doc(
    prefix: str,
    *,
    publish: bool = False,
    mode: str = "workflow",
    metrics: Sequence[Obj] = METRICS,
    criteria: bool = True,
    extra_targets: Sequence[Obj] = (),
) -> Obj:
    """A minimal valid Experiment with one GKE target and metrics in two groups."""
    hypothesis: Obj = {"claim": "Skipping fsync cuts p99 write latency tenfold."}
    if criteria:
        hypothesis["successCriteria"] = [
            {"metric": "fsync_write_p99", "operator": "lt", "value": "0.5"},
            {"metric": "fsync_write_throughput", "operator": "gte", "value": "100"},
        ]
    return {
        "apiVersion": EXPERIMENTS.api_version,
        "kind": "Experiment",
        "metadata": {"generateName": prefix, "namespace": NAMESPACE},
        "spec": {
            "title": "Sandbox test experiment",
            "publish": publish,
            "hypothesis": hypothesis,
            "targets": [
                {
                    "name": "app",
                    "cluster": {"type": "gke", "machineType": "e2-standard-4", "preemptible": True},
                    "components": [
                        {"app": "naive-db-fsync"},
                        {"app": "db-benchmark-loadgen"},
                        {"app": "kube-prometheus-stack"},
                        {"app": "metrics-agent"},
                        {"app": "metrics-egress"},
                    ],
                },
                *extra_targets,
            ],
            "metrics": copy.deepcopy(list(metrics)),
            "workflow": {
                "template": TEMPLATE,
                "params": {"duration": "30m"},
                "completion": {"mode": mode},
            },
        },
    }


def status_of(obj: Obj) -> Obj:
    return dict(obj.get("status") or {})


def _witness_lifecycle(api: client.ApiClient) -> None:
    """A happy-path run, created now, followed to Complete and deleted."""
    key = f"w{secrets.token_hex(3)}-"
    # Its own key: a default scenario the test set must not hold the witness too.
    set_scenario(api, key, Scenario.HAPPY)
    try:
        witness = Run.create(api, experiment_doc(key))
        try:
            witness.wait_status("phase", "Complete")
        finally:
            witness.delete()
            witness.wait_gone()
    finally:
        clear_scenario(api, key)


@dataclass
class Run:
    """One applied Experiment, plus every version of it the watch delivered."""

    api: client.ApiClient
    name: str
    seen: list[Obj] = field(default_factory=list)

    @classmethod
    def create(cls, api: client.ApiClient, doc: Obj) -> Run:
        created = client.CustomObjectsApi(api).create_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, doc
        )
        return cls(api=api, name=created["metadata"]["name"], seen=[created])

    def wait(self, predicate: Callable[[Obj], bool], *, what: str, timeout: float = TIMEOUT) -> Obj:
        def recording(obj: Obj) -> bool:
            if not self.seen or self.seen[-1] != obj:
                self.seen.append(obj)
            return predicate(obj)

        return wait_for_object(
            custom_lister(self.api, EXPERIMENTS, namespace=NAMESPACE),
            self.name,
            recording,
            timeout=timeout,
            what=f"{self.name}: {what}",
        )

    def wait_status(self, key: str, value: Any, *, timeout: float = TIMEOUT) -> Obj:
        return self.wait(
            lambda o: status_of(o).get(key) == value, what=f"{key}={value}", timeout=timeout
        )

    def wait_settled(self) -> Obj:
        """Until the operator is done with a finished run: finalizer released."""
        return self.wait(
            lambda o: (
                status_of(o).get("phase") in ("Complete", "Failed")
                and FINALIZER not in ((o.get("metadata") or {}).get("finalizers") or [])
            ),
            what="the run to finish and its finalizer to go",
        )

    def wait_terminal(self) -> Obj:
        return self.wait(
            lambda o: status_of(o).get("phase") in ("Complete", "Failed"), what="a terminal phase"
        )

    def assert_quiet(self, key: str, *, witness: bool = True) -> Obj:
        """Assert ``status[key]`` stays put while the operator had time to move it.

        The time is the operator's own, not a window of ours: a witness run created now,
        on the happy path, is followed to Complete, through every timed step of a
        lifecycle, each as long as any this run could be waiting out. Only when the
        witness is done is ``key`` read again; returns the object as then read.
        ``witness=False`` is for an operator that acts on nothing (scaled to 0), which no
        witness could outwait: a fixed QUIET_PERIOD stands in there.
        """
        current = self.get()
        value = status_of(current).get(key)
        if witness:
            _witness_lifecycle(self.api)
            after = self.get()
            if status_of(after).get(key) != value:
                raise AssertionError(
                    f"{key} moved from {value} to {status_of(after).get(key)} while a "
                    "run created after it went through its whole lifecycle"
                )
            return after
        try:
            moved = self.wait(
                lambda o: status_of(o).get(key) != value,
                what=f"{key} to leave {value}",
                timeout=QUIET_PERIOD,
            )
        except WaitTimeout:
            return current
        raise AssertionError(f"{key} moved from {value} to {status_of(moved).get(key)}")

    def get(self) -> Obj:
        obj: Obj = client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, self.name
        )
        return obj

    def phases(self) -> list[str]:
        """Distinct phases in the order the watch saw them."""
        order: list[str] = []
        for obj in self.seen:
            phase = status_of(obj).get("phase")
            if phase and (not order or order[-1] != phase):
                order.append(phase)
        return order

    def annotate(self, key: str, value: str) -> None:
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
            EXPERIMENTS.group,
            EXPERIMENTS.version,
            NAMESPACE,
            EXPERIMENTS.plural,
            self.name,
            {"metadata": {"annotations": {key: value}}},
            _content_type="application/merge-patch+json",
        )

    def delete(self) -> None:
        client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, self.name
        )

    def wait_gone(self) -> None:
        wait_until(
            custom_lister(self.api, EXPERIMENTS, namespace=NAMESPACE),
            lambda objects: not objects,
            timeout=TIMEOUT,
            what=f"{self.name} to be deleted",
            field_selector=f"metadata.name={self.name}",
        )

    def selector(self, *, legacy: bool = False) -> str:
        """The label selector of the instance's objects under either operator."""
        return f"experiment={self.name}" if legacy else f"{EXPERIMENT_LABEL}={self.name}"

    def labelled(self, resource: Resource, namespace: str, *, legacy: bool = False) -> list[Obj]:
        items, _ = list_raw(
            custom_lister(self.api, resource, namespace=namespace),
            label_selector=self.selector(legacy=legacy),
        )
        return items

    def claims(self) -> list[Obj]:
        """The GKECluster claims named after the instance (the real operator's names)."""
        items, _ = list_raw(custom_lister(self.api, GKE_CLUSTERS, namespace=NAMESPACE))
        return [c for c in items if c["metadata"]["name"].startswith(f"{self.name}-")]

    def condition(self, kind: str) -> Obj | None:
        for entry in status_of(self.get()).get("conditions") or []:
            if entry.get("type") == kind:
                return dict(entry)
        return None

    def wait_labelled(
        self,
        resource: Resource,
        namespace: str,
        predicate: Callable[[list[Obj]], bool],
        *,
        what: str,
    ) -> list[Obj]:
        found = wait_until(
            custom_lister(self.api, resource, namespace=namespace),
            lambda objects: predicate(list(objects.values())),
            timeout=TIMEOUT,
            what=f"{resource.plural} of {self.name}: {what}",
            label_selector=self.selector(),
        )
        return list(found.values())

    def events(self) -> list[client.CoreV1Event]:
        listed = client.CoreV1Api(self.api).list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.name={self.name}"
        )
        return list(listed.items)


def pr_state(api: client.ApiClient, number: int) -> str | None:
    """The sandbox's stand-in for GitHub: the PR's state as the operator left it."""
    configmap = client.CoreV1Api(api).read_namespaced_config_map(
        GITHUB_CONFIGMAP, OPERATOR_NAMESPACE
    )
    return (configmap.data or {}).get(str(number))


def s3_document(s3: S3Client, key: str) -> Obj:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    document: Obj = json.loads(body)
    return document


def summary(s3: S3Client, run: Run) -> Obj:
    """summary.json at the key status.resultsURL names."""
    url = str(status_of(run.get())["resultsURL"])
    assert url == f"s3://{BUCKET}/{run.name}/"
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}summary.json")["Body"].read()
    document: Obj = json.loads(body)
    return document


def queries(document: Obj) -> dict[str, Obj]:
    return dict((document.get("metrics") or {}).get("queries") or {})


def with_data(document: Obj) -> set[str]:
    return {name for name, query in queries(document).items() if query.get("data")}


DECLARED = {m["name"] for m in METRICS}


def ensure_template(api: client.ApiClient) -> str:
    """The WorkflowTemplate the test experiments name (the operator fails a run without it)."""
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            WORKFLOW_TEMPLATES.group,
            WORKFLOW_TEMPLATES.version,
            "argo-workflows",
            WORKFLOW_TEMPLATES.plural,
            {
                "apiVersion": WORKFLOW_TEMPLATES.api_version,
                "kind": "WorkflowTemplate",
                "metadata": {"name": TEMPLATE},
                "spec": {"entrypoint": "validate", "templates": [{"name": "validate"}]},
            },
        )
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    return TEMPLATE


def start_test_sandbox() -> Sandbox:
    """A new sandbox at the tests' time scale; the test fails, briefly, if it cannot start."""
    try:
        return start_sandbox(SandboxConfig(time_scale=TIME_SCALE, crd=crd_from_env()))
    except SandboxError as exc:
        pytest.fail(f"sandbox did not start: {exc}", pytrace=False)
