"""Settings, names and small helpers shared by every part of the simulated operator."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_experiment.base.resources import EXPERIMENT_LABEL, LEGACY_EXPERIMENT_LABEL, NAME_LIMIT
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.s3 import BUCKET

FINALIZER = "experiments.illm.io/finalizer"
REVIEW_ANNOTATION = "experiments.illm.io/review"
TARGET_LABEL = "experiments.illm.io/target"
LAYER_LABEL = "experiments.illm.io/layer"
WORKFLOW_SERVICE_ACCOUNT = "argo-workflow"
PR_REPOSITORY = "https://github.com/illm-lab/benchmarks"
MANAGED_BY = {"app.kubernetes.io/managed-by": "experiment-operator"}
DEFAULT_TIME_SCALE = 0.001
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True, kw_only=True)
class Durations:
    """How long each step takes on the real hub, in seconds (before the time scale)."""

    pending: float = 30.0
    provisioning: float = 480.0
    ready: float = 240.0
    running: float = 1200.0
    # From a finished workflow to summary.json in S3 (one results requeue).
    results: float = 15.0
    cleanup: float = 15.0
    recollect: float = 120.0
    analyzer_pending: float = 30.0
    analyzer_running: float = 240.0
    review_pending: float = 10.0
    reviewer_rejects: float = 60.0
    # The operator's review poll: a merge or close GitHub refused is retried this often.
    review_retry: float = 60.0


@dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    kubeconfig: Path
    s3_endpoint: str
    access_key: str | None = None
    secret_key: str | None = None
    time_scale: float = DEFAULT_TIME_SCALE
    bucket: str = BUCKET
    durations: Durations = field(default_factory=Durations)


def now() -> datetime:
    return datetime.now(UTC)


def seconds(moment: datetime) -> str:
    """RFC 3339 at second precision, as the real operator and Kubernetes write times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def micros(moment: datetime) -> str:
    """UTC with microseconds: the legacy operator's phase timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def meta(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("metadata") or {})


def status(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("status") or {})


def spec(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("spec") or {})


def instance(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name"))


def namespace(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "experiments")


def publishes(obj: Mapping[str, Any]) -> bool:
    return spec(obj).get("publish") is True


def manual(obj: Mapping[str, Any]) -> bool:
    return ((spec(obj).get("workflow") or {}).get("completion") or {}).get("mode") == "manual"


def pr_number(name: str) -> int:
    """A stable fake PR number per instance."""
    return 100 + zlib.crc32(name.encode()) % 9000


class Conflict(Exception):
    """The object changed under a write; the next watch event brings the new state."""


@dataclass(frozen=True, kw_only=True)
class Conventions:
    """How one flavour of operator names and labels the objects it creates.

    The lab's current operator uses ``experiments.illm.io/…`` labels and
    ``<instance>-<target>`` claims; the older one the seeds describe labels
    with ``experiment=<instance>`` and hashes its claim names.
    """

    legacy: bool

    def labels(self, name: str, **extra: str) -> dict[str, str]:
        key = LEGACY_EXPERIMENT_LABEL if self.legacy else EXPERIMENT_LABEL
        return {key: name, **MANAGED_BY, **extra}

    def selector(self, name: str) -> str:
        return f"{LEGACY_EXPERIMENT_LABEL if self.legacy else EXPERIMENT_LABEL}={name}"

    def cluster_name(self, name: str, target: str, cluster: Mapping[str, Any]) -> str:
        if cluster.get("type") != "gke":
            return "hub"
        if not self.legacy:
            return f"{name}-{target}"
        suffix = format(zlib.crc32(f"{name}/{target}".encode()), "x")[:5].rjust(5, "0")
        return f"illm-{name}-{target}-{suffix}"

    def analyzer_job(self, name: str) -> str:
        if self.legacy:
            return f"{name}-analyzer"
        return f"experiment-analyzer-{name}"[:NAME_LIMIT].rstrip("-.")

    def publish_branch(self, name: str) -> str:
        return f"results/{name}" if self.legacy else f"experiment/{name}"

    def pull_request(self, name: str) -> Obj:
        """The status fields of the results PR opened for instance ``name``."""
        number = pr_number(name)
        return {
            "publishBranch": self.publish_branch(name),
            "publishPRNumber": number,
            "publishPRURL": f"{PR_REPOSITORY}/pull/{number}",
        }


REAL = Conventions(legacy=False)
LEGACY = Conventions(legacy=True)
