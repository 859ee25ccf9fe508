"""The project's own error types.

Edge modules (cluster access, the results store, the sandbox) catch the
third-party exceptions they see and raise one of these with the cause chained,
so a failing item prints a short domain message instead of a client-library
traceback, and callers can tell a bad file from an unreachable cluster.

What the Kubernetes API answered is a ``ClusterError`` carrying the HTTP status,
with a subclass for each answer a caller acts on (a hierarchy by status): a
``PermissionDenied`` for 401/403, a ``NotFound`` for 404, a ``Gone`` for 410, and
an ``OutcomeUnknown`` for a request that may have been carried out although it
failed. They live here, not beside the client that raises them, so a cluster
handed to the run by another plugin raises the same types without importing the
harness's Kubernetes edge.
"""

from __future__ import annotations


class ExperimentError(Exception):
    """Root of every error this plugin raises on purpose."""


class SpecError(ExperimentError):
    """An experiment file cannot be read as an Experiment (names file and line)."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class OptionError(ExperimentError):
    """A command-line, ini or environment value is invalid (names the option)."""


HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
HTTP_GONE = 410
HTTP_TOO_MANY = 429
TRANSIENT = frozenset({HTTP_TOO_MANY, 500, 502, 503, 504})
# A server error may come after the server (or the proxy in front of it) acted: an
# etcd write that timed out can still commit, a gateway can time out on a create
# that then completes. A 429 is refused before anything is done.
MAYBE_DONE = TRANSIENT - {HTTP_TOO_MANY}


class ClusterError(ExperimentError):
    """The Kubernetes API could not be reached or refused a request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class PermissionDenied(ClusterError):
    """The API answered but refused the request (401/403): a missing permission or a bad
    credential, never an unreachable cluster. Names the verb, resource and namespace."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        verb: str = "",
        resource: str = "",
        namespace: str | None = None,
        user: str = "",
    ) -> None:
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.user = user
        super().__init__(message, status=status)


class NotFound(ClusterError):
    """The object (or its kind) does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=HTTP_NOT_FOUND)


class Gone(ClusterError):
    """A watch's resourceVersion was compacted away: the caller must re-list."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=HTTP_GONE)


class OutcomeUnknown(ClusterError):
    """A request that is not safe to repeat may have been carried out all the same: the
    connection was lost after it was sent, or the API failed it with a server error.

    It is not sent again; the caller looks for what it may have made."""


class ResultsError(ExperimentError):
    """A results document could not be fetched or parsed."""


class GitHubError(ExperimentError):
    """GitHub could not be asked, or refused: ``gh`` failed or answered something
    unreadable."""


class EnvironmentFailure(ExperimentError):
    """What an item needs from its environment (S3, the summary, the API) could not be
    had: reported as a pytest error, never a skip, so a run that could not verify its
    results is never green."""


class SandboxError(ExperimentError):
    """The local sandbox could not be built, started or stopped."""
