"""What a reconcile step can do: read the clock, write the API and S3, ask to be called again.

The operator keeps its timing in memory, per instance, on its own monotonic
clock: the real CRD prunes any timestamp field the operator might write, so
status cannot be the place to remember when a phase began.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS, OPERATOR_NAMESPACE, Resource
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import kube
from pytest_experiment.sandbox.operator.config import MERGE_PATCH, Conflict, OperatorConfig, meta
from pytest_experiment.sandbox.scenarios import ScenarioChoice

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GITHUB_CONFIGMAP = "experiment-sandbox-github"


@contextlib.contextmanager
def tolerating(status: int) -> Iterator[None]:
    """An API error with this status is no error here: 409 on a create (it exists
    already, as after a restart), 404 on a delete or a patch (it is gone already)."""
    try:
        yield
    except client.ApiException as exc:
        if exc.status != status:
            raise


# Mutable on purpose: this is the operator's memory of one instance, updated as it goes.
@dataclass
class Track:
    choice: ScenarioChoice
    entered: dict[str, float] = field(default_factory=dict)
    # Quality-gate collections done so far (the first one is iteration 0).
    collections: int = 0
    # Merges or closes of the results PR GitHub refused so far.
    github_refusals: int = 0

    def enter(self, stage: str) -> None:
        self.entered[stage] = time.monotonic()

    def since(self, stage: str) -> float:
        """Seconds since ``stage`` began; a stage first seen now (after a restart) begins now."""
        started = self.entered.setdefault(stage, time.monotonic())
        return time.monotonic() - started


class Ctx:
    """The operator's clients and its write helpers, shared by both flavours."""

    def __init__(
        self,
        *,
        config: OperatorConfig,
        api: client.ApiClient,
        s3: S3Client,
        schedule: Callable[[str, float], None],
        remember: Callable[[Obj], None],
    ) -> None:
        self.config = config
        self.api = api
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.s3 = s3
        self.schedule = schedule
        self.remember = remember

    # -- time ---------------------------------------------------------------

    def scaled(self, simulated_seconds: float) -> float:
        return simulated_seconds * self.config.time_scale

    def due(self, obj: Obj, track: Track, stage: str, duration: float) -> bool:
        """Whether ``duration`` simulated seconds passed in ``stage`` (or the real seconds the
        scenario gives it); if not, a timer is set."""
        real = track.choice.real_seconds(stage)
        remaining = (real if real is not None else self.scaled(duration)) - track.since(stage)
        if remaining <= 0:
            return True
        self.schedule(kube.object_key(obj), remaining)
        return False

    # -- the Experiment -------------------------------------------------------

    def patch_status(self, obj: Obj, fields: Obj) -> Obj:
        """A merge patch of status, guarded by resourceVersion; ``None`` values remove fields."""
        return self._guarded_patch(obj, {"status": fields}, status=True)

    def set_finalizers(self, obj: Obj, finalizers: Sequence[str]) -> None:
        self._guarded_patch(obj, {"metadata": {"finalizers": [*finalizers]}}, status=False)

    def _guarded_patch(self, obj: Obj, body: Obj, *, status: bool) -> Obj:
        """Patch the Experiment as last seen: a write over a newer version is a ``Conflict``."""
        m = meta(obj)
        version = {"resourceVersion": m["resourceVersion"]}
        guarded = {**body, "metadata": {**body.get("metadata", {}), **version}}
        try:
            updated = self.patch(EXPERIMENTS, m["namespace"], m["name"], guarded, status=status)
        except client.ApiException as exc:
            if exc.status in (404, 409):
                raise Conflict from exc
            raise
        self.remember(updated)
        # Re-evaluate at once: the new state decides the next timer.
        self.schedule(kube.object_key(obj), 0.0)
        return updated

    # -- other objects --------------------------------------------------------

    def create(self, resource: Resource, namespace: str, body: Obj) -> None:
        with tolerating(409):
            self.objects.create_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, body
            )

    def get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        try:
            found: Obj = self.objects.get_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, name
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def patch(
        self, resource: Resource, namespace: str, name: str, body: Obj, *, status: bool
    ) -> Obj:
        """Merge-patch an object (``status``: through its status subresource)."""
        call = (
            self.objects.patch_namespaced_custom_object_status
            if status
            else self.objects.patch_namespaced_custom_object
        )
        updated: Obj = call(
            resource.group,
            resource.version,
            namespace,
            resource.plural,
            name,
            body,
            _content_type=MERGE_PATCH,
        )
        return updated

    def labelled(self, resource: Resource, namespace: str, selector: str) -> list[Obj]:
        items, _ = kube.list_raw(
            kube.custom_lister(self.api, resource, namespace=namespace), label_selector=selector
        )
        return items

    def delete(self, resource: Resource, namespace: str, name: str) -> None:
        with tolerating(404):
            self.objects.delete_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, name
            )

    # -- S3 -------------------------------------------------------------------

    def put_json(self, key: str, document: Any) -> None:
        self.s3.put_object(
            Bucket=self.config.bucket,
            Key=key,
            Body=json.dumps(document, indent=2).encode(),
            ContentType="application/json",
        )

    def get_json(self, key: str) -> Any:
        body = self.s3.get_object(Bucket=self.config.bucket, Key=key)["Body"].read()
        return json.loads(body)

    # -- the fake GitHub ------------------------------------------------------

    def record_pr(self, number: int, state: str) -> None:
        """Keep the PR's state where tests can see it: there is no GitHub in the sandbox."""
        patch = {"data": {str(number): state}}
        try:
            self.core.patch_namespaced_config_map(
                GITHUB_CONFIGMAP, OPERATOR_NAMESPACE, patch, _content_type=MERGE_PATCH
            )
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            body = {"metadata": {"name": GITHUB_CONFIGMAP}, **patch}
            try:
                self.core.create_namespaced_config_map(OPERATOR_NAMESPACE, body)
            except client.ApiException as create_exc:
                if create_exc.status != 409:
                    raise
                self.core.patch_namespaced_config_map(
                    GITHUB_CONFIGMAP, OPERATOR_NAMESPACE, patch, _content_type=MERGE_PATCH
                )
