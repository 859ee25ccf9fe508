"""Requests to the Kubernetes API: bounded retries, errors in the project's terms, counts.

Objects travel as plain dicts (``_preload_content=False`` + ``json.loads``) so
custom and core resources are handled alike and nothing is lost to the
client's model classes.

Transient failures (429, 5xx, connection resets) are retried a bounded number
of times with exponential backoff; any other 4xx fails at once. A create is
only retried when the server cannot have acted on it (429, or the connection
was never made), because a blind retry of a ``generateName`` create could
leave a second instance nobody accounts for; when it may have acted, the
create fails with ``OutcomeUnknown`` and the caller looks for the instance.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import urllib3
from kubernetes import client

from pytest_experiment.base.backoff import Backoff
from pytest_experiment.base.errors import HTTP_TOO_MANY, TRANSIENT
from pytest_experiment.base.resources import Resource
from pytest_experiment.base.types import Obj
from pytest_experiment.edges.api_errors import (
    Endpoint,
    answer_lost,
    api_error,
    never_sent,
    retry_after,
    unreachable,
)

T = TypeVar("T")

# (connect, read) seconds for ordinary requests: a hung server must not hang the run.
REQUEST_TIMEOUT = (10.0, 60.0)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Bounded retries for transient failures (429, 5xx, connection resets)."""

    attempts: int = 4
    first_delay: float = 0.2
    max_delay: float = 2.0

    def backoff(self) -> Backoff:
        return Backoff(first=self.first_delay, cap=self.max_delay, attempts=self.attempts)


DEFAULT_RETRY = RetryPolicy()


class ServerClock:
    """The API server's clock, read off the ``Date`` header of its answers.

    Leases are written and judged on it, so two runner machines whose clocks
    disagree judge each other's leases alike. ``Date`` has whole seconds: the
    offset is taken from the middle of the second it names, which leaves half a
    second of error, plus the time the answer took to arrive.
    """

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def heard(self, date: str | None) -> None:
        if not date:
            return
        try:
            server = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            return
        offset = server + timedelta(seconds=0.5) - datetime.now(UTC)
        with self._lock:
            self._offset = offset

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset


class ApiRequests:
    """An ApiClient for one kubeconfig context, with domain errors and retries."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        endpoint: Endpoint,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self.endpoint = endpoint
        self._backoff = retry.backoff()
        self._sleep = sleep
        self._objects = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._apps = client.AppsV1Api(api)
        self._batch = client.BatchV1Api(api)
        self._extensions = client.ApiextensionsV1Api(api)
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._clock = ServerClock()

    def __repr__(self) -> str:
        # The ApiClient's configuration holds the token: never let a repr show it.
        return f"{type(self).__name__}({self.endpoint.describe()})"

    def describe(self) -> str:
        return self.endpoint.describe()

    def close(self) -> None:
        self._api.close()

    def server_now(self) -> datetime:
        """Now on the API server's clock, as far as its answers have told it (the local
        clock until the first answer)."""
        return self._clock.now()

    @property
    def requests(self) -> Mapping[str, int]:
        """API requests made so far, by verb (``list``, ``watch``, ``get``…), for benchmarks."""
        with self._lock:
            return dict(self._requests)

    def _call(
        self, what: str, verb: str, fn: Callable[..., T], *args: Any, idempotent: bool = True
    ) -> T:
        """``fn(*args)`` with retries; failures become ``ClusterError`` naming ``what``."""
        retries = self._backoff.retries(sleep=self._sleep)
        while True:
            with self._lock:
                self._requests[verb] += 1
            try:
                return fn(*args)
            except client.ApiException as exc:
                status = int(exc.status) if exc.status else None
                retryable = status in TRANSIENT and (idempotent or status == HTTP_TOO_MANY)
                if not (retryable and retries.pause(server_delay=retry_after(exc))):
                    raise api_error(what, exc, verb=verb, repeatable=idempotent) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                sent = not (isinstance(exc, urllib3.exceptions.HTTPError) and never_sent(exc))
                if not ((idempotent or not sent) and retries.pause()):
                    if sent and not idempotent:
                        raise answer_lost(what, self.endpoint, exc) from exc
                    raise unreachable(what, self.endpoint, exc) from exc

    def _raw(
        self,
        what: str,
        verb: str,
        fn: Callable[..., Any],
        *args: Any,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Obj:
        """``fn``'s JSON answer as a dict (see ``_call``)."""

        def request() -> Obj:
            response = fn(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            self._clock.heard(getattr(response, "headers", {}).get("Date"))
            document: Obj = json.loads(response.data)
            return document

        return self._call(what, verb, request, idempotent=idempotent)

    def _custom(
        self,
        what: str,
        verb: str,
        fn: Callable[..., Any],
        resource: Resource,
        namespace: str | None,
        *args: Any,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Obj:
        """``_raw`` for a custom-objects call on ``resource`` (cluster-wide when no namespace)."""
        where = (namespace,) if namespace is not None else ()
        return self._raw(
            what,
            verb,
            fn,
            resource.group,
            resource.version,
            *where,
            resource.plural,
            *args,
            idempotent=idempotent,
            **kwargs,
        )
