"""What the Kubernetes API said, as the project's own errors (``base.errors``).

A client-library failure becomes a ``ClusterError`` whose message names what
was attempted and what the API said; a 404 is a ``NotFound``, a 410 a
``Gone``, a 401/403 a ``PermissionDenied`` naming the verb, resource and
identity, and a connection failure names the endpoint that did not answer. A
request that must not be repeated (a create) and may still have been carried
out raises ``OutcomeUnknown``, so the caller knows to look for what it made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import urllib3
from kubernetes import client

from pytest_experiment.base.errors import (
    HTTP_FORBIDDEN,
    HTTP_GONE,
    HTTP_NOT_FOUND,
    HTTP_UNAUTHORIZED,
    MAYBE_DONE,
    ClusterError,
    Gone,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
)
from pytest_experiment.base.types import ObjView


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


def api_error(
    what: str, exc: client.ApiException, *, verb: str = "", repeatable: bool = True
) -> ClusterError:
    """The API's refusal of ``what`` (``verb`` is the request's, for a 403); an
    ``OutcomeUnknown`` for a server error on a request that is not ``repeatable``."""
    message = f"{what}: {_status_message(exc)}"
    if exc.status == HTTP_NOT_FOUND:
        return NotFound(message)
    if exc.status == HTTP_GONE:
        return Gone(message)
    status = int(exc.status) if exc.status else None
    if status in (HTTP_UNAUTHORIZED, HTTP_FORBIDDEN):
        return _refused(what, exc, status, verb)
    if not repeatable and status in MAYBE_DONE:
        return OutcomeUnknown(f"{message} (HTTP {status})", status=status)
    return ClusterError(f"{message} (HTTP {status})", status=status)


def unreachable(what: str, endpoint: Endpoint, exc: BaseException) -> ClusterError:
    return ClusterError(
        f"{what}: cannot reach the Kubernetes API ({endpoint.describe()}): "
        f"{_connection_reason(exc)}"
    )


def answer_lost(what: str, endpoint: Endpoint, exc: BaseException) -> OutcomeUnknown:
    """The connection failed after ``what`` was sent: it may have been carried out."""
    return OutcomeUnknown(
        f"{what}: the Kubernetes API ({endpoint.describe()}) did not answer after the "
        f"request was sent: {_connection_reason(exc)}"
    )


def retry_after(exc: client.ApiException) -> float | None:
    """The server's ``Retry-After`` in seconds, when it gave one."""
    headers = exc.headers or {}
    try:
        return float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None


def never_sent(exc: urllib3.exceptions.HTTPError) -> bool:
    """Whether the request certainly did not reach the server (safe to retry a create)."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )


def _body(exc: client.ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return body if isinstance(body, str) else ""


def _status_message(exc: client.ApiException) -> str:
    """The API's own message from a Status body, else the HTTP reason."""
    body = _body(exc)
    if body.strip().startswith("{"):
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
    return str(exc.reason or "no message")


def _details(exc: client.ApiException) -> ObjView:
    try:
        details = json.loads(_body(exc) or "{}").get("details")
    except (ValueError, AttributeError):
        return {}
    return details if isinstance(details, dict) else {}


# The authorizer's own wording, e.g. 'User "system:serviceaccount:ci:runner" cannot list
# resource "experiments" in API group "experiments.illm.io" in the namespace "experiments"'.
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]+)"| at the cluster scope)?'
)


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


def _connection_reason(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    text = str(reason)
    # "HTTPSConnection(host=…, port=…): Failed to establish…": the server is named elsewhere.
    return text.split("): ", 1)[-1] if text.startswith("HTTP") else text


__all__ = [
    "Endpoint",
    "answer_lost",
    "api_error",
    "never_sent",
    "retry_after",
    "unreachable",
]
