"""The project's own error types.

Edge modules (cluster access, the results store, the sandbox) catch the
third-party exceptions they see and raise one of these with the cause chained,
so a failing item prints a short domain message instead of a client-library
traceback, and callers can tell a bad file from an unreachable cluster.
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


class ResultsError(ExperimentError):
    """A results document could not be fetched or parsed."""


class EnvironmentFailure(ExperimentError):
    """What an item needs from its environment (S3, the summary, the API) could not be
    had: reported as a pytest error, never a skip, so a run that could not verify its
    results is never green."""


class SandboxError(ExperimentError):
    """The local sandbox could not be built, started or stopped."""
