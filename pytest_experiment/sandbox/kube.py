"""Small Kubernetes helpers shared by the sandbox, its operator and its tests.

Objects travel as plain dicts (``_preload_content=False`` + ``json.loads``) so
core resources and custom resources are handled alike and nothing is lost to
the client's model classes. Waiting is list-then-watch from the list's
resourceVersion; a ``410 Gone`` re-lists.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.watch.watch import iter_resp_lines

from pytest_experiment.base.backoff import Backoff
from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import Resource
from pytest_experiment.base.types import Obj

ListFn = Callable[..., Any]

_log = logging.getLogger(__name__)

HTTP_GONE = 410


class Gone(Exception):
    """The watch's resourceVersion was compacted away; re-list."""


class WaitTimeout(SandboxError):
    """A condition did not hold before its deadline."""


def api_client(kubeconfig: Path, *, context: str | None = None) -> client.ApiClient:
    """An ApiClient for one kubeconfig, leaving the process-global configuration alone."""
    try:
        return config.new_client_from_config(config_file=str(kubeconfig), context=context)
    except (config.ConfigException, OSError) as exc:
        raise SandboxError(f"cannot load kubeconfig {kubeconfig}: {exc}") from exc


def custom_lister(api: client.ApiClient, resource: Resource, *, namespace: str | None) -> ListFn:
    """A list function for ``resource`` in one namespace, or in all when ``namespace`` is None."""
    objects = client.CustomObjectsApi(api)
    if namespace is None:
        return functools.partial(
            objects.list_cluster_custom_object, resource.group, resource.version, resource.plural
        )
    return functools.partial(
        objects.list_namespaced_custom_object,
        resource.group,
        resource.version,
        namespace,
        resource.plural,
    )


def list_raw(list_fn: ListFn, **selectors: Any) -> tuple[list[Obj], str]:
    """Items and the list's resourceVersion, as dicts."""
    response = list_fn(_preload_content=False, **selectors)
    data = json.loads(response.data)
    return list(data.get("items") or []), str(data["metadata"]["resourceVersion"])


def watch_raw(
    list_fn: ListFn, *, resource_version: str, timeout_seconds: int, **selectors: Any
) -> Iterator[Obj]:
    """Events ``{"type", "object"}`` after ``resource_version`` until the server closes.

    Raises ``Gone`` when the version is too old.
    """
    try:
        response = list_fn(
            watch=True,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_watch_bookmarks=True,
            _preload_content=False,
            # A read timeout beyond the server's own closes a silently dead connection.
            _request_timeout=(10, timeout_seconds + 15),
            **selectors,
        )
    except client.ApiException as exc:
        if exc.status == HTTP_GONE:
            raise Gone(str(exc)) from exc
        raise
    try:
        for line in iter_resp_lines(response):
            if not line:
                continue
            event: Obj = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                if status.get("code") == HTTP_GONE:
                    raise Gone(str(status.get("message", "")))
                raise client.ApiException(
                    status=status.get("code"), reason=str(status.get("message", ""))
                )
            yield event
    finally:
        response.close()
        response.release_conn()


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def resource_version(obj: Mapping[str, Any]) -> int:
    # resourceVersions are opaque by contract but etcd revisions in practice;
    # comparing them orders a patch response against a late watch event.
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


def wait_until(
    list_fn: ListFn,
    predicate: Callable[[dict[str, Obj]], bool],
    *,
    timeout: float,
    what: str,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> dict[str, Obj]:
    """Block until ``predicate(objects)`` holds for the selected objects (keyed ns/name).

    Lists once, then follows a watch; never sleeps on a fixed interval.
    Raises ``WaitTimeout`` describing the last state seen.
    """
    selectors: dict[str, Any] = {}
    if label_selector:
        selectors["label_selector"] = label_selector
    if field_selector:
        selectors["field_selector"] = field_selector
    deadline = time.monotonic() + timeout
    objects: dict[str, Obj] = {}
    while True:
        items, version = list_raw(list_fn, **selectors)
        objects = {object_key(item): item for item in items}
        if predicate(objects):
            return objects
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(_timeout_message(what, timeout, objects))
                for event in watch_raw(
                    list_fn,
                    resource_version=version,
                    timeout_seconds=max(1, int(remaining + 0.999)),
                    **selectors,
                ):
                    obj = event["object"]
                    version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "DELETED":
                        objects.pop(object_key(obj), None)
                    else:
                        objects[object_key(obj)] = obj
                    if predicate(objects):
                        return objects
                    if time.monotonic() > deadline:
                        raise WaitTimeout(_timeout_message(what, timeout, objects))
        except Gone:
            continue


def wait_for_object(
    list_fn: ListFn,
    name: str,
    predicate: Callable[[Obj], bool],
    *,
    timeout: float,
    what: str | None = None,
) -> Obj:
    """The object ``name`` once ``predicate`` holds for it."""
    found = wait_until(
        list_fn,
        lambda objects: any(predicate(o) for o in objects.values()),
        timeout=timeout,
        what=what or name,
        field_selector=f"metadata.name={name}",
    )
    return next(o for o in found.values() if predicate(o))


def _timeout_message(what: str, timeout: float, objects: Mapping[str, Obj]) -> str:
    states = {
        key: (obj.get("status") or {}).get("phase", "<no phase>") for key, obj in objects.items()
    }
    return f"timed out after {timeout:.1f}s waiting for {what}; last seen: {states or 'nothing'}"


# Between an informer's failed list or watch and the next try: it never gives up.
_RELIST = Backoff(first=0.1, cap=5.0)


class Informer:
    """List + watch forever, handing every object to ``on_event`` (type, object).

    Type ``SYNC`` marks objects delivered by a (re-)list. Used by the operator,
    which must never miss a transition: after ``410 Gone`` or a dropped
    connection it re-lists and carries on.
    """

    def __init__(
        self,
        list_fn: ListFn,
        *,
        name: str,
        on_event: Callable[[str, Obj], None],
        on_synced: Callable[[], None] | None = None,
        watch_timeout: int = 300,
        **selectors: Any,
    ) -> None:
        self._list_fn = list_fn
        self._name = name
        self._on_event = on_event
        self._on_synced = on_synced
        self._watch_timeout = watch_timeout
        self._selectors = selectors

    def run(self, stop: threading.Event) -> None:
        retries = _RELIST.retries(stop=stop)
        while not stop.is_set():
            try:
                items, version = list_raw(self._list_fn, **self._selectors)
                for item in items:
                    self._on_event("SYNC", item)
                if self._on_synced is not None:
                    self._on_synced()
                retries.reset()
                while not stop.is_set():
                    for event in watch_raw(
                        self._list_fn,
                        resource_version=version,
                        timeout_seconds=self._watch_timeout,
                        **self._selectors,
                    ):
                        obj = event["object"]
                        version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                        if event["type"] != "BOOKMARK":
                            self._on_event(str(event["type"]), obj)
                        if stop.is_set():
                            return
            except Gone:
                _log.info("%s watch expired; re-listing", self._name)
            except (client.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                if stop.is_set():
                    return
                delay = retries.next_delay()
                assert delay is not None  # _RELIST has no bound on attempts, and no deadline
                _log.warning("%s watch failed (%s); retrying in %.1fs", self._name, exc, delay)
                retries.wait(delay)
