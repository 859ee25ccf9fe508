"""The operator's loop: list+watch caches, timers, and one reconcile per instance at a time.

Reconciliation is level-triggered from the cache; the only waits are timers
for the next simulated transition. Which operator (real or legacy) handles an
instance is part of its scenario choice, read once when first seen.

The loop also watches its own Deployment: scaled to 0 replicas (``kubectl scale
--replicas=0``) it stops acting, as a real controller whose pods are gone does,
and reports no ready replica; scaled back up it starts afresh, like a new pod,
and reconciles everything it has cached.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

import botocore.exceptions
import urllib3
from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import EXPERIMENTS, OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import kube
from pytest_experiment.sandbox.operator import legacy, real
from pytest_experiment.sandbox.operator.config import Conflict, OperatorConfig, meta
from pytest_experiment.sandbox.operator.context import Ctx, Track
from pytest_experiment.sandbox.s3 import s3_client
from pytest_experiment.sandbox.scenarios import (
    SCENARIO_CONFIGMAP,
    Scenario,
    ScenarioChoice,
    choose,
    operator_down,
    read_scenarios,
    write_operator_readiness,
)

log = logging.getLogger("experiment-operator")

Reconcile = Callable[[Ctx, Obj, Track], None]
FLAVOURS: dict[str, Reconcile] = {"real": real.reconcile, "legacy": legacy.reconcile}
RETRY_DELAY = 0.2


class Operator:
    def __init__(self, config: OperatorConfig) -> None:
        self._config = config
        self._api = kube.api_client(config.kubeconfig)
        self._ctx = Ctx(
            config=config,
            api=self._api,
            s3=s3_client(
                endpoint=config.s3_endpoint,
                access_key=config.access_key or os.environ.get("AWS_ACCESS_KEY_ID", ""),
                secret_key=config.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            ),
            schedule=self._schedule,
            remember=self._remember,
        )
        self._events: queue.Queue[tuple[str, str, Obj]] = queue.Queue()
        self._cache: dict[str, Obj] = {}
        self._tracks: dict[str, Track] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._synced: set[str] = set()
        self._scenario_data: dict[str, str] = {}
        self._readiness: tuple[bool, int] | None = None
        """The readiness and replicas last written to the Deployment's status."""
        self._replicas: int | None = None
        """What the Deployment's spec asks for; None until it is read (nothing acts)."""
        self._generation: int | None = None

    def run(self, stop: threading.Event) -> None:
        core = client.CoreV1Api(self._api)
        apps = client.AppsV1Api(self._api)
        informers = [
            kube.Informer(
                kube.custom_lister(self._api, EXPERIMENTS, namespace=None),
                name="experiments",
                on_event=lambda kind, obj: self._events.put(("experiment", kind, obj)),
                on_synced=lambda: self._events.put(("synced", "experiments", {})),
            ),
            kube.Informer(
                lambda **kw: core.list_namespaced_config_map(OPERATOR_NAMESPACE, **kw),
                name="scenarios",
                on_event=lambda kind, obj: self._events.put(("scenarios", kind, obj)),
                on_synced=lambda: self._events.put(("synced", "scenarios", {})),
                field_selector=f"metadata.name={SCENARIO_CONFIGMAP}",
            ),
            kube.Informer(
                lambda **kw: apps.list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
                name="deployment",
                on_event=lambda kind, obj: self._events.put(("deployment", kind, obj)),
                on_synced=lambda: self._events.put(("synced", "deployment", {})),
                field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
            ),
        ]
        for informer in informers:
            threading.Thread(target=informer.run, args=(stop,), daemon=True).start()
        log.info("operator started (time scale %s)", self._config.time_scale)
        try:
            while not stop.is_set():
                try:
                    source, kind, obj = self._events.get(timeout=self._next_timeout())
                except queue.Empty:
                    self._fire_timers()
                    continue
                self._handle(source, kind, obj)
                self._fire_timers()
        finally:
            self._step_down()

    def _step_down(self) -> None:
        """A stopping operator stops claiming a ready replica (a killed one has a watchdog)."""
        if self._readiness is None or not self._readiness[0]:
            return
        try:
            write_operator_readiness(self._api, ready=False, generation=self._generation)
        except SandboxError as exc:
            log.warning("could not mark the operator Deployment unready: %s", exc)

    # -- timers -----------------------------------------------------------------

    def _next_timeout(self) -> float | None:
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _schedule(self, key: str, delay: float) -> None:
        at = time.monotonic() + max(0.0, delay)
        heapq.heappush(self._timers, (at, next(self._sequence), key))

    def _fire_timers(self) -> None:
        due: set[str] = set()
        while self._timers and self._timers[0][0] <= time.monotonic():
            due.add(heapq.heappop(self._timers)[2])
        for key in sorted(due):
            self._reconcile_safely(key)

    # -- events -----------------------------------------------------------------

    def _handle(self, source: str, kind: str, obj: Obj) -> None:
        if source == "synced":
            self._synced.add(kind)
            self._sync_readiness()
            return
        if source == "scenarios":
            self._scenario_data = {} if kind == "DELETED" else dict(obj.get("data") or {})
            self._sync_readiness()
            return
        if source == "deployment":
            self._scaled(obj if kind != "DELETED" else None)
            return
        key = kube.object_key(obj)
        if kind == "DELETED":
            self._cache.pop(key, None)
            self._tracks.pop(key, None)
            return
        self._remember(obj)
        self._reconcile_safely(key)

    def _remember(self, obj: Obj) -> None:
        key = kube.object_key(obj)
        cached = self._cache.get(key)
        if cached is None or kube.resource_version(obj) >= kube.resource_version(cached):
            self._cache[key] = obj

    @property
    def _acting(self) -> bool:
        return bool(self._replicas)

    def _scaled(self, deployment: Obj | None) -> None:
        """The Deployment changed (or went away: then no pod of it would run)."""
        spec = (deployment or {}).get("spec") or {}
        replicas = int(spec.get("replicas", 1)) if deployment is not None else 0
        self._generation = (deployment or {}).get("metadata", {}).get("generation")
        was, known = self._acting, self._replicas is not None
        self._replicas = replicas
        self._sync_readiness()
        if was == self._acting:
            return
        if not self._acting:
            log.info("operator deployment scaled to 0: stopped acting")
            return
        if known:
            # A new pod remembers nothing: every instance is picked up from its status.
            log.info("operator deployment scaled to %d: acting again", replicas)
            self._tracks.clear()
        for key in sorted(self._cache):
            self._reconcile_safely(key)

    def _sync_readiness(self) -> None:
        if not {"experiments", "scenarios", "deployment"} <= self._synced:
            return
        replicas = self._replicas or 0
        ready = replicas > 0 and not operator_down(self._scenario_data)
        if (ready, replicas) == self._readiness:
            return
        try:
            write_operator_readiness(
                self._api, ready=ready, replicas=replicas, generation=self._generation
            )
        except SandboxError as exc:  # the Deployment deleted, say: the loop carries on
            log.warning("could not write the operator Deployment's status: %s", exc)
            return
        self._readiness = (ready, replicas)
        log.info("operator deployment replicas=%d readyReplicas=%d", replicas, int(ready))

    def _track(self, obj: Obj) -> Track:
        key = kube.object_key(obj)
        track = self._tracks.get(key)
        if track is None:
            m = meta(obj)
            try:
                choice = choose(
                    read_scenarios(self._api),
                    instance=str(m.get("name")),
                    generate_name=m.get("generateName"),
                )
            except SandboxError as exc:
                # A bad ConfigMap value must not stop the operator.
                log.warning("experiment=%s scenario unreadable (%s); using happy", key, exc)
                choice = ScenarioChoice()
            if choice.scenario is not Scenario.HAPPY or choice.options:
                log.info("experiment=%s scenario %s", key, choice.encode())
            track = self._tracks[key] = Track(choice=choice)
        return track

    def _reconcile_safely(self, key: str) -> None:
        obj = self._cache.get(key)
        if obj is None or not self._acting:
            # Scaled to 0: events are still cached, as an informer restarted later would
            # list them; nothing is done with them.
            return
        try:
            track = self._track(obj)
            if track.choice.scenario is Scenario.OPERATOR_DOWN:
                return
            FLAVOURS.get(track.choice.flavour, real.reconcile)(self._ctx, obj, track)
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
            self._schedule(key, RETRY_DELAY)
